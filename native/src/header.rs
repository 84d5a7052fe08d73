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
use crate::pages::HUGE_PAGE;
use crate::sys;

/// The first read, into a `Vec`: most small models' headers fit.
const FIRST_READ: usize = 256 << 10;

/// The first step of a parse in place: short, so that the helper that faults pages in ahead
/// of the parser starts early.
const FIRST_STEP: usize = 64 << 10;

/// Files at least this long have their header read straight into huge pages.
const DIRECT: usize = 4 << 20;

/// The most read past what the parser asked for, at each step.
const STEP: usize = 1 << 20;

/// Address space reserved for a larger header, so that growing it never copies: pages cost
/// memory only once they are read into.
const RESERVE: usize = 64 << 20;

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

/// An owned header is model data holding only the file's first bytes: parsers read it, and
/// tensors (past it) are out of bounds.
impl weightmap_core::ModelData for HeaderBytes {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// What the parser says of a prefix: done, or give me `needed` bytes.
enum Step {
    Done(GgufIndex),
    More(usize),
}

/// A header being read: the file, how long it is, and the parser going through it.
struct Reading<'a> {
    path: &'a Path,
    file: &'a File,
    /// The file's length; lowered to the bytes actually there if a read ends early (the file
    /// shrank meanwhile).
    file_len: usize,
    /// The most header bytes to read ([`SourceConfig::max_header_size`](crate::SourceConfig)).
    limit: usize,
    builder: IndexBuilder,
}

impl Reading<'_> {
    /// Parses `prefix` (the file's first bytes) on from where the last step stopped.
    ///
    /// # Errors
    /// The parser's error; for a file that ends before its header does, [`ParseError::Truncated`]
    /// with the file's length; [`Error::HeaderTooLarge`] past the limit.
    fn step(&mut self, prefix: &[u8]) -> Result<Step> {
        let error = match self.builder.parse(prefix) {
            Ok(index) => return Ok(Step::Done(index)),
            Err(ParseError::Truncated {
                needed,
                section,
                within,
                ..
            }) if needed > self.file_len as u64 || prefix.len() >= self.file_len => {
                ParseError::Truncated {
                    needed,
                    have: self.file_len as u64,
                    section,
                    within,
                }
            }
            Err(ParseError::Truncated { needed, .. }) if needed > self.limit as u64 => {
                return Err(Error::HeaderTooLarge {
                    path: self.path.into(),
                    needed,
                    limit: self.limit as u64,
                })
            }
            // ok: needed <= file_len, a usize
            Err(ParseError::Truncated { needed, .. }) => return Ok(Step::More(needed as usize)),
            Err(e) => e,
        };
        Err(Error::Parse {
            path: self.path.into(),
            source: error,
        })
    }

    /// Reads the file from `offset` into `buf` until it is full or the file ends; a short read
    /// means the file ends there now.
    fn read(&mut self, buf: &mut [u8], offset: usize) -> Result<usize> {
        let n = sys::read_into(self.file, buf, offset as u64).map_err(|source| Error::Io {
            path: self.path.into(),
            source,
        })?;
        if n < buf.len() {
            self.file_len = self.file_len.min(offset + n);
        }
        Ok(n)
    }

    /// How far to read when the parser asks for `needed` bytes and `have` are read: what it
    /// asked for and a step more (as long as what is read, from 256 KiB to 1 MiB).
    fn goal(&self, needed: usize, have: usize) -> usize {
        needed
            .saturating_add(have.clamp(FIRST_READ, STEP))
            .min(self.file_len)
            .min(self.limit)
    }
}

