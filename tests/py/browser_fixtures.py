"""Write the browser test's large model: a GGUF file of a little over 1 GiB whose header, metadata
and tensor table come from the official writer (gguf 0.19.0), with sparse tensor data. Eight
128 MiB F16 tensors are holes (zeros on disk cost nothing); the small F32, BF16 and F64
tensors hold seeded random values, for the page's statistics to be checked against numpy.

Usage: python browser_fixtures.py OUTFILE
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter

HIDDEN, FFN, LAYERS = 4096, 16384, 8
F16_BYTES = 2


def tensors():
    """(name, numpy shape (row-major), ggml type, bytes, values or None for a hole)."""
    rng = np.random.default_rng(20261124)
    out = [("token_embd.weight", (1024, HIDDEN), Q.Q4_K, 1024 * HIDDEN // 256 * 144, None)]
    for i in range(LAYERS):
        norm = (1.0 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)
        out.append((f"blk.{i}.ffn_norm.weight", (HIDDEN,), Q.F32, HIDDEN * 4, norm.tobytes()))
        out.append((f"blk.{i}.ffn_up.weight", (FFN, HIDDEN), Q.F16, FFN * HIDDEN * F16_BYTES, None))
    out_w = (0.02 * rng.standard_normal((256, 1024))).astype(np.float32)
    # BF16: the top half of each f32, as converters truncate.
    bf16 = (out_w.view(np.uint32) >> 16).astype(np.uint16)
    out.append(("output.weight", (256, 1024), Q.BF16, bf16.nbytes, bf16.tobytes()))
    freqs = (1.0 / 10000 ** (np.arange(64) / 64)).astype(np.float64)
    out.append(("rope_freqs.weight", (64,), Q.F64, freqs.nbytes, freqs.tobytes()))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    w = GGUFWriter(path, "sparse")
    w.add_name("weightmap sparse 1 GiB test model")
    w.add_uint64("sparse.token_count", 2**53 + 1)
    w.add_int64("sparse.signed", -(2**40))
    w.add_float32("sparse.epsilon", 1e-6)
    w.add_float64("sparse.theta", 10000.5)
    w.add_bool("sparse.causal", True)
    w.add_block_count(LAYERS)
    w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(1000)] + ["▁hello", "\"quoted\""])
    w.add_array("tokenizer.ggml.scores", [float(-i) / 4 for i in range(1002)])
    w.add_array("sparse.small", [1, 2, 3])
    specs = tensors()
    for name, shape, ggml, nbytes, _ in specs:
        w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=ggml)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    # The tensor data: the writer's layout, each tensor padded to the alignment.
    align = 32
    end = os.path.getsize(path)
    data_offset = (end + align - 1) // align * align
    total = sum((nbytes + align - 1) // align * align for _, _, _, nbytes, _ in specs)
    os.truncate(path, data_offset + total)
    reader = GGUFReader(path)
    at = {t.name: t.data_offset for t in reader.tensors}
    with open(path, "r+b") as f:
        for name, _, _, nbytes, data in specs:
            if data is not None:
                assert len(data) == nbytes
                f.seek(at[name])
                f.write(data)
    print(path)


if __name__ == "__main__":
    main()
