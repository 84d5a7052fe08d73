"""Dump what the official gguf reader (gguf==0.19.0, GGUFReader) sees in GGUF files, as JSON.

weightmap's differential tests compare their own parse against this, field by field.
One file -> one JSON object; several files -> a JSON array of objects in argument order.

Usage: python dump_reference.py FILE [FILE...] > reference.json

Value encoding: ints as ints, BOOL as true/false, STRING as a string (or {"bytes_hex": ...}
when not valid UTF-8), FLOAT32 as {"f32": bits}, FLOAT64 as {"f64": bits},
ARRAY as {"type": elem type, "len": n, "values": [...]} (nested arrays recurse).
"""
import hashlib
import json
import sys

from gguf import GGUFEndian, GGUFReader
from gguf import GGUFValueType as VT


def bits(part):
    """Bit pattern of a float scalar, honouring the byte order of the reader's numpy view."""
    order = {">": "big", "<": "little"}.get(part.dtype.byteorder, sys.byteorder)
    return int.from_bytes(part[:1].tobytes(), order)


def string(part):
    raw = part.tobytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"bytes_hex": raw.hex()}


def decode(vtype, parts, i):
    """Decode one value of type vtype starting at parts[i]; return (value, next index).

    The reader flattens nested arrays into field.parts (and field.contents() cannot
    handle them), so we walk the parts ourselves: a STRING is [len, bytes], an ARRAY
    is [elem type, len, elem...], every other type is one scalar part.
    """
    if vtype == VT.STRING:
        assert int(parts[i][0]) == len(parts[i + 1])
        return string(parts[i + 1]), i + 2
    if vtype == VT.ARRAY:
        etype, n, i = VT(int(parts[i][0])), int(parts[i + 1][0]), i + 2
        values = []
        for _ in range(n):
            v, i = decode(etype, parts, i)
            values.append(v)
        return {"type": etype.name, "len": n, "values": values}, i
    part = parts[i]
    if vtype == VT.FLOAT32:
        return {"f32": bits(part)}, i + 1
    if vtype == VT.FLOAT64:
        return {"f64": bits(part)}, i + 1
    if vtype == VT.BOOL:
        return bool(part[0]), i + 1
    return int(part[0]), i + 1


def dump(path):
    r = GGUFReader(path)
    fields = list(r.fields.values())
    assert [f.name for f in fields[:3]] == ["GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"]
    metadata = []
    for f in fields[3:]:  # the first three are the reader's pseudo-fields for the header
        vtype = VT(int(f.parts[2][0]))  # parts: key len, key bytes, value type, value parts...
        value, end = decode(vtype, f.parts, 3)
        assert end == len(f.parts), f"{path}: {f.name}: {end} of {len(f.parts)} parts used"
        metadata.append({"key": f.name, "type": vtype.name, "value": value})

    tensors = []
    with open(path, "rb") as fh:
        for t in r.tensors:
            rel = int(t.field.parts[5][0])  # parts: name len, name, n_dims, dims, type, offset
            assert t.data_offset == r.data_offset + rel
            fh.seek(t.data_offset)
            raw = fh.read(t.n_bytes)
            assert len(raw) == t.n_bytes, f"{path}: tensor {t.name} runs past end of file"
            assert raw == t.data.tobytes(), f"{path}: tensor {t.name}: reader data differs from file bytes"
            tensors.append({"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in t.shape],
                            "offset": rel, "size": int(t.n_bytes), "sha256": hashlib.sha256(raw).hexdigest()})

    return {"file": path, "version": int(fields[0].parts[0][0]),
            "endian": "big" if r.endianess == GGUFEndian.BIG else "little",
            "alignment": int(r.alignment), "data_offset": int(r.data_offset),
            "metadata": metadata, "tensors": tensors}


def main():
    paths = sys.argv[1:]
    if not paths:
        sys.exit(__doc__)
    docs = [dump(p) for p in paths]
    json.dump(docs[0] if len(docs) == 1 else docs, sys.stdout, allow_nan=False, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
