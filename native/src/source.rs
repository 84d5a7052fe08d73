//! `ModelSource`: one entry point that opens a model file the safe way (header read into owned
//! memory and parsed there, tensor data mapped), or reads it into the heap where mapping is
//! wrong.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use weightmap_core::{
    detect, Advice, Backing, Content, Error as ParseError, Format, Gguf, ModelData, ModelFile,
};

use crate::config::MmapConfig;
use crate::error::{Error, FileKind, Result};
use crate::header::{index_mapping, read_header, HeaderBytes};
use crate::mmap::{open_regular, MmapFile};
use crate::safetensors_header::read_safetensors_header;
use crate::stream::{read_stream, read_to_heap, Limits};
use crate::sys;
use weightmap_core::model::{HeaderIndex, HeaderParser as Parser};

/// Files smaller than this are read, not mapped: a mapping costs a syscall, a VMA and at least
/// one page, which for a tiny file is more than the file.
pub const MIN_MMAP_SIZE: u64 = 64 * 1024;

/// The heap limit when [`SourceConfig::max_heap_size`] is `None` and the system does not say
/// how much memory is available: 8 GiB.
pub const FALLBACK_MAX_HEAP_SIZE: u64 = 8 << 30;

/// Default for [`SourceConfig::max_header_size`]: 1 GiB, a hundred times the header of a
/// model with a 256k-token vocabulary.
pub const DEFAULT_MAX_HEADER_SIZE: u64 = 1 << 30;

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

impl fmt::Display for HeapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeapReason::Small => "a small file",
            HeapReason::NotRegular => "not a regular file",
            HeapReason::Unmappable => "its file system cannot map files",
            HeapReason::Requested => "mapping turned off",
            HeapReason::Vec => "bytes handed over in memory",
        })
    }
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
    /// against endless sources such as `/dev/urandom`, which memory overcommit would otherwise
    /// let grow until the out-of-memory killer steps in. `None` (the default): the memory
    /// available when the file is opened (`MemAvailable` on Linux, physical memory elsewhere),
    /// or `RLIMIT_AS` if lower; see [`heap_limit`](Self::heap_limit).
    pub max_heap_size: Option<u64>,
    /// Most bytes of a header read into memory by [`ModelSource::open`]; a header asking for
    /// more is [`Error::HeaderTooLarge`]. Keeps a crafted count from making the open read a
    /// whole multi-gigabyte file into memory.
    pub max_header_size: u64,
    /// While [`ModelSource::open_trusted`] parses a header longer than 64 KiB in place, fault
    /// in the mapping's pages just ahead of the parser on a helper thread, unless the first
    /// page fault mapped a large folio whole (the page cache then holds the header in large
    /// folios, and a thread would cost more than it saves; Linux). On by default; with it off,
    /// everything happens on the calling thread.
    pub read_ahead: bool,
    /// Read only the header of a stream (a pipe, a character device, a `/proc` file), not the
    /// tensor data after it: for tools that show a file's metadata and tensor table. Tensors
    /// whose data was not read are [`TensorOutOfBounds`](weightmap_core::Error::TensorOutOfBounds)
    /// when asked for, and [`ModelSource::is_complete`] says so. Files are mapped or read
    /// whole as usual (a mapping reads nothing until it is touched).
    pub header_only: bool,
    /// When [`ModelSource::open_trusted`] parses a header in place, ask for its pages in
    /// transparent huge pages (`MADV_HUGEPAGE` from the file's start to a few MiB past the
    /// header, as far as the parser and its helper may read ahead, in whole 2 MiB pages;
    /// Linux). A header not in the page cache yet is then read from the disk in 2 MiB folios
    /// instead of 4 KiB pages, where the kernel and the file system support large folios
    /// (ext4 on Linux 6.18 here), and this and every later mapping of the file, in any
    /// process, maps them in a few faults and unmaps them at once. On kernels built with
    /// `CONFIG_READ_ONLY_THP_FOR_FS`, `khugepaged` may also gather a header already cached in
    /// small pages into huge ones while it is mapped. A cold open then reads the file's first
    /// 4 MiB at least (the kernel reads an advised range 4 MiB at a time), where without the
    /// advice a small header's fault reads the device's read-ahead size (128 KiB by default,
    /// 8 MiB on the test machine's disk). [`MmapConfig::populate`],
    /// `will_need` and `lock` read the pages before the advice, in small pages. On the 6.5 MB
    /// header of a 262,144-token vocabulary, an open and index took 0.22 ms from 2 MiB folios
    /// against 0.51–0.60 ms from 4 KiB pages (`docs/BENCHMARKS.md`). On by default.
    pub huge_header: bool,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            mmap: MmapConfig::default(),
            no_mmap: false,
            min_mmap_size: MIN_MMAP_SIZE,
            max_heap_size: None,
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            read_ahead: true,
            header_only: false,
            huge_header: true,
        }
    }
}

