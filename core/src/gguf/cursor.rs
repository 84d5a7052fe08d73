//! A bounds-checked reading cursor over the file's bytes, in the file's byte order.
//!
//! Every read either returns data inside the slice or a [`Error::Truncated`] that says how many
//! bytes the read needed, so a caller holding only a prefix of a file learns how much to fetch.

use crate::endian::Endian;
use crate::error::{Error, Name, Result, Section};

/// A position in `data` with reads that never go past its end.
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` in the whole file, for error messages over sub-slices.
    base: usize,
    pub(crate) endian: Endian,
    pub(crate) section: Section,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize, endian: Endian, section: Section) -> Self {
        Cursor {
            data,
            pos,
            base: 0,
            endian,
            section,
        }
    }

    /// Treats `data` as starting at byte `base` of the file when reporting positions.
    pub(crate) fn with_base(mut self, base: usize) -> Self {
        self.base = base;
        self
    }

    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// The position in the whole file.
    #[inline]
    pub(crate) fn absolute_pos(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The error for a read of `len` more bytes that does not fit.
    pub(crate) fn truncated(&self, len: u64) -> Error {
        match (self.absolute_pos() as u64).checked_add(len) {
            Some(needed) => Error::Truncated {
                section: self.section,
                needed,
                have: self.base.saturating_add(self.data.len()) as u64,
                within: Name::NONE,
            },
            None => Error::LengthOverflow {
                section: self.section,
                count: len,
                offset: self.absolute_pos() as u64,
                within: Name::NONE,
            },
        }
    }

    /// Takes the next `len` bytes.
    #[inline]
    pub(crate) fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or_else(|| self.truncated(len))?;
        self.pos += bytes.len(); // ok: stays within data.len()
        Ok(bytes)
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let (head, _) = rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.truncated(N as u64))?;
        self.pos += N;
        Ok(*head)
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32> {
        self.array().map(|b| self.endian.u32(b))
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64> {
        self.array().map(|b| self.endian.u64(b))
    }

    /// A GGUF string: a u64 length, then that many bytes (not checked for UTF-8 here).
    #[inline]
    pub(crate) fn string(&mut self) -> Result<&'a [u8]> {
        let len = self.u64()?;
        self.take(len)
    }

    /// Checks that `count` items of at least `min_size` bytes each can still follow, before any
    /// loop over them runs, so a huge count in a small file fails at once.
    pub(crate) fn ensure_room(&self, count: u64, min_size: u64) -> Result<()> {
        let bytes = count.checked_mul(min_size).ok_or(Error::LengthOverflow {
            section: self.section,
            count,
            offset: self.absolute_pos() as u64,
            within: Name::NONE,
        })?;
        let left = self.data.len().saturating_sub(self.pos) as u64;
        if bytes > left {
            return Err(self.truncated(bytes));
        }
        Ok(())
    }

    /// Skips `count` strings: the hot loop of vocabulary arrays, specialised per byte order.
    ///
    /// With `resume`, a skip cut short by the end of the input records how many strings it
    /// passed and where the next one starts, and a later call over a longer prefix of the same
    /// bytes (the cursor at the same array) goes on from there instead of starting over.
    pub(crate) fn skip_strings(&mut self, count: u64, resume: Option<&mut Resume>) -> Result<()> {
        self.ensure_room(count, 8)?;
        let (done, from) = match &resume {
            Some(r) if r.done > 0 && r.done <= count && r.pos >= self.pos => (r.done, r.pos),
            _ => (0, self.pos),
        };
        let rest = self.data.get(from..).unwrap_or(&[]);
        let left = count - done; // ok: done <= count
        let result = match self.endian {
            Endian::Little => skip_strings_with(rest, left, u64::from_le_bytes),
            Endian::Big => skip_strings_with(rest, left, u64::from_be_bytes),
        };
        match result {
            Ok(consumed) => {
                self.pos = from + consumed;
                Ok(())
            }
            Err(cut) => {
                if let Some(r) = resume {
                    *r = Resume {
                        done: done + cut.skipped,
                        pos: from + cut.next,
                    };
                }
                self.pos = from + cut.at;
                Err(self.truncated(cut.len))
            }
        }
    }
}

/// Where a string skip that ran out of input stopped: `done` strings passed, the next one's
/// length prefix at `pos` (a position in the cursor's data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) done: u64,
    pub(crate) pos: usize,
}

/// How a string skip ran out of input (positions relative to where it started).
#[derive(Debug)]
struct Cut {
    /// Strings skipped whole.
    skipped: u64,
    /// Where the first string not skipped starts.
    next: usize,
    /// Where the read that failed starts, and how many bytes it needed.
    at: usize,
    len: u64,
}

/// Walks `count` length-prefixed strings at the start of `rest`; returns the bytes consumed, or
/// where the input ran out.
///
/// The walk is latency-bound: each string's position depends on loading the previous length,
/// so one chain of loads runs at about one string per nanosecond whatever the core's width.
/// Long arrays therefore run a second chain from a guessed string boundary further on
/// ([`split_walk`]); only the first chain's positions are trusted, and the second's count only
/// once the first lands exactly where it started. Everything else falls back to one chain.
#[inline(always)]
fn skip_strings_with(
    rest: &[u8],
    count: u64,
    read_len: impl Fn([u8; 8]) -> u64 + Copy,
) -> core::result::Result<usize, Cut> {
    let mut pos = 0usize;
    let mut skipped = 0u64;
    while count - skipped >= SPLIT_MIN_STRINGS {
        // Learn the average stride from a short single-chain run first.
        let warm = walk(rest, pos, skipped, WARMUP_STRINGS, read_len)?;
        (pos, skipped) = (warm, skipped + WARMUP_STRINGS);
        match split_walk(rest, pos, skipped, count - skipped, read_len) {
            Some((next, done)) => (pos, skipped) = (next, skipped + done),
            None => break,
        }
    }
    walk(rest, pos, skipped, count - skipped, read_len)
}

/// Arrays shorter than this are walked by one chain: a split costs a guess and a probe. (Small
/// under Miri, so that its tests cross splits at an affordable size.)
const SPLIT_MIN_STRINGS: u64 = if cfg!(miri) { 64 } else { 8192 };
/// Strings walked by one chain before each split, to estimate the average stride.
const WARMUP_STRINGS: u64 = if cfg!(miri) { 16 } else { 512 };
/// A length above this does not look like a vocabulary string's when guessing a boundary.
const PLAUSIBLE_LEN: u64 = 1 << 12;
/// How far past the guessed position to look for a plausible boundary.
const PROBE_BYTES: usize = 512;

/// One chain: walks `count` strings from `pos`, `skipped` already behind it (for the [`Cut`]).
#[inline(always)]
fn walk(
    rest: &[u8],
    mut pos: usize,
    skipped: u64,
    count: u64,
    read_len: impl Fn([u8; 8]) -> u64,
) -> core::result::Result<usize, Cut> {
    let total = rest.len();
    for done in 0..count {
        let Some(prefix) = rest.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
            return Err(Cut {
                skipped: skipped + done,
                next: pos,
                at: pos,
                len: 8,
            });
        };
        let len = read_len(*prefix);
        let body = pos + 8; // ok: the prefix ends inside `rest`
        match usize::try_from(len).ok().and_then(|n| body.checked_add(n)) {
            Some(next) if next <= total => pos = next,
            _ => {
                return Err(Cut {
                    skipped: skipped + done,
                    next: pos,
                    at: body,
                    len,
                })
            }
        }
    }
    Ok(pos)
}

/// The position after the string whose prefix is at `pos`, if it fits in `rest`.
#[inline(always)]
fn step(rest: &[u8], pos: usize, read_len: impl Fn([u8; 8]) -> u64) -> Option<usize> {
    let len = read_len(*rest.get(pos..)?.first_chunk::<8>()?);
    let next = (pos + 8).checked_add(usize::try_from(len).ok()?)?; // ok: pos + 8 <= len()
    (next <= rest.len()).then_some(next)
}

/// Runs the trusted chain from `pos` and a second chain from a guessed boundary in lockstep,
/// with `left` strings still to skip; returns the position reached and the strings passed:
/// both chains' when the trusted one landed on the guess, its own otherwise. `None` when no
/// boundary was found to guess.
///
/// The guess sits at about 45% of the bytes the remaining strings should span (or of the
/// input left, if shorter), at the first offset from which three lengths in a row look like
/// short strings. Each chain takes at most `left / 2` steps, so a confirmed second chain
/// never walks past the array's end. A failed step ends the round; the trusted chain's
/// failure is met again, and reported, by the single-chain walk that follows.
#[inline(always)]
fn split_walk(
    rest: &[u8],
    pos: usize,
    skipped: u64,
    left: u64,
    read_len: impl Fn([u8; 8]) -> u64 + Copy,
) -> Option<(usize, u64)> {
    let stride = pos / usize::try_from(skipped).ok()?.max(1);
    // Where the strings should end, or the end of the input if that comes first (a prefix of
    // the file, being parsed as it arrives).
    let span = usize::try_from(left)
        .ok()
        .and_then(|n| n.checked_mul(stride))
        .unwrap_or(usize::MAX)
        .min(rest.len() - pos); // ok: the warm-up walk left pos <= len()
    let guess = pos + span / 100 * 45; // ok: at most rest.len()
    let plausible = |at: usize| {
        rest.get(at..)
            .and_then(|r| r.first_chunk::<8>())
            .is_some_and(|p| read_len(*p) <= PLAUSIBLE_LEN)
    };
    let start = (guess..guess.saturating_add(PROBE_BYTES)).find(|&at| {
        let mut p = at;
        (0..3).all(|_| {
            let ok = plausible(p);
            p = if ok {
                step(rest, p, read_len).unwrap_or(usize::MAX)
            } else {
                usize::MAX
            };
            ok
        })
    })?;
    let (mut a, mut b) = (pos, start);
    let mut steps = 0u64;
    let limit = left / 2;
    while a < start && steps < limit {
        // Two independent loads per round: the core overlaps them.
        let (Some(na), Some(nb)) = (step(rest, a, read_len), step(rest, b, read_len)) else {
            break;
        };
        (a, b) = (na, nb);
        steps += 1;
    }
    // Met: both chains' strings count. Otherwise only the trusted chain's do.
    Some(if a == start {
        (b, 2 * steps)
    } else {
        (a, steps)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le_strings(items: &[&[u8]]) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec::Vec::new();
        for s in items {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s);
        }
        out
    }

    #[test]
    fn reads_numbers_in_both_orders() {
        let data = [1, 0, 0, 0, 0, 0, 0, 1];
        let mut le = Cursor::new(&data, 0, Endian::Little, Section::Header);
        assert_eq!(le.u32().unwrap(), 1);
        let mut be = Cursor::new(&data, 0, Endian::Big, Section::Header);
        assert_eq!(be.u64().unwrap(), (1 << 56) | 1);
    }

    #[test]
    fn short_reads_say_how_much_is_needed() {
        let data = [0u8; 6];
        let mut c = Cursor::new(&data, 2, Endian::Little, Section::Metadata);
        assert_eq!(
            c.u64(),
            Err(Error::Truncated {
                section: Section::Metadata,
                needed: 10,
                have: 6,
                within: Name::NONE
            })
        );
        assert_eq!(c.pos(), 2);
        assert!(matches!(
            c.take(u64::MAX),
            Err(Error::LengthOverflow { .. })
        ));
    }

    #[test]
    fn skip_strings_walks_and_reports_the_failing_string() {
        let data = le_strings(&[b"a", b"", b"xyz"]);
        let mut c = Cursor::new(&data, 0, Endian::Little, Section::Metadata);
        c.skip_strings(3, None).unwrap();
        assert_eq!(c.pos(), data.len());

        let mut bad = le_strings(&[b"ab"]);
        bad.extend_from_slice(&100u64.to_le_bytes());
        bad.extend_from_slice(b"short");
        let mut c = Cursor::new(&bad, 0, Endian::Little, Section::Metadata);
        assert_eq!(
            c.skip_strings(2, None),
            Err(Error::Truncated {
                section: Section::Metadata,
                needed: 18 + 100,
                have: 23,
                within: Name::NONE
            })
        );
    }

    #[test]
    fn a_cut_skip_resumes_where_it_stopped() {
        let data = le_strings(&[b"one", b"two", b"three", b"four"]);
        let mut resume = Resume::default();
        let short = &data[..33];
        let mut c = Cursor::new(short, 0, Endian::Little, Section::Metadata);
        assert!(matches!(
            c.skip_strings(4, Some(&mut resume)),
            Err(Error::Truncated { needed: 35, .. })
        ));
        assert_eq!(resume, Resume { done: 2, pos: 22 });
        let mut c = Cursor::new(&data, 0, Endian::Little, Section::Metadata);
        c.skip_strings(4, Some(&mut resume)).unwrap();
        assert_eq!(c.pos(), data.len());
    }

    /// Strings of lengths drawn by `len` from a xorshift state, with text that imitates length
    /// prefixes (a byte then seven zeros) to mislead the guessed second chain.
    fn vocabulary(count: usize, seed: u64, len: impl Fn(u64) -> usize) -> alloc::vec::Vec<u8> {
        let mut state = seed | 1;
        let mut out = alloc::vec::Vec::new();
        for _ in 0..count {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = len(state);
            out.extend_from_slice(&(n as u64).to_le_bytes());
            let fake = [(state >> 8) as u8 & 0x1f, 0, 0, 0, 0, 0, 0, 0];
            out.extend((0..n).map(|i| fake.get(i % 11).copied().unwrap_or(b'a')));
        }
        out
    }

    /// What a single chain says: the reference for the split walk.
    fn one_chain(rest: &[u8], count: u64) -> core::result::Result<usize, (u64, usize, usize, u64)> {
        walk(rest, 0, 0, count, u64::from_le_bytes).map_err(|c| (c.skipped, c.next, c.at, c.len))
    }

    fn split(rest: &[u8], count: u64) -> core::result::Result<usize, (u64, usize, usize, u64)> {
        skip_strings_with(rest, count, u64::from_le_bytes)
            .map_err(|c| (c.skipped, c.next, c.at, c.len))
    }

    #[test]
    fn the_split_walk_agrees_with_one_chain() {
        type Shape = (&'static str, fn(u64) -> usize);
        let shapes: [Shape; 5] = [
            ("short", |r| (r % 12) as usize),
            ("empty", |_| 0),
            ("wide", |r| (r % 300) as usize),
            ("mostly short, some long", |r| {
                if r % 97 == 0 {
                    5000
                } else {
                    (r % 9) as usize
                }
            }),
            ("same length", |_| 7),
        ];
        for (name, len) in shapes {
            let min = SPLIT_MIN_STRINGS as usize;
            for (count, seed) in [(min - 1, 1), (min, 2), (min * 5 / 2, 3), (min * 8 + 1, 4)] {
                let data = vocabulary(count, seed, len);
                let mut with_tail = data.clone();
                with_tail.extend_from_slice(&[0xff; 64]); // what follows the array
                for n in [count as u64, count as u64 / 2, count as u64 - 1] {
                    assert_eq!(
                        split(&with_tail, n),
                        one_chain(&with_tail, n),
                        "{name} {count} {n}"
                    );
                }
                // Every kind of cut: prefixes ending inside prefixes and inside text.
                for cut in [
                    data.len() / 3,
                    data.len() / 2 + 3,
                    data.len() - 1,
                    data.len() - 9,
                ] {
                    let prefix = &data[..cut];
                    assert_eq!(
                        split(prefix, count as u64),
                        one_chain(prefix, count as u64),
                        "{name} {count} cut at {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_second_chain_counts_when_the_chains_meet() {
        let count = SPLIT_MIN_STRINGS * 5 / 2;
        let data = vocabulary(count as usize, 5, |r| (r % 12) as usize);
        let warm = walk(&data, 0, 0, WARMUP_STRINGS, u64::from_le_bytes).unwrap();
        let left = count - WARMUP_STRINGS;
        let (pos, done) =
            split_walk(&data, warm, WARMUP_STRINGS, left, u64::from_le_bytes).unwrap();
        // More strings passed than one chain could in its `left / 2` steps: the guess held.
        assert!(done > left / 2, "{done} of {left}");
        assert_eq!(
            Ok(pos),
            walk(&data, 0, 0, WARMUP_STRINGS + done, u64::from_le_bytes).map_err(|_| ())
        );
    }

    #[test]
    fn the_split_walk_survives_lengths_that_lie() {
        // A second chain guessed into a region of huge or wrapping lengths must fail harmlessly.
        let count = SPLIT_MIN_STRINGS * 4;
        let mut data = vocabulary(count as usize, 9, |r| (r % 10) as usize);
        let (middle, eighth) = (data.len() / 2, data.len() / 8);
        for (i, b) in data[middle..middle + eighth].iter_mut().enumerate() {
            *b = if i % 8 == 7 { 0xff } else { 0 };
        }
        for n in [count, count - 1, count / 2] {
            assert_eq!(split(&data, n), one_chain(&data, n));
        }
    }

    #[test]
    fn huge_counts_fail_before_looping() {
        let data = [0u8; 16];
        let c = Cursor::new(&data, 0, Endian::Little, Section::Metadata);
        assert!(matches!(
            c.ensure_room(u64::MAX, 8),
            Err(Error::LengthOverflow { .. })
        ));
        assert_eq!(
            c.ensure_room(3, 8),
            Err(Error::Truncated {
                section: Section::Metadata,
                needed: 24,
                have: 16,
                within: Name::NONE
            })
        );
    }
}
