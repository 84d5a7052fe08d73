"""`weightmap.open`: a model of any format and shard layout, its metadata and tensors."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from math import prod
from typing import Any

import numpy as np

from . import _native
from .errors import Closed

# numpy's dtype of each plain type (the others are shown as their stored bytes).
_NUMPY = {
    "F64": "f8", "F32": "f4", "F16": "f2",
    "I64": "i8", "I32": "i4", "I16": "i2", "I8": "i1",
    "U64": "u8", "U32": "u4", "U16": "u2", "U8": "u1",
    "BOOL": "?", "C64": "c8",
}


def numpy_dtype(dtype: str, endian: str = "little") -> np.dtype | None:
    """numpy's dtype for weightmap's type name `dtype` in byte order `endian`, or None when
    numpy has no such type (the quantized and sub-byte types, BF16, F8...)."""
    code = _NUMPY.get(dtype)
    if code is None:
        return None
    return np.dtype(("<" if endian == "little" else ">") + code)


class Metadata(Mapping[str, Any]):
    """A model's metadata, read-only, in file order; each value decoded when it is read
    (numbers as int/float, strings as str, arrays as lists)."""

    __slots__ = ("_native", "_index")

    def __init__(self, native: _native.Model):
        self._native = native
        self._index = {key: (offset, types) for key, offset, types in native.metadata_index()}

    def __getitem__(self, key: str) -> Any:
        if key not in self._index:
            raise KeyError(key)
        return self._native.metadata_value(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def types(self, key: str) -> list[int]:
        """The GGUF value type ids of `key`'s value (an array's element types after it)."""
        return list(self._index[key][1])

    def offset(self, key: str) -> int:
        """Where `key`'s entry starts in its file, in bytes."""
        return self._index[key][0]

    def __repr__(self) -> str:
        return f"<weightmap.Metadata of {len(self)} entries>"


