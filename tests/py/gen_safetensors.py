"""Generate safetensors fixtures (and a split GGUF model) for weightmap's differential tests.

Written by the official writers: `safetensors` 0.8.0 (its numpy API for every dtype numpy
has; `serialize_file` with raw bytes for bfloat16, the float8 types and F4) and `gguf` 0.19.0
(`GGUFWriter(..., split_max_tensors=N)` for a split model). The two 6-bit float dtypes, which
neither writer knows, and a header that is not padded (misaligned tensor data) are written by
hand as the format specifies: an 8-byte little-endian header length, the JSON header, the data.
Output is deterministic.

Usage: python gen_safetensors.py OUTDIR      (prints one written path per line; a sharded
model is listed by its model.safetensors.index.json, a split GGUF by its first file)
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFWriter
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file

SEED = 20261203


def rng():
    return np.random.default_rng(SEED)


def numpy_dtypes(out: Path) -> Path:
    """Every dtype numpy has, with metadata, through the numpy API."""
    r = rng()
    tensors = {
        "bool": r.integers(0, 2, size=(3, 5)).astype(np.bool_),
        "u8": r.integers(0, 2**8, size=(7,), dtype=np.uint8),
        "i8": r.integers(-2**7, 2**7, size=(2, 3, 4), dtype=np.int8),
        "u16": r.integers(0, 2**16, size=(9,), dtype=np.uint16),
        "i16": r.integers(-2**15, 2**15, size=(4, 4), dtype=np.int16),
        "u32": r.integers(0, 2**32, size=(5,), dtype=np.uint32),
        "i32": r.integers(-2**31, 2**31, size=(3, 2), dtype=np.int32),
        "u64": r.integers(0, 2**63, size=(6,), dtype=np.uint64),
        "i64": r.integers(-2**63, 2**63 - 1, size=(2, 2), dtype=np.int64),
        "f16": r.standard_normal((8, 3)).astype(np.float16),
        "f32": r.standard_normal((16, 16)).astype(np.float32),
        "f64": r.standard_normal((3, 3, 3)).astype(np.float64),
        "c64": (r.standard_normal(6) + 1j * r.standard_normal(6)).astype(np.complex64),
        "model.layers.0.self_attn.q_proj.weight": r.standard_normal((64, 32)).astype(np.float32),
    }
    path = out / "numpy-dtypes.safetensors"
    save_file(tensors, str(path), metadata={"format": "np", "note": 'quotes " and \\ and ✓'})
    return path


def raw_dtypes(out: Path) -> Path:
    """bfloat16, every float8 and F4 (packed two to a byte) through serialize_file."""
    r = rng()
    keep = []
    specs = {}
    for name, dtype, shape, nbytes in [
        ("bf16", "bfloat16", [5, 4], 40),
        ("f8_e5m2", "float8_e5m2", [11], 11),
        ("f8_e4m3", "float8_e4m3fn", [3, 3], 9),
        ("f8_e8m0", "float8_e8m0fnu", [4], 4),
        ("f8_e4m3fnuz", "float8_e4m3fnuz", [2, 5], 10),
        ("f8_e5m2fnuz", "float8_e5m2fnuz", [6], 6),
        # Storage shape: the writer doubles the last dimension (two F4 values a byte).
        ("f4", "float4_e2m1fn_x2", [3, 4], 12),
    ]:
        data = r.integers(0, 256, size=nbytes, dtype=np.uint8)
        keep.append(data)
        specs[name] = TensorSpec(dtype=dtype, shape=shape, data_ptr=data.ctypes.data, data_len=nbytes)
    path = out / "raw-dtypes.safetensors"
    serialize_file(specs, str(path), metadata={"format": "raw"})
    return path


def empty_and_scalar(out: Path) -> Path:
    tensors = {
        "empty": np.zeros((0,), dtype=np.float32),
        "empty_2d": np.zeros((2, 0, 3), dtype=np.int64),
        "scalar": np.array(3.5, dtype=np.float64),
        "scalar_u8": np.array(7, dtype=np.uint8),
        "one": np.ones((1, 1, 1), dtype=np.float16),
    }
    path = out / "empty-scalar.safetensors"
    save_file(tensors, str(path))
    return path


def many(out: Path) -> Path:
    """10,000 tensors, as in a large checkpoint's header."""
    r = rng()
    tensors = {}
    for i in range(10_000):
        layer, kind = divmod(i, 10)
        shape = (int(r.integers(1, 5)), int(r.integers(1, 5)))
        tensors[f"model.layers.{layer}.mlp.part{kind}.weight"] = r.standard_normal(shape).astype(np.float16)
    path = out / "many.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def hand_written(path: Path, header: dict, data: bytes, pad: bool) -> Path:
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    elif len(text) % 2 == 0:
        text += b" "  # trailing JSON whitespace: the data starts at an odd offset
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def six_bit(out: Path) -> Path:
    """F6_E2M3 and F6_E3M2 (four elements in three bytes), which no writer here knows."""
    r = rng()
    a = bytes(r.integers(0, 256, size=6, dtype=np.uint8))  # 8 elements
    b = bytes(r.integers(0, 256, size=9, dtype=np.uint8))  # 12 elements
    header = {
        "__metadata__": {"format": "hand"},
        "f6_e2m3": {"dtype": "F6_E2M3", "shape": [2, 4], "data_offsets": [0, 6]},
        "f6_e3m2": {"dtype": "F6_E3M2", "shape": [12], "data_offsets": [6, 15]},
    }
    return hand_written(out / "six-bit.safetensors", header, a + b, pad=True)


