"""Every value of the small float types of safetensors, as ml_dtypes (JAX's) decodes them.

    python minifloat_reference.py OUT.json

Writes {"F8_E4M3": [bits of f32, ...], ...}: for each safetensors type, the f32 bit pattern
of each of its 2^width encodings in order (ml_dtypes keeps one element a byte, in the low
bits), from numpy's astype(float32) of ml_dtypes' type.
"""
import json
import sys

import ml_dtypes
import numpy as np

TYPES = {
    "F8_E4M3": (ml_dtypes.float8_e4m3fn, 8),
    "F8_E5M2": (ml_dtypes.float8_e5m2, 8),
    "F8_E4M3FNUZ": (ml_dtypes.float8_e4m3fnuz, 8),
    "F8_E5M2FNUZ": (ml_dtypes.float8_e5m2fnuz, 8),
    "F8_E8M0": (ml_dtypes.float8_e8m0fnu, 8),
    "F6_E2M3": (ml_dtypes.float6_e2m3fn, 6),
    "F6_E3M2": (ml_dtypes.float6_e3m2fn, 6),
    "F4": (ml_dtypes.float4_e2m1fn, 4),
}
out = {}
for name, (dtype, width) in TYPES.items():
    codes = np.arange(1 << width, dtype=np.uint8)
    values = codes.view(dtype).astype(np.float32)
    out[name] = [int(b) for b in values.view(np.uint32)]
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
print(len(out))
