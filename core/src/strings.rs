//! The strings of a string array (a tokenizer's vocabulary, its merges), each checked for
//! UTF-8 as it is yielded, with one SIMD validation per window of many strings.

use crate::cursor::Cursor;
use crate::error::{Error, Name, Result, Section};
use crate::format::Endian;

/// Iterator over the strings of a string array ([`crate::Array::strings`]), validating each as
/// UTF-8 as it yields it.
///
/// Validation runs over windows of the array's bytes, length prefixes included: one SIMD check
/// proves a whole window valid UTF-8, and each string inside it is then a constant-time slice
/// of the checked text (`str::get`, which only checks that the string starts and ends on
/// character boundaries). Length prefixes are small little- or big-endian numbers, mostly zero
/// bytes, so they rarely break a window; where one does (a byte of 0x80 or more followed by a
/// zero), the window ends there and the next one starts at the next string. A string the
/// windows cannot vouch for is checked on its own, so the result is exactly that of checking
/// each string separately. The first invalid string is reported as [`Error::ElementNotUtf8`]
/// and ends the iteration; the strings before it are yielded normally.
///
/// Every byte is read once per check: a window is never re-validated, so even bytes that
/// change while they are read (a mapping of a file being rewritten) cannot make the iterator
/// panic or yield a `&str` it did not check.
#[derive(Clone)]
pub struct Strings<'data> {
    /// The array's elements, from byte `base` of the file.
    data: &'data [u8],
    base: usize,
    endian: Endian,
    key: &'data [u8],
    /// Where the next string's length prefix is in `data`.
    pos: usize,
    left: u64,
    index: u64,
    window: Window<'data>,
}

/// Checked text: `text` is `data[start..start + text.len()]`.
#[derive(Clone, Copy)]
struct Window<'data> {
    text: &'data str,
    start: usize,
    /// Bytes the next window spans: doubled after a clean window, reset after a cut one.
    size: usize,
}

/// Window sizes. Under Miri, which runs the SIMD validation thousands of times slower, small
/// windows let tests cross many of them cheaply.
const MIN_WINDOW: usize = if cfg!(miri) { 64 } else { 4 * 1024 };
const MAX_WINDOW: usize = if cfg!(miri) { 512 } else { 256 * 1024 };

impl<'data> Window<'data> {
    /// The string at `start..end` of the array's bytes, if this window covers it.
    #[inline(always)]
    fn get(&self, start: usize, end: usize) -> Option<&'data str> {
        // Below the window, the positions wrap around to huge ones, which `get` refuses.
        let from = start.wrapping_sub(self.start);
        let to = end.wrapping_sub(self.start);
        self.text.get(from..to)
    }

    /// A new window of `data` starting at `start` and covering at least up to `end`.
    fn refill(self, data: &'data [u8], start: usize, end: usize) -> Self {
        let mut stop = start.saturating_add(self.size).min(data.len());
        // End the window before a character, not inside one: while the byte after it continues
        // a character, back off (at most three bytes), never below the string to cover.
        for _ in 0..3 {
            match data.get(stop) {
                Some(b) if stop > end && (0x80..0xC0).contains(b) => stop -= 1,
                _ => break,
            }
        }
        let span = data.get(start..stop.max(end)).unwrap_or(&[]);
        match simdutf8::basic::from_utf8(span) {
            Ok(text) => Window {
                text,
                start,
                size: (self.size * 2).min(MAX_WINDOW),
            },
            Err(_) => {
                // Keep the valid part, so the strings before the break still come out fast.
                // A second read of the same bytes may disagree with the first if they change
                // meanwhile: then the window is simply empty.
                let valid = match core::str::from_utf8(span) {
                    Ok(text) => text.len(),
                    Err(e) => e.valid_up_to(),
                };
                let text = span
                    .get(..valid)
                    .and_then(|v| core::str::from_utf8(v).ok())
                    .unwrap_or("");
                Window {
                    text,
                    start,
                    size: MIN_WINDOW,
                }
            }
        }
    }
}

impl<'data> Strings<'data> {
    pub(crate) fn new(cur: Cursor<'data>, left: u64, key: &'data [u8]) -> Self {
        Strings {
            data: cur.data(),
            base: cur.base(),
            endian: cur.endian,
            key,
            pos: cur.pos(),
            left,
            index: 0,
            window: Window {
                text: "",
                start: 0,
                size: MIN_WINDOW,
            },
        }
    }

    /// The next string when its text lies inside the checked window (its length prefix is
    /// read from the array's bytes): the common case, kept small so that it inlines into the
    /// caller's loop. Files in the host's byte order only, so that no byte swap sits on the
    /// chain of loads from one length to the next; others take the slow path.
    #[inline(always)]
    fn next_in_window(&mut self) -> Option<&'data str> {
        if self.endian != Endian::HOST {
            return None;
        }
        let prefix = self.data.get(self.pos..)?.first_chunk::<8>()?;
        let len = usize::try_from(u64::from_ne_bytes(*prefix)).ok()?;
        let start = self.pos + 8; // ok: the prefix ends inside `data`
        let end = start.checked_add(len)?;
        let text = self.window.get(start, end)?;
        self.pos = end;
        Some(text)
    }
}

/// Where the slow path reads: the array's bytes and how to name it in errors.
#[derive(Clone, Copy)]
struct Source<'data> {
    data: &'data [u8],
    base: usize,
    endian: Endian,
    key: &'data [u8],
    index: u64,
}

