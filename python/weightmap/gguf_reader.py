"""`weightmap.GGUFReader`: the official ``gguf.GGUFReader``'s reading surface, same answers,
from weightmap's parser: fields decoded when asked, tensor data as read-only views."""

from __future__ import annotations

import os
from collections import OrderedDict
from enum import IntEnum
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import numpy as np

from ._gguf_parts import Header, Pieces
from ._model import Model, numpy_dtype
from .errors import FormatError

try:  # The official enums when the official package is installed, so `is` and == hold.
    from gguf import GGMLQuantizationType, GGUFEndian, GGUFValueType
except ImportError:  # pragma: no cover - exercised where gguf is absent

    class GGUFValueType(IntEnum):  # type: ignore[no-redef]
        """GGUF metadata value types (the official package's values)."""

        UINT8 = 0
        INT8 = 1
        UINT16 = 2
        INT16 = 3
        UINT32 = 4
        INT32 = 5
        FLOAT32 = 6
        BOOL = 7
        STRING = 8
        ARRAY = 9
        UINT64 = 10
        INT64 = 11
        FLOAT64 = 12

    class GGUFEndian(IntEnum):  # type: ignore[no-redef]
        """Byte orders of a GGUF file."""

        LITTLE = 0
        BIG = 1

    GGMLQuantizationType = IntEnum(  # type: ignore[no-redef]
        "GGMLQuantizationType",
        {
            "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
            "Q8_1": 9, "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "Q8_K": 15,
            "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19, "IQ4_NL": 20, "IQ3_S": 21,
            "IQ2_S": 22, "IQ4_XS": 23, "I8": 24, "I16": 25, "I32": 26, "I64": 27, "F64": 28,
            "IQ1_M": 29, "BF16": 30, "TQ1_0": 34, "TQ2_0": 35, "MXFP4": 39, "NVFP4": 40,
        },
    )


def _ggml_type(type_id: int):
    """The enum member of `type_id`, or the bare number for a type newer than the enum."""
    try:
        return GGMLQuantizationType(type_id)
    except ValueError:
        return type_id


# The types whose `data` the official reader shows typed (the rest as bytes).
_TYPED = {"F16", "F32", "F64", "I8", "I16", "I32", "I64"}


class ReaderField:
    """A metadata field, as the official ``ReaderField``: its ``offset`` in the file, its
    ``name`` (key), its value ``types``, :meth:`contents` (decoded when called), and the
    raw ``parts`` and ``data`` (made when first read)."""

    __slots__ = ("offset", "name", "types", "_value", "_source", "_pieces")

    def __init__(self, offset: int, name: str, types: list[GGUFValueType], value: Any,
                 source: Callable[[], Pieces] | None = None):
        self.offset = offset
        self.name = name
        self.types = types
        self._value = value  # a constant, or a _Decode of the value
        self._source = source
        self._pieces: Pieces | None = None

    def _made(self) -> Pieces:
        if self._pieces is None:
            self._pieces = self._source() if self._source is not None else ([], [])
        return self._pieces

    @property
    def parts(self) -> list[np.ndarray]:
        """The entry's pieces as read-only numpy views of the header, in the file's byte
        order, as the official reader makes them (key length and bytes, value type, then
        the value's pieces); made on first use (an array's elements one view each)."""
        return self._made()[0]

    @property
    def data(self) -> list[int]:
        """The indexes of the ``parts`` that hold the value (each element of an array)."""
        return self._made()[1]

    def contents(self, index_or_slice: int | slice = slice(None)) -> Any:
        """The value: a number, str or bool, or for an array the list of its elements
        (``index_or_slice`` picks some). An array of arrays comes out flattened, its leaves
        depth first, each as the official reader makes it: as text when ``types`` ends in
        ``STRING``, else numbers as values and strings as their bytes."""
        if not self.types:
            return None
        value = self._value
        nested = len(self.types) >= 2 and self.types[1] == GGUFValueType.ARRAY
        if isinstance(value, _Decode):
            if nested:
                return _nested_contents(self.name, value.leaves(), self.types[-1], index_or_slice)
            try:
                value = value()
            except FormatError:
                if self.types[-1] != GGUFValueType.STRING or self.types[0] != GGUFValueType.ARRAY:
                    raise
                # Some string is not UTF-8: only the picked ones must be, as officially.
                return _nested_contents(self.name, value.leaves(), GGUFValueType.STRING, index_or_slice)
        if self.types[0] != GGUFValueType.ARRAY:
            return value
        return value[index_or_slice]

    def __repr__(self) -> str:
        return f"ReaderField(offset={self.offset}, name={self.name!r}, types={self.types})"