impl SourceConfig {
    /// The most bytes read into the heap: [`max_heap_size`](Self::max_heap_size), or the
    /// memory this process can still fill now, or [`FALLBACK_MAX_HEAP_SIZE`] if the system does
    /// not say.
    pub fn heap_limit(&self) -> u64 {
        self.max_heap_size
            .or_else(sys::memory_budget)
            .unwrap_or(FALLBACK_MAX_HEAP_SIZE)
    }

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
/// [`ModelSource::open`] is the safe way to open a model file, whatever other processes do to
/// it: the header region (everything up to the data section) is read into owned memory with
/// positioned reads, as far as the parser asks, and parsed there; only the tensor data is
/// mapped, and it is exposed only as bytes and numbers (see
/// [`MmapFile`'s safety section](MmapFile#safety-files-that-change-while-mapped)). Small files,
/// pipes and `/proc` files are read into the heap whole.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("model.gguf");
/// # let mut file = weightmap_core::testing::sample_file();
/// # file.resize(1 << 20, 0); // large enough to be mapped
/// # std::fs::write(&path, file)?;
/// use weightmap_core::{Backing, ModelData};
/// use weightmap_native::{HeapReason, ModelSource};
///
/// let gguf = ModelSource::open(&path)?; // header copied and parsed, tensor data mapped
/// assert_eq!(gguf.data().backing(), Backing::Mmap);
/// assert_eq!(gguf.tensor("norm.weight")?.as_f32()?, &[1.0, 2.0, 3.0, 4.0]);
/// gguf.data().release_cpu_pages()?;
///
/// let small = ModelSource::from_vec(weightmap_core::testing::sample_file());
/// assert_eq!(small.heap_reason(), Some(HeapReason::Vec));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ModelSource {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// The header in owned memory, the tensor data mapped (untrusted).
    Split { header: HeaderBytes, data: MmapFile },
    /// The whole file mapped and trusted ([`ModelSource::open_mmap`]).
    Trusted(MmapFile),
    /// The whole file on the heap.
    Heap {
        path: Option<PathBuf>,
        bytes: Vec<u8>,
        reason: HeapReason,
        /// Whether `bytes` is the whole file (else a stream's header, read header-only).
        complete: bool,
    },
}

