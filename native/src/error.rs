//! Errors of the native layer: each names the file and the cause.

use std::io;
use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong opening or mapping a model file.
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
    /// The path is not a regular file (a directory, FIFO, device...).
    #[error("{}: not a regular file ({kind})", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than this process can address.
    #[error("{}: {size} bytes do not fit in this process's address space", path.display())]
    FileTooLarge {
        /// The path given.
        path: PathBuf,
        /// The file's size.
        size: u64,
    },
    /// The operating system refused the mapping.
    #[error("{}: mmap failed: {source}", path.display())]
    MapFailed {
        /// The path given.
        path: PathBuf,
        /// The OS error (for example ENOMEM).
        source: io::Error,
    },
    /// Any other I/O error while opening.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn from_open(path: PathBuf, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => Error::FileNotFound { path },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { path },
            _ => Error::Io { path, source },
        }
    }
}
