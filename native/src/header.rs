//! Reading a model file's header into owned memory, as far as the parser asks: positioned
//! reads grow one buffer, and [`IndexBuilder`] goes on from where it stopped each time (even
//! inside a vocabulary), so nothing is parsed twice and no byte of the header is ever read from
//! a mapping. The same stepping parses a trusted mapping in place ([`index_mapping`]).
//!
//! Small headers live in a `Vec`. A header that outgrows the first read moves to an anonymous
//! mapping advised for transparent huge pages: a 6.5 MB vocabulary then costs four page faults
//! instead of 1,600 (measured here: 0.31 ms against 2.8 ms to read it into fresh 4 KiB pages).

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

use memmap2::{Mmap, MmapMut, MmapOptions};
use weightmap_core::{Error as ParseError, GgufIndex, IndexBuilder};

use crate::ahead::{Prefault, AHEAD};
use crate::error::{Error, Result};
use crate::sys;

/// The first read, into a `Vec`: most small models' headers fit.
const FIRST_READ: usize = 256 << 10;

/// The most read past what the parser asked for, at each step.
const STEP: usize = 1 << 20;

/// Address space reserved for a larger header, so that growing it never copies: pages cost
/// memory only once they are read into.
const RESERVE: usize = 64 << 20;

/// The size of a transparent huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// A header in owned memory, immutable once read.
#[derive(Debug)]
pub(crate) enum HeaderBytes {
    /// A small header.
    Heap(Box<[u8]>),
    /// A large one, in a read-only anonymous mapping: `len` bytes from `start`.
    Mapped { map: Mmap, start: usize, len: usize },
}

impl Deref for HeaderBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            HeaderBytes::Heap(bytes) => bytes,
            HeaderBytes::Mapped { map, start, len } => {
                map.get(*start..start.saturating_add(*len)).unwrap_or(&[])
            }
        }
    }
}

/// What the parser says of a prefix: done, give me `needed` bytes, or no.
enum Step {
    Done(GgufIndex),
    More(usize),
    Fail(ParseError),
}

/// Parses `prefix` on; `More` only for a request that a file of `file_len` bytes can meet.
fn step(builder: &mut IndexBuilder, prefix: &[u8], file_len: usize) -> Step {
    match builder.parse(prefix) {
        Ok(index) => Step::Done(index),
        Err(ParseError::Truncated { needed, .. })
            if needed <= file_len as u64 && needed > prefix.len() as u64 =>
        {
            // ok: needed <= file_len, a usize
            Step::More(needed as usize)
        }
        Err(e) => Step::Fail(e),
    }
}

/// Reads the header of `file` (`file_len` bytes long) into owned memory and parses it.
/// Returns the header (cut to the end of the tensor table) and its index.
///
/// Each time the parser stops for lack of bytes, the buffer grows to what it asked for plus a
/// step (as long as the buffer, from 256 KiB to 1 MiB), so a header of `n` bytes takes about
/// `n / 1 MiB` reads and at most 1 MiB is read past it (and given back). Reading ahead on a
/// helper thread was tried and lost here: the wake-ups cost more than the overlap saved.
///
/// # Errors
/// [`Error::Parse`] for an invalid header (a file that ends before its header does reports
/// [`ParseError::Truncated`] with its length), [`Error::Io`] if a read fails.
pub(crate) fn read_header(
    path: &Path,
    file: &File,
    file_len: u64,
) -> Result<(HeaderBytes, GgufIndex)> {
    let io_error = |source| Error::Io {
        path: path.into(),
        source,
    };
    let parse_error = |source| Error::Parse {
        path: path.into(),
        source,
    };
    let file_len = usize::try_from(file_len).unwrap_or(usize::MAX);
    let mut first = Vec::new();
    sys::fill_to(file, &mut first, FIRST_READ.min(file_len)).map_err(io_error)?;
    let mut builder = IndexBuilder::new();
    let needed = match step(&mut builder, &first, file_len) {
        Step::Done(index) => {
            let header = header_len(&index, first.len());
            first.truncate(header);
            return Ok((HeaderBytes::Heap(first.into_boxed_slice()), index));
        }
        Step::More(needed) => needed,
        Step::Fail(e) => return Err(parse_error(e)),
    };
    let Some((mut map, start)) = reserve(&first, file_len) else {
        return read_on_heap(file, first, builder, needed, file_len, path);
    };
    let (outcome, read) = read_in_steps(
        file,
        &mut map,
        start,
        first.len(),
        file_len,
        &mut builder,
        needed,
    );
    match outcome {
        Ok(Step::Done(index)) => {
            let header = header_len(&index, read);
            tracing::debug!(path = %path.display(), header, read, "header read into memory");
            Ok((finish(map, start, header, read), index))
        }
        // A header past the reservation (more than 64 MiB): on the heap from here.
        Ok(Step::More(needed)) => {
            let bytes = map.get(start..start + read).unwrap_or(&[]).to_vec();
            read_on_heap(file, bytes, builder, needed, file_len, path)
        }
        Ok(Step::Fail(e)) => Err(parse_error(e)),
        Err(e) => Err(io_error(e)),
    }
}

/// The header's length in a buffer of `read` bytes.
fn header_len(index: &GgufIndex, read: usize) -> usize {
    usize::try_from(index.layout().tensor_info_end)
        .unwrap_or(read)
        .min(read)
}

