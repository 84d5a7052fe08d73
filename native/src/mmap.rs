//! `MmapFile`: a read-only memory mapping of a whole file, as [`ModelData`].

use std::fs::{File, FileType};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use memmap2::{Mmap, MmapOptions};
use weightmap_core::{Advice, Backing, ModelData};

use crate::config::{Access, MmapConfig};
use crate::error::{Error, Result};
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
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("weights.bin");
/// # std::fs::write(&path, [7u8; 10_000])?;
/// use weightmap_native::{MmapConfig, MmapFile};
///
/// let file = MmapFile::open_with(&path, &MmapConfig::random())?;
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
    map: Option<Mmap>,
    identity: FileIdentity,
    config: MmapConfig,
    huge_pages: HugePages,
    locked: AtomicBool,
}

fn describe(kind: FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_char_device() {
            return "a character device";
        }
    }
    "a special file"
}

impl MmapFile {
    /// Maps the whole file at `path` read-only with the default configuration.
    ///
    /// # Errors
    /// [`Error::FileNotFound`], [`Error::PermissionDenied`], [`Error::NotAFile`] for
    /// directories and special files, [`Error::FileTooLarge`], [`Error::MapFailed`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &MmapConfig::default())
    }

    /// Maps the whole file at `path` read-only and applies `config`.
    ///
    /// # Errors
    /// As [`open`](Self::open), plus [`Error::LockFailed`] when `config.lock` is set and `mlock`
    /// fails, and [`Error::Unsupported`] for `lock` where the platform has no `mlock`.
    pub fn open_with(path: impl AsRef<Path>, config: &MmapConfig) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // Check the type before opening: opening a FIFO would block until a writer appears.
        let meta = std::fs::metadata(&path).map_err(|e| Error::from_open(path.clone(), e))?;
        if !meta.is_file() {
            let kind = describe(meta.file_type());
            return Err(Error::NotAFile { path, kind });
        }
        let file = File::open(&path).map_err(|e| Error::from_open(path.clone(), e))?;
        // The path may have been replaced between the two calls; trust the open descriptor.
        let meta = file
            .metadata()
            .map_err(|e| Error::from_open(path.clone(), e))?;
        if !meta.is_file() {
            let kind = describe(meta.file_type());
            return Err(Error::NotAFile { path, kind });
        }
        let identity = FileIdentity::of(&meta);
        let size = meta.len();
        if usize::try_from(size).is_err() || size > isize::MAX as u64 {
            return Err(Error::FileTooLarge { path, size });
        }
        let map = if size == 0 {
            tracing::debug!(path = %path.display(), "empty file: no mapping");
            None
        } else {
            let mut options = MmapOptions::new();
            if config.populate {
                options.populate();
            }
            // SAFETY: the mapping is read-only and private, and the file stays open for its
            // lifetime. What memmap2 leaves to the caller is that the file is not modified in
            // place while mapped: a changed or truncated file breaks the immutability every
            // `&[u8]` promises (undefined behaviour, and SIGBUS for truncation). This crate makes
            // that a documented precondition of opening a model file (see the crate docs:
            // replace files by rename, which is safe) and detects replacement with `is_stale`.
            let map = unsafe { options.map_copy_read_only(&file) }.map_err(|source| {
                Error::MapFailed {
                    path: path.clone(),
                    size,
                    source,
                }
            })?;
            tracing::debug!(path = %path.display(), size, addr = ?map.as_ptr(),
                populate = config.populate, "mapped");
            Some(map)
        };
        let mut mapped = MmapFile {
            path,
            file,
            map,
            identity,
            config: *config,
            huge_pages: HugePages::NotRequested,
            locked: AtomicBool::new(false),
        };
        mapped.apply(config)?;
        Ok(mapped)
    }

    /// Applies the advice, huge-page and lock settings of `config` to a fresh mapping.
    fn apply(&mut self, config: &MmapConfig) -> Result<()> {
        let whole = 0..self.size();
        let access = match config.access {
            Access::Normal => None,
            Access::Sequential => Some(Advice::Sequential),
            Access::Random => Some(Advice::Random),
        };
        // Huge pages first, so the read-ahead below can already use them.
        if config.huge_pages {
            self.huge_pages = self.advise_huge_pages();
        }
        if let Some(advice) = access {
            self.advise(whole.clone(), advice)?;
        }
        if config.will_need {
            self.advise(whole, Advice::WillNeed)?;
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

    /// The whole mapped file.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.map {
            Some(map) => map,
            None => &[],
        }
    }

    /// Size of the file in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the file is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// The bytes of `range`.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] (naming the range and the file size) if the range is reversed or
    /// ends past the end of the file.
    #[inline]
    pub fn range(&self, range: Range<usize>) -> Result<&[u8]> {
        match self.as_slice().get(range.clone()) {
            Some(bytes) => Ok(bytes),
            None => Err(self.invalid_range(range.start as u64..range.end as u64)),
        }
    }

    /// The bytes of each range, in the order given; all ranges are checked before any is
    /// returned.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] for the first range that is invalid.
    pub fn multi_range(&self, ranges: &[Range<usize>]) -> Result<Vec<&[u8]>> {
        ranges.iter().map(|r| self.range(r.clone())).collect()
    }

    /// The `len` bytes at `offset`, as a tensor's data is described (`u64` offsets from a file
    /// header); overflow and out-of-file ranges are errors, never wrapped.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] if `offset + len` overflows or passes the end of the file.
    pub fn get_tensor_data(&self, offset: u64, len: u64) -> Result<&[u8]> {
        let end = offset.checked_add(len);
        match (usize::try_from(offset), end.map(usize::try_from)) {
            (Ok(start), Some(Ok(end))) => self.range(start..end),
            _ => Err(self.invalid_range(offset..end.unwrap_or(u64::MAX))),
        }
    }

    pub(crate) fn invalid_range(&self, range: Range<u64>) -> Error {
        Error::InvalidRange {
            path: self.path.clone(),
            range,
            size: self.size() as u64,
        }
    }

    /// Checks that `range` lies inside the file.
    pub(crate) fn check_range(&self, range: &Range<usize>) -> Result<()> {
        if range.start <= range.end && range.end <= self.size() {
            Ok(())
        } else {
            Err(self.invalid_range(range.start as u64..range.end as u64))
        }
    }

    /// Device, inode, size and modification time of the file when it was opened.
    pub fn identity(&self) -> &FileIdentity {
        &self.identity
    }

    /// Whether the file at [`path`](Self::path) is no longer the one mapped: replaced (by a
    /// rename, say), resized, modified, or removed. The mapping itself stays valid and keeps
    /// showing the file as it was (unless it was changed in place; see the crate docs).
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
            Err(_) => Some("removed"),
        };
        match what {
            None => Ok(()),
            Some(what) => Err(Error::Changed {
                path: self.path.clone(),
                what,
            }),
        }
    }

    /// Whether transparent huge pages were requested and applied.
    pub fn huge_pages(&self) -> &HugePages {
        &self.huge_pages
    }

    pub(crate) fn locked_flag(&self) -> &AtomicBool {
        &self.locked
    }

    pub(crate) fn map(&self) -> Option<&Mmap> {
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

    /// Calls [`MmapFile::advise`]; a failure is logged at DEBUG, not returned.
    fn advise(&self, range: Range<usize>, advice: Advice) {
        if let Err(e) = MmapFile::advise(self, range, advice) {
            tracing::debug!(error = %e, "advise ignored");
        }
    }

    /// Calls [`MmapFile::release`]; a failure is logged at DEBUG, not returned.
    fn release(&self, range: Range<usize>) {
        if let Err(e) = MmapFile::release(self, range) {
            tracing::debug!(error = %e, "release ignored");
        }
    }

    fn backing(&self) -> Backing {
        Backing::Mmap
    }
}
