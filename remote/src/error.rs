//! The remote crate's errors: each names the URL it concerns.

use std::ops::Range;
use std::path::PathBuf;

/// Everything that can go wrong reading a model from object storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not one this crate reads (`s3://`, `gs://`, `az://`, `abfs://`,
    /// `http(s)://`, `file://`), or does not name an object.
    #[error("{url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store refused or failed a request (not found, permission, network, a server that
    /// answered a range request with the whole object, a `Content-Range` other than the one
    /// asked for, retries exhausted): object_store's error, with what was being read.
    #[error("{url}: {what}: {source}")]
    Store {
        /// The object.
        url: String,
        /// The request, e.g. "reading bytes 0-1048575".
        what: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// The object changed while it was being read: a later request found another version
    /// (`If-Match` refused, or a different ETag or size), so bytes of two versions would
    /// have been mixed.
    #[error("{url}: the object changed while it was read (first seen as {first}, now {now})")]
    Changed {
        /// The object.
        url: String,
        /// Its version (ETag, or size) at the first request.
        first: String,
        /// What a later request found.
        now: String,
    },
    /// A server that answered a range request with the whole object (`200`, not `206`): it
    /// ignores `Range`, so reading a header from it would download the file.
    #[error("{url}: the server ignores byte ranges (answered {status} to a range request); refusing to download the whole object to read its header")]
    RangesIgnored {
        /// The object.
        url: String,
        /// What it answered.
        status: String,
    },
    /// A body of another length than the range asked for.
    #[error("{url}: bytes {}-{} answered with {got} bytes{}", .range.start, .range.end.saturating_sub(1), if *.more { " or more" } else { "" })]
    BodyLength {
        /// The object.
        url: String,
        /// The range asked for (end exclusive).
        range: Range<u64>,
        /// Bytes received.
        got: u64,
        /// Whether the body went on past the range (then `got` is where it was stopped).
        more: bool,
    },
    /// The header, or the shard index, was malformed.
    #[error("{url}: {source}")]
    Parse {
        /// The object.
        url: String,
        /// The parser's error.
        #[source]
        source: weightmap_core::Error,
    },
    /// A header larger than [`Options::max_header_bytes`](crate::Options::max_header_bytes).
    #[error("{url}: the header needs {needed} bytes, more than the limit of {limit}")]
    HeaderTooLarge {
        /// The object.
        url: String,
        /// Bytes the parser asked for.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// A GGUF split file that is not the set's first, or is not named as llama.cpp names
    /// splits.
    #[error("{url}: {reason}")]
    Split {
        /// The object.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the model does not have.
    #[error("no tensor named \"{name}\" in the model")]
    NoTensor {
        /// The name asked for.
        name: String,
    },
    /// A destination buffer of another size than its tensor.
    #[error("tensor \"{name}\" has {expected} bytes, its buffer {got}")]
    BufferSize {
        /// The tensor.
        name: String,
        /// The tensor's bytes.
        expected: u64,
        /// The buffer's length.
        got: u64,
    },
    /// Two reads asked for overlapping destination bytes, or a read past its file.
    #[error("{0}")]
    BadRead(String),
    /// The progress callback asked to stop.
    #[error("cancelled after {done} of {total} bytes")]
    Cancelled {
        /// Bytes read before the cancel.
        done: u64,
        /// Bytes asked for.
        total: u64,
    },
    /// A local file (a download's output) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A download that would overwrite another object's bytes.
    #[error("{}: {reason}", path.display())]
    Conflict {
        /// The output file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn parse(url: &str, source: weightmap_core::Error) -> Self {
        Error::Parse {
            url: url.to_owned(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
