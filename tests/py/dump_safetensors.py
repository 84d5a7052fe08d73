"""Dump what the official safetensors reader (safetensors==0.8.0) sees in safetensors files.

weightmap's differential tests compare their own parse against this, tensor by tensor; the
hostile corpus test compares verdicts.

Usage:
  python dump_safetensors.py FILE [FILE...]            one JSON object per file, in a list:
      {"metadata": {...} or null, "tensors": {name: {"dtype", "shape", "size", "sha256"}}}
  python dump_safetensors.py --verdict FILE [FILE...]  [{"ok": bool, "error": str or null}]

Tensors come from `safetensors.deserialize` (every dtype, as raw bytes); metadata from
`safe_open(..., framework="numpy")`, which also reads every tensor numpy can hold, checked
against the raw bytes.
"""
import hashlib
import json
import sys

import numpy as np
from safetensors import deserialize, safe_open

NUMPY = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "F32", "F64", "C64"}


def dump(path):
    with open(path, "rb") as f:
        raw = f.read()
    tensors = {}
    for name, t in deserialize(raw):
        data = bytes(t["data"])
        tensors[name] = {
            "dtype": t["dtype"],
            "shape": list(t["shape"]),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
        assert sorted(f.keys()) == sorted(tensors), "safe_open and deserialize disagree"
        for name in f.keys():
            if tensors[name]["dtype"] in NUMPY:
                array = np.asarray(f.get_tensor(name))
                digest = hashlib.sha256(array.tobytes()).hexdigest()
                assert digest == tensors[name]["sha256"], name
                assert list(array.shape) == tensors[name]["shape"], name
    return {"metadata": metadata, "tensors": tensors}


def verdict(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        deserialize(raw)
        return {"ok": True, "error": None}
    except Exception as e:  # noqa: BLE001 - the reference's verdict is what is compared
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def main():
    args = sys.argv[1:]
    if args and args[0] == "--verdict":
        print(json.dumps([verdict(p) for p in args[1:]]))
    else:
        print(json.dumps([dump(p) for p in args]))


if __name__ == "__main__":
    main()
