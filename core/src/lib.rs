//! Zero-copy GGUF and safetensors parsing over any byte slice, for inference engines, model
//! servers and browsers.
//!
//! `weightmap-core` reads a model file's header, metadata and tensor table in one validating
//! pass without copying, GGUF or safetensors, one file or a set of shards, and hands out
//! tensor bytes as typed slices through one API. It is
//! `#![no_std]` and `#![forbid(unsafe_code)]`, and treats every file as hostile: every count,
//! length and offset goes through checked arithmetic, nothing is allocated from a number read
//! from the file, and every failure is a small typed [`Error`] naming the byte offset and the
//! key, tensor or element.
//!
//! ```
//! # let bytes: Vec<u8> = weightmap_core::testing::sample_file();
//! use weightmap_core::{Gguf, GgmlType, Value};
//!
//! let gguf = Gguf::parse(bytes)?; // Vec<u8>, &[u8], Arc<[u8]>, or a file (weightmap-native)
//! println!("GGUF v{}, {} tensors", gguf.version(), gguf.tensor_count());
//! for entry in gguf.metadata() {
//!     println!("{} = {:?}", entry.key(), entry.value());
//! }
//! let norm = gguf.tensor("norm.weight")?;
//! assert_eq!(norm.dtype(), GgmlType::F32);
//! assert_eq!(norm.as_f32()?, &[1.0, 2.0, 3.0, 4.0]);
//! assert!(matches!(gguf.get("test.block_count"), Some(Value::Uint32(1))));
//! # Ok::<(), weightmap_core::Error>(())
//! ```
//!
//! # The shape of the API
//! - [`ModelData`]: where the bytes live (a slice, a `Vec`, a mapping), with access hints.
//!   A source can hold only the tensor data beside a private copy of the header, which is
//!   how `weightmap-native` opens files that other processes may write.
//! - [`model`]: the format-neutral layer. [`detect`] tells a file's format by its first
//!   bytes; [`Model<D>`](Model) is a model of one file, a GGUF split set or a sharded
//!   safetensors model, whose [`ModelTensor`]s carry their shard and file range and whose
//!   views and handles come from their own file's data.
//! - [`safetensors`]: the safetensors parser ([`safetensors::SafetensorsIndex`],
//!   [`safetensors::SafetensorsView`], [`safetensors::Safetensors`],
//!   [`safetensors::ShardIndex`]), checked against the reference (`safetensors` 0.8.0).
//! - [`gguf`]: the GGUF parser, also re-exported at the top level:
//!   [`GgufIndex`]: the owned, lifetime-free result of parsing a header;
//!   [`IndexBuilder`] builds it from a prefix that grows as the parser asks.
//!   [`GgufView<'data>`](GgufView): the read API (metadata, tensor infos, tensor views),
//!   borrowed for the data's lifetime; with no allocator, [`GgufView::parse`] works without
//!   an index. [`Gguf<D>`](Gguf): owns its data and index and hands out the view.
//! - [`TensorView`], [`TensorType`], [`TensorHandle`]: the format-neutral tensor types
//!   (row-major dimensions; every ggml type and safetensors dtype; owned handles that cross
//!   threads).
//!
//! # Reading only the header
//! A browser or HTTP client can fetch a prefix of a large file: if it is too short the parser
//! answers [`Error::Truncated`] with the number of bytes needed, so the caller fetches that
//! many and goes on, and [`IndexBuilder`] resumes from where it stopped.
//!
//! ```
//! # let file: Vec<u8> = weightmap_core::testing::sample_file();
//! use weightmap_core::{Error, Gguf};
//! let mut have = 16;
//! let gguf = loop {
//!     match Gguf::parse_header(&file[..have]) {
//!         Ok(gguf) => break gguf,
//!         Err(Error::Truncated { needed, .. }) => have = needed as usize,
//!         Err(e) => return Err(e),
//!     }
//! };
//! assert_eq!(gguf.tensor_count(), 2);
//! assert_eq!(gguf.required_len(), file.len() as u64);
//! # Ok::<(), Error>(())
//! ```
//!
//! # What is checked
//! Magic and version (2 and 3; big-endian files are detected and read), every count against
//! the bytes that remain before any loop or allocation, string lengths, empty or non-UTF-8 keys
//! and tensor names, duplicate keys and tensor names, the 13 value types, array nesting (at
//! most [`MAX_ARRAY_DEPTH`]), `general.alignment` (UINT32, a non-zero power of two), up to four
//! non-negative dimensions whose product fits in 63 bits, the ggml type (removed and unknown ids
//! are distinct errors), `ne[0]` a multiple of the block size, byte sizes and padding without
//! wrap-around, tensor offsets aligned, inside the file and not overlapping.
//!
//! Choices where the format is silent: a BOOL is true for any non-zero byte (as in C and in the
//! official reader); a tensor with zero dimensions is a scalar of one element; zero-sized
//! dimensions are allowed; tensor names may be longer than ggml's 64-byte limit; tensors may
//! appear in any order with gaps, as long as they do not overlap. String values are checked for
//! UTF-8 only when read ([`GgufStr::to_str`], [`Strings`]).
//!
//! No step of the parse depends on two reads of the same byte agreeing: sort keys are hashes
//! taken once as names are read, and where a byte is read again (a duplicate check, a window
//! of strings that failed its SIMD check) a different answer changes a result, never the
//! control flow. So even bytes that change while they are parsed cannot make it panic. What
//! keeps a `&str` valid afterwards is the promise that the bytes do not change: the parsers
//! trust the slices they are given ([`GgufView::parse`], [`IndexBuilder::parse`]) and
//! [`ModelData::header`]. Hand them memory this process owns or a mapping whose file nobody
//! modifies.
//!
//! # Cargo features
//! - `alloc` (default): [`Gguf`], [`GgufIndex`], [`IndexBuilder`], [`TensorHandle`]: the
//!   indexed form with name lookups, duplicate and overlap checks; [`safetensors`] (its
//!   header is JSON, read with serde_json) and [`model`]. Without it, [`GgufView`] parses a
//!   borrowed GGUF slice with no allocator at all.
//! - `std`: implements `std::error::Error` for [`Error`] through `core::error::Error`.
//! - `bytes`: `From<TensorHandle> for bytes::Bytes`, without copying.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(
    test,
    allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)
)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod data;
pub mod dequant;
mod endian;
mod error;
pub mod gguf;
#[cfg(feature = "alloc")]
mod lookup;
#[cfg(feature = "alloc")]
pub mod model;
mod range;
#[cfg(feature = "alloc")]
pub mod safetensors;
mod tensor;

#[cfg(feature = "alloc")]
#[doc(hidden)]
pub mod testing;

pub use data::{Advice, Backing, ModelData};
pub use endian::Endian;
pub use error::{Error, Field, JsonProblem, Name, Result, Section};
#[cfg(feature = "alloc")]
pub use model::{
    detect, Content, Format, Model, ModelEntry, ModelFile, ModelTensor, ModelValue, Shard,
};
pub use range::{align_up, checked_range};
#[cfg(feature = "alloc")]
pub use tensor::handle::TensorHandle;
pub use tensor::{
    dtype::TensorType,
    view::{TensorElement, TensorView, MAX_RANK},
};

// GGUF at the top level too, as before there was a second format.
pub use gguf::{
    Array, ArrayElement, ArrayIter, Entries, GgmlType, GgufStr, GgufView, Header, Layout,
    MetadataEntry, Strings, TensorInfo, Tensors, TypeIdError, Value, ValueType, Values,
    ALIGNMENT_KEY, DEFAULT_ALIGNMENT, HEADER_SIZE, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS,
};
#[cfg(feature = "alloc")]
pub use gguf::{Gguf, GgufIndex, IndexBuilder, Salvage};
