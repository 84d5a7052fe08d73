//! Zero-copy GGUF parsing over any byte slice, for inference engines, model servers and
//! browsers.
//!
//! `weightmap-core` reads a GGUF model file's header, metadata and tensor table in one
//! validating pass without copying, and hands out tensor bytes as typed slices. It is
//! `#![no_std]` and `#![forbid(unsafe_code)]`, and treats every file as hostile: every count, length and
//! offset goes through checked arithmetic, nothing is allocated from a number read from the
//! file, and every failure is a typed [`Error`] naming the key or tensor and the byte offset.
//!
//! ```
//! # let bytes: Vec<u8> = weightmap_core::testing::sample_file();
//! use weightmap_core::{Gguf, GgmlType, Value};
//!
//! let gguf = Gguf::parse(bytes)?; // Vec<u8>, &[u8], Arc<[u8]>, or a memory map (weightmap-native)
//! println!("GGUF v{}, {} tensors", gguf.version(), gguf.tensor_count());
//! for entry in gguf.metadata() {
//!     println!("{} = {:?}", entry.key(), entry.value());
//! }
//! let norm = gguf.tensor("norm.weight")?;
//! assert_eq!(norm.ggml_type(), GgmlType::F32);
//! assert_eq!(norm.as_f32()?, &[1.0, 2.0, 3.0, 4.0]);
//! assert!(matches!(gguf.get("test.block_count"), Some(Value::Uint32(1))));
//! # Ok::<(), weightmap_core::Error>(())
//! ```
//!
//! # Reading only the header
//! A browser or HTTP client can fetch a prefix of a large file and call
//! [`Gguf::parse_header`]: if the prefix is too short it answers [`Error::Truncated`] with the
//! number of bytes needed, so the caller fetches that many and tries again.
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
//! # Cargo features
//! - `alloc` (default): [`Gguf`], the indexed form with name lookups, duplicate and overlap
//!   checks. Without it, [`GgufRef`] parses a borrowed slice with no allocator at all.
//! - `std`: implements `std::error::Error` for [`Error`] through `core::error::Error`.
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
#[cfg(feature = "std")]
extern crate std;

mod borrowed;
mod cursor;
mod data;
mod error;
mod ggml;
#[cfg(feature = "alloc")]
mod gguf;
mod range;
mod tensor;
mod value;
mod walk;

#[cfg(feature = "alloc")]
#[doc(hidden)]
pub mod testing;

pub use borrowed::GgufRef;
pub use cursor::Endian;
pub use data::{Advice, Backing, ModelData};
pub use error::{Error, Name, Result, Section};
pub use ggml::{GgmlType, TypeIdError};
#[cfg(feature = "alloc")]
pub use gguf::Gguf;
pub use range::{align_up, checked_range, checked_slice};
pub use tensor::{TensorElement, TensorView};
pub use value::{Array, ArrayIter, GgufStr, Strings, Value, ValueType, MAX_ARRAY_DEPTH};
pub use walk::{
    Header, Layout, MetadataEntry, TensorInfo, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, HEADER_SIZE,
    MAGIC, MAX_DIMS,
};
