//! GGUF, the format of llama.cpp and ggml: a binary header of typed key/value metadata and a
//! tensor table, then aligned tensor data.
//!
//! [`GgufView`] is the one read API over a parsed file; [`Gguf`] owns its data and index;
//! [`GgufIndex`] and [`IndexBuilder`] are the lifetime-free result of a parse and the builder
//! that makes it from a prefix growing as the parser asks; [`Split`] reads the keys that
//! llama.cpp's split files carry.

pub(crate) mod cursor;
#[cfg(feature = "alloc")]
pub(crate) mod file;
pub(crate) mod format;
pub(crate) mod ggml;
pub(crate) mod header;
#[cfg(feature = "alloc")]
pub(crate) mod index;
pub(crate) mod layout;
pub(crate) mod metadata;
#[cfg(feature = "alloc")]
pub(crate) mod salvage;
pub(crate) mod split;
pub(crate) mod strings;
pub(crate) mod tensor_info;
pub(crate) mod value;
pub(crate) mod view;

#[cfg(feature = "alloc")]
pub use file::Gguf;
pub use format::{
    Endian, ValueType, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, HEADER_SIZE, MAGIC, MAX_ARRAY_DEPTH,
    MAX_DIMS,
};
pub use ggml::{GgmlType, TypeIdError};
pub use header::Header;
#[cfg(feature = "alloc")]
pub use index::{GgufIndex, IndexBuilder};
pub use layout::Layout;
pub use metadata::MetadataEntry;
#[cfg(feature = "alloc")]
pub use salvage::Salvage;
pub use split::Split;
pub use strings::Strings;
pub use tensor_info::TensorInfo;
pub use value::{Array, ArrayElement, ArrayIter, GgufStr, Value, Values};
pub use view::{Entries, GgufView, Tensors};
