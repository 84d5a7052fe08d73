//! Metadata values, decoded on demand from the file's bytes: scalars, strings that are
//! UTF-8-checked only when read, and arrays whose elements are decoded as they are visited,
//! one [`Value`] at a time or as typed numbers ([`Array::values`], [`Array::as_slice`]).

use core::fmt;
use core::marker::PhantomData;
use core::slice::ChunksExact;

use crate::endian::Endian;
use crate::error::{Error, Name, Result, Section};
use crate::gguf::cursor::{Cursor, Resume};
use crate::gguf::format::{ValueType, MAX_ARRAY_DEPTH};
use crate::gguf::strings::Strings;

/// A string value: its bytes, checked for UTF-8 only when asked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GgufStr<'data> {
    bytes: &'data [u8],
    offset: u64,
    /// The key whose value this is (for errors).
    key: &'data [u8],
}

impl<'data> GgufStr<'data> {
    pub(crate) fn new(bytes: &'data [u8], offset: u64, key: &'data [u8]) -> Self {
        GgufStr { bytes, offset, key }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'data [u8] {
        self.bytes
    }

    /// The string, or [`Error::StringNotUtf8`] naming its key and offset.
    pub fn to_str(&self) -> Result<&'data str> {
        core::str::from_utf8(self.bytes).map_err(|_| Error::StringNotUtf8 {
            key: Name::new(self.key),
            offset: self.offset,
        })
    }

    /// Absolute offset of the first byte in the file.
    pub fn offset(&self) -> u64 {
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
pub enum Value<'data> {
    Uint8(u8),
    Int8(i8),
    Uint16(u16),
    Int16(i16),
    Uint32(u32),
    Int32(i32),
    Float32(f32),
    Bool(bool),
    String(GgufStr<'data>),
    Array(Array<'data>),
    Uint64(u64),
    Int64(i64),
    Float64(f64),
}

impl<'data> Value<'data> {
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
    pub fn as_str(&self) -> Option<&'data str> {
        match self {
            Value::String(s) => s.to_str().ok(),
            _ => None,
        }
    }

    /// An array value.
    pub fn as_array(&self) -> Option<Array<'data>> {
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
/// Fixed-size elements are decoded by index in O(1), or all at once as typed numbers
/// ([`values`](Self::values), [`as_slice`](Self::as_slice)); strings are validated in windows
/// ([`strings`](Self::strings)); nested arrays are walked.
#[derive(Clone, Copy, PartialEq)]
pub struct Array<'data> {
    elem: ValueType,
    len: u64,
    bytes: &'data [u8],
    /// Absolute offset of the first element (a position in header bytes held in memory).
    offset: usize,
    endian: Endian,
    /// Nesting level of the elements (1 for the elements of a top-level array).
    depth: u8,
    /// The key whose value this is (for errors).
    key: &'data [u8],
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

impl<'data> Array<'data> {
    /// A top-level array whose elements are `bytes`, starting at file offset `offset`.
    #[cfg(feature = "alloc")]
    pub(crate) fn from_parts(
        elem: ValueType,
        len: u64,
        bytes: &'data [u8],
        offset: usize,
        endian: Endian,
        key: &'data [u8],
    ) -> Self {
        Array {
            elem,
            len,
            bytes,
            offset,
            endian,
            depth: 1,
            key,
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
    pub fn raw_bytes(&self) -> &'data [u8] {
        self.bytes
    }

    /// Absolute offset of the first element in the file.
    pub fn offset(&self) -> u64 {
        self.offset as u64
    }

    /// Byte order of the elements.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// Element `index`: O(1) for fixed-size types, a walk for strings and nested arrays.
    pub fn get(&self, index: u64) -> Option<Value<'data>> {
        if index >= self.len {
            return None;
        }
        match self.elem.fixed_size() {
            Some(size) => {
                let start = usize::try_from(index.checked_mul(size)?).ok()?;
                let mut cur = self.cursor();
                cur.take(start as u64).ok()?;
                read_scalar(&mut cur, self.elem, self.key).ok()
            }
            None => self.iter().nth(usize::try_from(index).ok()?)?.ok(),
        }
    }

    /// Every element in order, as a [`Value`] each.
    pub fn iter(&self) -> ArrayIter<'data> {
        ArrayIter {
            cur: self.cursor(),
            elem: self.elem,
            left: self.len,
            depth: self.depth,
            key: self.key,
        }
    }

    /// The elements as numbers of type `T`, decoded in the file's byte order; `None` unless
    /// the elements are `T` (`Float32` for `f32`, `Int32` for `i32`, `Bool` for `bool`…).
    ///
    /// ```
    /// # let file = weightmap_core::testing::sample_file();
    /// use weightmap_core::GgufView;
    /// let gguf = GgufView::parse(&file)?;
    /// let scores = gguf.get("test.scores").and_then(|v| v.as_array()).unwrap();
    /// let sum: f32 = scores.values::<f32>().unwrap().sum();
    /// assert_eq!(sum, 0.75);
    /// # Ok::<(), weightmap_core::Error>(())
    /// ```
    pub fn values<T: ArrayElement>(&self) -> Option<Values<'data, T>> {
        (self.elem == T::VALUE_TYPE).then(|| Values {
            chunks: self.bytes.chunks_exact(T::SIZE),
            endian: self.endian,
            _element: PhantomData,
        })
    }

    /// The elements as `&[T]` without copying, when they are `T`, stored in the host's byte
    /// order, and aligned for `T` in memory (GGUF does not align metadata, so an array of
    /// 4-byte numbers is aligned about one time in four: use [`values`](Self::values)
    /// otherwise).
    pub fn as_slice<T: ArrayElement + bytemuck::Pod>(&self) -> Option<&'data [T]> {
        if self.elem != T::VALUE_TYPE || (self.endian != Endian::HOST && T::SIZE > 1) {
            return None;
        }
        bytemuck::try_cast_slice(self.bytes).ok()
    }

    /// The elements of a string array, each checked for UTF-8 as it is yielded; `None` if the
    /// elements are not strings.
    pub fn strings(&self) -> Option<Strings<'data>> {
        (self.elem == ValueType::String).then(|| Strings::new(self.cursor(), self.len, self.key))
    }

    fn cursor(&self) -> Cursor<'data> {
        // The elements' bytes start at `offset` in the file; positions inside `bytes` are
        // shifted by it when reported.
        Cursor::new(self.bytes, 0, self.endian, Section::Metadata).with_base(self.offset)
    }
}

