"""weightmap's exceptions: one hierarchy under :class:`Error`.

Each class is also the builtin exception a caller of the official readers already catches:
a missing file is a :class:`FileNotFoundError`, a malformed one a :class:`ValueError`.
Messages name the file, the byte offset and the key or tensor where the problem is.
"""


class Error(Exception):
    """Base class of every error weightmap raises."""


class FileError(Error, OSError):
    """The file could not be read (I/O error, not a regular file, ...)."""


class FileNotFound(FileError, FileNotFoundError):
    """No file at the path."""


class PermissionDenied(FileError, PermissionError):
    """The file exists but may not be read."""


class FileChanged(Error):
    """The file was truncated or replaced while it was read."""


class FormatError(Error, ValueError):
    """The file is not a valid GGUF or safetensors file (or a model's files disagree)."""


class TensorNotFound(Error, KeyError):
    """No tensor of that name in the model."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Closed(Error, ValueError):
    """The model, reader or file was closed (arrays taken from it stay valid)."""


class OutOfMemory(Error, MemoryError):
    """A tensor's values do not fit in memory (decode into a smaller ``out=``, or in parts
    with the Rust API)."""


class DecodeError(Error, ValueError):
    """The tensor's values cannot be decoded (a type without a decoder, or a multi-byte
    type in a big-endian file)."""


__all__ = [
    "Error",
    "FileError",
    "FileNotFound",
    "PermissionDenied",
    "FileChanged",
    "FormatError",
    "TensorNotFound",
    "DecodeError",
    "Closed",
    "OutOfMemory",
]
