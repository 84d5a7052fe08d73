//! A bounds-checked reading cursor over the file's bytes, in the file's byte order.
//!
//! Every read either returns data inside the slice or a [`Error::Truncated`] that says how many
//! bytes the read needed, so a caller holding only a prefix of a file learns how much to fetch.

use crate::error::{Error, Name, Result, Section};
use crate::format::Endian;

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
/// The loop is latency-bound: each string's position depends on loading the previous length.
/// Keeping `pos + 8` off that chain (it is computed while the load is in flight) leaves one
/// load and one add per string.
#[inline(always)]
fn skip_strings_with(
    rest: &[u8],
    count: u64,
    read_len: impl Fn([u8; 8]) -> u64,
) -> core::result::Result<usize, Cut> {
    let total = rest.len();
    let mut pos = 0usize;
    for skipped in 0..count {
        let Some(prefix) = rest.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
            return Err(Cut {
                skipped,
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
                    skipped,
                    next: pos,
                    at: body,
                    len,
                })
            }
        }
    }
    Ok(pos)
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
