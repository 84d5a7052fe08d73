//! `MmapFile`: a read-only memory mapping of a file (or of its tail, from a page-aligned
//! offset), as [`ModelData`].

use std::fs::{File, Metadata};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use memmap2::{Mmap, MmapOptions};
use weightmap_core::{checked_range, Advice, Backing, ModelData};

use crate::config::MmapConfig;
use crate::error::{Error, FileKind, Result};
use crate::guard::Guard;
use crate::identity::FileIdentity;

/// Whether transparent huge pages were applied to a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HugePages {
    /// The configuration did not ask for them.
    NotRequested,
    /// `MADV_HUGEPAGE` was accepted. The kernel still decides page by page (file-backed huge
    /// pages need `CONFIG_READ_ONLY_THP_FOR_FS`).
    Advised,
    /// The request was refused; the mapping works with normal pages.
    Refused {
        /// Why: the OS error or the system setting.
        reason: String,
    },
}

/// A file mapped read-only (`MAP_PRIVATE`, `PROT_READ`) into memory.
///
/// Opening reads nothing: pages load on first touch, so opening is O(1) in the file's size and
/// only touched pages cost memory. Empty files are represented without a mapping (mapping zero
/// bytes is an error on Linux).
///
/// # Safety: files that change while mapped
///
/// A mapping shows the file as it is on disk *now*. If another process writes the file in
/// place while it is mapped, bytes change under slices Rust assumes immutable; if it truncates
/// the file, touching the lost pages raises `SIGBUS`. A parser that trusted those bytes could
/// then see a `&str` turn into invalid UTF-8, or two reads of one length disagree. This is
/// memmap2's contract, and why its file constructors are `unsafe`. So an `MmapFile` is one of
/// two kinds:
///
/// - **Trusted** ([`MmapFile::open`], [`MmapFile::open_with`], both `unsafe`): the caller
///   promises that the file is neither modified nor truncated while it is mapped (replace
///   model files by writing a new file and renaming it over the old one: the mapping keeps
///   the old inode). Parsers read it in place ([`ModelData::header`] is the mapping): the
///   zero-copy path.
/// - **Untrusted** ([`MmapFile::open_untrusted`], safe, and the tensor-data mappings of
///   [`ModelSource::open`](crate::ModelSource::open)): nothing is promised, so the mapping is
///   meant to be read only as bytes and numbers, where every bit pattern is a valid value:
///   [`ModelData::header`] is `None`, so [`Gguf::parse`](weightmap_core::Gguf::parse)
///   refuses it, and weightmap never builds a string or checks a length from its bytes.
///
/// What stays open with an untrusted mapping, as with every loader that hands out mapped bytes
/// as `&[u8]`: Rust's rules assume the bytes behind a `&[u8]` do not change, and a concurrent
/// writer breaks that assumption. weightmap's own code never depends on two reads of mapped
/// tensor data agreeing; your code should not either. Copy bytes before validating them
/// (as UTF-8, or by parsing them: `GgufView::parse(file.as_slice())` would trust them), and
/// expect `SIGBUS` if the file is truncated while a page is read. Where that is not good
/// enough, read the file into the heap ([`SourceConfig::no_mmap`](crate::SourceConfig::no_mmap)).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("weights.bin");
/// # std::fs::write(&path, [7u8; 10_000])?;
/// use weightmap_native::{MmapConfig, MmapFile};
///
/// let file = MmapFile::open_untrusted_with(&path, &MmapConfig::random())?;
/// assert_eq!(file.range(4096..4100)?, &[7, 7, 7, 7]);
/// assert!(file.range(9_999..10_001).is_err()); // past the end: InvalidRange
/// file.release_cpu_pages()?; // hand the pages back; later reads fault them in again
/// assert!(!file.is_stale());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MmapFile {
    path: PathBuf,
    file: File,
    /// The truncation guard's registration; declared before `map` so that it is dropped
    /// (unregistered) before the mapping is unmapped.
    guard: Option<Guard>,
    map: Option<Mmap>,
    /// File offset of the first mapped byte (a multiple of the page size).
    offset: u64,
    identity: FileIdentity,
    config: MmapConfig,
    huge_pages: HugePages,
    locked: AtomicBool,
    trusted: bool,
}

