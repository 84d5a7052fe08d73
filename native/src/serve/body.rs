//! Response bodies straight from a mapping: `Bytes` that own an `Arc` of the mapped file, so
//! no byte of file data is copied in user space (the kernel copies it from the mapping into
//! the socket).
//!
//! A body is a queue of parts, literal text (multipart headers) or ranges of the mapping,
//! handed to hyper a chunk at a time. Before each chunk and before the end, the body checks
//! that the file still has its length (one `fstat`) and that the mapping is intact (the
//! truncation guard replaced no lost page with zeros); otherwise it fails, and hyper closes
//! the connection with the response short of its `Content-Length`. Pages the kernel finds
//! gone while copying into the socket fail the write (`EFAULT`) the same way.
//!
//! What this cannot catch: the chunk handed over just before a truncation may still be in
//! flight, and if the cut is not page-aligned, the rest of the last page reads as zeros in
//! the kernel (up to 4 KiB); a file truncated and rewritten to its old length in between two
//! checks is served with the new bytes. Replace files by renaming a new one over them.

use std::collections::VecDeque;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::mmap::MmapFile;

/// One part of a body.
#[derive(Debug)]
enum Part {
    Text(Bytes),
    /// Bytes of the mapping, offsets in the file.
    Mapped(Range<usize>),
}

/// A response body over a mapped file.
#[derive(Debug)]
pub(crate) struct MappedBody {
    file: Arc<MmapFile>,
    parts: VecDeque<Part>,
    remaining: u64,
    chunk: usize,
    /// Mapped bytes handed out so far, and their count when the file's length was last
    /// checked.
    handed: u64,
    checked_at: u64,
}

/// A view of a mapping's bytes that keeps the mapping alive: the owner of a zero-copy `Bytes`.
struct MapSlice {
    file: Arc<MmapFile>,
    range: Range<usize>,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        self.file.as_slice().get(self.range.clone()).unwrap_or(&[])
    }
}

impl MappedBody {
    /// The bytes `range` of `file` (checked by the caller against its size), in chunks of
    /// `chunk` bytes.
    pub(crate) fn range(file: Arc<MmapFile>, range: Range<u64>, chunk: usize) -> Self {
        let mut body = MappedBody {
            file,
            parts: VecDeque::new(),
            remaining: 0,
            chunk: chunk.max(1),
            handed: 0,
            checked_at: 0,
        };
        body.push_mapped(range);
        body
    }

    /// `ranges` of `file` (offsets in the file) as `multipart/byteranges` parts separated by
    /// `boundary`, each labelled with `content_type` and its `Content-Range` within the
    /// representation, which starts at byte `base` of the file and is `total` bytes long.
    pub(crate) fn multipart(
        file: Arc<MmapFile>,
        ranges: &[Range<u64>],
        base: u64,
        total: u64,
        boundary: &str,
        content_type: &str,
        chunk: usize,
    ) -> Self {
        let mut body = MappedBody {
            file,
            parts: VecDeque::new(),
            remaining: 0,
            chunk: chunk.max(1),
            handed: 0,
            checked_at: 0,
        };
        for r in ranges {
            let first = r.start.saturating_sub(base);
            let last = r.end.saturating_sub(base).saturating_sub(1);
            body.push_text(format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {first}-{last}/{total}\r\n\r\n"
            ));
            body.push_mapped(r.clone());
        }
        body.push_text(format!("\r\n--{boundary}--\r\n"));
        body
    }

    fn push_text(&mut self, text: String) {
        self.remaining += text.len() as u64;
        self.parts.push_back(Part::Text(Bytes::from(text)));
    }

    fn push_mapped(&mut self, range: Range<u64>) {
        let (Ok(start), Ok(end)) = (usize::try_from(range.start), usize::try_from(range.end))
        else {
            return; // beyond the address space: the caller checked against a mapped size
        };
        self.remaining += range.end.saturating_sub(range.start);
        self.parts.push_back(Part::Mapped(start..end));
    }

    /// The body's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.remaining
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.parts.front_mut()? {
                Part::Text(text) => {
                    let text = std::mem::take(text);
                    self.parts.pop_front();
                    return Some(text);
                }
                Part::Mapped(range) if range.start >= range.end => {
                    self.parts.pop_front();
                }
                Part::Mapped(range) => {
                    let end = range.end.min(range.start.saturating_add(self.chunk));
                    let piece = range.start..end;
                    range.start = end;
                    self.handed += (end - piece.start) as u64; // ok: end >= piece.start
                    return Some(Bytes::from_owner(MapSlice {
                        file: Arc::clone(&self.file),
                        range: piece,
                    }));
                }
            }
        }
    }
}

impl MappedBody {
    /// Whether the file is now shorter than when it was mapped. Checked (one `fstat`) before
    /// each frame once more than a chunk has gone out, so a response of one chunk, the
    /// common small range, costs no syscall here: the file was checked when it was opened.
    fn shrunk(&mut self) -> bool {
        if self.handed <= self.chunk as u64 || self.handed == self.checked_at {
            return false;
        }
        self.checked_at = self.handed;
        let expected = self.file.identity().size;
        self.file
            .file()
            .metadata()
            .map_or(true, |m| m.len() < expected)
    }
}

impl Body for MappedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.shrunk() || !this.file.is_intact() {
            tracing::warn!(path = %this.file.path().display(),
                "file truncated while being served: response cut short");
            this.parts.clear();
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file truncated while being served",
            ))));
        }
        Poll::Ready(this.next_chunk().map(|chunk| {
            this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
            Ok(Frame::data(chunk))
        }))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
