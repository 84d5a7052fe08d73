"""Generate GGUF fixtures for weightmap's differential tests.

Every file is written by the official `gguf` package (gguf==0.19.0, GGUFWriter);
the only post-processing is patching the version word for the v2 variant.
Output is deterministic: the same bytes on every run.

Usage: python gen_fixtures.py OUTDIR      (prints one written path per line)
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGUFEndian, GGUFWriter
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

SEED = 20240601

INT_TYPES = {  # value type -> (short key name, min, max)
    VT.UINT8: ("u8", 0, 2**8 - 1), VT.INT8: ("i8", -2**7, 2**7 - 1),
    VT.UINT16: ("u16", 0, 2**16 - 1), VT.INT16: ("i16", -2**15, 2**15 - 1),
    VT.UINT32: ("u32", 0, 2**32 - 1), VT.INT32: ("i32", -2**31, 2**31 - 1),
    VT.UINT64: ("u64", 0, 2**64 - 1), VT.INT64: ("i64", -2**63, 2**63 - 1),
}

# Floats are given as bit patterns so the exact bits (-0.0, NaN payloads) are pinned down.
F32_BITS = {
    "zero": 0x00000000, "neg_zero": 0x80000000, "one": 0x3F800000, "minus_one": 0xBF800000,
    "pi": 0x40490FDB, "max": 0x7F7FFFFF, "min": 0xFF7FFFFF, "min_subnormal": 0x00000001,
    "neg_min_subnormal": 0x80000001, "max_subnormal": 0x007FFFFF, "min_normal": 0x00800000,
    "inf": 0x7F800000, "neg_inf": 0xFF800000, "nan": 0x7FC00000, "neg_nan": 0xFFC00000,
    "nan_payload": 0x7FC00001,
}
F64_BITS = {
    "zero": 0x0000000000000000, "neg_zero": 0x8000000000000000, "one": 0x3FF0000000000000,
    "minus_one": 0xBFF0000000000000, "pi": 0x400921FB54442D18, "max": 0x7FEFFFFFFFFFFFFF,
    "min": 0xFFEFFFFFFFFFFFFF, "min_subnormal": 0x0000000000000001,
    "neg_min_subnormal": 0x8000000000000001, "max_subnormal": 0x000FFFFFFFFFFFFF,
    "min_normal": 0x0010000000000000, "inf": 0x7FF0000000000000, "neg_inf": 0xFFF0000000000000,
    "nan": 0x7FF8000000000000, "neg_nan": 0xFFF8000000000000, "nan_payload": 0x7FF8000000000001,
    "snan_payload": 0x7FF0000000000001,
}


def f32(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def f64(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def int_cases(vt):
    _, lo, hi = INT_TYPES[vt]
    cases = {"min": lo, "max": hi, "zero": 0, "one": 1}
    if lo < 0:
        cases["minus_one"] = -1
    return cases


def long_string(n_bytes):
    """Deterministic mixed ASCII / multi-byte text of exactly n_bytes UTF-8 bytes."""
    pieces, size, i = [], 0, 0
    while size < n_bytes:
        p = "é" if i % 50 == 49 else "€" if i % 333 == 0 else chr(0x61 + i % 26)
        if size + len(p.encode()) > n_bytes:
            p = "."
        pieces.append(p)
        size += len(p.encode())
        i += 1
    return "".join(pieces)


def add_values(w):
    """Scalars and arrays of every GGUF value type, with boundary values."""
    for vt, (short, _, _) in INT_TYPES.items():
        for case, v in int_cases(vt).items():
            w.add_key_value(f"{short}.{case}", v, vt)
    for case, bits in F32_BITS.items():
        w.add_key_value(f"f32.{case}", f32(bits), VT.FLOAT32)
    for case, bits in F64_BITS.items():
        w.add_key_value(f"f64.{case}", f64(bits), VT.FLOAT64)
    w.add_key_value("bool.true", True, VT.BOOL)
    w.add_key_value("bool.false", False, VT.BOOL)
    w.add_key_value("str.empty", "", VT.STRING)  # add_string() would silently drop it
    w.add_key_value("str.ascii", "hello, weightmap", VT.STRING)
    w.add_key_value("str.unicode", "héllo wörld — 日本語 Ελληνικά 🦀🎉 e\u0301", VT.STRING)
    w.add_key_value("str.nul_inside", "a\x00b", VT.STRING)
    w.add_key_value("str.long_100k", long_string(100 * 1024), VT.STRING)

    for vt, (short, _, _) in INT_TYPES.items():
        w.add_key_value(f"arr.{short}", list(int_cases(vt).values()), VT.ARRAY, vt)
    w.add_key_value("arr.f32", [f32(b) for b in F32_BITS.values()], VT.ARRAY, VT.FLOAT32)
    w.add_key_value("arr.f64", [f64(b) for b in F64_BITS.values()], VT.ARRAY, VT.FLOAT64)
    w.add_key_value("arr.bool", [True, False, False, True, True], VT.ARRAY, VT.BOOL)
    w.add_key_value("arr.str", ["", "a", "日本語", "🦀", "x" * 200, long_string(300)], VT.ARRAY, VT.STRING)
    w.add_key_value("arr.single", [42], VT.ARRAY, VT.UINT64)
    w.add_key_value("arr.u16_10k", [(i * 7919) % 65536 for i in range(10_000)], VT.ARRAY, VT.UINT16)
    # Nested arrays. The writer only lets the outermost sub-type be forced; inner element
    # types are inferred (int -> INT32, float -> FLOAT32, bool -> BOOL, str -> STRING,
    # list -> ARRAY, bytes -> UINT8).
    w.add_key_value("arr.nested2", [[1, 2, 3], [-4], [5, 6]], VT.ARRAY, VT.ARRAY)
    w.add_key_value("arr.nested3", [[[1, 2], [3]], [[-4, 5, 6]], [["x", "日本"], ["🦀"]]], VT.ARRAY, VT.ARRAY)
    w.add_key_value("arr.nested_mixed", [[1, -2], ["a", "", "ü"], [1.5, -0.0, float("inf")],
                                         [True, False], b"\x00\x7f\xff", [[7]]], VT.ARRAY, VT.ARRAY)
    w.add_key_value("after.nested", "sentinel", VT.STRING)  # checks the nested arrays' extent


def tensor_specs():
    """(ggml type, ne in file order) for every type in GGML_QUANT_SIZES, cycling 1-D..4-D."""
    specs = []
    for i, qt in enumerate(GGML_QUANT_SIZES):
        bs = GGML_QUANT_SIZES[qt][0]
        ne0 = bs * 2 if bs > 1 else 5
        specs.append((qt, [[ne0], [ne0, 3], [ne0, 2, 3], [ne0, 1, 2, 2]][i % 4]))
    return specs


NP_TYPES = {QT.F32: np.float32, QT.F16: np.float16, QT.F64: np.float64, QT.I8: np.int8,
            QT.I16: np.int16, QT.I32: np.int32, QT.I64: np.int64}


def add_tensor(w, rng, name, qt, ne):
    """Add a tensor with deterministic pseudo-random content; ne is in file order (ne0 first)."""
    np_shape = tuple(reversed(ne))
    if qt in (QT.F32, QT.F16, QT.F64):
        w.add_tensor(name, rng.standard_normal(np_shape).astype(NP_TYPES[qt]))
    elif qt in NP_TYPES:
        info = np.iinfo(NP_TYPES[qt])
        w.add_tensor(name, rng.integers(info.min, info.max, np_shape, dtype=NP_TYPES[qt], endpoint=True))
    elif qt == QT.BF16:  # uint16 view keeps the element width, so big-endian files get it swapped
        w.add_tensor(name, rng.integers(0, 2**16, np_shape, dtype=np.uint16), raw_dtype=QT.BF16)
    else:  # block-quantized: raw bytes, shape given in bytes for the last axis
        bs, ts = GGML_QUANT_SIZES[qt]
        w.add_tensor(name, rng.integers(0, 256, (*np_shape[:-1], ne[0] // bs * ts), dtype=np.uint8), raw_dtype=qt)


def write(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return w.path


def all_types_file(path, endian=GGUFEndian.LITTLE):
    w = GGUFWriter(path, "weightmap-test", endianess=endian)
    add_values(w)
    rng = np.random.default_rng(SEED)
    for qt, ne in tensor_specs():
        add_tensor(w, rng, f"tensor.{qt.name}", qt, ne)
    # A few extra float tensors with awkward shapes / special values.
    w.add_tensor("extra.f32_specials", np.array([f32(b) for b in F32_BITS.values()], dtype=np.float32))
    add_tensor(w, rng, "extra.f16_4d", QT.F16, [3, 1, 2, 5])
    add_tensor(w, rng, "extra.single", QT.F32, [1])
    return write(w)


def patch_version(path, version):
    data = bytearray(path.read_bytes())
    assert data[4:8] == struct.pack("<I", 3), "expected a little-endian v3 file"
    data[4:8] = struct.pack("<I", version)
    path.write_bytes(bytes(data))
    return path


def alignment_file(path, alignment):
    w = GGUFWriter(path, "weightmap-test")
    w.add_custom_alignment(alignment)
    w.add_key_value("odd.key", "makes the header end at an odd offset", VT.STRING)
    rng = np.random.default_rng(SEED + alignment)
    for name, qt, ne in [("a.f32_3", QT.F32, [3]), ("b.i8_7", QT.I8, [7]), ("c.f16_5x3", QT.F16, [5, 3]),
                         ("d.q8_0", QT.Q8_0, [32]), ("e.i16_1", QT.I16, [1]), ("f.bf16_3", QT.BF16, [3]),
                         ("g.q4_0_2x1x1", QT.Q4_0, [32, 1, 1])]:
        add_tensor(w, rng, name, qt, ne)
    return write(w)


def vocab_tokens(n):
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    for i in range(len(toks), n):
        word, k = "", i
        while k:
            word, k = chr(0x61 + k % 26) + word, k // 26
        if i % 8191 == 0:
            t = (f"long{i}-" + "▁ü日🦀" * (i % 40 + 8))  # 31 tokens of 130..574 bytes
        elif i % 97 == 0:
            t = word + "🦀"
        elif i % 17 == 0:
            t = "日本" + word
        elif i % 11 == 0:
            t = "▁" + word
        elif i % 5 == 0:
            t = word.upper() + str(i)
        else:
            t = word
        toks.append(t)
    toks[300] = ""  # an empty token string
    return toks


def vocab_file(path, n=262_144):
    w = GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(vocab_tokens(n))
    w.add_token_scores(np.linspace(0.0, -1000.0, n, dtype=np.float32).tolist())
    w.add_token_types([2, 3, 3] + [6] * 256 + [1 + (i % 97 == 0) * 3 for i in range(259, n)])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(SEED)
    add_tensor(w, rng, "token_embd.weight", QT.Q8_0, [64, 8])
    add_tensor(w, rng, "output_norm.weight", QT.F32, [64])
    return write(w)


def many_tensors_file(path, n_blocks=1000):
    w = GGUFWriter(path, "llama")
    w.add_block_count(n_blocks)
    rng = np.random.default_rng(SEED)
    for b in range(n_blocks):
        add_tensor(w, rng, f"blk.{b}.attn_norm.weight", QT.F32, [16])
        add_tensor(w, rng, f"blk.{b}.ffn_up.weight", QT.F16, [16, 4])
        add_tensor(w, rng, f"blk.{b}.ffn_down.weight", QT.Q8_0, [32, 2])
    return write(w)


def metadata_only_file(path):
    w = GGUFWriter(path, "weightmap-test")
    w.add_name("metadata only")
    w.add_key_value("meta.u32", 7, VT.UINT32)
    w.add_key_value("meta.f64", 0.1, VT.FLOAT64)
    w.add_key_value("meta.arr", ["x", "y"], VT.ARRAY, VT.STRING)
    return write(w)


def arch_only_file(path):
    w = GGUFWriter(path, "weightmap-test")  # the writer always adds general.architecture
    rng = np.random.default_rng(SEED)
    add_tensor(w, rng, "only.f32", QT.F32, [4, 4])
    add_tensor(w, rng, "only.q4_k", QT.Q4_K, [256, 2])
    return write(w)


def invalid_utf8_file(path):
    """String values that are not valid UTF-8 (the writer passes bytes through unchanged)."""
    w = GGUFWriter(path, "weightmap-test")
    w.add_key_value("bad.str", b"ab\xff\xfecd", VT.STRING)
    w.add_key_value("bad.truncated", b"\xe6\x97", VT.STRING)
    w.add_key_value("bad.arr", [b"ok", b"\xc3\x28", "fine"], VT.ARRAY, VT.STRING)
    add_tensor(w, np.random.default_rng(SEED), "t", QT.F32, [2])
    return write(w)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    written = [
        all_types_file(out / "all-types-v3-le.gguf"),
        patch_version(all_types_file(out / "all-types-v2-le.gguf"), 2),
        all_types_file(out / "all-types-v3-be.gguf", GGUFEndian.BIG),
        *(alignment_file(out / f"align-{a}.gguf", a) for a in (1, 8, 64, 256, 4096)),
        vocab_file(out / "vocab-262144.gguf"),
        many_tensors_file(out / "many-tensors-3000.gguf"),
        metadata_only_file(out / "metadata-only.gguf"),
        arch_only_file(out / "arch-key-only.gguf"),
        invalid_utf8_file(out / "invalid-utf8-strings.gguf"),
    ]
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
