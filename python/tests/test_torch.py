"""weightmap.safe_open(..., framework="pt") against safetensors.safe_open(..., "pt"), where
torch is installed (the test command does not install it: skipped there)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors import safe_open as official_open  # noqa: E402

import weightmap  # noqa: E402

FILES = ["numpy-dtypes.safetensors", "raw-dtypes.safetensors", "empty-scalar.safetensors",
         "many.safetensors", "misaligned.safetensors"]


def same_tensor(a, b) -> bool:
    """Same dtype, shape and bytes (NaN payloads included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.numel() == 0:
        return True
    as_bytes = lambda t: t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()  # noqa: E731
    return as_bytes(a) == as_bytes(b)


@pytest.mark.parametrize("name", FILES)
def test_torch_tensors_match_the_official_reader(safetensors_dir, name):
    path = safetensors_dir / name
    with official_open(path, framework="pt") as theirs, weightmap.safe_open(path, framework="pt") as ours:
        assert ours.keys() == list(theirs.keys())
        for key in theirs.keys():
            try:
                want = theirs.get_tensor(key)
            except Exception:  # noqa: BLE001 - a dtype torch lacks (F4, F6): ours refuses too
                with pytest.raises(weightmap.DecodeError):
                    ours.get_tensor(key)
                continue
            got = ours.get_tensor(key)
            assert same_tensor(got, want), key
            if got.numel():  # a writable copy: writing to it cannot touch the mapped file
                got.reshape(-1).view(torch.uint8).zero_()
            if want.ndim and want.shape[0] > 1:
                for index in (slice(1, None), 0, -1):
                    try:
                        part = theirs.get_slice(key)[index]
                    except Exception:  # noqa: BLE001 - the official reader cannot slice F4
                        continue
                    assert same_tensor(ours.get_slice(key)[index], part), (key, index)


def test_big_endian_gguf_tensors_come_out_in_host_order(gguf_files):
    path = next(p for p in gguf_files if p.name == "all-types-v3-be.gguf")
    with weightmap.safe_open(path) as as_numpy, weightmap.safe_open(path, framework="pt") as as_torch:
        checked = 0
        for key in as_numpy.offset_keys():
            try:
                values = as_numpy.get_tensor(key)
            except weightmap.DecodeError:
                continue
            if values.dtype.kind not in "fiu":
                continue
            got = as_torch.get_tensor(key)
            assert np.array_equal(got.numpy(), values.astype(values.dtype.newbyteorder("=")), equal_nan=True), key
            checked += 1
        assert checked >= 7
