"""`weightmap.safe_open`: the official ``safetensors.safe_open``'s surface over weightmap's
parser, with views instead of copies."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._model import Model, Tensor, numpy_dtype
from .errors import DecodeError, TensorNotFound

_FRAMEWORKS = {"np": "numpy", "numpy": "numpy", "pt": "torch", "torch": "torch"}

# ml_dtypes' names of the types numpy lacks (numpy arrays of them need ml_dtypes).
_ML_DTYPES = {
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "F8_E8M0": "float8_e8m0fnu",
}

# torch's names of every type a tensor can be handed over as.
_TORCH = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
    "BOOL": "bool", "C64": "complex64", "F4": "float4_e2m1fn_x2",
    **{k: v for k, v in _ML_DTYPES.items() if k != "BF16"},
}


def _extra_dtype(dtype: str) -> np.dtype | None:
    """numpy's dtype for BF16 and the F8 types from ml_dtypes, when it is installed."""
    name = _ML_DTYPES.get(dtype)
    if name is None:
        return None
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(getattr(ml_dtypes, name)) if hasattr(ml_dtypes, name) else None


class safe_open:  # noqa: N801 - the official reader's name
    """Opens a safetensors file (or any model :func:`weightmap.open` opens) as
    ``safetensors.safe_open`` does: ``keys()``, ``metadata()``, ``get_tensor(name)`` and
    ``get_slice(name)``, as a context manager.

    With ``framework="numpy"`` (``"np"``), ``get_tensor`` returns a **read-only view** of
    the mapped file when the tensor's data is aligned for its dtype (every tensor the
    official writer aligns), and an aligned read-only copy only where it is not. BF16 and
    the F8 types need ``ml_dtypes`` for numpy (else :class:`weightmap.DecodeError`; use
    ``weightmap.open(path).tensors[name].dequantize()`` for float32 values).

    With ``framework="pt"`` (torch installed), ``get_tensor`` returns a writable **copy**,
    as the official reader does: a torch tensor over read-only mapped pages would crash the
    interpreter on its first write. Every dtype torch has, as the official reader gives it
    (F4 as ``float4_e2m1fn_x2``, two values to an element: the last dimension halved).

    Leaving the ``with`` block (or :meth:`close`) closes the file for further calls
    (:class:`weightmap.Closed`); arrays already returned stay valid.
    """

    def __init__(self, filename: str | os.PathLike[str], framework: str = "numpy", device: str = "cpu"):
        kind = _FRAMEWORKS.get(framework)
        if kind is None:
            raise ValueError(f"framework {framework!r}: weightmap.safe_open gives numpy or torch")
        if device != "cpu":
            raise ValueError(f"device {device!r}: weightmap.safe_open reads to the CPU only")
        if kind == "torch":
            import torch  # noqa: F401 - fail at open, as the official reader does

        self._framework = kind
        self._model = Model(filename)

    def __enter__(self) -> safe_open:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the file: later calls raise :class:`weightmap.Closed`; returned arrays
        keep their memory."""
        self._model.close()

    def keys(self) -> list[str]:
        """The tensors' names, sorted (as the official reader lists them)."""
        return sorted(self._model.tensors)

    def offset_keys(self) -> list[str]:
        """The tensors' names in the order of their data in the file."""
        return list(self._model.tensors)

    def metadata(self) -> dict[str, str] | None:
        """The ``__metadata__`` strings: None when the header has no ``__metadata__`` object
        (absent or null), a dict otherwise (empty for ``{}``); a GGUF model's metadata
        values as they decode."""
        model = self._model
        meta = model.metadata
        if model.format == "safetensors" and not model._live().safetensors_has_metadata():
            return None
        return dict(meta)

    def _tensor(self, name: str) -> Tensor:
        tensor = self._model.tensors.get(name)
        if tensor is None:
            raise TensorNotFound(f"no tensor named {name!r}")
        return tensor

    def _array(self, tensor: Tensor) -> np.ndarray:
        """The tensor as a read-only numpy array of its dtype (a view where aligned)."""
        endian = self._model.endian
        dtype = numpy_dtype(tensor.dtype, endian)
        if dtype is None:
            dtype = _extra_dtype(tensor.dtype)
            if dtype is None:
                raise DecodeError(
                    f"tensor {tensor.name!r}: numpy has no {tensor.dtype} dtype (install "
                    "ml_dtypes, or use weightmap.open(path).tensors[name].dequantize())"
                )
            if endian != "little" and dtype.itemsize > 1:
                # ml_dtypes' types exist in the host's byte order only.
                raise DecodeError(
                    f"tensor {tensor.name!r}: {tensor.dtype} of a big-endian file has no numpy dtype"
                )
        return _aligned(self._raw(tensor), dtype).reshape(tensor.shape)

    def _raw(self, tensor: Tensor) -> np.ndarray:
        return np.frombuffer(memoryview(self._model._live().tensor_buffer(tensor.name)), dtype=np.uint8)

    def get_tensor(self, name: str) -> Any:
        """Tensor `name`: a numpy array (read-only view of the mapping where aligned, else a
        copy), or a torch tensor (a copy)."""
        tensor = self._tensor(name)
        if self._framework == "torch":
            return _to_torch(tensor, self._carrier(tensor))
        return self._array(tensor)

    def _carrier(self, tensor: Tensor) -> np.ndarray:
        """For torch: the tensor as a numpy array of its dtype, or of an unsigned integer of
        the same width where numpy lacks the dtype, in the host's byte order."""
        endian = self._model.endian
        dtype = numpy_dtype(tensor.dtype, endian)
        shape = tensor.shape
        if dtype is None:
            _torch_dtype(tensor)  # a type torch lacks too: raise before reading
            block, size = tensor._block
            if block == 1:
                dtype = np.dtype(("<" if endian == "little" else ">") + f"u{size}")
            else:  # F4: two to a byte, as torch's float4_e2m1fn_x2 holds them
                if not shape or shape[-1] % block:
                    raise DecodeError(f"tensor {tensor.name!r}: {tensor.dtype} rows are not whole bytes")
                dtype = np.dtype(np.uint8)
                shape = shape[:-1] + (shape[-1] // block * size,)
        array = _aligned(self._raw(tensor), dtype).reshape(shape)
        return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else array

    def get_slice(self, name: str) -> _Slice:
        """A lazy handle on tensor `name`: ``get_shape()``, ``get_dtype()``, and ``[...]``
        indexing, which reads that part (a view for numpy; an int index drops its
        dimension, a single element is a 0-d array). Indexes follow numpy's rules, a
        superset of the official reader's (negative bounds, negative steps, and bounds past
        the end clamped, where the official reader raises)."""
        return _Slice(self, self._tensor(name))


def _aligned(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`raw` bytes viewed as `dtype`, copied first where misaligned for it (read-only)."""
    if raw.ctypes.data % dtype.alignment:
        raw = raw.copy()  # misaligned in the file: the one case that copies
        raw.flags.writeable = False
    return raw.view(dtype)


class _Slice:
    """The official ``PySafeSlice``: a tensor's shape and dtype, and parts of it by index."""

    __slots__ = ("_file", "_tensor")

    def __init__(self, file: safe_open, tensor: Tensor):
        self._file = file
        self._tensor = tensor

    def get_shape(self) -> list[int]:
        return list(self._tensor.shape)

    def get_dtype(self) -> str:
        return self._tensor.dtype

    def __getitem__(self, index: Any) -> Any:
        file, tensor = self._file, self._tensor
        torch = file._framework == "torch"
        whole = file._carrier(tensor) if torch else file._array(tensor)
        part = whole[index]
        if not isinstance(part, np.ndarray):  # one element: keep it an array, as 0-d
            part = whole[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        if torch:
            return _to_torch(tensor, part)  # copied C-contiguous there (0-d stays 0-d)
        return part


def _torch_dtype(tensor: Tensor) -> Any:
    import torch

    dtype = getattr(torch, _TORCH.get(tensor.dtype, ""), None)
    if not isinstance(dtype, torch.dtype):
        raise DecodeError(f"tensor {tensor.name!r}: torch has no {tensor.dtype} dtype")
    return dtype


def _to_torch(tensor: Tensor, array: np.ndarray) -> Any:
    """A torch tensor of `tensor`'s dtype owning a copy of `array` (its values, or its
    bytes in a same-width unsigned carrier)."""
    import torch

    dtype = _torch_dtype(tensor)
    copied = torch.from_numpy(np.array(array, copy=True, order="C"))
    return copied if copied.dtype == dtype else copied.view(dtype)
