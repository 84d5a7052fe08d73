//! safetensors, Hugging Face's format: an 8-byte little-endian length N, N bytes of JSON
//! describing each tensor (`dtype`, `shape`, `data_offsets`) and an optional `__metadata__`
//! of strings, then the tensors' bytes, which tile the rest of the file exactly.
//!
//! [`SafetensorsIndex`] is the owned result of parsing a header, [`SafetensorsView`] the read
//! API over it, [`Safetensors`] a file that owns its data and index, [`ShardIndex`] a sharded
//! model's `model.safetensors.index.json`.
//!
//! # What is checked, against the reference (`safetensors` 0.8.0)
//! Accepted and refused as the reference does: N at most 100,000,000; the JSON UTF-8 and an
//! object, JSON whitespace before and after it (NUL padding is refused); `__metadata__` an
//! object of strings, or `null`; every other key a tensor with a known dtype (names are
//! case-sensitive), a shape of non-negative integers and two offsets; nesting (in ignored
//! fields) at most 128 deep; offsets that tile the data section from 0 with no gap and no
//! overlap, in the order of their offsets; each tensor's bytes exactly its elements × bits / 8
//! with checked arithmetic (3 `F4` elements are refused: they do not fill whole bytes); and
//! the file ending where the last tensor does.
//!
//! Stricter, on purpose: two tensors (or metadata keys) with one name, also when JSON escapes
//! spell it differently, are refused, where the reference keeps the last; a tensor entry must
//! be an object and a dtype a string (serde's derive also takes `["F32", [2], [0, 8]]` and
//! `{"F32": null}`, which no writer makes); tensors of more than
//! [`MAX_RANK`](crate::MAX_RANK) dimensions are refused ([`TensorView`](crate::TensorView)
//! keeps its dimensions inline).
//!
//! Alignment is never promised: a tensor's bytes start wherever the header ends. Typed views
//! of a misaligned tensor ([`TensorView::as_f32`](crate::TensorView::as_f32)…) return
//! [`Error::MisalignedData`](crate::Error::MisalignedData); [`TensorView::copy_to`](crate::TensorView::copy_to) and
//! [`TensorView::to_vec`](crate::TensorView::to_vec) read any tensor.

mod file;
pub(crate) mod index;
pub(crate) mod json;
mod shards;
mod view;

pub use file::Safetensors;
pub use index::SafetensorsIndex;
pub use shards::ShardIndex;
pub use view::{MetadataEntry, SafetensorsView, TensorInfo};

/// The most bytes a JSON header may have (the reference's cap).
pub const MAX_HEADER_SIZE: u64 = 100_000_000;

/// Size of the length that starts every file.
pub const LENGTH_SIZE: usize = 8;
