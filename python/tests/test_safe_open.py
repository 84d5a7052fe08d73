"""weightmap.safe_open against safetensors.safe_open(..., "np") on the official writer's files:
the same keys, metadata and arrays, ours read-only views of the mapping."""

import json
import struct

import gguf
import numpy as np
import pytest
from safetensors import safe_open as official_open
from safetensors.numpy import save_file

import weightmap
from compare import same_array

# Files the official numpy reader reads in full (numpy has their every dtype).
NUMPY_FILES = ["numpy-dtypes.safetensors", "empty-scalar.safetensors", "many.safetensors"]


@pytest.mark.parametrize("name", NUMPY_FILES)
def test_every_tensor_matches_the_official_reader(safetensors_dir, name):
    path = safetensors_dir / name
    with official_open(path, framework="np") as theirs, weightmap.safe_open(path, framework="np") as ours:
        assert ours.keys() == list(theirs.keys())
        assert ours.metadata() == theirs.metadata()
        for key in theirs.keys():
            want, got = theirs.get_tensor(key), ours.get_tensor(key)
            assert same_array(got, want), key
            assert not got.flags.writeable, key
            if got.size:  # a view of the mapping, not a copy
                assert got.base is not None
            view_t, view_o = theirs.get_slice(key), ours.get_slice(key)
            assert view_o.get_shape() == view_t.get_shape()
            assert view_o.get_dtype() == view_t.get_dtype()
            if want.ndim >= 1 and want.shape[0] > 1:
                assert same_array(np.ascontiguousarray(view_o[1:]), view_t[1:]), key


def test_misaligned_data_is_copied_aligned(safetensors_dir):
    path = safetensors_dir / "misaligned.safetensors"
    with weightmap.safe_open(path) as ours, official_open(path, framework="np") as theirs:
        for key in theirs.keys():
            got = ours.get_tensor(key)
            assert got.flags.aligned and not got.flags.writeable
            assert same_array(got, theirs.get_tensor(key))


def test_a_sharded_model_opens_through_its_index(safetensors_dir):
    model = weightmap.open(safetensors_dir / "sharded" / "model.safetensors.index.json")
    assert model.format == "safetensors" and len(model.files) > 1
    for tensor in model.tensors.values():
        with official_open(safetensors_dir / "sharded" / tensor.file, framework="np") as shard:
            assert same_array(tensor.numpy(), shard.get_tensor(tensor.name))


def test_types_numpy_lacks_are_bytes_or_float32(safetensors_dir):
    model = weightmap.open(safetensors_dir / "raw-dtypes.safetensors")
    for tensor in model.tensors.values():
        raw = tensor.numpy()
        assert raw.nbytes == tensor.nbytes and not raw.flags.writeable
        values = tensor.dequantize()
        assert values.dtype == np.float32 and values.shape == tensor.shape


def header_only(path, metadata="absent"):
    """A hand-written file of one F32 tensor, with `__metadata__` absent or as given."""
    header = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    if metadata != "absent":
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + struct.pack("<2f", 1.0, 2.0))


def test_metadata_is_none_or_a_dict_as_officially(tmp_path):
    tensors = {"a": np.arange(4, dtype=np.float32)}
    files = []
    for name, metadata in [("none", None), ("empty", {}), ("some", {"k": "v", "": "x"})]:
        files.append(tmp_path / f"{name}.safetensors")
        save_file(tensors, files[-1], metadata=metadata)
    for name, metadata in [("absent", "absent"), ("null", None), ("empty-object", {}), ("one", {"a": "b"})]:
        files.append(tmp_path / f"header-{name}.safetensors")
        header_only(files[-1], metadata)
    seen = set()
    for path in files:
        with official_open(path, framework="np") as theirs, weightmap.safe_open(path) as ours:
            want = theirs.metadata()
            assert ours.metadata() == want and type(ours.metadata()) is type(want), path.name
            seen.add(repr(want))
    assert {"None", "{}"} <= seen


@pytest.mark.parametrize(
    "index",
    [0, -1, 1, (1, 2), (Ellipsis, 1), (slice(None), slice(1, None)), slice(None, None, 2), slice(0, 1),
     slice(5, 9), slice(1, 9), slice(-2, None), (0, Ellipsis), Ellipsis, (), slice(2, 2)],
    ids=repr,
)
def test_slices_index_as_the_official_ones(tmp_path, index):
    path = tmp_path / "s.safetensors"
    save_file({"m": np.arange(12, dtype=np.float32).reshape(2, 6), "v": np.arange(4, dtype=np.int16)}, path)
    with official_open(path, framework="np") as theirs, weightmap.safe_open(path) as ours:
        for key in ("m", "v"):
            try:
                want = theirs.get_slice(key)[index]
            except Exception:  # noqa: BLE001 - the official reader refuses (out of range,
                # negative bounds): ours follows numpy's rules, a superset of its
                try:
                    want = np.asarray(theirs.get_tensor(key)[index])
                except IndexError:
                    with pytest.raises(IndexError):
                        ours.get_slice(key)[index]
                    continue
            got = ours.get_slice(key)[index]
            assert isinstance(got, np.ndarray) and not got.flags.writeable, (key, index)
            assert same_array(np.array(got, order="C"), want), (key, index)


def test_a_closed_file_raises_and_its_arrays_stay(safetensors_dir):
    path = safetensors_dir / "numpy-dtypes.safetensors"
    with weightmap.safe_open(path) as f:
        key = f.keys()[0]
        array = f.get_tensor(key)
        part = f.get_slice(key)
        copy = array.copy()
    for call in (f.keys, f.metadata, lambda: f.get_tensor(key), lambda: f.get_slice(key), lambda: part[...]):
        with pytest.raises(weightmap.Closed):
            call()
    with pytest.raises(ValueError):  # a ValueError, as the builtin readers' closed files
        f.keys()
    assert same_array(array, copy)


def test_big_endian_gguf_tensors_read_with_their_values(gguf_files):
    path = next(p for p in gguf_files if p.name == "all-types-v3-be.gguf")
    theirs = gguf.GGUFReader(path)
    assert theirs.endianess == gguf.GGUFEndian.BIG
    typed = bf16 = 0
    with weightmap.safe_open(path) as ours:
        for t in theirs.tensors:
            name = t.name
            if t.tensor_type.name in ("F16", "F32", "F64", "I8", "I16", "I32", "I64"):
                got = ours.get_tensor(name)
                want = np.asarray(t.data)
                assert got.shape == want.shape and got.dtype.str[1:] == want.dtype.str[1:], name
                assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), name
                assert got.tobytes() == want.tobytes(), name  # the file's bytes, as a view
                typed += 1
            elif t.tensor_type.name == "BF16":
                with pytest.raises(weightmap.DecodeError, match="big-endian"):
                    ours.get_tensor(name)
                bf16 += 1
    assert typed >= 7 and bf16 >= 1
