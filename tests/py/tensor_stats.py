"""Statistics of tensors as numpy computes them from the official reader's view of a GGUF file
(gguf's GGUFReader; quantized tensors through gguf.quants.dequantize) or a safetensors file
(safetensors' deserialize): the reference for the browser test's statistics panel and for
`weightmap tensor`.

Usage: python tensor_stats.py FILE TENSOR [TENSOR...]
Prints one JSON object: {name: {count, finite, nan, infinite, min, max, mean, std}}, over the
finite values, std the population standard deviation, all in float64.
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf import quants
from safetensors import deserialize


def values(t):
    raw = np.asarray(t.data)
    if t.tensor_type == Q.BF16:
        bits = raw.view(np.uint8).view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64).ravel()
    if t.tensor_type in (Q.F32, Q.F16, Q.F64):
        return raw.astype(np.float64).ravel()
    # Quantized: the official dequantize (bit for bit ggml's), widened.
    return quants.dequantize(raw.view(np.uint8), t.tensor_type).astype(np.float64).ravel()


def bf16(raw):
    bits = raw.view(np.uint16).astype(np.uint32) << 16
    return bits.view(np.float32).astype(np.float64).ravel()


SAFETENSORS = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def safetensors_values(path, names):
    """name -> float64 values of the float tensors `names`, from the official safetensors reader."""
    with open(path, "rb") as f:
        raw = f.read()
    out = {}
    for name, t in deserialize(raw):
        if name not in names:
            continue
        data = np.frombuffer(bytes(t["data"]), dtype=np.uint8)
        if t["dtype"] == "BF16":
            out[name] = bf16(data)
        elif t["dtype"] in SAFETENSORS:
            out[name] = data.view(SAFETENSORS[t["dtype"]]).astype(np.float64).ravel()
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        gguf = f.read(4) == b"GGUF"
    if gguf:
        reader = GGUFReader(sys.argv[1])
        by_name = {t.name: values(t) for t in reader.tensors if t.name in sys.argv[2:]}
    else:
        by_name = safetensors_values(sys.argv[1], sys.argv[2:])
    out = {}
    for name in sys.argv[2:]:
        v = by_name[name]
        finite = v[np.isfinite(v)]
        out[name] = {
            "count": int(v.size),
            "finite": int(finite.size),
            "nan": int(np.isnan(v).sum()),
            "infinite": int(np.isinf(v).sum()),
            "min": float(finite.min()),
            "max": float(finite.max()),
            "mean": float(finite.mean()),
            "std": float(finite.std()),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