impl ModelSource {
    /// Opens and parses the model file at `path` the safe way (see the type's docs): mapped
    /// tensor data behind a header read into owned memory, or the whole file on the heap when
    /// it is small or not a regular file.
    ///
    /// # Errors
    /// [`Error::Parse`] for an invalid file, [`Error::FileNotFound`],
    /// [`Error::PermissionDenied`], [`Error::NotAFile`] for directories, [`Error::HeapLimit`]
    /// and [`Error::FileTooLarge`] for heap reads, and the mapping errors of
    /// [`MmapFile::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Gguf<ModelSource>> {
        Self::open_with(path, &SourceConfig::default())
    }

    /// [`open`](Self::open) with the choice of backing and the mapping configured.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, config: &SourceConfig) -> Result<Gguf<ModelSource>> {
        let path = path.as_ref();
        match Self::open_file(path, config, Some(Format::Gguf))? {
            ModelFile::Gguf(gguf) => Ok(gguf),
            _ => Err(Error::Parse {
                path: path.into(),
                source: ParseError::BadMagic { found: [0; 4] },
            }),
        }
    }

    /// Opens one model file of `format` (any, with `None`) the safe way: the header read
    /// into owned memory, the tensor data mapped, or the whole file on the heap when it is
    /// small, not a regular file, or mapping is off or impossible.
    pub(crate) fn open_file(
        path: &Path,
        config: &SourceConfig,
        format: Option<Format>,
    ) -> Result<ModelFile<ModelSource>> {
        let meta = std::fs::metadata(path).map_err(|e| Error::from_open(path.into(), e))?;
        if meta.is_dir() {
            return Err(Error::NotAFile {
                path: path.into(),
                kind: FileKind::Directory,
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
        match reason {
            // Pipes, character devices and /proc files (size 0): read as the parser asks.
            Some(HeapReason::NotRegular) => {
                Self::parse_stream(path, format, config, HeapReason::NotRegular)
            }
            Some(HeapReason::Small) if meta.len() == 0 => {
                Self::parse_stream(path, format, config, HeapReason::Small)
            }
            Some(reason) => Self::parse_heap(path, format, meta.len(), config, reason),
            None => Self::open_split(path, format, config),
        }
    }

    /// Reads the header with positioned reads, parses it, and maps the rest.
    fn open_split(
        path: &Path,
        format: Option<Format>,
        config: &SourceConfig,
    ) -> Result<ModelFile<ModelSource>> {
        let (file, meta) = open_regular(path)?;
        let format = match format {
            Some(Format::Gguf) => Format::Gguf,
            wanted => {
                let mut first = [0u8; 16];
                let n = sys::read_into(&file, &mut first, 0).map_err(|source| Error::Io {
                    path: path.into(),
                    source,
                })?;
                let first = first.get(..n).unwrap_or(&[]);
                match detect(first) {
                    Ok(Content::Model(found)) if wanted.is_none_or(|w| w == found) => found,
                    Ok(_) => return Err(parse_error(path, ParseError::unknown_format(first))),
                    Err(e) => return Err(parse_error(path, e)),
                }
            }
        };
        let limit = config.max_header_size;
        let (header, index) = match format {
            Format::Safetensors => {
                let (header, index) = read_safetensors_header(path, &file, meta.len(), limit)?;
                (header, HeaderIndex::Safetensors(index))
            }
            _ => {
                let (header, index) = read_header(path, &file, meta.len(), limit)?;
                (header, HeaderIndex::Gguf(index))
            }
        };
        // The mapping starts on the page holding the data section.
        let page = sys::page_size() as u64;
        let data_offset = index.data_offset();
        let map_offset = (data_offset - data_offset % page).min(meta.len());
        let data = match MmapFile::map(path.into(), file, &meta, map_offset, &config.mmap, false) {
            Ok(data) => data,
            Err(Error::MapFailed { source, .. }) if is_unmappable(&source) => {
                let reason = HeapReason::Unmappable;
                return Self::parse_heap(path, Some(format), meta.len(), config, reason);
            }
            Err(e) => return Err(e),
        };
        let source = ModelSource {
            inner: Inner::Split { header, data },
        };
        index
            .pair(source, true)
            .map_err(|source| parse_error(path, source))
    }

    /// Reads the whole file (`size` bytes by its metadata) into the heap and parses it.
    fn parse_heap(
        path: &Path,
        format: Option<Format>,
        size: u64,
        config: &SourceConfig,
        reason: HeapReason,
    ) -> Result<ModelFile<ModelSource>> {
        let bytes = read_to_heap(path, Some(size), config.heap_limit())?;
        tracing::debug!(path = %path.display(), size = bytes.len(), %reason, "read into heap");
        let source = ModelSource {
            inner: Inner::Heap {
                path: Some(path.into()),
                bytes,
                reason,
                complete: true,
            },
        };
        let mut parser = Parser::new(format);
        let index = parser
            .parse(source.as_slice())
            .map_err(|e| parse_error(path, e))?;
        index
            .pair(source, true)
            .map_err(|source| parse_error(path, source))
    }

    /// Reads a stream as the parser asks (the rest after the header unless
    /// [`SourceConfig::header_only`]) and pairs it with the index built on the way.
    fn parse_stream(
        path: &Path,
        format: Option<Format>,
        config: &SourceConfig,
        reason: HeapReason,
    ) -> Result<ModelFile<ModelSource>> {
        let limits = Limits {
            heap: config.heap_limit(),
            header: config.max_header_size,
        };
        let read = read_stream(path, format, limits, config.header_only)?;
        let source = ModelSource {
            inner: Inner::Heap {
                path: Some(path.into()),
                bytes: read.bytes,
                reason,
                complete: read.complete,
            },
        };
        read.index
            .pair(source, read.complete)
            .map_err(|source| parse_error(path, source))
    }

    /// Maps the whole file at `path` as a trusted mapping and parses it in place: the
    /// zero-copy path, where strings and tensors borrow the mapping itself. The header's
    /// pages are asked for in huge pages ([`SourceConfig::huge_header`]), and while a large
    /// header cached in small pages is parsed, a helper thread faults them in just ahead of
    /// the parser ([`SourceConfig::read_ahead`]).
    ///
    /// # Safety
    /// As [`MmapFile::open`]: the file must be neither modified nor truncated while it is
    /// mapped.
    ///
    /// # Errors
    /// [`Error::Parse`] for an invalid file, and the errors of [`MmapFile::open_with`].
    pub unsafe fn open_trusted(path: impl AsRef<Path>) -> Result<Gguf<ModelSource>> {
        // SAFETY: the caller takes on the contract of this function, which is open's.
        unsafe { Self::open_trusted_with(path, &SourceConfig::default()) }
    }

    /// [`open_trusted`](Self::open_trusted) with the mapping configured. Only
    /// [`SourceConfig::mmap`], [`SourceConfig::read_ahead`] and [`SourceConfig::huge_header`]
    /// apply: the file is mapped whatever its size.
    ///
    /// # Safety
    /// As [`MmapFile::open`].
    ///
    /// # Errors
    /// As [`open_trusted`](Self::open_trusted).
    pub unsafe fn open_trusted_with(
        path: impl AsRef<Path>,
        config: &SourceConfig,
    ) -> Result<Gguf<ModelSource>> {
        let path = path.as_ref();
        // SAFETY: the caller takes on the contract of this function, which is open_with's.
        let map = unsafe { MmapFile::open_with(path, &config.mmap) }?;
        let parse_error = |source| Error::Parse {
            path: path.into(),
            source,
        };
        // Huge pages for the header's range, grown ahead of the parser 2 MiB at a time.
        let mut advised = if config.huge_header { 0 } else { usize::MAX };
        let reach = |end: usize| {
            if end > advised {
                advised = map.advise_huge_range(advised, end);
            }
        };
        let index = index_mapping(map.as_slice(), config.read_ahead, reach).map_err(parse_error)?;
        let source = ModelSource {
            inner: Inner::Trusted(map),
        };
        Gguf::from_index(index, source).map_err(parse_error)
    }

    /// Maps the whole file at `path` as a trusted mapping, whatever its size, for the
    /// zero-copy parse ([`Gguf::parse`] reads the mapping in place).
    ///
    /// # Safety
    /// As [`MmapFile::open`]: the file must be neither modified nor truncated while it is
    /// mapped.
    ///
    /// # Errors
    /// As [`MmapFile::open`].
    pub unsafe fn open_mmap(path: impl AsRef<Path>) -> Result<Self> {
        Ok(ModelSource {
            // SAFETY: the caller takes on the contract of this function, which is open's.
            inner: Inner::Trusted(unsafe { MmapFile::open(path) }?),
        })
    }

    /// A trusted mapping of a whole file, parsed in place.
    pub(crate) fn trusted(map: MmapFile) -> Self {
        ModelSource {
            inner: Inner::Trusted(map),
        }
    }

    /// Wraps bytes already in memory.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        ModelSource {
            inner: Inner::Heap {
                path: None,
                bytes,
                reason: HeapReason::Vec,
                complete: true,
            },
        }
    }

    /// The bytes held: the whole file, or for a file opened with [`open`](Self::open) and
    /// mapped, its tail from [`ModelData::offset`] (the tensor data).
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.inner {
            Inner::Split { data: map, .. } | Inner::Trusted(map) => map.as_slice(),
            Inner::Heap { bytes, .. } => bytes,
        }
    }

    /// Whether the bytes are memory-mapped.
    pub fn is_mmap(&self) -> bool {
        self.as_mmap().is_some()
    }

    /// Why the bytes are on the heap, or `None` when they are mapped.
    pub fn heap_reason(&self) -> Option<HeapReason> {
        match &self.inner {
            Inner::Heap { reason, .. } => Some(*reason),
            Inner::Split { .. } | Inner::Trusted(_) => None,
        }
    }

    /// Whether every byte of the file is at hand: false only for a stream opened with
    /// [`SourceConfig::header_only`], whose tensor data was not read.
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::Heap { complete, .. } => *complete,
            Inner::Split { .. } | Inner::Trusted(_) => true,
        }
    }

    /// The mapping, when the bytes are mapped: residency, prefetch, locking and the rest.
    /// Positions in it are positions in [`as_slice`](Self::as_slice).
    pub fn as_mmap(&self) -> Option<&MmapFile> {
        match &self.inner {
            Inner::Split { data: map, .. } | Inner::Trusted(map) => Some(map),
            Inner::Heap { .. } => None,
        }
    }

    /// The path the bytes came from (`None` for [`from_vec`](Self::from_vec)).
    pub fn path(&self) -> Option<&Path> {
        match &self.inner {
            Inner::Split { data: map, .. } | Inner::Trusted(map) => Some(map.path()),
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

    /// Whether the bytes read so far were the file's ([`MmapFile::check_intact`]); always for
    /// heap bytes.
    ///
    /// # Errors
    /// [`Error::Changed`] if a guarded mapping found its file truncated.
    pub fn check_intact(&self) -> Result<()> {
        self.as_mmap().map_or(Ok(()), MmapFile::check_intact)
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

    fn offset(&self) -> u64 {
        self.as_mmap().map_or(0, MmapFile::offset)
    }

    fn header(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Split { header, .. } => Some(header),
            Inner::Trusted(map) => map.header(),
            Inner::Heap { bytes, .. } => Some(bytes),
        }
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

    fn is_intact(&self) -> bool {
        self.as_mmap().is_none_or(MmapFile::is_intact)
    }

    fn backing(&self) -> Backing {
        match self.inner {
            Inner::Split { .. } | Inner::Trusted(_) => Backing::Mmap,
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

/// A parse error naming the file.
pub(crate) fn parse_error(path: &Path, source: ParseError) -> Error {
    Error::Parse {
        path: path.into(),
        source,
    }
}
