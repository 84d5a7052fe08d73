//! Metadata values, decoded on demand from the file's bytes: scalars, strings that are
//! UTF-8-checked only when read, and arrays whose elements are decoded as they are visited.

use core::fmt;

use crate::cursor::{Cursor, Endian};
use crate::error::{Error, Name, Result, Section};

/// How deeply arrays may nest inside arrays before a file is rejected.
pub const MAX_ARRAY_DEPTH: u32 = 16;

/// A GGUF metadata value type (the `gguf_type` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum ValueType {
    Uint8 = 0,
    Int8 = 1,
    Uint16 = 2,
    Int16 = 3,
    Uint32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    Uint64 = 10,
    Int64 = 11,
    Float64 = 12,
}

impl ValueType {
    /// The type with this id, if any.
    pub const fn from_id(id: u32) -> Option<ValueType> {
        Some(match id {
            0 => ValueType::Uint8,
            1 => ValueType::Int8,
            2 => ValueType::Uint16,
            3 => ValueType::Int16,
            4 => ValueType::Uint32,
            5 => ValueType::Int32,
            6 => ValueType::Float32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::Uint64,
            11 => ValueType::Int64,
            12 => ValueType::Float64,
            _ => return None,
        })
    }

    /// The numeric id stored in files.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// The official name (`UINT8`, `STRING`, `ARRAY`…).
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::Uint8 => "UINT8",
            ValueType::Int8 => "INT8",
            ValueType::Uint16 => "UINT16",
            ValueType::Int16 => "INT16",
            ValueType::Uint32 => "UINT32",
            ValueType::Int32 => "INT32",
            ValueType::Float32 => "FLOAT32",
            ValueType::Bool => "BOOL",
            ValueType::String => "STRING",
            ValueType::Array => "ARRAY",
            ValueType::Uint64 => "UINT64",
            ValueType::Int64 => "INT64",
            ValueType::Float64 => "FLOAT64",
        }
    }

    /// Size in bytes of a value of this type, for the fixed-size types.
    pub const fn fixed_size(self) -> Option<u64> {
        match self {
            ValueType::Uint8 | ValueType::Int8 | ValueType::Bool => Some(1),
            ValueType::Uint16 | ValueType::Int16 => Some(2),
            ValueType::Uint32 | ValueType::Int32 | ValueType::Float32 => Some(4),
            ValueType::Uint64 | ValueType::Int64 | ValueType::Float64 => Some(8),
            ValueType::String | ValueType::Array => None,
        }
    }

    /// The fewest bytes one value of this type can occupy (a length or header for the
    /// variable-size types), used to reject counts that cannot fit before looping.
    pub(crate) const fn min_size(self) -> u64 {
        match self.fixed_size() {
            Some(n) => n,
            None if matches!(self, ValueType::String) => 8,
            None => 12,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string value: its bytes, checked for UTF-8 only when asked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GgufStr<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> GgufStr<'a> {
    pub(crate) fn new(bytes: &'a [u8], offset: usize) -> Self {
        GgufStr { bytes, offset }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The string, or [`Error::StringNotUtf8`] naming its offset.
    pub fn to_str(&self) -> Result<&'a str> {
        core::str::from_utf8(self.bytes).map_err(|_| Error::StringNotUtf8 {
            offset: self.offset as u64,
        })
    }

    /// Absolute offset of the first byte in the file.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Debug for GgufStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Ok(s) => fmt::Debug::fmt(s, f),
            Err(_) => write!(f, "{:?}", self.bytes),
        }
    }
}

