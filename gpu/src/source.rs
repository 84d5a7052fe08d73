//! Where the uploaded bytes come from: anything that can copy a file range into a buffer.
//!
//! [`MappedSource`] copies out of a [`ModelData`] (a memory map: `memcpy`, page faults and
//! readahead by the kernel) and hands the pages back behind the upload; [`FileSource`] reads
//! with `pread` straight into the staging buffer, optionally with `O_DIRECT` so a cold load
//! does not fill the page cache. With the `remote` feature, `RemoteSource` reads ranges from
//! object storage.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::Path;

use weightmap_core::{Advice, ModelData};

use crate::error::{Error, Result};

/// A byte source the upload reads chunks from. Reads may run on several threads at once.
pub trait ChunkSource: Sync {
    /// Length of the file in bytes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the file's bytes from `offset` into `buf`, returning how many were copied: all
    /// of `buf`, or fewer only where the file ends.
    ///
    /// # Errors
    /// [`Error::Io`] when reading fails, [`Error::OutOfSource`] for bytes the source does not
    /// hold.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize>;

    /// Says `range` (file offsets) will be read soon, so the source can start loading it
    /// (readahead). A hint; the default does nothing.
    fn prefetch(&self, range: Range<u64>) {
        let _ = range;
    }

    /// Says the upload is done with `range` (file offsets): its memory may be given back. A
    /// hint; the default does nothing.
    fn release(&self, range: Range<u64>) {
        let _ = range;
    }

    /// Checks that every byte read so far was the file's (a guarded mapping notices a file
    /// truncated under it). Called once all chunks are read.
    ///
    /// # Errors
    /// [`Error::SourceChanged`] when it was not.
    fn check_intact(&self) -> Result<()> {
        Ok(())
    }
}

/// Copies chunks out of model data in memory or mapped (`memcpy`), releasing each chunk's
/// pages once it is in a staging buffer (`MADV_DONTNEED` for a mapping), and optionally
/// dropping them from the page cache too (`posix_fadvise(DONTNEED)`).
#[derive(Debug)]
pub struct MappedSource<'a, D: ?Sized> {
    data: &'a D,
    file_len: u64,
    evict_from: Option<&'a File>,
}

impl<'a, D: ModelData + Sync + ?Sized> MappedSource<'a, D> {
    /// A source over `data`, whose bytes start at file offset [`ModelData::offset`].
    pub fn new(data: &'a D) -> Self {
        let file_len = data.offset().saturating_add(data.len() as u64);
        MappedSource {
            data,
            file_len,
            evict_from: None,
        }
    }

    /// Also drops released ranges of `file` (the file mapped as `data`) from the kernel's page
    /// cache, so an upload leaves no cached copy behind.
    pub fn evict_page_cache(mut self, file: &'a File) -> Self {
        self.evict_from = Some(file);
        self
    }

    fn local(&self, range: &Range<u64>) -> Option<Range<usize>> {
        let start = usize::try_from(range.start.checked_sub(self.data.offset())?).ok()?;
        let end = usize::try_from(range.end.checked_sub(self.data.offset())?).ok()?;
        Some(start..end.min(self.data.len()))
    }
}

impl<D: ModelData + Sync + ?Sized> ChunkSource for MappedSource<'_, D> {
    fn len(&self) -> u64 {
        self.file_len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let end = offset.saturating_add(buf.len() as u64);
        let out_of_source = || Error::OutOfSource {
            start: offset,
            end,
            len: self.file_len,
        };
        if offset >= self.file_len {
            return Ok(0); // the end of the file, as for a file read
        }
        let local = self.local(&(offset..end)).ok_or_else(out_of_source)?;
        let bytes = self.data.bytes().get(local).ok_or_else(out_of_source)?;
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(bytes.len())
    }

    /// `MADV_WILLNEED`: the kernel reads the range ahead in large requests, where page
    /// faults alone would read a cold file a little at a time.
    fn prefetch(&self, range: Range<u64>) {
        if let Some(local) = self.local(&range) {
            self.data.advise(local, Advice::WillNeed);
        }
    }

    fn release(&self, range: Range<u64>) {
        if let Some(local) = self.local(&range) {
            self.data.release(local);
        }
        if let Some(file) = self.evict_from {
            evict(file, range);
        }
    }

    fn check_intact(&self) -> Result<()> {
        if self.data.is_intact() {
            Ok(())
        } else {
            Err(Error::SourceChanged)
        }
    }
}

/// Reads chunks with `pread` into the staging buffers: no mapping, no page faults; with
/// [`direct`](FileSource::open_direct) the page cache is bypassed as well.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    /// The same file opened with `O_DIRECT`, for reads aligned to [`DIRECT_ALIGN`].
    direct: Option<File>,
    /// The length at open: the bytes planned; a file that shrinks below it has changed.
    len: u64,
    evict: bool,
}

/// What `O_DIRECT` reads must be aligned to: offset, length and buffer address.
const DIRECT_ALIGN: usize = crate::plan::DIRECT_IO_ALIGNMENT;

