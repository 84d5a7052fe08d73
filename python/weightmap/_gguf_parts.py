"""The official ``GGUFReader``'s ``parts`` and ``data`` of a field: numpy views of the pieces
of its entry in the header (weightmap's private copy of it), made when first asked for.

``parts`` are one-dimensional arrays in the file's byte order, as the official reader makes
them: for a metadata entry the key's length and bytes, the value type, then the value's
pieces (a scalar; a string's length and bytes; an array's element type, length and every
element's pieces); ``data`` indexes the parts that hold values."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import FormatError

# numpy types of the scalar value types (the official reader's `gguf_scalar_to_np`).
_SCALAR: dict[int, type[np.generic]] = {
    0: np.uint8, 1: np.int8, 2: np.uint16, 3: np.int16, 4: np.uint32, 5: np.int32,
    6: np.float32, 7: np.bool_, 10: np.uint64, 11: np.int64, 12: np.float64,
}
_STRING = 8

Pieces = tuple[list[np.ndarray], list[int]]


class Header:
    """A GGUF header's bytes as numpy views, in the file's byte order (``order`` is the
    official reader's ``byte_order``: ``"I"`` as the host, ``"S"`` swapped)."""

    __slots__ = ("_native", "_order", "_bytes")

    def __init__(self, native: Any, order: str):
        self._native = native
        self._order = order
        self._bytes: np.ndarray | None = None

    def _get(self, offset: int, dtype: type[np.generic], count: int = 1) -> np.ndarray:
        if self._bytes is None:
            self._bytes = np.frombuffer(memoryview(self._native.header_buffer()), dtype=np.uint8)
        end = offset + np.dtype(dtype).itemsize * count
        if end > len(self._bytes):  # the parser checked every entry: a weightmap bug
            raise FormatError(f"header entry at byte {offset} runs past the header ({len(self._bytes)} bytes)")
        array = self._bytes[offset:end].view(dtype)
        return array.view(array.dtype.newbyteorder(self._order))

    def _string(self, offset: int) -> list[np.ndarray]:
        length = self._get(offset, np.uint64)
        return [length, self._get(offset + 8, np.uint8, int(length[0]))]

    def number(self, offset: int, dtype: type[np.generic]) -> Pieces:
        """A header number's pieces (``GGUF.version`` and the counts)."""
        return [self._get(offset, dtype)], [0]

    def entry(self, offset: int) -> Pieces:
        """The pieces of the metadata entry at `offset`."""
        parts = self._string(offset)
        offset += 8 + parts[1].nbytes
        value_type = self._get(offset, np.uint32)
        parts.append(value_type)
        _, pieces, values = self._value(offset + 4, int(value_type[0]))
        return parts + pieces, [3 + i for i in values]

    def _value(self, offset: int, type_id: int) -> tuple[int, list[np.ndarray], list[int]]:
        if type_id == _STRING:
            pieces = self._string(offset)
            return 8 + pieces[1].nbytes, pieces, [1]
        scalar = _SCALAR.get(type_id)
        if scalar is not None:
            value = self._get(offset, scalar)
            return value.nbytes, [value], [0]
        # An array (nesting depth and sizes were checked by the parser).
        element_type, count = self._get(offset, np.uint32), self._get(offset + 4, np.uint64)
        start, offset = offset, offset + 12
        parts, values = [element_type, count], []
        for _ in range(int(count[0])):
            size, pieces, indexes = self._value(offset, int(element_type[0]))
            values += [len(parts) + i for i in indexes]
            parts += pieces
            offset += size
        return offset - start, parts, values

    def tensor_info(self, offset: int) -> Pieces:
        """The pieces of the tensor info entry at `offset`: name length and bytes, dimension
        count, dimensions, type and data offset."""
        name = self._string(offset)
        offset += 8 + name[1].nbytes
        n_dims = self._get(offset, np.uint32)
        dims = self._get(offset + 4, np.uint64, int(n_dims[0]))
        offset += 4 + dims.nbytes
        ggml_type = self._get(offset, np.uint32)
        data_offset = self._get(offset + 4, np.uint64)
        return name + [n_dims, dims, ggml_type, data_offset], [1, 3, 4, 5]
