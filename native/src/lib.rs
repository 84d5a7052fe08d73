//! Memory-mapped model files for weightmap.
//!
//! [`open`] opens any model the safe way: a GGUF or safetensors file, the first file of a
//! GGUF split set (the others found beside it), or a sharded safetensors model's
//! `model.safetensors.index.json` (its shards opened from its folder); every file's header is
//! read into owned memory and parsed there, its tensor data mapped, and the files checked
//! against each other ([`weightmap_core::Model`]). [`open_trusted`] is the zero-copy open of
//! any model, [`model_files`] lists a model's files without opening them.
//!
//! [`ModelSource::open`] opens a model file the safe way: it reads the header region into
//! owned memory with positioned reads, as far as the parser asks, parses that copy, and maps
//! only the tensor data, so opening is O(header) and only the tensor pages a program touches
//! cost memory. Around it:
//!
//! - [`MmapFile`]: a read-only mapping, either trusted (`unsafe` [`MmapFile::open`]: parsers
//!   read it in place, the zero-copy path) or untrusted (safe: bytes only). See its
//!   [safety section](MmapFile#safety-files-that-change-while-mapped).
//! - [`MmapConfig`]: access advice, prefetch, populate, transparent huge pages, `mlock`.
//! - Hints on sub-ranges: [`MmapFile::try_advise`], [`MmapFile::try_release`]
//!   (`MADV_DONTNEED`, rounded so it never drops bytes outside the range),
//!   [`MmapFile::prefetch`] in a background thread, [`MmapFile::evict_page_cache`] for
//!   cold-load measurements.
//! - What it costs: [`MmapFile::residency`] (resident pages, like `vmtouch`) and [`PageFaults`].
//! - Change detection: [`MmapFile::is_stale`] compares device, inode, size and times.
//! - [`MmapCache`]: shared, bounded, LRU, re-maps replaced files; concurrent misses on a path
//!   map it once, and nothing is unmapped while its lock is held.
//!
//! ```no_run
//! use weightmap_native::{MmapConfig, ModelSource, SourceConfig};
//!
//! let config = SourceConfig { mmap: MmapConfig::sequential(), ..SourceConfig::default() };
//! let gguf = ModelSource::open_with("model.gguf", &config)?;
//! let embd = gguf.tensor("token_embd.weight")?;
//! println!("{} bytes of {}", embd.bytes().len(), embd.dtype());
//! // ... upload the tensors, then hand the pages back to the kernel:
//! gguf.data().release_cpu_pages()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is safe, and what stays `unsafe`
//! A mapping shows the file as it is on disk *now*, so another process writing it changes
//! bytes under slices Rust assumes immutable, and truncating it makes touched pages raise
//! `SIGBUS`. The safe API never lets that reach a parser: [`ModelSource::open`] parses a
//! private copy of the header, and mappings safe code can make are untrusted: parsers refuse
//! them, and weightmap reads them only as bytes and numbers (every bit pattern a valid value),
//! so a concurrent writer changes the numbers read, never the parse. What stays open is what
//! every loader that hands out mapped bytes as `&[u8]` leaves open: code that validates those
//! bytes itself (as UTF-8, or by parsing them) must copy them first; see
//! [`MmapFile`'s safety section](MmapFile#safety-files-that-change-while-mapped). The zero-copy path that parses the mapping in place
//! ([`MmapFile::open`], [`ModelSource::open_mmap`], [`MmapCache::new_trusted`]) is `unsafe`
//! with memmap2's contract: the file is neither modified nor truncated while mapped. Replace
//! model files by writing a new file and renaming it over the old one (the mapping keeps the
//! old inode alive): `cp new.gguf model.gguf` edits in place; `cp new.gguf model.gguf.tmp &&
//! mv model.gguf.tmp model.gguf` does not. [`MmapFile::is_stale`] and [`MmapCache`] notice a
//! replaced file.
//!
//! A file truncated while mapped makes touched pages raise `SIGBUS`; a mapping opened with
//! [`MmapConfig::guard`] survives it (see [`guard`]): lost pages read as zeros and the mapping
//! reports itself poisoned. On Windows a mapped file cannot be truncated or replaced at all
//! while mapped.
//!
//! # Features
//! - `json`: [`report`], a parsed model as the JSON object of `weightmap inspect --json`.
//! - `server`: [`serve`], the HTTP server of mapped files and tensors behind `weightmap serve`.
//!
//! # Platforms
//! Linux is the primary platform. On other Unix systems `populate`, huge pages, page release,
//! page-cache eviction and the process half of [`Residency`] are documented no-ops or
//! `None`; on Windows every hint is a no-op, and residency, `mlock` and eviction return
//! [`Error::Unsupported`].
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

mod ahead;
mod cache;
mod config;
mod error;
pub mod guard;
mod header;
mod identity;
mod mmap;
mod open;
mod pages;
mod prefetch;
#[cfg(feature = "json")]
pub mod report;
mod residency;
mod safetensors_header;
#[cfg(feature = "server")]
pub mod serve;
mod source;
mod stream;
mod sys;

pub use cache::{CacheConfig, CacheStats, MmapCache};
pub use config::MmapConfig;
pub use error::{ChangeKind, Error, FileKind, Result};
pub use identity::FileIdentity;
pub use mmap::{HugePages, MmapFile};
pub use open::{model_files, open, open_trusted, open_trusted_with, open_with, shard_paths};
pub use pages::Rounding;
pub use prefetch::{Prefetch, TouchReport};
pub use residency::{
    peak_resident_set_size, reset_peak_resident_set_size, resident_set_size, PageFaults, Residency,
};
pub use source::{
    HeapReason, ModelSource, SourceConfig, DEFAULT_MAX_HEADER_SIZE, FALLBACK_MAX_HEAP_SIZE,
    MIN_MMAP_SIZE,
};
pub use weightmap_core::{Advice, Backing, ModelData};

/// The size of a virtual-memory page here: the unit of residency, release and advice.
pub fn page_size() -> usize {
    sys::page_size()
}