/// Reads the header of `file` (`file_len` bytes long) into owned memory and parses it.
/// Returns the header (cut to the end of the tensor table) and its index.
///
/// Each time the parser stops for lack of bytes, the buffer grows to what it asked for plus a
/// step (as long as the buffer, from 256 KiB to 1 MiB), so a header of `n` bytes takes about
/// `n / 1 MiB` reads and at most 1 MiB is read past it (and given back). Past the 64 MiB
/// reservation the buffer is a `Vec` that at least doubles at each step. Reading ahead on a
/// helper thread was tried and lost here: the wake-ups cost more than the overlap saved.
///
/// # Errors
/// [`Error::Parse`] for an invalid header (a file that ends before its header does reports
/// [`ParseError::Truncated`] with its length), [`Error::HeaderTooLarge`] for a header asking
/// for more than `limit` bytes, [`Error::Io`] if a read fails.
pub(crate) fn read_header(
    path: &Path,
    file: &File,
    file_len: u64,
    limit: u64,
) -> Result<(HeaderBytes, GgufIndex)> {
    let mut reading = Reading {
        path,
        file,
        file_len: usize::try_from(file_len).unwrap_or(usize::MAX),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        builder: IndexBuilder::new(),
    };
    // A large file most likely has a large header: read it into huge pages from the start
    // (what is not header is given back at the end).
    if reading.file_len >= DIRECT {
        if let Some((map, start)) = reserve(&[], reading.file_len) {
            return read_mapped(&mut reading, map, start, 0, 0);
        }
    }
    let mut first = vec![0u8; FIRST_READ.min(reading.file_len)];
    let n = reading.read(&mut first, 0)?;
    first.truncate(n);
    let needed = match reading.step(&first)? {
        Step::Done(index) => {
            first.truncate(header_len(&index, first.len()));
            return Ok((HeaderBytes::Heap(first.into_boxed_slice()), index));
        }
        Step::More(needed) => needed,
    };
    let Some((map, start)) = reserve(&first, reading.file_len) else {
        return read_on_heap(&mut reading, first, needed);
    };
    read_mapped(&mut reading, map, start, first.len(), needed)
}