/// An anonymous mapping with room for the file's header (up to 64 MiB), advised for huge
/// pages, holding `first` from a huge-page-aligned `start`; `None` if it cannot be made.
fn reserve(first: &[u8], file_len: usize) -> Option<(MmapMut, usize)> {
    let room = RESERVE.min(file_len).max(first.len());
    let mut map = MmapOptions::new().len(room + HUGE_PAGE).map_anon().ok()?;
    #[cfg(target_os = "linux")]
    {
        // Best effort: without huge pages the buffer works with 4 KiB ones.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    let addr = map.as_ptr() as usize;
    let start = addr.next_multiple_of(HUGE_PAGE) - addr;
    map.get_mut(start..start + first.len())?
        .copy_from_slice(first);
    tracing::debug!(reserved = room, addr = ?map.as_ptr(), "header buffer mapped");
    Some((map, start))
}

/// The room for the header in `map` from `start`.
fn room(map: &MmapMut, start: usize, file_len: usize) -> usize {
    map.len().saturating_sub(start).min(file_len)
}

/// Parses `map[start..]` (which holds `have` bytes) in steps on this thread, reading what the
/// parser asks for and a step more each time.
fn read_in_steps(
    file: &File,
    map: &mut MmapMut,
    start: usize,
    mut have: usize,
    file_len: usize,
    builder: &mut IndexBuilder,
    mut needed: usize,
) -> (std::io::Result<Step>, usize) {
    let cap = room(map, start, file_len);
    loop {
        if needed > cap {
            return (Ok(Step::More(needed)), have);
        }
        let goal = needed.saturating_add(have.clamp(FIRST_READ, STEP)).min(cap);
        let Some(room) = map.get_mut(start..start + goal) else {
            return (Ok(Step::More(needed)), have);
        };
        match sys::read_into(file, &mut room[have..], have as u64) {
            Ok(n) => have += n,
            Err(e) => return (Err(e), have),
        }
        match step(builder, &room[..have], file_len) {
            Step::More(n) if have >= needed => needed = n,
            other => return (Ok(other), have),
        }
    }
}

/// Parses `bytes` (the first bytes of a file of `file_len`) on, growing a `Vec` as the parser
/// asks: the fallback when no huge buffer can be had, or the header outgrows it.
fn read_on_heap(
    file: &File,
    mut bytes: Vec<u8>,
    mut builder: IndexBuilder,
    mut needed: usize,
    file_len: usize,
    path: &Path,
) -> Result<(HeaderBytes, GgufIndex)> {
    loop {
        let goal = needed
            .saturating_add(bytes.len().clamp(FIRST_READ, STEP))
            .min(file_len);
        sys::fill_to(file, &mut bytes, goal).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        match step(&mut builder, &bytes, file_len) {
            Step::Done(index) => {
                bytes.truncate(header_len(&index, bytes.len()));
                return Ok((HeaderBytes::Heap(bytes.into_boxed_slice()), index));
            }
            Step::More(n) if bytes.len() >= needed => needed = n,
            Step::More(_) => {
                // The file ended before the bytes asked for: report what the parser says.
                let source = IndexBuilder::new()
                    .parse(&bytes)
                    .err()
                    .unwrap_or(ParseError::NoTrustedHeader);
                return Err(Error::Parse {
                    path: path.into(),
                    source,
                });
            }
            Step::Fail(source) => {
                return Err(Error::Parse {
                    path: path.into(),
                    source,
                })
            }
        }
    }
}

/// The first `header` bytes from `start`, kept read-only; the `read - header` bytes read past
/// them given back.
fn finish(map: MmapMut, start: usize, header: usize, read: usize) -> HeaderBytes {
    let keep = (start + header).next_multiple_of(sys::page_size());
    let spare = (start + read).saturating_sub(keep);
    #[cfg(unix)]
    if spare > 0 {
        // SAFETY: nothing refers to the pages past the header, and none will: dropping them
        // (they would read back as zeros) changes no byte handed out.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, keep, spare) };
    }
    #[cfg(not(unix))]
    let _ = (keep, spare);
    match map.make_read_only() {
        Ok(map) => HeaderBytes::Mapped {
            map,
            start,
            len: header,
        },
        Err(_) => HeaderBytes::Heap(Box::default()),
    }
}

/// Parses the header of a trusted mapping in place, in steps, while (with `parallel`) a
/// helper thread faults in the pages just ahead of the parser: page faults, which cost as much
/// as the parse itself for a large vocabulary, then happen on both threads at once.
///
/// # Errors
/// The parser's error.
pub(crate) fn index_mapping(
    bytes: &[u8],
    parallel: bool,
) -> std::result::Result<GgufIndex, ParseError> {
    let len = bytes.len();
    let mut builder = IndexBuilder::new();
    let first = FIRST_READ.min(len);
    let mut needed = match step(&mut builder, bytes.get(..first).unwrap_or(&[]), len) {
        Step::Done(index) => return Ok(index),
        Step::More(needed) => needed,
        Step::Fail(e) => return Err(e),
    };
    if !parallel {
        return builder.parse(bytes);
    }
    let prefault = Prefault::new(needed.saturating_add(AHEAD).min(len));
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("weightmap-prefault".into())
            .spawn_scoped(scope, || prefault.run(bytes, first));
        let Ok(helper) = helper else {
            return builder.parse(bytes);
        };
        let helper = helper.thread().clone();
        let result = loop {
            // Parse what was asked for and a step more, then let the helper run further.
            let have = needed.saturating_add(STEP).min(len);
            prefault.allow(have.saturating_add(AHEAD).min(len), &helper);
            match step(&mut builder, bytes.get(..have).unwrap_or(&[]), len) {
                Step::Done(index) => break Ok(index),
                Step::More(n) => needed = n,
                Step::Fail(e) => break Err(e),
            }
        };
        prefault.stop(&helper);
        result
    })
}
