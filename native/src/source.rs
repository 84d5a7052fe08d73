//! `ModelSource`: one entry point that maps a model file where that is right and reads it into
//! the heap where it is not.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use weightmap_core::{Advice, Backing, ModelData};

use crate::config::MmapConfig;
use crate::error::{Error, Result};
use crate::mmap::MmapFile;

/// Files smaller than this are read, not mapped: a mapping costs a syscall, a VMA and at least
/// one page, which for a tiny file is more than the file.
pub const MIN_MMAP_SIZE: u64 = 64 * 1024;

/// Default for [`SourceConfig::max_heap_size`]: 64 GiB.
pub const DEFAULT_MAX_HEAP_SIZE: u64 = 64 << 30;

/// Why a [`ModelSource`] holds its bytes on the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeapReason {
    /// The file is smaller than [`SourceConfig::min_mmap_size`], or reports size 0 (as `/proc`
    /// and `/sys` files do, whatever their contents).
    Small,
    /// The path is not a regular file (a pipe, a character device).
    NotRegular,
    /// The file system refused the mapping (`ENODEV`, `EINVAL`: some FUSE and special file
    /// systems cannot be mapped).
    Unmappable,
    /// The caller asked for no mapping (`--no-mmap`).
    Requested,
    /// The bytes were handed over with [`ModelSource::from_vec`].
    Vec,
}

/// How [`ModelSource::open_with`] chooses and configures the backing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceConfig {
    /// Configuration of the mapping, when the file is mapped.
    pub mmap: MmapConfig,
    /// Never map; always read into the heap.
    pub no_mmap: bool,
    /// Files below this size are read into the heap.
    pub min_mmap_size: u64,
    /// Most bytes read into the heap; a longer file or stream is [`Error::HeapLimit`]. Guards
    /// against endless sources such as `/dev/zero`, which memory overcommit would otherwise
    /// let grow until the out-of-memory killer steps in.
    pub max_heap_size: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            mmap: MmapConfig::default(),
            no_mmap: false,
            min_mmap_size: MIN_MMAP_SIZE,
            max_heap_size: DEFAULT_MAX_HEAP_SIZE,
        }
    }
}

impl SourceConfig {
    /// Always read into the heap.
    pub fn no_mmap() -> Self {
        SourceConfig {
            no_mmap: true,
            ..Self::default()
        }
    }
}

/// Model bytes from a memory map or from the heap, behind one [`ModelData`] type.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use weightmap_core::{Backing, ModelData};
/// use weightmap_native::{HeapReason, ModelSource};
///
/// let small = ModelSource::from_vec(b"GGUF...".to_vec());
/// assert!(!small.is_mmap());
/// assert_eq!(small.heap_reason(), Some(HeapReason::Vec));
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("big.gguf");
/// # std::fs::write(&path, vec![0u8; 1 << 20])?;
/// let big = ModelSource::open(&path)?; // 1 MiB: mapped
/// assert_eq!(big.backing(), Backing::Mmap);
/// big.advise_sequential()?;
/// big.release_cpu_pages()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ModelSource {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Mmap(MmapFile),
    Heap {
        path: Option<PathBuf>,
        bytes: Vec<u8>,
        reason: HeapReason,
    },
}