/// Reads and parses on in `map[start..]`, which holds `have` bytes, the parser asking for
/// `needed`; past the mapping's room, on the heap.
fn read_mapped(
    reading: &mut Reading<'_>,
    mut map: MmapMut,
    start: usize,
    have: usize,
    needed: usize,
) -> Result<(HeaderBytes, GgufIndex)> {
    match read_in_steps(reading, &mut map, start, have, needed)? {
        (Step::Done(index), read) => {
            let header = header_len(&index, read);
            tracing::debug!(path = %reading.path.display(), header, read, "header read into memory");
            let header = finish(map, start, header, read).map_err(|source| Error::Io {
                path: reading.path.into(),
                source,
            })?;
            Ok((header, index))
        }
        // A header past the reservation (more than 64 MiB): on the heap from here.
        (Step::More(needed), read) => {
            let bytes = map.get(start..start + read).unwrap_or(&[]).to_vec();
            read_on_heap(reading, bytes, needed)
        }
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

/// Parses `map[start..]` (which holds `have` bytes) in steps, reading what the parser asks
/// for and a step more each time. Returns the last step and the bytes read: `More` when the
/// header outgrows the mapping.
fn read_in_steps(
    reading: &mut Reading<'_>,
    map: &mut MmapMut,
    start: usize,
    mut have: usize,
    mut needed: usize,
) -> Result<(Step, usize)> {
    let cap = map.len().saturating_sub(start);
    loop {
        let goal = reading.goal(needed, have);
        let Some(room) = map.get_mut(start..start + goal).filter(|_| needed <= cap) else {
            return Ok((Step::More(needed), have));
        };
        if let Some(unread) = room.get_mut(have..) {
            have += reading.read(unread, have)?;
        }
        match reading.step(room.get(..have).unwrap_or(&[]))? {
            Step::More(n) => needed = n,
            done => return Ok((done, have)),
        }
    }
}

/// Parses `bytes` (the file's first bytes) on, growing a `Vec` (at least doubling it) as the
/// parser asks: the fallback when no mapping can be had, or the header outgrows it.
fn read_on_heap(
    reading: &mut Reading<'_>,
    mut bytes: Vec<u8>,
    mut needed: usize,
) -> Result<(HeaderBytes, GgufIndex)> {
    loop {
        let goal = reading.goal(needed, bytes.len()).max(
            bytes
                .len()
                .saturating_mul(2)
                .min(reading.file_len)
                .min(reading.limit),
        );
        let have = bytes.len();
        bytes.resize(goal.max(have), 0);
        let n = reading.read(bytes.get_mut(have..).unwrap_or(&mut []), have)?;
        bytes.truncate(have + n);
        match reading.step(&bytes)? {
            Step::Done(index) => {
                bytes.truncate(header_len(&index, bytes.len()));
                return Ok((HeaderBytes::Heap(bytes.into_boxed_slice()), index));
            }
            Step::More(n) => needed = n,
        }
    }
}

/// The first `header` bytes from `start`, kept read-only; the `read - header` bytes read past
/// them given back.
fn finish(map: MmapMut, start: usize, header: usize, read: usize) -> std::io::Result<HeaderBytes> {
    let keep = (start + header).next_multiple_of(sys::page_size());
    // Up to the end of the last huge page touched: all of it was allocated.
    let touched = (start + read).next_multiple_of(HUGE_PAGE).min(map.len());
    let spare = touched.saturating_sub(keep);
    #[cfg(unix)]
    if spare > 0 {
        // SAFETY: nothing refers to the pages past the header, and none will: dropping them
        // (they would read back as zeros) changes no byte handed out.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, keep, spare) };
    }
    #[cfg(not(unix))]
    let _ = (keep, spare);
    Ok(HeaderBytes::Mapped {
        map: map.make_read_only()?,
        start,
        len: header,
    })
}

/// Where [`first_fault_mapped_a_large_folio`] looks: past the first step (64 KiB, the same
/// window as the kernel's default fault-around for the first fault), inside a folio of 512 KiB
/// or more that starts the file.
const LARGE_FOLIO_PROBE: usize = 256 << 10;

/// Whether the first step's page fault mapped the page [`LARGE_FOLIO_PROBE`] bytes in: the
/// page cache then holds the file's start in a large folio mapped whole by one fault (a
/// huge-page entry, or, on recent kernels, the whole folio), the header is most likely held
/// the same way, and a helper thread costs more than the few faults it would take off the
/// parser (measured: 0.07 ms more per open with the header in 2 MiB folios, 0.06 ms less with
/// it in 4 KiB pages). A header whose first folio is large and the rest small (partly
/// reclaimed) gets no helper either. Linux only (`/proc/self/pagemap`); elsewhere the helper
/// always runs.
fn first_fault_mapped_a_large_folio(bytes: &[u8]) -> bool {
    let probe = LARGE_FOLIO_PROBE..LARGE_FOLIO_PROBE.saturating_add(sys::page_size());
    bytes
        .get(probe)
        .is_some_and(|page| sys::mapped_pages(page).is_ok_and(|n| n == 1))
}

/// Parses the header of a trusted mapping in place, in steps, while (with `parallel`) a
/// helper thread faults in the pages just ahead of the parser: page faults, which cost as much
/// as the parse itself for a large vocabulary, then happen on both threads at once. `reach` is
/// told, before they are read, how far into `bytes` the parser and its helper may go next.
///
/// # Errors
/// The parser's error.
pub(crate) fn index_mapping(
    bytes: &[u8],
    parallel: bool,
    mut reach: impl FnMut(usize),
) -> std::result::Result<GgufIndex, ParseError> {
    let len = bytes.len();
    let mut builder = IndexBuilder::new();
    // Parses the first `have` bytes on: the bytes asked for next, or the end.
    let mut step = |have: usize| match builder.parse(bytes.get(..have).unwrap_or(&[])) {
        Err(ParseError::Truncated { needed, .. }) if needed <= len as u64 && have < len => {
            // ok: needed <= len, a usize
            Ok(Err(needed as usize))
        }
        other => other.map(Ok),
    };
    let first = FIRST_STEP.min(len);
    reach(first);
    let needed = match step(first)? {
        Ok(index) => return Ok(index),
        Err(needed) => needed,
    };
    let parallel = parallel && !first_fault_mapped_a_large_folio(bytes);
    tracing::debug!(len, helper = parallel, "parsing a trusted header in place");
    let prefault = Prefault::new(needed.saturating_add(AHEAD).min(len));
    if parallel {
        reach(needed.saturating_add(AHEAD).min(len));
    }
    std::thread::scope(|scope| {
        let helper = if parallel {
            std::thread::Builder::new()
                .name("weightmap-prefault".into())
                .spawn_scoped(scope, || prefault.run(bytes, first))
                .ok()
        } else {
            None
        };
        // Stops the helper however this scope is left, a panic included.
        let _stop = helper.as_ref().map(|h| prefault.stopper(h.thread()));
        let mut needed = needed;
        loop {
            // Parse what was asked for and a step more, and let the helper run further.
            let have = needed.saturating_add(STEP).min(len);
            let ahead = have.saturating_add(AHEAD).min(len);
            reach(if helper.is_some() { ahead } else { have });
            if let Some(h) = &helper {
                prefault.allow(ahead, h.thread());
            }
            match step(have)? {
                Ok(index) => return Ok(index),
                Err(n) => needed = n,
            }
        }
    })
}