impl<'data> IntoIterator for Array<'data> {
    type Item = Result<Value<'data>>;
    type IntoIter = ArrayIter<'data>;
    fn into_iter(self) -> ArrayIter<'data> {
        self.iter()
    }
}

/// Iterator over an array's elements.
#[derive(Clone)]
pub struct ArrayIter<'data> {
    cur: Cursor<'data>,
    elem: ValueType,
    left: u64,
    depth: u8,
    key: &'data [u8],
}

impl<'data> Iterator for ArrayIter<'data> {
    type Item = Result<Value<'data>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let value = read_value(&mut self.cur, self.elem, self.key, u32::from(self.depth));
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

/// Numbers an array can be read as without a [`Value`] per element: every fixed-size value
/// type has one (`u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `f32`, `bool`, `u64`, `i64`, `f64`).
pub trait ArrayElement: Copy + sealed::Sealed {
    /// The value type whose elements are `Self`.
    const VALUE_TYPE: ValueType;
    /// Bytes per element.
    const SIZE: usize;
    /// Decodes one element from exactly [`SIZE`](Self::SIZE) bytes.
    #[doc(hidden)]
    fn decode(bytes: &[u8], endian: Endian) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! array_elements {
    ($($ty:ty => $vt:ident, $n:literal;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl ArrayElement for $ty {
            const VALUE_TYPE: ValueType = ValueType::$vt;
            const SIZE: usize = $n;
            #[inline(always)]
            fn decode(bytes: &[u8], endian: Endian) -> Self {
                let raw = bytes.first_chunk::<$n>().copied().unwrap_or([0; $n]);
                match endian {
                    Endian::Little => <$ty>::from_le_bytes(raw),
                    Endian::Big => <$ty>::from_be_bytes(raw),
                }
            }
        }
    )*};
}

array_elements! {
    u8 => Uint8, 1;
    i8 => Int8, 1;
    u16 => Uint16, 2;
    i16 => Int16, 2;
    u32 => Uint32, 4;
    i32 => Int32, 4;
    f32 => Float32, 4;
    u64 => Uint64, 8;
    i64 => Int64, 8;
    f64 => Float64, 8;
}

impl sealed::Sealed for bool {}
impl ArrayElement for bool {
    const VALUE_TYPE: ValueType = ValueType::Bool;
    const SIZE: usize = 1;
    #[inline(always)]
    fn decode(bytes: &[u8], _: Endian) -> Self {
        bytes.first().is_some_and(|&b| b != 0)
    }
}

/// The elements of a numeric array decoded as `T` ([`Array::values`]).
#[derive(Clone)]
pub struct Values<'data, T> {
    chunks: ChunksExact<'data, u8>,
    endian: Endian,
    _element: PhantomData<T>,
}

impl<T: ArrayElement> Iterator for Values<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.chunks.next().map(|b| T::decode(b, self.endian))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }

    /// With the byte order decided once, outside the loop, so that it can be vectorised.
    fn fold<B, F: FnMut(B, T) -> B>(self, init: B, mut f: F) -> B {
        match self.endian {
            Endian::Little => self
                .chunks
                .fold(init, |acc, b| f(acc, T::decode(b, Endian::Little))),
            Endian::Big => self
                .chunks
                .fold(init, |acc, b| f(acc, T::decode(b, Endian::Big))),
        }
    }
}

impl<T: ArrayElement> ExactSizeIterator for Values<'_, T> {}

#[inline]
pub(crate) fn read_string<'a>(cur: &mut Cursor<'a>, key: &'a [u8]) -> Result<GgufStr<'a>> {
    let bytes = cur.string()?;
    let offset = cur.absolute_pos().saturating_sub(bytes.len());
    Ok(GgufStr::new(bytes, offset as u64, key))
}