/// One metadata value.
///
/// `Bool` is true for any non-zero byte, as in C and in the official reader; a file's exact
/// byte is at [`crate::MetadataEntry::value_range`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Value<'a> {
    Uint8(u8),
    Int8(i8),
    Uint16(u16),
    Int16(i16),
    Uint32(u32),
    Int32(i32),
    Float32(f32),
    Bool(bool),
    String(GgufStr<'a>),
    Array(Array<'a>),
    Uint64(u64),
    Int64(i64),
    Float64(f64),
}

impl<'a> Value<'a> {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Uint8(_) => ValueType::Uint8,
            Value::Int8(_) => ValueType::Int8,
            Value::Uint16(_) => ValueType::Uint16,
            Value::Int16(_) => ValueType::Int16,
            Value::Uint32(_) => ValueType::Uint32,
            Value::Int32(_) => ValueType::Int32,
            Value::Float32(_) => ValueType::Float32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::Uint64(_) => ValueType::Uint64,
            Value::Int64(_) => ValueType::Int64,
            Value::Float64(_) => ValueType::Float64,
        }
    }

    /// Any integer value that fits in a `u64` (negative values give `None`).
    pub fn to_u64(&self) -> Option<u64> {
        match *self {
            Value::Uint8(v) => Some(v.into()),
            Value::Uint16(v) => Some(v.into()),
            Value::Uint32(v) => Some(v.into()),
            Value::Uint64(v) => Some(v),
            Value::Int8(v) => u64::try_from(v).ok(),
            Value::Int16(v) => u64::try_from(v).ok(),
            Value::Int32(v) => u64::try_from(v).ok(),
            Value::Int64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer value that fits in an `i64`.
    pub fn to_i64(&self) -> Option<i64> {
        match *self {
            Value::Int8(v) => Some(v.into()),
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => self.to_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// A float value (either width) as `f64`.
    pub fn to_f64(&self) -> Option<f64> {
        match *self {
            Value::Float32(v) => Some(v.into()),
            Value::Float64(v) => Some(v),
            _ => None,
        }
    }

    /// A string value as `&str`; `None` if not a string or not UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            Value::String(s) => s.to_str().ok(),
            _ => None,
        }
    }

    /// An array value.
    pub fn as_array(&self) -> Option<Array<'a>> {
        match self {
            Value::Array(a) => Some(*a),
            _ => None,
        }
    }

    /// A bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// An array value: element type, length and the bytes holding the elements.
///
/// Fixed-size elements are decoded by index in O(1); strings and nested arrays are walked.
#[derive(Clone, Copy, PartialEq)]
pub struct Array<'a> {
    elem: ValueType,
    len: u64,
    bytes: &'a [u8],
    offset: usize,
    endian: Endian,
    depth: u32,
}

impl fmt::Debug for Array<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("elem", &self.elem)
            .field("len", &self.len)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<'a> Array<'a> {
    pub(crate) fn from_parts(
        elem: ValueType,
        len: u64,
        bytes: &'a [u8],
        offset: usize,
        endian: Endian,
        depth: u32,
    ) -> Self {
        Array {
            elem,
            len,
            bytes,
            offset,
            endian,
            depth,
        }
    }

    /// The element type.
    pub fn element_type(&self) -> ValueType {
        self.elem
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes holding the elements (after the element type and count).
    pub fn raw_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Absolute offset of the first element in the file.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Element `index`: O(1) for fixed-size types, a walk for strings and nested arrays.
    pub fn get(&self, index: u64) -> Option<Value<'a>> {
        if index >= self.len {
            return None;
        }
        match self.elem.fixed_size() {
            Some(size) => {
                let start = usize::try_from(index.checked_mul(size)?).ok()?;
                let mut cur = Cursor::new(self.bytes, start, self.endian, Section::Metadata)
                    .with_base(self.offset);
                read_scalar(&mut cur, self.elem).ok()
            }
            None => self.iter().nth(usize::try_from(index).ok()?)?.ok(),
        }
    }

    /// Every element in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            cur: self.cursor(),
            elem: self.elem,
            left: self.len,
            depth: self.depth,
        }
    }

    /// The elements of a string array, each checked for UTF-8 as it is yielded; `None` if the
    /// elements are not strings.
    pub fn strings(&self) -> Option<Strings<'a>> {
        (self.elem == ValueType::String).then(|| Strings::new(self.cursor(), self.len))
    }

    fn cursor(&self) -> Cursor<'a> {
        // The elements' bytes start at `offset` in the file; positions inside `bytes` are
        // shifted by it when reported.
        Cursor::new(self.bytes, 0, self.endian, Section::Metadata).with_base(self.offset)
    }
}

