//! The strings of a string array (a tokenizer's vocabulary, its merges), each checked for
//! UTF-8 as it is yielded, with one SIMD validation per window of many strings.

use crate::endian::Endian;
use crate::error::{Error, Name, Result, Section};
use crate::gguf::cursor::Cursor;

/// Iterator over the strings of a string array ([`crate::Array::strings`]), validating each as
/// UTF-8 as it yields it.
///
/// Validation runs over windows of the array's bytes, length prefixes included: one SIMD check
/// proves a whole window valid UTF-8, and each string inside it is then split off the checked
/// text in constant time (`str::get` and `str::split_at_checked`, which only check that the
/// string starts and ends on character boundaries), its length read from the checked text
/// itself. Length prefixes are small little- or big-endian numbers, mostly zero bytes, so
/// they rarely break a window; where one does (a byte of 0x80 or more followed by a
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
    /// Checked text from the next string's length prefix on: `data[pos..checked_end]`, where
    /// `pos = checked_end - checked.len()`. Strings inside it are sliced from it directly.
    checked: &'data str,
    checked_end: usize,
    /// Bytes the next window spans: doubled after a clean window, reset after a cut one.
    window_size: usize,
    /// Strings left, out of `count`.
    left: u64,
    count: u64,
}

/// Window sizes. Under Miri, which runs the SIMD validation thousands of times slower, small
/// windows let tests cross many of them cheaply.
const MIN_WINDOW: usize = if cfg!(miri) { 64 } else { 4 * 1024 };
const MAX_WINDOW: usize = if cfg!(miri) { 512 } else { 256 * 1024 };

/// The longest valid UTF-8 text of `data` from `start`, spanning about `size` bytes and at
/// least up to `end` where that much is valid, and whether all of it was valid.
fn check_window(data: &[u8], start: usize, end: usize, size: usize) -> (&str, bool) {
    let mut stop = start.saturating_add(size).min(data.len());
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
        Ok(text) => (text, true),
        Err(_) => {
            // Keep the valid part, so the strings before the break still come out fast. A
            // second read of the same bytes may disagree with the first if they change
            // meanwhile: then the window is simply empty.
            let valid = match core::str::from_utf8(span) {
                Ok(text) => text.len(),
                Err(e) => e.valid_up_to(),
            };
            let text = span
                .get(..valid)
                .and_then(|v| core::str::from_utf8(v).ok())
                .unwrap_or("");
            (text, false)
        }
    }
}

/// The first string of checked text that starts at a length prefix, and the text after it:
/// the fast path, kept small so that it inlines into the caller's loop. Files in the host's
/// byte order only, so that no byte swap sits on the chain of loads from one length to the
/// next; others take the slow path.
#[inline(always)]
fn split_first(checked: &str) -> Option<(&str, &str)> {
    let prefix = checked.as_bytes().first_chunk::<8>()?;
    let len = usize::try_from(u64::from_ne_bytes(*prefix)).ok()?;
    // Split after the prefix, then after the text: the next position is the text's start
    // plus the length, one addition after the load on the chain from string to string.
    checked.get(8..)?.split_at_checked(len)
}

impl<'data> Strings<'data> {
    pub(crate) fn new(cur: Cursor<'data>, count: u64, key: &'data [u8]) -> Self {
        Strings {
            data: cur.data(),
            base: cur.base(),
            endian: cur.endian,
            key,
            checked: "",
            checked_end: cur.pos(),
            window_size: MIN_WINDOW,
            left: count,
            count,
        }
    }

    /// Where the next string's length prefix is in `data`.
    fn pos(&self) -> usize {
        self.checked_end - self.checked.len() // ok: `checked` ends at `checked_end`
    }

