//! Errors of the native layer: each names the file and the cause.

use std::fmt;
use std::fs::FileType;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

/// What a path is when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block device.
    BlockDevice,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// Anything else that is not a regular file.
    Other,
}

impl FileKind {
    /// The kind of a file type that is not a regular file.
    pub(crate) fn of(kind: FileType) -> FileKind {
        if kind.is_dir() {
            return FileKind::Directory;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                return FileKind::Fifo;
            }
            if kind.is_socket() {
                return FileKind::Socket;
            }
            if kind.is_block_device() {
                return FileKind::BlockDevice;
            }
            if kind.is_char_device() {
                return FileKind::CharDevice;
            }
        }
        FileKind::Other
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::BlockDevice => "a block device",
            FileKind::CharDevice => "a character device",
            FileKind::Other => "a special file",
        })
    }
}

/// How a file on disk differs from the one that was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeKind {
    /// Another file is at the path now (a rename over it, say): different device or inode.
    Replaced,
    /// Same file, different size.
    Resized,
    /// Same file and size, newer modification or status-change time.
    Modified,
    /// Nothing is at the path any more.
    Removed,
    /// The file shrank while mapped and a read of a guarded mapping reached past its new end
    /// (the lost pages read as zeros since).
    Truncated,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Replaced => "replaced",
            ChangeKind::Resized => "resized",
            ChangeKind::Modified => "modified",
            ChangeKind::Removed => "removed",
            ChangeKind::Truncated => "truncated while mapped: bytes past the new end are lost",
        })
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong opening, mapping or reading a model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    #[error("{}: file not found", path.display())]
    FileNotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The process may not read the file.
    #[error("{}: permission denied", path.display())]
    PermissionDenied {
        /// The path given.
        path: PathBuf,
    },
    /// The path is not a regular file (a directory, FIFO, device...), so it cannot be mapped.
    #[error("{}: not a regular file ({kind})", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        kind: FileKind,
    },
    /// The file is larger than this process can address (or, for heap reads, allocate).
    #[error("{}: {size} bytes do not fit in this process's address space", path.display())]
    FileTooLarge {
        /// The path given.
        path: PathBuf,
        /// The file's size (for a stream, the size reached when reading stopped).
        size: u64,
    },
    /// A file or stream read into the heap is longer than the configured limit.
    #[error("{}: more than {limit} bytes to read into memory (SourceConfig::max_heap_size)", path.display())]
    HeapLimit {
        /// The path given.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file's header asks for more bytes than the limit for a header read into memory
    /// (a crafted count, most likely).
    #[error("{}: the header asks for {needed} bytes, more than the {limit} allowed (SourceConfig::max_header_size)", path.display())]
    HeaderTooLarge {
        /// The path given.
        path: PathBuf,
        /// The bytes the parser asked for.
        needed: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The operating system refused the mapping.
    #[error("{}: mmap of {size} bytes failed: {source}", path.display())]
    MapFailed {
        /// The path given.
        path: PathBuf,
        /// The size that was to be mapped.
        size: u64,
        /// The OS error (for example ENOMEM).
        source: io::Error,
    },
    /// A byte range does not lie inside the file.
    #[error("{}: byte range {}..{} is outside the file ({size} bytes)", path.display(), range.start, range.end)]
    InvalidRange {
        /// The path of the file.
        path: PathBuf,
        /// The range asked for (`start > end` is also invalid).
        range: Range<u64>,
        /// The file's size.
        size: u64,
    },
    /// The file on disk is no longer the one that was mapped.
    #[error("{}: the file changed on disk since it was mapped ({what})", path.display())]
    Changed {
        /// The path of the file.
        path: PathBuf,
        /// What differs.
        what: ChangeKind,
    },
    /// The file is not a valid model file: the parser's error, which names the byte offset
    /// and the key or tensor.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The path of the file.
        path: PathBuf,
        /// What the parser found.
        source: weightmap_core::Error,
    },
    /// A later file of a GGUF split set, opened where the first is needed.
    #[error("{}: this is split {} of {count}; open the first split, {}", path.display(), no + 1, first.display())]
    NotFirstSplit {
        /// The file given.
        path: PathBuf,
        /// Its `split.no` (0-based).
        no: u64,
        /// Its `split.count`.
        count: u64,
        /// The first split's path.
        first: PathBuf,
    },
    /// A GGUF split set whose first file is not named as llama.cpp names splits, so the other
    /// files cannot be found.
    #[error("{}: split 1 of {count}, but the name does not end in -00001-of-{count:05}.gguf, so the other splits cannot be found", path.display())]
    SplitName {
        /// The file given.
        path: PathBuf,
        /// Its `split.count`.
        count: u64,
    },
    /// `mlock` refused to pin the mapping.
    #[error("{}: could not lock {size} bytes in memory: {source}{}", path.display(), MemlockHint(*limit))]
    LockFailed {
        /// The path of the file.
        path: PathBuf,
        /// Bytes that were to be locked.
        size: u64,
        /// The process's `RLIMIT_MEMLOCK` soft limit in bytes, where known.
        limit: Option<u64>,
        /// The OS error (usually ENOMEM or EAGAIN when the limit is too low).
        source: io::Error,
    },
    /// `madvise`, `posix_fadvise`, `mincore` or a similar call failed.
    #[error("{}: {call} failed: {source}", path.display())]
    SystemCall {
        /// The path of the file.
        path: PathBuf,
        /// The call, with its argument ("madvise(MADV_RANDOM)").
        call: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// This platform does not offer the operation.
    #[error("{}: {what} is not supported on this platform", path.display())]
    Unsupported {
        /// The path of the file.
        path: PathBuf,
        /// The operation.
        what: &'static str,
    },
    /// Any other I/O error while opening or reading.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Explains `RLIMIT_MEMLOCK` after a failed `mlock`.
struct MemlockHint(Option<u64>);

impl fmt::Display for MemlockHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(limit) => write!(
                f,
                " (RLIMIT_MEMLOCK allows {limit} bytes; raise it with `ulimit -l`, \
                 LimitMEMLOCK= in a systemd unit, or run with CAP_IPC_LOCK)"
            ),
            None => f.write_str(
                " (RLIMIT_MEMLOCK may be too low; raise it with `ulimit -l` or run with CAP_IPC_LOCK)",
            ),
        }
    }
}

impl Error {
    pub(crate) fn from_open(path: PathBuf, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => Error::FileNotFound { path },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { path },
            _ => Error::Io { path, source },
        }
    }

    /// The path of the file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::FileNotFound { path }
            | Error::PermissionDenied { path }
            | Error::NotAFile { path, .. }
            | Error::FileTooLarge { path, .. }
            | Error::HeapLimit { path, .. }
            | Error::HeaderTooLarge { path, .. }
            | Error::MapFailed { path, .. }
            | Error::InvalidRange { path, .. }
            | Error::Changed { path, .. }
            | Error::Parse { path, .. }
            | Error::NotFirstSplit { path, .. }
            | Error::SplitName { path, .. }
            | Error::LockFailed { path, .. }
            | Error::SystemCall { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Io { path, .. } => path,
        }
    }
}
