"""The official reader's dequantize of every tensor of a GGUF file, whole, as digests.

    python dequant_gemma.py MODEL.gguf OUT.json

Writes OUT.json: [{"name", "type", "elements", "sha256"}] in file order, where sha256 is the
digest of gguf.quants.dequantize of the whole tensor as little-endian float32, in the order
the reader returns it (row-major). Each tensor is decoded in runs of rows, so memory stays
near one tensor's f32 size at most.
"""
import hashlib
import json
import sys

import numpy as np
from gguf import GGUFReader, GGML_QUANT_SIZES
from gguf import quants

np.seterr(all="ignore")
reader = GGUFReader(sys.argv[1])
index = []
for tensor in reader.tensors:
    block, size = GGML_QUANT_SIZES[tensor.tensor_type]
    raw = np.asarray(tensor.data).view(np.uint8).reshape(-1)
    digest = hashlib.sha256()
    step = size * 65536  # 64 Ki blocks at a time
    for at in range(0, raw.size, step):
        values = quants.dequantize(raw[at : at + step].reshape(1, -1), tensor.tensor_type)
        digest.update(np.asarray(values, dtype="<f4").tobytes())
    index.append(
        {
            "name": tensor.name,
            "type": tensor.tensor_type.name,
            "elements": int(raw.size // size * block),
            "sha256": digest.hexdigest(),
        }
    )
with open(sys.argv[2], "w") as f:
    json.dump(index, f)
print(len(index))
