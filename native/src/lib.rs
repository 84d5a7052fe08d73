//! Memory-mapped model files for weightmap.
//!
//! [`MmapFile`] maps a file read-only and implements [`ModelData`], so the core parser reads
//! metadata and tensors straight from the page cache: opening is O(1) in the file's size and
//! only the pages a program touches cost memory. Around it:
//!
//! - [`MmapConfig`]: access advice, prefetch, populate, transparent huge pages, `mlock`.
//! - Hints on sub-ranges: [`MmapFile::advise`], [`MmapFile::release`] (`MADV_DONTNEED`, rounded
//!   so it never drops bytes outside the range), [`MmapFile::prefetch`] in a background thread,
//!   [`MmapFile::evict_page_cache`] for cold-load measurements.
//! - What it costs: [`MmapFile::residency`] (resident pages, like `vmtouch`) and [`PageFaults`].
//! - Change detection: [`MmapFile::is_stale`] compares device, inode, size and mtime.
//! - [`ModelSource`]: maps by default, reads small files, pipes and `/proc` files into the heap.
//! - [`MmapCache`]: shared, bounded, LRU, re-maps replaced files.
//!
//! ```no_run
//! use weightmap_core::Gguf;
//! use weightmap_native::{MmapConfig, MmapFile};
//!
//! let gguf = Gguf::parse(MmapFile::open_with("model.gguf", &MmapConfig::sequential())?)?;
//! let embd = gguf.tensor("token_embd.weight")?;
//! println!("{} bytes of {}", embd.bytes().len(), embd.ggml_type());
//! // ... upload the tensors, then hand the pages back to the kernel:
//! gguf.data().release_cpu_pages()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Platforms
//! Linux is the primary platform. On other Unix systems `populate`, huge pages, page release,
//! page-cache eviction and the process half of [`Residency`] are documented no-ops or
//! `None`; on Windows every hint is a no-op, and residency, `mlock` and eviction return
//! [`Error::Unsupported`].
//!
//! # Files that change while mapped (SIGBUS)
//! A mapping shows the file as it is on disk *now*. Opening a model file here assumes, as a
//! documented precondition, that nobody modifies that file in place while it is mapped: if
//! another process truncates it, touching the lost pages raises `SIGBUS` and kills the process;
//! if it rewrites it in place, bytes change under slices Rust assumes immutable, which is
//! undefined behaviour (it is why `memmap2::Mmap::map` is `unsafe`). No mapping API can prevent
//! this from inside the process, so this crate:
//!
//! - maps read-only and private, and bounds-checks every access;
//! - records the file's identity at open (device, inode, size, mtime, ctime), and
//!   [`MmapFile::is_stale`] and [`MmapCache`] notice a file replaced, resized or rewritten, so
//!   a server can re-map instead of serving old bytes;
//! - documents the rule that avoids the hazard: replace model files by writing a new file and
//!   renaming it over the old one (the mapping keeps the old inode alive and valid), never by
//!   truncating or editing in place (`cp new.gguf model.gguf` edits in place; `cp new.gguf
//!   model.gguf.tmp && mv model.gguf.tmp model.gguf` does not). Where files may be edited in
//!   place, read them into the heap with [`SourceConfig::no_mmap`].
//!
//! On Windows a mapped file cannot be replaced at all while mapped, so updating a model means
//! dropping its mappings (and [`MmapCache`] entries) first.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

mod cache;
mod config;
mod error;
mod identity;
mod mmap;
mod pages;
mod prefetch;
mod residency;
mod source;
mod sys;

pub use cache::{CacheConfig, CacheStats, MmapCache};
pub use config::{Access, MmapConfig};
pub use error::{Error, Result};
pub use identity::FileIdentity;
pub use mmap::{HugePages, MmapFile};
pub use pages::Rounding;
pub use prefetch::{Prefetch, TouchReport};
pub use residency::{resident_set_size, PageFaults, Residency};
pub use source::{HeapReason, ModelSource, SourceConfig, DEFAULT_MAX_HEAP_SIZE, MIN_MMAP_SIZE};
pub use weightmap_core::{Advice, Backing, ModelData};

/// The size of a virtual-memory page here: the unit of residency, release and advice.
pub fn page_size() -> usize {
    sys::page_size()
}