def _nested_contents(key: str, leaves: list[tuple[Any, bytes]], last_type: int, index_or_slice: int | slice) -> Any:
    """``contents()`` of an array of arrays, as the official reader makes it from its leaves
    (depth first): when the first leaf's type is ``STRING`` every picked leaf is its stored
    bytes as UTF-8 text, a number's included; otherwise numbers are values and strings their
    bytes (for an int index, the first byte)."""
    if last_type == GGUFValueType.STRING:
        if isinstance(index_or_slice, int):
            return _utf8(key, leaves[index_or_slice][1])
        return [_utf8(key, stored) for _, stored in leaves[index_or_slice]]
    if isinstance(index_or_slice, int):
        value, stored = leaves[index_or_slice]
        return stored[0] if value is None else value
    out: list = []
    for value, stored in leaves[index_or_slice]:
        if value is None:
            out.extend(stored)
        else:
            out.append(value)
    return out


def _utf8(key: str, stored: bytes) -> str:
    try:
        return stored.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"key {key!r}: an array's string is not valid UTF-8 ({e})") from None


class ReaderTensor:
    """A tensor, as the official ``ReaderTensor``: ``name``, ``tensor_type``, ``shape`` (the
    file's order, ``ne[0]`` first), ``n_elements``, ``n_bytes``, ``data_offset`` and
    ``data``: a read-only view of the mapping, typed for F16, F32, F64 and the signed
    integers (row-major shape), bytes otherwise (one row of bytes per row)."""

    __slots__ = ("name", "tensor_type", "shape", "n_elements", "n_bytes", "data_offset", "data", "field")

    def __init__(self, tensor, endian: str, info_offset: int, header: Header):
        self.name: str = tensor.name
        self.tensor_type = _ggml_type(tensor.ggml_type)
        # In the file's byte order, as the official reader's view of the tensor info.
        self.shape = np.array(tensor.shape[::-1], dtype=np.dtype(np.uint64).newbyteorder(
            "<" if endian == "little" else ">"))
        self.n_elements: int = tensor.n_elements
        self.n_bytes: int = tensor.nbytes
        self.data_offset: int = tensor.offset
        raw = tensor.numpy()
        if tensor.dtype in _TYPED or numpy_dtype(tensor.dtype) is None:
            self.data = raw
        else:  # U8..U64 and BOOL exist in safetensors only; GGUF has none
            self.data = raw.view(np.uint8)
        # As the official reader: where the tensor's info entry starts, no value types.
        self.field = ReaderField(info_offset, tensor.name, [], None, partial(header.tensor_info, info_offset))

    def __repr__(self) -> str:
        return f"ReaderTensor(name={self.name!r}, tensor_type={self.tensor_type!r}, shape={self.shape})"