impl FileSource {
    /// Opens `path` for buffered reads.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_file(File::open(path).map_err(open_error)?)
    }

    /// Opens `path` with `O_DIRECT` (Linux) as well: reads aligned to 4096 bytes (offset,
    /// length and buffer) go from the disk to the staging buffer without the page cache; plan
    /// with [`PlanOptions::read_alignment`](crate::PlanOptions::read_alignment) = 4096 so
    /// every chunk is. Other reads (verification) go through the page cache.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be opened so (tmpfs, for one, refuses `O_DIRECT`), or on
    /// systems without it.
    pub fn open_direct(path: impl AsRef<Path>) -> Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let path = path.as_ref();
            let direct = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
                .open(path)
                .map_err(open_error)?;
            let mut source = Self::open(path)?;
            source.direct = Some(direct);
            Ok(source)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = path;
            Err(open_error(io::ErrorKind::Unsupported.into()))
        }
    }

    /// Reads from an open file.
    ///
    /// # Errors
    /// [`Error::Io`] when its length cannot be read.
    pub fn from_file(file: File) -> Result<Self> {
        let len = file.metadata().map_err(open_error)?.len();
        Ok(FileSource {
            file,
            direct: None,
            len,
            evict: false,
        })
    }

    /// Whether this source reads `other`'s file (the same device and inode; on systems
    /// without inodes, the same length).
    ///
    /// # Errors
    /// [`Error::Io`] when a file's metadata cannot be read.
    pub fn same_file(&self, other: &File) -> Result<bool> {
        let meta = |f: &File| f.metadata().map_err(open_error);
        let theirs = meta(other)?;
        let mut ours = vec![meta(&self.file)?];
        if let Some(direct) = &self.direct {
            ours.push(meta(direct)?);
        }
        Ok(ours.iter().all(|m| same_identity(m, &theirs)))
    }

    /// Drops each chunk's range from the page cache once it is read
    /// (`posix_fadvise(DONTNEED)`), so a buffered upload leaves no cached copy behind.
    pub fn evict_page_cache(mut self, evict: bool) -> Self {
        self.evict = evict;
        self
    }
}

impl ChunkSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let aligned = offset % DIRECT_ALIGN as u64 == 0
            && buf.len() % DIRECT_ALIGN == 0
            && buf.as_ptr().align_offset(DIRECT_ALIGN) == 0;
        let (file, direct) = match &self.direct {
            Some(direct) if aligned => (direct, true),
            _ => (&self.file, false),
        };
        let mut done = 0;
        while done < buf.len() {
            let at = offset.saturating_add(done as u64);
            match pread(file, &mut buf[done..], at) {
                Ok(0) => break,
                // A short direct read ends at the end of the file; another read from an
                // unaligned offset would be refused.
                Ok(n) if direct && done + n < buf.len() => {
                    done += n;
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        offset: at,
                        len: buf.len() - done,
                        source,
                    })
                }
            }
        }
        Ok(done)
    }

    /// `posix_fadvise(WILLNEED)` for buffered reads (direct reads skip the cache anyway).
    fn prefetch(&self, range: Range<u64>) {
        if self.direct.is_none() {
            advise_file(&self.file, range, FileAdvice::WillNeed);
        }
    }

    /// The file must not have shrunk since it was opened (it would then hold other bytes
    /// than the ones planned; in-place rewrites that keep the length go unnoticed, as for any
    /// reader that does not hash the file).
    fn check_intact(&self) -> Result<()> {
        match self.file.metadata() {
            Ok(meta) if meta.len() >= self.len => Ok(()),
            Ok(_) => Err(Error::SourceChanged),
            Err(source) => Err(Error::Io {
                offset: 0,
                len: 0,
                source,
            }),
        }
    }

    fn release(&self, range: Range<u64>) {
        if self.evict {
            evict(&self.file, range);
        }
    }
}

#[cfg(unix)]
fn same_identity(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_identity(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
}

fn open_error(source: io::Error) -> Error {
    Error::Io {
        offset: 0,
        len: 0,
        source,
    }
}

#[cfg(unix)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// What [`advise_file`] tells the kernel.
#[derive(Debug, Clone, Copy)]
enum FileAdvice {
    WillNeed,
    DontNeed,
}

/// Drops `range` of `file` from the page cache.
fn evict(file: &File, range: Range<u64>) {
    advise_file(file, range, FileAdvice::DontNeed);
}

/// `posix_fadvise` over `range`; a failure is only logged (it is a hint).
fn advise_file(file: &File, range: Range<u64>, advice: FileAdvice) {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::Advice as A;
        let len = std::num::NonZeroU64::new(range.end.saturating_sub(range.start));
        let advice = match advice {
            FileAdvice::WillNeed => A::WillNeed,
            FileAdvice::DontNeed => A::DontNeed,
        };
        if let Some(len) = len {
            if let Err(e) = rustix::fs::fadvise(file, range.start, Some(len), advice) {
                tracing::debug!(error = %e, ?advice, "posix_fadvise ignored");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, range, advice);
}
