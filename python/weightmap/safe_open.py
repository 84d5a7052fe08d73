"""`weightmap.safe_open`: the official ``safetensors.safe_open``'s surface over weightmap's
parser, with views instead of copies."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._model import Model, numpy_dtype
from .errors import DecodeError

_FRAMEWORKS = {"np": "numpy", "numpy": "numpy", "pt": "torch", "torch": "torch"}


def _extra_dtype(dtype: str) -> np.dtype | None:
    """numpy dtypes for BF16 and the F8 types from ml_dtypes, when it is installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    names = {
        "BF16": "bfloat16",
        "F8_E4M3": "float8_e4m3fn",
        "F8_E5M2": "float8_e5m2",
        "F8_E4M3FNUZ": "float8_e4m3fnuz",
        "F8_E5M2FNUZ": "float8_e5m2fnuz",
        "F8_E8M0": "float8_e8m0fnu",
    }
    name = names.get(dtype)
    return np.dtype(getattr(ml_dtypes, name)) if name and hasattr(ml_dtypes, name) else None


class safe_open:  # noqa: N801 - the official reader's name
    """Opens a safetensors file (or any model :func:`weightmap.open` opens) as
    ``safetensors.safe_open`` does: ``keys()``, ``metadata()``, ``get_tensor(name)`` and
    ``get_slice(name)``, as a context manager.

    ``get_tensor`` returns a **read-only view** of the mapped file when the tensor's data is
    aligned for its dtype (every tensor the official writer aligns), and a copy only where
    it is not; ``numpy`` (``"np"``) arrays, or ``torch`` (``"pt"``) tensors made with
    ``torch.frombuffer`` when torch is installed. BF16 and F8 need ``ml_dtypes`` for numpy.
    """

    def __init__(self, filename: str | os.PathLike[str], framework: str = "numpy", device: str = "cpu"):
        kind = _FRAMEWORKS.get(framework)
        if kind is None:
            raise ValueError(f"framework {framework!r}: weightmap.safe_open gives numpy or torch")
        if device != "cpu":
            raise ValueError(f"device {device!r}: weightmap.safe_open reads to the CPU only")
        self._framework = kind
        self._model = Model(filename)

    def __enter__(self) -> safe_open:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def keys(self) -> list[str]:
        """The tensors' names, sorted (as the official reader lists them)."""
        return sorted(self._model.tensors)

    def offset_keys(self) -> list[str]:
        """The tensors' names in the order of their data in the file."""
        return list(self._model.tensors)

    def metadata(self) -> dict[str, str] | None:
        """The ``__metadata__`` strings, or None when the file has none."""
        meta = self._model.metadata
        return dict(meta) if len(meta) else None

    def _array(self, name: str) -> np.ndarray:
        tensor = self._model.tensors.get(name)
        if tensor is None:
            from .errors import TensorNotFound

            raise TensorNotFound(f"no tensor named {name!r}")
        dtype = numpy_dtype(tensor.dtype) or _extra_dtype(tensor.dtype)
        if dtype is None:
            raise DecodeError(f"tensor {name!r}: numpy has no {tensor.dtype} dtype (install ml_dtypes, or use .dequantize())")
        raw = np.frombuffer(self._model._native.tensor_buffer(name), dtype=np.uint8)
        if raw.ctypes.data % dtype.alignment:
            raw = raw.copy()  # misaligned in the file: the one case that copies
            raw.flags.writeable = False
        return raw.view(dtype).reshape(tensor.shape)

    def get_tensor(self, name: str) -> Any:
        """Tensor `name`: a read-only view of the mapping where aligned, else a copy."""
        array = self._array(name)
        if self._framework == "torch":
            return _to_torch(array)
        return array

    def get_slice(self, name: str) -> _Slice:
        """A lazy handle on tensor `name`: ``get_shape()``, ``get_dtype()``, and ``[...]``
        indexing, which returns that part of the view."""
        self._array(name)  # raise now for a missing or undecodable tensor
        return _Slice(self, name)


class _Slice:
    __slots__ = ("_file", "_name")

    def __init__(self, file: safe_open, name: str):
        self._file = file
        self._name = name

    def get_shape(self) -> list[int]:
        return list(self._file._model.tensors[self._name].shape)

    def get_dtype(self) -> str:
        return self._file._model.tensors[self._name].dtype

    def __getitem__(self, index: Any) -> Any:
        part = self._file._array(self._name)[index]
        if self._file._framework == "torch":
            return _to_torch(np.ascontiguousarray(part))
        return part


def _to_torch(array: np.ndarray) -> Any:
    import torch

    if array.size == 0:
        return torch.from_numpy(array.copy())
    import warnings

    with warnings.catch_warnings():  # the view is read-only; torch warns it cannot enforce that
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)