class GGUFReader:
    """Reads a GGUF file as the official ``gguf.GGUFReader`` does, from weightmap's parser:
    the same ``fields`` (``GGUF.version``, ``GGUF.tensor_count``, ``GGUF.kv_count``, then
    every key in file order), ``tensors``, ``alignment``, ``data_offset`` and
    ``byte_order``; :meth:`get_field` and :meth:`get_tensor`.

    Differences: fields and tensors are plain objects, not named tuples (no unpacking or
    indexing); field values are decoded when ``contents()`` is first called, not at open; the
    reader is read-only (``mode`` must be ``"r"``); fields make their ``parts``/``data``
    (the raw numpy pieces) when first read, as views of weightmap's private copy of the
    header; the whole-file ``data`` is mapped when first read (guarded, read-only); a
    hostile file raises :class:`weightmap.FormatError` (a ``ValueError``) at open.
    """

    def __init__(self, path: str | os.PathLike[str], mode: Literal["r"] = "r"):
        if mode != "r":
            raise ValueError(f"weightmap.GGUFReader is read-only: mode {mode!r} is not supported")
        # One file, as the official reader: a split set's other files are not opened.
        self._model = Model(path, single_gguf=True)
        self._data: np.ndarray | None = None
        native = self._model._live()
        header = native.gguf_header()
        if header is None:  # pragma: no cover - single_gguf opens GGUF files only
            raise FormatError(f"{os.fspath(path)}: not a GGUF file ({self._model.format})")
        version, tensor_count, kv_count, alignment, data_offset = header
        self.alignment: int = alignment
        self.data_offset: int = data_offset
        big = self._model.endian == "big"
        host_big = np.little_endian is False
        self.byte_order: Literal["I", "S"] = "S" if big != host_big else "I"
        self.endianess = GGUFEndian.BIG if big else GGUFEndian.LITTLE
        raw = Header(native, self.byte_order)
        fields: OrderedDict[str, ReaderField] = OrderedDict()
        for name, offset, value_type, dtype, value in (
            ("GGUF.version", 4, GGUFValueType.UINT32, np.uint32, version),
            ("GGUF.tensor_count", 8, GGUFValueType.UINT64, np.uint64, tensor_count),
            ("GGUF.kv_count", 16, GGUFValueType.UINT64, np.uint64, kv_count),
        ):
            fields[name] = ReaderField(offset, name, [value_type], value, partial(raw.number, offset, dtype))
        for key, offset, types in native.metadata_index():
            if key in fields:  # a key named as a header field: refused, as officially
                raise FormatError(f"{os.fspath(path)}: metadata key {key!r} at byte {offset} "
                                  "duplicates the header field of that name")
            decode = _Decode(native, key)
            fields[key] = ReaderField(
                offset, key, [GGUFValueType(t) for t in types], decode, partial(raw.entry, offset)
            )
        self.fields = fields
        endian = self._model.endian
        info_offsets = native.gguf_tensor_info_offsets() or []
        self.tensors: list[ReaderTensor] = [
            ReaderTensor(t, endian, offset, raw)
            for t, offset in zip(self._model.tensors.values(), info_offsets, strict=True)
        ]

    @property
    def data(self) -> np.ndarray:
        """The whole file as a read-only uint8 array (the official reader's memmap), mapped
        when first read: a second, guarded mapping of the file opened (the same file even if
        its path has since been replaced), so a truncation reads as zeros, never a crash."""
        if self._data is None:
            self._data = np.frombuffer(memoryview(self._model._live().file_buffer()), dtype=np.uint8)
        return self._data

    def get_field(self, key: str) -> ReaderField | None:
        """The field named `key`, or None."""
        return self.fields.get(key, None)

    def get_tensor(self, idx: int) -> ReaderTensor:
        """The tensor at position `idx` in file order."""
        return self.tensors[idx]


_UNSET: Any = object()


class _Decode:
    """Decodes one metadata value when first called, and keeps it (so ``contents(i)`` in a
    loop costs one decode, as the official reader's indexing costs none)."""

    __slots__ = ("_native", "_key", "_value", "_leaves")

    def __init__(self, native, key: str):
        self._native = native
        self._key = key
        self._value = _UNSET
        self._leaves: list[tuple[Any, bytes]] | None = None

    def __call__(self) -> Any:
        if self._value is _UNSET:  # an error (invalid UTF-8) is raised again next time
            self._value = self._native.metadata_value(self._key)
        return self._value

    def leaves(self) -> list[tuple[Any, bytes]]:
        """An array of arrays' leaves, depth first: (value or None for a string, stored bytes)."""
        if self._leaves is None:
            self._leaves = self._native.metadata_leaves(self._key)
        return self._leaves