impl<'a> IntoIterator for Array<'a> {
    type Item = Result<Value<'a>>;
    type IntoIter = ArrayIter<'a>;
    fn into_iter(self) -> ArrayIter<'a> {
        self.iter()
    }
}

/// Iterator over an array's elements.
#[derive(Clone)]
pub struct ArrayIter<'a> {
    cur: Cursor<'a>,
    elem: ValueType,
    left: u64,
    depth: u32,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Result<Value<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let value = read_value(&mut self.cur, self.elem, b"", self.depth);
        if value.is_err() {
            self.left = 0;
        }
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // An error ends the iteration early, so only the upper bound is known.
        (0, usize::try_from(self.left).ok())
    }
}

/// Iterator over the strings of a string array, validating each as UTF-8 as it yields it.
///
/// Validation runs over windows of consecutive strings at once: while every length prefix is
/// below 128, the prefixes are ASCII, so one UTF-8 check of the bytes spanning several strings
/// (prefixes included) proves each of them valid, and each `&str` is then a constant-time slice
/// of the checked window. A string longer than 127 bytes ends a window. The first invalid string
/// is reported as [`Error::StringNotUtf8`] and ends the iteration; the strings before it are
/// yielded normally.
#[derive(Clone)]
pub struct Strings<'a> {
    cur: Cursor<'a>,
    left: u64,
    /// Checked text starting at byte `window_start` of the array's bytes.
    window: &'a str,
    window_start: usize,
}

/// How many bytes one validation window spans at most. Under Miri, which runs the SIMD
/// validation thousands of times slower, small windows let tests cross many of them cheaply.
const WINDOW_BYTES: usize = if cfg!(miri) { 512 } else { 64 * 1024 };

impl<'a> Strings<'a> {
    fn new(cur: Cursor<'a>, left: u64) -> Self {
        Strings {
            cur,
            left,
            window: "",
            window_start: 0,
        }
    }

    /// End of the run of strings after `end` (where the current string ends) whose length
    /// prefixes are all ASCII, within `WINDOW_BYTES` of `start`.
    fn window_end(&self, start: usize, end: usize) -> usize {
        let data = self.cur.data();
        let mut pos = end;
        let mut remaining = self.left;
        while remaining > 0 {
            let Some(prefix) = data.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
                break;
            };
            let len = self.cur.endian.u64(*prefix);
            let next = match usize::try_from(len)
                .ok()
                .and_then(|l| pos.checked_add(8)?.checked_add(l))
            {
                Some(next) if len < 128 && next <= data.len() && next - start <= WINDOW_BYTES => {
                    next
                }
                _ => break,
            };
            pos = next;
            remaining -= 1;
        }
        pos
    }

    fn next_str(&mut self) -> Result<&'a str> {
        let s = read_string(&mut self.cur)?;
        let end = self.cur.pos();
        let start = end - s.as_bytes().len(); // ok: the string's bytes end at the cursor
        let window_end = self.window_start + self.window.len();
        if start < self.window_start || end > window_end {
            let data = self.cur.data();
            let span = data.get(start..self.window_end(start, end)).unwrap_or(&[]);
            self.window = match simdutf8::compat::from_utf8(span) {
                Ok(text) => text,
                // Keep the valid part: the strings before the bad one still come out fast.
                Err(e) => span
                    .get(..e.valid_up_to())
                    .and_then(|valid| simdutf8::basic::from_utf8(valid).ok())
                    .unwrap_or(""),
            };
            self.window_start = start;
        }
        match self
            .window
            .get(start - self.window_start..end - self.window_start)
        {
            Some(text) => Ok(text),
            None => s.to_str(), // not inside the checked window: the string itself is invalid
        }
    }
}

impl<'a> Iterator for Strings<'a> {
    type Item = Result<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let item = self.next_str();
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

#[inline]
fn read_string<'a>(cur: &mut Cursor<'a>) -> Result<GgufStr<'a>> {
    let bytes = cur.string()?;
    Ok(GgufStr::new(
        bytes,
        cur.absolute_pos().saturating_sub(bytes.len()),
    ))
}