/// Opens `path` read-only after checking it is a regular file, and returns it with its
/// metadata (from the open descriptor: the path may be replaced between the two calls).
pub(crate) fn open_regular(path: &Path) -> Result<(File, Metadata)> {
    // Check the type before opening: opening a FIFO would block until a writer appears.
    let meta = std::fs::metadata(path).map_err(|e| Error::from_open(path.into(), e))?;
    if !meta.is_file() {
        let kind = FileKind::of(meta.file_type());
        return Err(Error::NotAFile {
            path: path.into(),
            kind,
        });
    }
    let file = File::open(path).map_err(|e| Error::from_open(path.into(), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::from_open(path.into(), e))?;
    if !meta.is_file() {
        let kind = FileKind::of(meta.file_type());
        return Err(Error::NotAFile {
            path: path.into(),
            kind,
        });
    }
    Ok((file, meta))
}

impl MmapFile {
    /// Maps the whole file at `path` read-only with the default configuration, as a trusted
    /// mapping that parsers read in place.
    ///
    /// # Safety
    /// The file must be neither modified nor truncated, by this or any other process, while
    /// the mapping (or anything borrowed from it) lives: see
    /// [the type's safety section](MmapFile#safety-files-that-change-while-mapped). For files
    /// others may write, use [`ModelSource::open`](crate::ModelSource::open) (header copied,
    /// tensor data mapped) or [`MmapFile::open_untrusted`].
    ///
    /// # Errors
    /// [`Error::FileNotFound`], [`Error::PermissionDenied`], [`Error::NotAFile`] for
    /// directories and special files, [`Error::FileTooLarge`], [`Error::MapFailed`].
    pub unsafe fn open(path: impl AsRef<Path>) -> Result<Self> {
        // SAFETY: the caller takes on the contract of this function.
        unsafe { Self::open_with(path, &MmapConfig::default()) }
    }

    /// Maps the whole file at `path` read-only, applies `config`, and trusts it as
    /// [`open`](Self::open) does.
    ///
    /// # Safety
    /// As [`open`](Self::open): the file must not change while it is mapped.
    ///
    /// # Errors
    /// As [`open`](Self::open), plus [`Error::LockFailed`] when `config.lock` is set and `mlock`
    /// fails, and [`Error::Unsupported`] for `lock` where the platform has no `mlock`.
    pub unsafe fn open_with(path: impl AsRef<Path>, config: &MmapConfig) -> Result<Self> {
        let path = path.as_ref();
        let (file, meta) = open_regular(path)?;
        Self::map(path.into(), file, &meta, 0, config, true)
    }

    /// Maps the whole file at `path` read-only for its bytes only: safe whatever other
    /// processes do to the file, because no parser will trust it ([`ModelData::header`] is
    /// `None`). For residency, warming, release and serving raw bytes.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_untrusted(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_untrusted_with(path, &MmapConfig::default())
    }

    /// [`open_untrusted`](Self::open_untrusted) with a configuration.
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    pub fn open_untrusted_with(path: impl AsRef<Path>, config: &MmapConfig) -> Result<Self> {
        let path = path.as_ref();
        let (file, meta) = open_regular(path)?;
        Self::map(path.into(), file, &meta, 0, config, false)
    }

    /// A second, untrusted mapping of the whole file this one maps, from its first byte: the
    /// same open file (the inode this mapping shows, even if its path now names another), its
    /// size as it is now, guarded if this mapping is. For callers that want the raw bytes of
    /// a file whose tensor data alone is mapped (an offset mapping beside a header copy).
    ///
    /// # Errors
    /// As [`open_untrusted_with`](Self::open_untrusted_with) (the descriptor is duplicated
    /// and queried, not opened again).
    pub fn map_whole(&self) -> Result<Self> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::from_open(self.path.clone(), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::from_open(self.path.clone(), e))?;
        let config = MmapConfig {
            guard: self.config.guard,
            ..MmapConfig::default()
        };
        Self::map(self.path.clone(), file, &meta, 0, &config, false)
    }

    /// Maps `file` (whose metadata is `meta`) from `offset`, which must be a multiple of the
    /// page size, to its end. A trusted mapping is one whose opener promised the file stays
    /// unchanged.
    pub(crate) fn map(
        path: PathBuf,
        file: File,
        meta: &Metadata,
        offset: u64,
        config: &MmapConfig,
        trusted: bool,
    ) -> Result<Self> {
        let identity = FileIdentity::of(meta);
        let size = meta.len();
        if usize::try_from(size).is_err() || size > isize::MAX as u64 {
            return Err(Error::FileTooLarge { path, size });
        }
        let len = size.saturating_sub(offset);
        let map = if len == 0 {
            tracing::debug!(path = %path.display(), offset, "nothing to map");
            None
        } else {
            let mut options = MmapOptions::new();
            options.offset(offset).len(len as usize);
            if config.populate {
                options.populate();
            }
            // SAFETY: the mapping is read-only and private, and the file stays open for its
            // lifetime. memmap2 leaves to the caller that the file is not modified while
            // mapped. A trusted mapping has that promise from the caller of the `unsafe`
            // constructor that asked for it. An untrusted one has none: that is the accepted,
            // documented hole of handing out mapped bytes (see the type's safety section),
            // narrowed by never building strings or lengths from them (`header()` is None)
            // and by never relying on two reads of them agreeing.
            let map = unsafe { options.map_copy_read_only(&file) }.map_err(|source| {
                Error::MapFailed {
                    path: path.clone(),
                    size: len,
                    source,
                }
            })?;
            tracing::debug!(path = %path.display(), offset, size = len, addr = ?map.as_ptr(),
                populate = config.populate, trusted, "mapped");
            Some(map)
        };
        let guard = match (&map, config.guard) {
            (Some(map), true) => Some(Guard::register(map).map_err(|source| Error::MapFailed {
                path: path.clone(),
                size: len,
                source,
            })?),
            _ => None,
        };
        let mut mapped = MmapFile {
            path,
            file,
            guard,
            map,
            offset: offset.min(size),
            identity,
            config: *config,
            huge_pages: HugePages::NotRequested,
            locked: AtomicBool::new(false),
            trusted,
        };
        mapped.apply(config)?;
        Ok(mapped)
    }

    /// Applies the advice, huge-page and lock settings of `config` to a fresh mapping.
    fn apply(&mut self, config: &MmapConfig) -> Result<()> {
        let whole = 0..self.size();
        // Huge pages first, so the read-ahead below can already use them.
        if config.huge_pages {
            self.huge_pages = self.advise_huge_pages();
        }
        if config.advice != Advice::Normal {
            self.try_advise(whole.clone(), config.advice)?;
        }
        if config.will_need {
            self.try_advise(whole, Advice::WillNeed)?;
        }
        if config.lock {
            self.lock()?;
        }
        Ok(())
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file behind the mapping.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The configuration the file was mapped with.
    pub fn config(&self) -> &MmapConfig {
        &self.config
    }

    /// Whether parsers may read this mapping in place: it was opened with an `unsafe`
    /// constructor whose caller promised the file stays unchanged.
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// File offset of the first mapped byte: 0 for a whole file; for the tensor data mapped
    /// by [`ModelSource::open`](crate::ModelSource::open), the start of the page holding the
    /// data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The mapped bytes (the whole file, or its tail from [`offset`](Self::offset)).
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.map {
            Some(map) => map,
            None => &[],
        }
    }

    /// Bytes mapped: the file's size, less [`offset`](Self::offset).
    #[inline]
    pub fn size(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether nothing is mapped (an empty file).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// The bytes of `range` (positions in [`as_slice`](Self::as_slice)).
    ///
    /// # Errors
    /// [`Error::InvalidRange`] (naming the range and the size) if the range is reversed or
    /// ends past the end of the mapping.
    #[inline]
    pub fn range(&self, range: Range<usize>) -> Result<&[u8]> {
        let checked = self.check_range(&range)?;
        Ok(self.as_slice().get(checked).unwrap_or(&[]))
    }

    /// The bytes of each range, in the order given; all ranges are checked before any is
    /// returned.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] for the first range that is invalid.
    pub fn multi_range(&self, ranges: &[Range<usize>]) -> Result<Vec<&[u8]>> {
        ranges.iter().map(|r| self.range(r.clone())).collect()
    }

    /// The `len` bytes at position `offset`, as a tensor's data is described (`u64` offsets
    /// from a file header); overflow and out-of-range requests are errors, never wrapped.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] if `offset + len` overflows or passes the end of the mapping.
    #[inline]
    pub fn get_tensor_data(&self, offset: u64, len: u64) -> Result<&[u8]> {
        let checked = checked_range(offset, len, self.size())
            .map_err(|_| self.invalid_range(offset..offset.saturating_add(len)))?;
        Ok(self.as_slice().get(checked).unwrap_or(&[]))
    }

    pub(crate) fn invalid_range(&self, range: Range<u64>) -> Error {
        Error::InvalidRange {
            path: self.path.clone(),
            range,
            size: self.size() as u64,
        }
    }

    /// Checks that `range` lies inside the mapping: the crate's one way of doing so, through
    /// [`checked_range`].
    #[inline]
    pub(crate) fn check_range(&self, range: &Range<usize>) -> Result<Range<usize>> {
        let (start, end) = (range.start as u64, range.end as u64);
        let len = end.checked_sub(start);
        len.and_then(|len| checked_range(start, len, self.size()).ok())
            .ok_or_else(|| self.invalid_range(start..end))
    }

    /// Device, inode, size and modification time of the file when it was opened.
    pub fn identity(&self) -> &FileIdentity {
        &self.identity
    }

    /// Whether the file at [`path`](Self::path) is no longer the one mapped: replaced (by a
    /// rename, say), resized, modified, or removed. The mapping itself stays valid and keeps
    /// showing the file as it was, unless it was changed in place.
    pub fn is_stale(&self) -> bool {
        self.check_unchanged().is_err()
    }

    /// Like [`is_stale`](Self::is_stale), with the difference as an error.
    ///
    /// # Errors
    /// [`Error::Changed`] saying whether the file was replaced, resized, modified or removed.
    pub fn check_unchanged(&self) -> Result<()> {
        let what = match FileIdentity::current(&self.path) {
            Ok(now) => self.identity.difference(&now),
            Err(_) => Some(crate::ChangeKind::Removed),
        };
        match what {
            None => Ok(()),
            Some(what) => Err(Error::Changed {
                path: self.path.clone(),
                what,
            }),
        }
    }

    /// Whether the mapping is guarded against truncation ([`MmapConfig::guard`]).
    pub fn is_guarded(&self) -> bool {
        self.guard.is_some()
    }

    /// Whether every read of the mapping so far saw the file's bytes: `false` once a read of a
    /// guarded mapping faulted because the file was truncated under it (the lost pages, and
    /// every page after them, now read as zeros). Always `true` for an unguarded mapping, which
    /// such a read kills instead.
    pub fn is_intact(&self) -> bool {
        !self.guard.as_ref().is_some_and(Guard::is_poisoned)
    }

    /// Like [`is_intact`](Self::is_intact), with the truncation as an error naming the file.
    ///
    /// # Errors
    /// [`Error::Changed`] with [`ChangeKind::Truncated`](crate::ChangeKind::Truncated).
    pub fn check_intact(&self) -> Result<()> {
        if self.is_intact() {
            Ok(())
        } else {
            Err(Error::Changed {
                path: self.path.clone(),
                what: crate::ChangeKind::Truncated,
            })
        }
    }

    /// Copies `buf.len()` bytes from `offset` of the mapping into `buf`: a read whose bytes
    /// are the file's or an error, never zeros from lost pages passed on as data.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] outside the mapping, [`Error::Changed`] if the file was found
    /// truncated during the copy (guarded mappings; see [`check_intact`](Self::check_intact)).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        let end = offset.saturating_add(buf.len());
        buf.copy_from_slice(self.range(offset..end)?);
        self.check_intact()
    }

    /// Whether transparent huge pages were requested and applied.
    pub fn huge_pages(&self) -> &HugePages {
        &self.huge_pages
    }

    pub(crate) fn locked_flag(&self) -> &AtomicBool {
        &self.locked
    }

    pub(crate) fn map_ref(&self) -> Option<&Mmap> {
        self.map.as_ref()
    }
}

