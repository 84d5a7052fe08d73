"""Write the browser test's safetensors model with the official writer (safetensors 0.8.0,
serialize_file): a 32 MiB BF16 embedding (the page must not read it to show the header), F32,
F16 and BF16 tensors of seeded random values for the statistics panel, an I64 and an F8_E4M3
tensor (not floats the page decodes), and __metadata__.

Usage: python browser_safetensors.py OUTFILE
"""
import sys

import numpy as np
from safetensors import TensorSpec, serialize_file


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rng = np.random.default_rng(20261203)
    f32 = (0.02 * rng.standard_normal((1024, 256))).astype(np.float32)
    arrays = {
        "model.embed_tokens.weight": ("bfloat16", [16384, 1024],
                                      rng.integers(0, 2**16, size=16384 * 1024, dtype=np.uint16)),
        "model.norm.weight": ("float32", [1024], (1.0 + 0.1 * rng.standard_normal(1024)).astype(np.float32)),
        "model.layers.0.mlp.down_proj.weight": ("float32", [1024, 256], f32),
        "model.layers.0.self_attn.q_proj.weight": ("float16", [256, 256],
                                                   rng.standard_normal((256, 256)).astype(np.float16)),
        # BF16: the top half of each f32, as converters truncate.
        "lm_head.weight": ("bfloat16", [512, 256], (f32[:512].view(np.uint32) >> 16).astype(np.uint16)),
        "model.position_ids": ("int64", [64], np.arange(64, dtype=np.int64)),
        "model.layers.0.mlp.scale": ("float8_e4m3fn", [32], rng.integers(0, 256, size=32, dtype=np.uint8)),
    }
    specs = {
        name: TensorSpec(dtype=dtype, shape=shape, data_ptr=a.ctypes.data, data_len=a.nbytes)
        for name, (dtype, shape, a) in arrays.items()
    }
    serialize_file(specs, sys.argv[1], metadata={"format": "pt", "note": "weightmap browser test"})
    print(sys.argv[1])


if __name__ == "__main__":
    main()