#[inline]
pub(crate) fn read_scalar<'a>(cur: &mut Cursor<'a>, ty: ValueType) -> Result<Value<'a>> {
    let e = cur.endian;
    Ok(match ty {
        ValueType::Uint8 => Value::Uint8(u8::from_ne_bytes(cur.array()?)),
        ValueType::Int8 => Value::Int8(i8::from_ne_bytes(cur.array()?)),
        ValueType::Bool => Value::Bool(cur.array::<1>()? != [0]),
        ValueType::Uint16 => Value::Uint16(e.u16(cur.array()?)),
        ValueType::Int16 => Value::Int16(e.u16(cur.array()?) as i16),
        ValueType::Uint32 => Value::Uint32(e.u32(cur.array()?)),
        ValueType::Int32 => Value::Int32(e.u32(cur.array()?) as i32),
        ValueType::Float32 => Value::Float32(f32::from_bits(e.u32(cur.array()?))),
        ValueType::Uint64 => Value::Uint64(e.u64(cur.array()?)),
        ValueType::Int64 => Value::Int64(e.u64(cur.array()?) as i64),
        ValueType::Float64 => Value::Float64(f64::from_bits(e.u64(cur.array()?))),
        ValueType::String => Value::String(read_string(cur)?),
        ValueType::Array => return read_array(cur, b"", 0).map(Value::Array),
    })
}

/// Reads one value of type `ty` at the cursor, walking (and so validating the extent of)
/// arrays. `key` names the entry in errors; `depth` is the nesting level of the value.
#[inline]
pub(crate) fn read_value<'a>(
    cur: &mut Cursor<'a>,
    ty: ValueType,
    key: &[u8],
    depth: u32,
) -> Result<Value<'a>> {
    match ty {
        ValueType::Array => read_array(cur, key, depth).map(Value::Array),
        _ => read_scalar(cur, ty),
    }
}