impl Drop for MmapFile {
    fn drop(&mut self) {
        if let Some(map) = &self.map {
            tracing::debug!(path = %self.path.display(), size = map.len(), addr = ?map.as_ptr(), "unmapped");
        }
    }
}

impl ModelData for MmapFile {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }

    fn offset(&self) -> u64 {
        self.offset
    }

    /// The mapping itself when it is trusted and starts at the file's first byte; `None`
    /// otherwise, so that no parser reads bytes another process may change.
    fn header(&self) -> Option<&[u8]> {
        (self.trusted && self.offset == 0).then(|| self.as_slice())
    }

    /// Calls [`MmapFile::try_advise`]; a failure is logged at DEBUG, not returned.
    fn advise(&self, range: Range<usize>, advice: Advice) {
        if let Err(e) = self.try_advise(range, advice) {
            tracing::debug!(error = %e, "advise ignored");
        }
    }

    /// Calls [`MmapFile::try_release`]; a failure is logged at DEBUG, not returned.
    fn release(&self, range: Range<usize>) {
        if let Err(e) = self.try_release(range) {
            tracing::debug!(error = %e, "release ignored");
        }
    }

    fn backing(&self) -> Backing {
        Backing::Mmap
    }

    fn is_intact(&self) -> bool {
        MmapFile::is_intact(self)
    }
}