#[inline]
fn read_scalar<'a>(cur: &mut Cursor<'a>, ty: ValueType, key: &'a [u8]) -> Result<Value<'a>> {
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
        ValueType::String => Value::String(read_string(cur, key)?),
        ValueType::Array => return read_array(cur, key, 0, None).map(Value::Array),
    })
}

/// Reads one value of type `ty` at the cursor, walking (and so validating the extent of)
/// arrays. `key` names the entry in errors; `depth` is the nesting level of the value.
#[inline]
pub(crate) fn read_value<'a>(
    cur: &mut Cursor<'a>,
    ty: ValueType,
    key: &'a [u8],
    depth: u32,
) -> Result<Value<'a>> {
    match ty {
        ValueType::Array => read_array(cur, key, depth, None).map(Value::Array),
        _ => read_scalar(cur, ty, key),
    }
}

/// [`read_value`] for a metadata entry's value: a string array cut short by the end of the
/// input records in `resume` how far it got, and goes on from there next time.
pub(crate) fn read_entry_value<'a>(
    cur: &mut Cursor<'a>,
    ty: ValueType,
    key: &'a [u8],
    resume: &mut Resume,
) -> Result<Value<'a>> {
    match ty {
        ValueType::Array => read_array(cur, key, 0, Some(resume)).map(Value::Array),
        _ => read_scalar(cur, ty, key),
    }
}

/// Reads an array header (element type, count) and walks its elements.
fn read_array<'a>(
    cur: &mut Cursor<'a>,
    key: &'a [u8],
    depth: u32,
    resume: Option<&mut Resume>,
) -> Result<Array<'a>> {
    let start = cur.absolute_pos() as u64;
    if depth >= MAX_ARRAY_DEPTH {
        return Err(Error::NestingTooDeep {
            key: Name::new(key),
            offset: start,
        });
    }
    let type_id = cur.u32()?;
    let elem = ValueType::from_id(type_id).ok_or(Error::UnknownValueType {
        key: Name::new(key),
        type_id,
        offset: start,
    })?;
    let len = cur.u64()?;
    cur.ensure_room(len, elem.min_size())?;
    let first = cur.pos();
    match elem.fixed_size() {
        Some(size) => {
            // ensure_room proved len * size fits in the remaining bytes.
            cur.take(len.saturating_mul(size))?;
        }
        None if elem == ValueType::String => cur.skip_strings(len, resume)?,
        None => {
            for _ in 0..len {
                read_array(cur, key, depth + 1, None)?;
            }
        }
    }
    Ok(Array {
        elem,
        len,
        bytes: cur.data().get(first..cur.pos()).unwrap_or(&[]),
        offset: cur.base().saturating_add(first),
        endian: cur.endian,
        // ok: depth < MAX_ARRAY_DEPTH = 16
        depth: depth as u8 + 1,
        key,
    })
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
        read_array(&mut cur, b"k", 0, None)
    }

    #[test]
    fn fixed_arrays_index_in_place_and_decode_typed() {
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
        let typed: Vec<f32> = a.values::<f32>().unwrap().collect();
        assert_eq!(typed, [1.5, -2.0, 0.25]);
        assert_eq!(a.values::<f32>().unwrap().len(), 3);
        assert!(a.values::<i32>().is_none(), "wrong element type");
        assert!(a.values::<u32>().is_none(), "wrong element type");
    }

    #[test]
    fn typed_values_follow_the_byte_order() {
        let body = [0u8, 1, 0, 2];
        let big = Array {
            elem: ValueType::Int16,
            len: 2,
            bytes: &body,
            offset: 0,
            endian: Endian::Big,
            depth: 1,
            key: b"k",
        };
        assert_eq!(big.values::<i16>().unwrap().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(
            big.as_slice::<i16>(),
            None,
            "foreign byte order is not viewed"
        );
        let flags = array_bytes(7, 3, &[0, 1, 0xFF]);
        let a = parse(&flags).unwrap();
        assert_eq!(
            a.values::<bool>().unwrap().collect::<Vec<_>>(),
            [false, true, true]
        );
        assert_eq!(a.as_slice::<u8>(), None, "bool elements are not u8");
        let bytes = array_bytes(0, 3, &[4, 5, 6]);
        assert_eq!(
            parse(&bytes).unwrap().as_slice::<u8>(),
            Some(&[4u8, 5, 6][..])
        );
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

    #[test]
    fn invalid_strings_name_their_key() {
        let mut body = Vec::new();
        body.extend_from_slice(&2u64.to_le_bytes());
        body.extend_from_slice(b"\xff\xfe");
        let mut cur = Cursor::new(&body, 0, Endian::Little, Section::Metadata);
        let s = read_string(&mut cur, b"general.name").unwrap();
        assert_eq!(
            s.to_str(),
            Err(Error::StringNotUtf8 {
                key: Name::new(b"general.name"),
                offset: 8
            })
        );
    }
}
