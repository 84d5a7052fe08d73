"""weightmap: model weights zero-copy, from Rust.

- :func:`open` opens GGUF and safetensors models (single files, GGUF split sets, sharded
  safetensors) the safe way: headers parsed from a private copy, tensor data mapped and
  guarded against truncation. Tensors are read-only numpy views (:meth:`Tensor.numpy`) or
  float32 values of any type (:meth:`Tensor.dequantize`).
- :class:`GGUFReader` answers as ``gguf.GGUFReader`` does, opening in milliseconds.
- :class:`safe_open` answers as ``safetensors.safe_open`` does, with views, not copies.
- Every bad file raises a :class:`weightmap.Error` (see :mod:`weightmap.errors`).

Example::

    import weightmap
    model = weightmap.open("model.gguf")
    print(model.format, len(model.tensors), model.metadata["general.architecture"])
    w = model.tensors["token_embd.weight"]
    raw = w.numpy()          # the stored blocks, a read-only view
    values = w.dequantize()  # float32, w.shape
"""

from . import errors
from ._model import Metadata, Model, Tensor, open
from ._native import __version__
from .errors import (
    Closed,
    DecodeError,
    Error,
    FileChanged,
    FileError,
    FileNotFound,
    FormatError,
    OutOfMemory,
    PermissionDenied,
    TensorNotFound,
)
from .gguf_reader import GGUFReader, ReaderField, ReaderTensor
from .safe_open import safe_open

__all__ = [
    "open",
    "Model",
    "Tensor",
    "Metadata",
    "GGUFReader",
    "ReaderField",
    "ReaderTensor",
    "safe_open",
    "errors",
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
    "__version__",
]