class Tensor:
    """One tensor of a model: what the tensor table says of it, its stored bytes as a
    read-only numpy view (:meth:`numpy`) and its values as float32 (:meth:`dequantize`)."""

    __slots__ = ("_model", "_block", "name", "dtype", "ggml_type", "shape", "offset", "nbytes", "file")

    def __init__(self, model: Model, row: tuple):
        name, dtype, ggml_type, shape, offset, nbytes, shard, block_size, type_size = row
        self._model = model
        # Elements and bytes per block of the type (1 and the item size for plain types).
        self._block: tuple[int, int] = (block_size, type_size)
        #: The tensor's name.
        self.name: str = name
        #: Its type's name as the format writes it (``"F32"``, ``"Q4_K"``, ``"F8_E4M3"``...).
        self.dtype: str = dtype
        #: The ggml type id, or None for the safetensors-only types.
        self.ggml_type: int | None = ggml_type
        #: The shape, row-major (outermost first), as numpy and safetensors write it.
        self.shape: tuple[int, ...] = tuple(shape)
        #: The byte offset of its data in its file.
        self.offset: int = offset
        #: The size of its data in bytes.
        self.nbytes: int = nbytes
        #: The name of the file that holds it (a shard's, for a split model).
        self.file: str = model.files[shard]

    @property
    def n_elements(self) -> int:
        """The number of elements."""
        return prod(self.shape)

    def buffer(self) -> memoryview:
        """The stored bytes, a read-only memoryview of the mapping (no copy)."""
        return memoryview(self._model._live().tensor_buffer(self.name))

    def numpy(self) -> np.ndarray:
        """The stored data as a read-only numpy array over the mapping, without a copy: the
        tensor's dtype and shape for the types numpy has (in the file's byte order), else
        its bytes as uint8: one row of bytes per row of the tensor where rows are whole
        blocks, flat where they are not. The array keeps the model's mapping alive, even
        after :meth:`Model.close`."""
        raw = np.frombuffer(memoryview(self._model._live().tensor_buffer(self.name)), dtype=np.uint8)
        dtype = numpy_dtype(self.dtype, self._model.endian)
        if dtype is not None:
            return raw.view(dtype).reshape(self.shape)
        block_size, type_size = self._block
        if not self.shape or self.shape[-1] % block_size:
            return raw
        return raw.reshape(self.shape[:-1] + (self.shape[-1] // block_size * type_size,))

    def dequantize(self, out: np.ndarray | None = None) -> np.ndarray:
        """The values as float32 of the tensor's shape, decoded in Rust with the GIL
        released (large tensors on every core): every ggml type as
        ``gguf.quants.dequantize`` decodes it (bit for bit), every numeric safetensors type
        exactly. A new array, or `out` (a C-contiguous, writable float32 array of
        :attr:`n_elements` values, any shape) filled in place and returned: reusing one
        buffer saves the page faults of fresh memory, most of the cost for large tensors.

        Integer types come out as their values rounded to float32 (I64 and U64 past 2**24
        lose digits), F64 rounded to nearest; BOOL as 0.0 and 1.0.

        :raises weightmap.DecodeError: for a type without a decoder (C64, for one), or a
            multi-byte type in a big-endian file.
        :raises ValueError: for an `out` of the wrong dtype, size or layout, or read-only.
        :raises weightmap.OutOfMemory: when a new array of the values does not fit in memory.
        :raises weightmap.FileChanged: when the file was truncated while it was decoded.
        """
        native = self._model._live()
        if out is None:
            return native.dequantize(self.name).reshape(self.shape)
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise ValueError("out must be a float32 numpy array")
        if not out.flags.writeable:
            raise ValueError("out must be writable")
        native.dequantize_into(self.name, out)
        return out

    def __repr__(self) -> str:
        return f"<weightmap.Tensor {self.name!r} {self.dtype} {list(self.shape)}>"


class Model:
    """A model opened the safe way (see :func:`open`)."""

    def __init__(self, path: str | bytes | os.PathLike, *, single_gguf: bool = False):
        path = os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path)
        if not isinstance(path, str):  # a PathLike whose fspath is bytes
            path = os.fsdecode(path)
        native = _native.Model(path, single_gguf)
        self._native: _native.Model | None = native
        #: ``"gguf"`` or ``"safetensors"``.
        self.format: str = native.format
        #: ``"little"`` or ``"big"`` (big-endian GGUF files).
        self.endian: str = native.endian
        #: The model's files, in shard order.
        self.files: list[str] = [name or path for name in native.files]
        self._metadata: Metadata | None = None
        self._tensors: dict[str, Tensor] | None = None

    def _live(self) -> _native.Model:
        """The native model, or :class:`weightmap.Closed` after :meth:`close`."""
        native = self._native
        if native is None:
            raise Closed(f"{self.files[0]}: the model was closed")
        return native

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native is None

    @property
    def metadata(self) -> Metadata:
        """The metadata, a read-only mapping (GGUF key-value pairs; safetensors'
        ``__metadata__`` strings)."""
        if self._metadata is None:
            self._metadata = Metadata(self._live())
        return self._metadata

    @property
    def tensors(self) -> dict[str, Tensor]:
        """Every tensor by name, in file order."""
        if self._tensors is None:
            self._tensors = {row[0]: Tensor(self, row) for row in self._live().tensor_table()}
        return self._tensors

    def is_intact(self) -> bool:
        """False once another process truncated one of the files (pages past the new end
        then read as zeros in every array over them)."""
        return self._live().is_intact()

    def close(self) -> None:
        """Lets go of the model: its files are unmapped once no array shows them (arrays
        still showing its tensors keep their memory alive and stay valid). Afterwards every
        method raises :class:`weightmap.Closed`."""
        self._tensors = None
        self._metadata = None
        self._native = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._native is None:
            return f"<weightmap.Model {self.format} {self.files[0]!r}, closed>"
        return f"<weightmap.Model {self.format} {self.files[0]!r}, {len(self.tensors)} tensors>"


def open(path: str | bytes | os.PathLike) -> Model:  # noqa: A001 - the module's verb
    """Opens the model at `path`: a GGUF or safetensors file, the first file of a GGUF
    split set (its other files found beside it), or a sharded model's
    ``model.safetensors.index.json``.

    Headers are read into memory and parsed there; tensor data is mapped, so only the
    pages a program touches cost memory, and guarded: a file truncated by another process
    reads as zeros past its new end (see :meth:`Model.is_intact`), never a crash.

    :raises weightmap.FileNotFound: no such file.
    :raises weightmap.FormatError: a malformed file, with the byte offset and key or tensor.
    """
    return Model(path)