impl ModelSource {
    /// Maps `path`, or reads it into the heap if it is small or not a regular file.
    ///
    /// # Errors
    /// [`Error::FileNotFound`], [`Error::PermissionDenied`], [`Error::NotAFile`] for
    /// directories, [`Error::FileTooLarge`] when a heap read cannot allocate, and the mapping
    /// errors of [`MmapFile::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &SourceConfig::default())
    }

    /// [`open`](Self::open) with the choice of backing and the mapping configured.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, config: &SourceConfig) -> Result<Self> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| Error::from_open(path.into(), e))?;
        if meta.is_dir() {
            return Err(Error::NotAFile {
                path: path.into(),
                kind: "a directory",
            });
        }
        let reason = if !meta.is_file() {
            Some(HeapReason::NotRegular)
        } else if config.no_mmap {
            Some(HeapReason::Requested)
        } else if meta.len() < config.min_mmap_size || meta.len() == 0 {
            // /proc files report size 0 whatever their contents.
            Some(HeapReason::Small)
        } else {
            None
        };
        let size_hint = meta.is_file().then_some(meta.len());
        let heap = |reason| -> Result<Inner> {
            Ok(Inner::Heap {
                bytes: read_to_heap(path, size_hint, config.max_heap_size)?,
                path: Some(path.into()),
                reason,
            })
        };
        let inner = match reason {
            None => match MmapFile::open_with(path, &config.mmap) {
                Ok(map) => Inner::Mmap(map),
                Err(Error::MapFailed { source, .. }) if is_unmappable(&source) => {
                    heap(HeapReason::Unmappable)?
                }
                Err(e) => return Err(e),
            },
            Some(reason) => heap(reason)?,
        };
        if let Inner::Heap { bytes, reason, .. } = &inner {
            tracing::debug!(path = %path.display(), size = bytes.len(), ?reason, "read into heap");
        }
        Ok(ModelSource { inner })
    }

    /// Maps `path` whatever its size (errors for non-regular files).
    ///
    /// # Errors
    /// As [`MmapFile::open`].
    pub fn open_mmap(path: impl AsRef<Path>) -> Result<Self> {
        Ok(ModelSource {
            inner: Inner::Mmap(MmapFile::open(path)?),
        })
    }

    /// Wraps bytes already in memory.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        ModelSource {
            inner: Inner::Heap {
                path: None,
                bytes,
                reason: HeapReason::Vec,
            },
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.inner {
            Inner::Mmap(m) => m.as_slice(),
            Inner::Heap { bytes, .. } => bytes,
        }
    }

    /// Whether the bytes are memory-mapped.
    pub fn is_mmap(&self) -> bool {
        matches!(self.inner, Inner::Mmap(_))
    }

    /// Why the bytes are on the heap, or `None` when they are mapped.
    pub fn heap_reason(&self) -> Option<HeapReason> {
        match &self.inner {
            Inner::Mmap(_) => None,
            Inner::Heap { reason, .. } => Some(*reason),
        }
    }

    /// The mapping, when the bytes are mapped: residency, prefetch, locking and the rest.
    pub fn as_mmap(&self) -> Option<&MmapFile> {
        match &self.inner {
            Inner::Mmap(m) => Some(m),
            Inner::Heap { .. } => None,
        }
    }

    /// The path the bytes came from (`None` for [`from_vec`](Self::from_vec)).
    pub fn path(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Mmap(m) => Some(m.path()),
            Inner::Heap { path, .. } => path.as_deref(),
        }
    }

    /// Gives the mapped pages back to the kernel ([`MmapFile::release_cpu_pages`]); a no-op for
    /// heap bytes, which stay allocated until the source is dropped.
    ///
    /// # Errors
    /// [`Error::SystemCall`] if `madvise` fails.
    pub fn release_cpu_pages(&self) -> Result<()> {
        self.as_mmap().map_or(Ok(()), MmapFile::release_cpu_pages)
    }

    /// Announces a front-to-back pass ([`MmapFile::advise_sequential`]); a no-op on the heap.
    ///
    /// # Errors
    /// [`Error::SystemCall`] if `madvise` fails.
    pub fn advise_sequential(&self) -> Result<()> {
        self.as_mmap().map_or(Ok(()), MmapFile::advise_sequential)
    }
}

impl ModelData for ModelSource {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }

    fn advise(&self, range: Range<usize>, advice: Advice) {
        if let Some(m) = self.as_mmap() {
            ModelData::advise(m, range, advice);
        }
    }

    fn release(&self, range: Range<usize>) {
        if let Some(m) = self.as_mmap() {
            ModelData::release(m, range);
        }
    }

    fn backing(&self) -> Backing {
        match self.inner {
            Inner::Mmap(_) => Backing::Mmap,
            Inner::Heap { .. } => Backing::Memory,
        }
    }
}

/// Whether a failed `mmap` means the file system cannot map files at all.
fn is_unmappable(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::ENODEV | libc::EINVAL))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Reads the whole of `path`, at most `limit` bytes. The size from the file system, when
/// known, only presizes the buffer; growth is fallible, so a huge stream is an error, not an
/// abort.
fn read_to_heap(path: &Path, size_hint: Option<u64>, limit: u64) -> Result<Vec<u8>> {
    let io_err = |source| Error::from_open(path.into(), source);
    let file = File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    let too_large = |size: u64| Error::FileTooLarge {
        path: path.into(),
        size,
    };
    if let Some(hint) = size_hint.filter(|&h| h <= limit) {
        let hint = usize::try_from(hint).map_err(|_| too_large(hint))?;
        bytes
            .try_reserve_exact(hint)
            .map_err(|_| too_large(hint as u64))?;
    }
    // std's read_to_end grows with try_reserve and reports OutOfMemory instead of aborting.
    // One byte past the limit tells "exactly the limit" from "longer".
    match file.take(limit.saturating_add(1)).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > limit => Err(Error::HeapLimit {
            path: path.into(),
            limit,
        }),
        Ok(_) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => Err(too_large(bytes.len() as u64)),
        Err(e) => Err(io_err(e)),
    }
}
