"""weightmap.safe_open against safetensors.safe_open(..., "np") on the official writer's files:
the same keys, metadata and arrays, ours read-only views of the mapping."""

import numpy as np
import pytest
from safetensors import safe_open as official_open

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