/// Reads an array header (element type, count) and walks its elements.
pub(crate) fn read_array<'a>(cur: &mut Cursor<'a>, key: &[u8], depth: u32) -> Result<Array<'a>> {
    let start = cur.absolute_pos();
    if depth >= MAX_ARRAY_DEPTH {
        return Err(Error::NestingTooDeep {
            key: Name::new(key),
            max: MAX_ARRAY_DEPTH,
            offset: start as u64,
        });
    }
    let type_offset = cur.absolute_pos();
    let type_id = cur.u32()?;
    let elem = ValueType::from_id(type_id).ok_or(Error::UnknownValueType {
        key: Name::new(key),
        type_id,
        offset: type_offset as u64,
    })?;
    let len = cur.u64()?;
    cur.ensure_room(len, elem.min_size())?;
    let first = cur.pos();
    match elem.fixed_size() {
        Some(size) => {
            // ensure_room proved len * size fits in the remaining bytes.
            cur.take(len.saturating_mul(size))?;
        }
        None if elem == ValueType::String => cur.skip_strings(len)?,
        None => {
            for _ in 0..len {
                read_array(cur, key, depth + 1)?;
            }
        }
    }
    let bytes = cur.data().get(first..cur.pos()).unwrap_or(&[]);
    let offset = cur.base().saturating_add(first);
    Ok(Array::from_parts(
        elem,
        len,
        bytes,
        offset,
        cur.endian,
        depth + 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn array_bytes(elem: u32, count: u64, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&elem.to_le_bytes());
        v.extend_from_slice(&count.to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    fn parse(bytes: &[u8]) -> Result<Array<'_>> {
        let mut cur = Cursor::new(bytes, 0, Endian::Little, Section::Metadata);
        read_array(&mut cur, b"k", 0)
    }

    #[test]
    fn fixed_arrays_index_in_place() {
        let body: Vec<u8> = [1.5f32, -2.0, 0.25]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let bytes = array_bytes(6, 3, &body);
        let a = parse(&bytes).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.get(1), Some(Value::Float32(-2.0)));
        assert_eq!(a.get(3), None);
        let all: Vec<_> = a.iter().map(|v| v.unwrap().to_f64().unwrap()).collect();
        assert_eq!(all, [1.5, -2.0, 0.25]);
    }

    #[test]
    fn strings_are_checked_when_read() {
        let mut body = Vec::new();
        for s in [&b"ok"[..], b"\xff\xfe", b"fine"] {
            body.extend_from_slice(&(s.len() as u64).to_le_bytes());
            body.extend_from_slice(s);
        }
        let bytes = array_bytes(8, 3, &body);
        let a = parse(&bytes).unwrap();
        let mut it = a.strings().unwrap();
        assert_eq!(it.next(), Some(Ok("ok")));
        assert_eq!(
            it.next(),
            Some(Err(Error::StringNotUtf8 {
                offset: 12 + 10 + 8
            }))
        );
        assert_eq!(it.next(), None);
    }

    fn string_array(items: &[Vec<u8>]) -> Vec<u8> {
        let mut body = Vec::new();
        for s in items {
            body.extend_from_slice(&(s.len() as u64).to_le_bytes());
            body.extend_from_slice(s);
        }
        array_bytes(8, items.len() as u64, &body)
    }

    fn some_string() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            8 => "[a-z<>▁]{0,12}".prop_map(alloc::string::String::into_bytes),
            2 => ".{0,200}".prop_map(alloc::string::String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..6),
        ]
    }

    proptest::proptest! {
        /// The windowed check agrees with checking each string on its own.
        #[test]
        fn strings_match_per_string_validation(items in proptest::collection::vec(some_string(), 0..if cfg!(miri) { 40 } else { 300 })) {
            let bytes = string_array(&items);
            let a = parse(&bytes).unwrap();
            let mut expected = Vec::new();
            let mut offset = 12;
            for s in &items {
                offset += 8;
                match core::str::from_utf8(s) {
                    Ok(text) => expected.push(Ok(text)),
                    Err(_) => {
                        expected.push(Err(Error::StringNotUtf8 { offset: offset as u64 }));
                        break;
                    }
                }
                offset += s.len();
            }
            let got: Vec<_> = a.strings().unwrap().collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn long_vocabularies_cross_windows() {
        // Under Miri (512-byte windows), fewer strings still cross many windows.
        let n = if cfg!(miri) { 300 } else { 20_000 };
        let items: Vec<Vec<u8>> = (0..n)
            .map(|i| alloc::format!("tok{i}é").into_bytes())
            .collect();
        let bytes = string_array(&items);
        let a = parse(&bytes).unwrap();
        let got: Vec<&str> = a.strings().unwrap().map(|s| s.unwrap()).collect();
        assert_eq!(got.len(), n);
        assert!(got.iter().zip(&items).all(|(g, i)| g.as_bytes() == &i[..]));
    }

    #[test]
    fn nested_arrays_are_walked_and_capped() {
        let inner = array_bytes(0, 2, &[7, 9]);
        let mut body = inner.clone();
        body.extend_from_slice(&inner);
        let bytes = array_bytes(9, 2, &body);
        let a = parse(&bytes).unwrap();
        let second = a.get(1).unwrap().as_array().unwrap();
        assert_eq!(second.get(1), Some(Value::Uint8(9)));

        let mut deep = array_bytes(0, 0, &[]);
        for _ in 0..MAX_ARRAY_DEPTH {
            deep = array_bytes(9, 1, &deep);
        }
        assert!(matches!(parse(&deep), Err(Error::NestingTooDeep { .. })));
    }

    #[test]
    fn counts_that_cannot_fit_fail_without_looping() {
        let bytes = array_bytes(10, 1 << 61, &[0; 8]);
        assert!(matches!(parse(&bytes), Err(Error::LengthOverflow { .. })));
        let bytes = array_bytes(8, 500_000_000, &[0; 8]);
        assert!(matches!(
            parse(&bytes),
            Err(Error::Truncated {
                needed: 4_000_000_012,
                ..
            })
        ));
        let bytes = array_bytes(13, 1, &[0; 8]);
        assert!(matches!(
            parse(&bytes),
            Err(Error::UnknownValueType { type_id: 13, .. })
        ));
    }
}
