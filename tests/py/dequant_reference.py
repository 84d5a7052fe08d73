"""Reference dequantization by the official gguf package (gguf.quants.dequantize).

    python dequant_reference.py OUT_DIR TYPE [TYPE ...]

For each ggml type name, writes OUT_DIR/TYPE.random.bin (random blocks: every bit pattern,
NaN and infinite scales included, plus blocks with their f16 fields forced to NaN, inf and
subnormals), OUT_DIR/TYPE.quantized.bin (blocks made by gguf.quants.quantize from random
floats, where the package can quantize the type), and beside each a .f32 file: the package's
dequantize of those bytes, little-endian float32.
"""
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGML_QUANT_SIZES
from gguf import quants

np.seterr(all="ignore")  # NaN and infinite scales are part of the test
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261204)
special_f16 = np.array([0x7E00, 0x7C00, 0xFC00, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0x0000, 0x8000], dtype=np.uint16)


def write(name: str, data: np.ndarray, qtype) -> None:
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(1, -1)
    values = quants.dequantize(data, qtype).astype(np.float32, copy=False)
    (out / f"{name}.bin").write_bytes(data.tobytes())
    (out / f"{name}.f32").write_bytes(values.astype("<f4").tobytes())


for name in sys.argv[2:]:
    qtype = GGMLQuantizationType[name]
    block, size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(512, size), dtype=np.uint8)
    # Force each f16-sized field at even offsets of some blocks to special values.
    for i, bits in enumerate(special_f16):
        for at in range(0, size - 1, 2):
            blocks[i * 8 + at % 8, at : at + 2] = np.frombuffer(bits.tobytes(), dtype=np.uint8)
    write(f"{name}.random", blocks, qtype)
    try:
        floats = rng.standard_normal(64 * block).astype(np.float32).reshape(8, -1)
        quantized = quants.quantize(floats, qtype)
    except (NotImplementedError, quants.QuantError, TypeError):
        continue
    write(f"{name}.quantized", quantized, qtype)
print("ok")
