//! Memory-mapped model files for weightmap.
//!
//! [`MmapFile`] maps a file read-only and implements [`ModelData`], so the core parser reads
//! metadata and tensors straight from the page cache: opening is O(1) in the file's size and
//! only the pages a program touches cost memory.
//!
//! ```no_run
//! use weightmap_core::Gguf;
//! use weightmap_native::MmapFile;
//!
//! let gguf = Gguf::parse(MmapFile::open("model.gguf")?)?;
//! let embd = gguf.tensor("token_embd.weight")?;
//! println!("{} bytes of {}", embd.bytes().len(), embd.ggml_type());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Safety of mappings
//! A mapping shows the file as it is on disk *now*. If another process truncates the file while
//! it is mapped, touching the lost pages raises `SIGBUS`; if it rewrites it in place, the bytes
//! change under the parser. Replace model files by writing a new file and renaming it over the
//! old one (the mapping keeps the old inode alive), never by editing in place.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

mod error;
mod mmap;

pub use error::{Error, Result};
pub use mmap::MmapFile;
pub use weightmap_core::{Advice, Backing, ModelData};
