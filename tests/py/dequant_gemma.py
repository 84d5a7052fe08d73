"""The official reader's dequantize of the first blocks of every tensor of a GGUF file.

    python dequant_gemma.py MODEL.gguf OUT_DIR

Writes OUT_DIR/index.json: [{"name", "type", "bytes"}] in file order, and OUT_DIR/<i>.f32:
gguf.quants.dequantize of tensor i's first `bytes` bytes (at most 64 blocks), float32 LE.
"""
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGML_QUANT_SIZES
from gguf import quants

np.seterr(all="ignore")
reader = GGUFReader(sys.argv[1])
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
index = []
for i, tensor in enumerate(reader.tensors):
    block, size = GGML_QUANT_SIZES[tensor.tensor_type]
    raw = np.asarray(tensor.data).view(np.uint8).reshape(-1)
    take = min(raw.size, 64 * size)
    values = quants.dequantize(raw[:take].reshape(1, -1), tensor.tensor_type)
    (out / f"{i}.f32").write_bytes(np.asarray(values, dtype="<f4").tobytes())
    index.append({"name": tensor.name, "type": tensor.tensor_type.name, "bytes": int(take)})
(out / "index.json").write_text(json.dumps(index))
print(len(index))
