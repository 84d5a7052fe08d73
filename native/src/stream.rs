//! Reading a model into the heap: a small file whole, and a stream (a pipe, a character device,
//! a `/proc` file) as far as the parser asks, so that `/dev/zero` fails on its magic bytes
//! instead of filling memory, and a header-only open never reads tensor data.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use weightmap_core::{Error as ParseError, Format};

use crate::error::{Error, Result};
use weightmap_core::model::{HeaderIndex, HeaderParser as Parser};

/// The first read from a stream, and the least read past what the parser asked for: one pipe
/// buffer's worth, so that invalid input fails after a few system calls.
const FIRST_READ: usize = 64 << 10;

/// The most read past what the parser asked for.
const STEP: usize = 1 << 20;

/// A stream's bytes as read so far, and its index once the header is complete.
pub(crate) struct StreamRead {
    pub(crate) bytes: Vec<u8>,
    pub(crate) index: HeaderIndex,
    /// Whether the stream was read to its end (else only its header, and what came with it).
    pub(crate) complete: bool,
}

/// Limits of a stream read: [`SourceConfig`](crate::SourceConfig)'s, resolved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most bytes read in all.
    pub(crate) heap: u64,
    /// Most bytes of header read.
    pub(crate) header: u64,
}

/// Reads the stream at `path` as the parser asks: its header first, stopping at the first
/// error (bad magic after the first read), then, unless `header_only`, the rest to its end.
///
/// # Errors
/// [`Error::Parse`] for invalid input (input that ends inside the header reports
/// [`ParseError::Truncated`] with the bytes read), [`Error::HeaderTooLarge`],
/// [`Error::HeapLimit`] and [`Error::FileTooLarge`] past the limits or the allocator, and the
/// errors of opening and reading.
pub(crate) fn read_stream(
    path: &Path,
    format: Option<Format>,
    limits: Limits,
    header_only: bool,
) -> Result<StreamRead> {
    let io_err = |source| Error::from_open(path.into(), source);
    let mut stream = File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    let mut ended = false;
    let mut parser = Parser::new(format);
    let index = loop {
        let needed = match parser.parse(&bytes) {
            Ok(index) => break index,
            Err(ParseError::Truncated { needed, .. }) if !ended => needed,
            Err(source) => {
                return Err(Error::Parse {
                    path: path.into(),
                    source,
                })
            }
        };
        if needed > limits.header {
            return Err(Error::HeaderTooLarge {
                path: path.into(),
                needed,
                limit: limits.header,
            });
        }
        let step = bytes.len().clamp(FIRST_READ, STEP) as u64;
        let goal = needed.saturating_add(step).min(limits.header.max(needed));
        ended = fill(path, &mut stream, &mut bytes, goal, limits.heap)?;
    };
    if !header_only {
        fill(path, &mut stream, &mut bytes, u64::MAX, limits.heap)?;
    }
    tracing::debug!(path = %path.display(), read = bytes.len(), header_only, "stream read into heap");
    Ok(StreamRead {
        bytes,
        index,
        complete: !header_only,
    })
}

/// Reads `stream` on into `bytes` until they hold `goal` bytes or the stream ends; returns
/// whether it ended. More than `limit` bytes in all is [`Error::HeapLimit`].
fn fill(
    path: &Path,
    stream: &mut impl Read,
    bytes: &mut Vec<u8>,
    goal: u64,
    limit: u64,
) -> Result<bool> {
    let have = bytes.len() as u64;
    // One byte past the limit tells "exactly the limit" from "longer".
    let want = goal.min(limit.saturating_add(1)).saturating_sub(have);
    let read = read_growing(path, stream.take(want), bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::HeapLimit {
            path: path.into(),
            limit,
        });
    }
    Ok(read < want)
}

/// Reads `source` to its end onto `bytes`, growing them fallibly; returns the bytes read.
fn read_growing(path: &Path, mut source: impl Read, bytes: &mut Vec<u8>) -> Result<u64> {
    let before = bytes.len();
    // std's read_to_end grows with try_reserve and reports OutOfMemory instead of aborting.
    match source.read_to_end(bytes) {
        Ok(_) => Ok((bytes.len() - before) as u64),
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => Err(Error::FileTooLarge {
            path: path.into(),
            size: bytes.len() as u64,
        }),
        Err(e) => Err(Error::from_open(path.into(), e)),
    }
}

/// Reads the whole of `path`, at most `limit` bytes. The size from the file system, when
/// known, only presizes the buffer; growth is fallible, so a huge file is an error, not an
/// abort.
pub(crate) fn read_to_heap(path: &Path, size_hint: Option<u64>, limit: u64) -> Result<Vec<u8>> {
    let mut file = File::open(path).map_err(|source| Error::from_open(path.into(), source))?;
    let mut bytes = Vec::new();
    if let Some(hint) = size_hint.filter(|&h| h <= limit) {
        let reserved = usize::try_from(hint)
            .ok()
            .and_then(|h| bytes.try_reserve_exact(h).ok());
        if reserved.is_none() {
            return Err(Error::FileTooLarge {
                path: path.into(),
                size: hint,
            });
        }
    }
    fill(path, &mut file, &mut bytes, u64::MAX, limit)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        heap: 1 << 30,
        header: 1 << 30,
    };

    #[test]
    fn a_file_read_as_a_stream_parses_header_only_or_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        let file = weightmap_core::testing::sample_file();
        std::fs::write(&path, &file).unwrap();
        let whole = read_stream(&path, None, LIMITS, false).unwrap();
        assert_eq!(whole.bytes, file);
        assert!(whole.complete);
        let header = read_stream(&path, None, LIMITS, true).unwrap();
        assert!(!header.complete);
        assert_eq!(header.index.data_offset(), whole.index.data_offset());
    }

    #[test]
    fn bad_magic_stops_after_the_first_read_and_limits_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zeros");
        std::fs::write(&path, vec![0u8; 4 << 20]).unwrap();
        let e = read_stream(&path, None, LIMITS, false).err().unwrap();
        assert!(matches!(
            e,
            Error::Parse {
                source: ParseError::UnknownFormat { .. },
                ..
            }
        ));
        let file = weightmap_core::testing::sample_file();
        std::fs::write(&path, &file).unwrap();
        let small = Limits {
            heap: 100,
            header: 1 << 30,
        };
        assert!(matches!(
            read_stream(&path, None, small, false),
            Err(Error::HeapLimit { limit: 100, .. })
        ));
        let tiny_header = Limits {
            heap: 1 << 30,
            header: 30,
        };
        assert!(matches!(
            read_stream(&path, None, tiny_header, true),
            Err(Error::HeaderTooLarge { limit: 30, .. })
        ));
        assert!(matches!(
            read_to_heap(&path, Some(file.len() as u64), 10),
            Err(Error::HeapLimit { limit: 10, .. })
        ));
    }
}