/// The next string the slow way: read with all checks, from a new window if need be. It takes
/// and returns the iterator's state by value (no reference to the iterator), so that the
/// state can live in registers in the caller's loop.
#[cold]
#[inline(never)]
fn next_slow<'data>(
    it: Source<'data>,
    pos: usize,
    window: Window<'data>,
) -> (Result<&'data str>, usize, Window<'data>) {
    let mut cur = Cursor::new(it.data, pos, it.endian, Section::Metadata).with_base(it.base);
    let bytes = match cur.string() {
        Ok(bytes) => bytes,
        Err(e) => return (Err(e), cur.pos(), window),
    };
    let end = cur.pos();
    let start = end - bytes.len(); // ok: the string's bytes end at the cursor
    if let Some(text) = window.get(start, end) {
        return (Ok(text), end, window);
    }
    let window = window.refill(it.data, start, end);
    if let Some(text) = window.get(start, end) {
        return (Ok(text), end, window);
    }
    // A window starting at this string breaks inside it: check the string alone.
    let item = core::str::from_utf8(bytes).map_err(|_| Error::ElementNotUtf8 {
        key: Name::new(it.key),
        index: it.index,
        offset: it.base.saturating_add(start) as u64,
    });
    (item, end, window)
}

impl<'data> Iterator for Strings<'data> {
    type Item = Result<&'data str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let item = match self.next_in_window() {
            Some(text) => Ok(text),
            None => {
                let source = Source {
                    data: self.data,
                    base: self.base,
                    endian: self.endian,
                    key: self.key,
                    index: self.index,
                };
                let (item, pos, window) = next_slow(source, self.pos, self.window);
                (self.pos, self.window) = (pos, window);
                item
            }
        };
        self.index += 1;
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // An error ends the iteration early, so only the upper bound is known.
        (0, usize::try_from(self.left).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Section;
    use crate::format::Endian;
    use alloc::vec::Vec;

    fn body(items: &[Vec<u8>], endian: Endian) -> Vec<u8> {
        let mut out = Vec::new();
        for s in items {
            let len = s.len() as u64;
            out.extend_from_slice(&match endian {
                Endian::Little => len.to_le_bytes(),
                Endian::Big => len.to_be_bytes(),
            });
            out.extend_from_slice(s);
        }
        out
    }

    fn strings(bytes: &[u8], n: usize, endian: Endian) -> Vec<Result<&str>> {
        let cur = Cursor::new(bytes, 0, endian, Section::Metadata).with_base(100);
        Strings::new(cur, n as u64, b"tokens").collect()
    }

    /// What checking each string on its own gives.
    fn expected(items: &[Vec<u8>], base: u64) -> Vec<Result<&str>> {
        let mut out = Vec::new();
        let mut offset = base;
        for (i, s) in items.iter().enumerate() {
            offset += 8;
            match core::str::from_utf8(s) {
                Ok(text) => out.push(Ok(text)),
                Err(_) => {
                    out.push(Err(Error::ElementNotUtf8 {
                        key: Name::new(b"tokens"),
                        index: i as u64,
                        offset,
                    }));
                    break;
                }
            }
            offset += s.len() as u64;
        }
        out
    }

    #[test]
    fn stops_at_the_first_invalid_string() {
        let items = [b"ok".to_vec(), b"\xff\xfe".to_vec(), b"fine".to_vec()];
        let bytes = body(&items, Endian::Little);
        assert_eq!(strings(&bytes, 3, Endian::Little), expected(&items, 100));
    }

    #[test]
    fn long_strings_and_prefix_bytes_above_0x80_do_not_hide_invalid_ones() {
        // 200 = 0xC8: its prefix byte followed by a zero is not UTF-8 and cuts the window.
        let long = alloc::vec![b'x'; 200];
        let mut items = Vec::new();
        for i in 0..300 {
            items.push(alloc::format!("t{i}é").into_bytes());
            if i % 37 == 0 {
                items.push(long.clone());
            }
        }
        // A string ending in a lead byte whose continuation would be the next prefix (0x80).
        items.push(b"ab\xc3".to_vec());
        items.push(alloc::vec![b'y'; 0x80]);
        for endian in [Endian::Little, Endian::Big] {
            let bytes = body(&items, endian);
            assert_eq!(strings(&bytes, items.len(), endian), expected(&items, 100));
        }
    }

    proptest::proptest! {
        /// The windowed check agrees with checking each string on its own.
        #[test]
        fn windowed_check_matches_per_string_validation(
            items in proptest::collection::vec(some_string(), 0..if cfg!(miri) { 40 } else { 300 }),
            big_endian: bool,
        ) {
            let endian = if big_endian { Endian::Big } else { Endian::Little };
            let bytes = body(&items, endian);
            proptest::prop_assert_eq!(strings(&bytes, items.len(), endian), expected(&items, 100));
        }
    }

    fn some_string() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            8 => "[a-z<>▁]{0,12}".prop_map(alloc::string::String::into_bytes),
            2 => ".{0,300}".prop_map(alloc::string::String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..6),
            1 => proptest::collection::vec(0x80u8..0xC0, 0..3),
        ]
    }

    #[test]
    fn long_vocabularies_cross_windows() {
        // Under Miri (512-byte windows), fewer strings still cross many windows.
        let n = if cfg!(miri) { 300 } else { 40_000 };
        let items: Vec<Vec<u8>> = (0..n)
            .map(|i| alloc::format!("tok{i}é").into_bytes())
            .collect();
        let bytes = body(&items, Endian::Little);
        let got = strings(&bytes, n, Endian::Little);
        assert_eq!(got.len(), n);
        assert!(got
            .iter()
            .zip(&items)
            .all(|(g, i)| g.as_ref().unwrap().as_bytes() == &i[..]));
    }
}