    /// The next string when it lies inside the checked text.
    #[inline(always)]
    fn next_checked(&mut self) -> Option<&'data str> {
        if self.endian != Endian::HOST {
            return None;
        }
        let (text, rest) = split_first(self.checked)?;
        self.checked = rest;
        Some(text)
    }

    /// The next string the slow way: read with all checks, then taken from the checked text
    /// if that holds it (files in the other byte order), else from a new window checked from
    /// its text on, which then holds the strings after it.
    #[cold]
    #[inline(never)]
    fn next_slow(&mut self) -> Result<&'data str> {
        let index = self.count - self.left - 1; // ok: `next` took one from `left`
        let mut cur =
            Cursor::new(self.data, self.pos(), self.endian, Section::Metadata).with_base(self.base);
        let bytes = cur.string()?;
        // Files in the other byte order come here for every string: the checked text, which
        // starts at this string's prefix, usually holds it already.
        if let Some((text, rest)) = self
            .checked
            .get(8..)
            .and_then(|c| c.split_at_checked(bytes.len()))
        {
            self.checked = rest;
            return Ok(text);
        }
        let end = cur.pos();
        let start = end - bytes.len(); // ok: the string's bytes end at the cursor
        let (window, clean) = check_window(self.data, start, end, self.window_size);
        self.window_size = if clean {
            (self.window_size * 2).min(MAX_WINDOW)
        } else {
            MIN_WINDOW
        };
        let (text, checked) = match window.split_at_checked(bytes.len()) {
            Some((text, rest)) => (Ok(text), rest),
            // A window starting at this string breaks inside it: check the string alone.
            None => {
                let text = core::str::from_utf8(bytes).map_err(|_| Error::ElementNotUtf8 {
                    key: Name::new(self.key),
                    index,
                    offset: self.base.saturating_add(start) as u64,
                });
                (text, "")
            }
        };
        self.checked = checked;
        self.checked_end = end + checked.len(); // ok: `checked` lies in `data` after `end`
        text
    }
}

impl<'data> Iterator for Strings<'data> {
    type Item = Result<&'data str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let item = match self.next_checked() {
            Some(text) => Ok(text),
            None => self.next_slow(),
        };
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }

    /// Runs of strings inside the checked text are walked with the state in locals, so the
    /// loop carries nothing but the text left and the count.
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            if self.endian == Endian::HOST {
                let (mut checked, mut left) = (self.checked, self.left);
                while left > 0 {
                    let Some((text, rest)) = split_first(checked) else {
                        break;
                    };
                    (checked, left) = (rest, left - 1);
                    acc = f(acc, Ok(text));
                }
                (self.checked, self.left) = (checked, left);
            }
            match self.next() {
                Some(item) => acc = f(acc, item),
                None => return acc,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // An error ends the iteration early, so only the upper bound is known.
        (0, usize::try_from(self.left).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endian::Endian;
    use crate::error::Section;
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

    /// The strings read both ways, one at a time and by `fold`, which must agree.
    fn strings(bytes: &[u8], n: usize, endian: Endian) -> Vec<Result<&str>> {
        let cur = Cursor::new(bytes, 0, endian, Section::Metadata).with_base(100);
        let it = Strings::new(cur, n as u64, b"tokens");
        let folded = it.clone().fold(Vec::new(), |mut v, s| {
            v.push(s);
            v
        });
        let one_by_one: Vec<_> = it.collect();
        assert_eq!(folded, one_by_one);
        one_by_one
    }

    #[test]
    fn fold_resumes_after_a_partial_walk() {
        let (n, taken) = if cfg!(miri) { (300, 123) } else { (5000, 1234) };
        let items: Vec<Vec<u8>> = (0..n)
            .map(|i| alloc::format!("t{i}").into_bytes())
            .collect();
        for endian in [Endian::Little, Endian::Big] {
            let bytes = body(&items, endian);
            let cur = Cursor::new(&bytes, 0, endian, Section::Metadata);
            let mut it = Strings::new(cur, items.len() as u64, b"tokens");
            let first: Vec<_> = it.by_ref().take(taken).map(Result::unwrap).collect();
            let rest = it.fold(Vec::new(), |mut v, s| {
                v.push(s.unwrap());
                v
            });
            let all: Vec<&[u8]> = first.iter().chain(&rest).map(|s| s.as_bytes()).collect();
            assert_eq!(all, items.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
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

    proptest::proptest! {
        /// Cut anywhere (inside a prefix or a string) and asked for more strings than there
        /// are, the iterator stops at the same string with the same error either way it runs.
        #[test]
        fn truncated_arrays_end_alike_one_by_one_and_by_fold(
            items in proptest::collection::vec(some_string(), 0..if cfg!(miri) { 20 } else { 200 }),
            cut: proptest::sample::Index,
            extra in 0usize..3,
            big_endian: bool,
        ) {
            let endian = if big_endian { Endian::Big } else { Endian::Little };
            let mut bytes = body(&items, endian);
            bytes.truncate(cut.index(bytes.len() + 1));
            let got = strings(&bytes, items.len() + extra, endian);
            if let Some(Err(e)) = got.last() {
                proptest::prop_assert!(
                    matches!(e, Error::Truncated { .. } | Error::ElementNotUtf8 { .. }),
                    "{e:?}"
                );
            }
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