def misaligned(out: Path) -> Path:
    """An unpadded header: the data starts at an odd offset, so no typed view is aligned."""
    data = np.arange(6, dtype=np.float32).tobytes() + np.arange(3, dtype=np.int64).tobytes()
    header = {
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "i": {"dtype": "I64", "shape": [3], "data_offsets": [24, 48]},
    }
    path = hand_written(out / "misaligned.safetensors", header, data, pad=False)
    assert (8 + struct.unpack("<Q", path.read_bytes()[:8])[0]) % 2 == 1, "meant to be odd"
    return path


def sharded(out: Path) -> Path:
    """Three shards by the numpy API and the index transformers writes beside them."""
    r = rng()
    folder = out / "sharded"
    folder.mkdir(exist_ok=True)
    layers = {}
    for i in range(6):
        layers[f"model.layers.{i}.weight"] = r.standard_normal((32, 16)).astype(np.float32)
        layers[f"model.layers.{i}.bias"] = r.standard_normal((16,)).astype(np.float16)
    layers["lm_head.weight"] = r.standard_normal((64, 16)).astype(np.float32)
    names = list(layers)
    parts = [names[0:5], names[5:9], names[9:]]
    weight_map = {}
    total = 0
    for k, part in enumerate(parts):
        file = f"model-{k + 1:05d}-of-{len(parts):05d}.safetensors"
        save_file({n: layers[n] for n in part}, str(folder / file), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = file
            total += layers[n].nbytes
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps(index, indent=2) + "\n")
    return path


def gguf_split(out: Path) -> Path:
    """A GGUF model split by the official writer, three tensors a file."""
    r = rng()
    folder = out / "split"
    folder.mkdir(exist_ok=True)
    w = GGUFWriter(str(folder / "tiny.gguf"), "llama", split_max_tensors=3)
    w.add_block_count(4)
    w.add_string("general.name", "split fixture")
    for i in range(8):
        w.add_tensor(f"blk.{i}.weight", r.standard_normal((4, 32)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    first = folder / "tiny-00001-of-00003.gguf"
    assert first.exists(), sorted(p.name for p in folder.iterdir())
    return first


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for make in [numpy_dtypes, raw_dtypes, empty_and_scalar, many, six_bit, misaligned, sharded, gguf_split]:
        print(make(out))


if __name__ == "__main__":
    main()
