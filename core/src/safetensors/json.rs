//! The JSON header, read once in place by serde_json: keys and strings are borrowed from the
//! header when they have no escapes (copied into one side buffer when they do), shapes go into
//! one shared list of dimensions, and nothing is built that the index does not keep.
//!
//! The visitors accept exactly the header the format describes: an object whose
//! `__metadata__` is an object of strings (or `null`) and whose other keys map to objects with
//! `dtype` (a string), `shape` (non-negative integers) and `data_offsets` (two of them); other
//! fields of a tensor entry are ignored, as the reference does. Where the reference's serde
//! derive also accepts other spellings (an entry as an array, a dtype as `{"F32": null}`),
//! this parser refuses them: the format does not define them and no writer makes them.
//!
//! Errors say what was expected where: each visitor notes its context before it reads a value,
//! and a failure it finds itself is kept typed beside the serde error that stops the parse.
//! serde_json bounds the nesting of ignored fields (128 levels).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Field, JsonProblem, Name, Result};
use crate::tensor::dtype::TensorType;
use crate::tensor::view::MAX_RANK;

/// Where a piece of text lives: in the file's header bytes, or (when its JSON spelled it with
/// escapes) in the index's side buffer. Positions fit in `u32`: headers are at most 100 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Text {
    pub(crate) start: u32,
    pub(crate) len: u32,
    pub(crate) owned: bool,
}

impl Text {
    /// The text's bytes, from the header bytes or the side buffer, not checked again as UTF-8
    /// (for hashing and comparing names).
    pub(crate) fn bytes<'a>(&self, header: &'a [u8], owned: &'a str) -> &'a [u8] {
        let range = self.start as usize..(self.start as usize).saturating_add(self.len as usize);
        if self.owned {
            owned.as_bytes().get(range).unwrap_or(&[])
        } else {
            header.get(range).unwrap_or(&[])
        }
    }

    /// The text, from the header bytes or the side buffer.
    pub(crate) fn get<'a>(&self, header: &'a [u8], owned: &'a str) -> &'a str {
        let range = self.start as usize..(self.start as usize).saturating_add(self.len as usize);
        if self.owned {
            owned.get(range).unwrap_or("")
        } else {
            // Checked as UTF-8 before the parse; a different header gives "", never a panic.
            header
                .get(range)
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or("")
        }
    }
}

/// One tensor entry as read, before the index checks it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawTensor {
    pub(crate) name: Text,
    pub(crate) dtype: TensorType,
    /// Its dimensions: `rank` of them from `dims_at` in [`Parts::dims`].
    pub(crate) dims_at: u32,
    pub(crate) rank: u8,
    pub(crate) begin: u64,
    pub(crate) end: u64,
    /// Where its key starts in the file.
    pub(crate) offset: u64,
}

/// One `__metadata__` entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEntry {
    pub(crate) key: Text,
    pub(crate) value: Text,
    pub(crate) offset: u64,
}

/// Everything the header holds, in JSON order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parts {
    pub(crate) tensors: Vec<RawTensor>,
    pub(crate) dims: Vec<u64>,
    pub(crate) entries: Vec<RawEntry>,
    pub(crate) owned: String,
    /// Whether `__metadata__` is an object (even an empty one), not absent or `null`.
    pub(crate) metadata_object: bool,
}

/// A failure a visitor found itself: a whole error, or a JSON problem to be placed where
/// serde_json stopped.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Done(Error),
    Json(JsonProblem),
}

/// What the visitors share: the text, what was read, and what is being read (for errors).
struct State<'de> {
    /// The file's first bytes; the JSON is `file[json_start..]`.
    file: &'de [u8],
    json_start: usize,
    parts: Parts,
    failure: Option<Failure>,
    within: Name,
    field: Field,
    expected: JsonProblem,
    saw_metadata: Option<u64>,
}

/// Parses the JSON text `file[json_start..json_end]` (already checked as UTF-8).
pub(crate) fn parse(file: &[u8], json_start: usize, json_end: usize) -> Result<Parts> {
    let json = file.get(json_start..json_end).unwrap_or(&[]);
    let text = core::str::from_utf8(json).map_err(|e| Error::JsonNotUtf8 {
        offset: (json_start + e.valid_up_to()) as u64,
    })?;
    let mut state = State {
        file,
        json_start,
        parts: Parts::default(),
        failure: None,
        within: Name::NONE,
        field: Field::None,
        expected: JsonProblem::ExpectedObject,
        saw_metadata: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Top(&mut state).deserialize(&mut de).and_then(|()| {
        state.context(Name::NONE, Field::None, JsonProblem::TrailingCharacters);
        de.end()
    });
    match result {
        Ok(()) => Ok(state.parts),
        Err(e) => Err(state.error(&e, text)),
    }
}

impl<'de> State<'de> {
    fn context(&mut self, within: Name, field: Field, expected: JsonProblem) {
        self.within = within;
        self.field = field;
        self.expected = expected;
    }

    /// Stops the parse with `failure`.
    fn fail<E: de::Error>(&mut self, failure: Failure) -> E {
        self.failure = Some(failure);
        E::custom("weightmap")
    }

    /// Where `s` (borrowed from the JSON) starts in the file.
    fn offset_of(&self, s: &str) -> Option<u64> {
        let at = s.as_ptr().addr().checked_sub(self.file.as_ptr().addr())?;
        (at <= self.file.len()).then_some(at as u64)
    }

    /// Keeps `s` as a [`Text`]: a span of the header when borrowed from it, else a copy.
    fn keep(&mut self, s: &str, borrowed: bool) -> Text {
        let len = s.len() as u32; // ok: the header is at most 100 MB
        match self.offset_of(s).filter(|_| borrowed) {
            Some(start) => Text {
                start: start as u32,
                len,
                owned: false,
            },
            None => {
                let start = self.parts.owned.len() as u32;
                self.parts.owned.push_str(s);
                Text {
                    start,
                    len,
                    owned: true,
                }
            }
        }
    }

    fn text(&self, t: &Text) -> &str {
        t.get(self.file, &self.parts.owned)
    }

    /// The error for serde_json's `e`, placed at the byte where it stopped.
    fn error(&mut self, e: &serde_json::Error, text: &str) -> Error {
        let offset = (self.json_start + position(text, e.line(), e.column())) as u64;
        let problem = match self.failure.take() {
            Some(Failure::Done(error)) => return error,
            Some(Failure::Json(problem)) => problem,
            None => problem_of(e, self.expected),
        };
        Error::InvalidJson {
            problem,
            offset,
            within: self.within,
            field: self.field,
        }
    }
}

/// What serde_json's `e` means, where the visitor expected `expected`.
pub(crate) fn problem_of(e: &serde_json::Error, expected: JsonProblem) -> JsonProblem {
    match e.classify() {
        serde_json::error::Category::Eof => JsonProblem::UnexpectedEnd,
        serde_json::error::Category::Data => expected,
        _ => {
            let mut message = Prefix::default();
            let _ = write!(message, "{e}");
            if message.starts_with("recursion limit") {
                JsonProblem::TooDeep
            } else if message.starts_with("trailing") {
                JsonProblem::TrailingCharacters
            } else {
                JsonProblem::Syntax
            }
        }
    }
}

/// The byte offset of serde_json's (1-based line, 1-based column) in `text`.
pub(crate) fn position(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    line_start
        .saturating_add(column.saturating_sub(1))
        .min(text.len())
}

/// The first bytes of a message, without allocating.
#[derive(Default)]
struct Prefix {
    bytes: [u8; 32],
    len: usize,
}

impl Prefix {
    fn starts_with(&self, s: &str) -> bool {
        self.bytes
            .get(..self.len)
            .is_some_and(|b| b.starts_with(s.as_bytes()))
    }
}

impl fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.bytes.len() - self.len;
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(self.len..self.len + n), s.get(..n)) {
            dst.copy_from_slice(src.as_bytes());
        }
        self.len += n;
        Ok(())
    }
}

/// A string, borrowed when it can be.
enum Str<'de, 'a> {
    Borrowed(&'de str),
    Transient(&'a str),
}

macro_rules! string_visitor {
    ($seed:ident, $expecting:literal, |$state:ident, $s:ident, $borrowed:ident| $body:expr) => {
        impl<'de> Visitor<'de> for $seed<'_, 'de> {
            type Value = <Self as DeserializeSeed<'de>>::Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                let ($state, $s, $borrowed) = (self.0, Str::Borrowed(s), true);
                $body
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                let ($state, $s, $borrowed) = (self.0, Str::Transient(s), false);
                $body
            }
        }
    };
}

impl<'de> Str<'de, '_> {
    fn as_str(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Transient(s) => s,
        }
    }
}

/// A key or string value, kept as [`Text`], with where it starts (when borrowed).
struct Kept {
    text: Text,
    offset: Option<u64>,
}

struct KeepSeed<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for KeepSeed<'_, 'de> {
    type Value = Kept;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Kept, D::Error> {
        d.deserialize_str(self)
    }
}

string_visitor!(KeepSeed, "a string", |state, s, borrowed| {
    let offset = state.offset_of(s.as_str()).filter(|_| borrowed);
    let text = state.keep(s.as_str(), borrowed);
    Ok(Kept { text, offset })
});

/// The top-level object.
struct Top<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Top<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        loop {
            state.context(Name::NONE, Field::None, JsonProblem::ExpectedString);
            let Some(key) = map.next_key_seed(KeepSeed(&mut *state))? else {
                return Ok(());
            };
            // Where the entry starts: its key, or near it when the key had escapes.
            let offset = key.offset.unwrap_or(state.json_start as u64);
            let name = state.text(&key.text);
            let short = Name::new(name.as_bytes());
            if name == "__metadata__" {
                if let Some(first) = state.saw_metadata.replace(offset) {
                    let duplicate = Error::DuplicateKey {
                        key: short,
                        offset,
                        first,
                    };
                    return Err(state.fail(Failure::Done(duplicate)));
                }
                state.context(short, Field::None, JsonProblem::ExpectedObject);
                map.next_value_seed(Metadata(&mut *state))?;
            } else {
                state.context(short, Field::None, JsonProblem::ExpectedObject);
                map.next_value_seed(Entry {
                    state: &mut *state,
                    name: key.text,
                    offset,
                })?;
            }
        }
    }
}

/// `__metadata__`: `null` or an object of strings.
struct Metadata<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Metadata<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Metadata<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        state.parts.metadata_object = true;
        let within = state.within;
        loop {
            state.context(within, Field::None, JsonProblem::ExpectedString);
            let Some(key) = map.next_key_seed(KeepSeed(&mut *state))? else {
                return Ok(());
            };
            let short = Name::new(state.text(&key.text).as_bytes());
            state.context(short, Field::None, JsonProblem::ExpectedString);
            let value = map.next_value_seed(KeepSeed(&mut *state))?;
            let offset = key.offset.or(value.offset).unwrap_or(0);
            state.parts.entries.push(RawEntry {
                key: key.text,
                value: value.text,
                offset,
            });
        }
    }
}

/// One tensor entry.
struct Entry<'s, 'de> {
    state: &'s mut State<'de>,
    name: Text,
    offset: u64,
}

impl<'de> DeserializeSeed<'de> for Entry<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// The fields of a tensor entry.
enum EntryField {
    Dtype,
    Shape,
    DataOffsets,
    Other,
}

struct FieldSeed<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, 'de> {
    type Value = EntryField;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<EntryField, D::Error> {
        d.deserialize_str(self)
    }
}

string_visitor!(FieldSeed, "a field name", |_state, s, _borrowed| {
    Ok(match s.as_str() {
        "dtype" => EntryField::Dtype,
        "shape" => EntryField::Shape,
        "data_offsets" => EntryField::DataOffsets,
        _ => EntryField::Other,
    })
});

impl<'de> Visitor<'de> for Entry<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Entry {
            state,
            name,
            offset,
        } = self;
        let within = state.within;
        let (mut dtype, mut shape, mut offsets) = (None, None, None);
        loop {
            state.context(within, Field::None, JsonProblem::ExpectedString);
            let Some(field) = map.next_key_seed(FieldSeed(&mut *state))? else {
                break;
            };
            let (field, seen) = match field {
                EntryField::Dtype => (Field::Dtype, dtype.is_some()),
                EntryField::Shape => (Field::Shape, shape.is_some()),
                EntryField::DataOffsets => (Field::DataOffsets, offsets.is_some()),
                EntryField::Other => {
                    map.next_value_seed(Ignore)?;
                    continue;
                }
            };
            state.context(within, field, JsonProblem::ExpectedString);
            if seen {
                return Err(state.fail(Failure::Json(JsonProblem::DuplicateField)));
            }
            match field {
                Field::Dtype => dtype = Some(map.next_value_seed(Dtype(&mut *state))?),
                Field::Shape => {
                    state.expected = JsonProblem::ExpectedIntegers;
                    let dims_at = state.parts.dims.len();
                    let rank = map.next_value_seed(Shape {
                        state: &mut *state,
                        offset,
                    })?;
                    shape = Some((dims_at as u32, rank)); // ok: fewer dims than header bytes
                }
                _ => {
                    state.expected = JsonProblem::ExpectedTwoOffsets;
                    offsets = Some(map.next_value_seed(Offsets(&mut *state))?);
                }
            }
        }
        let missing = match (dtype, shape, offsets) {
            (Some(dtype), Some((dims_at, rank)), Some((begin, end))) => {
                state.parts.tensors.push(RawTensor {
                    name,
                    dtype,
                    dims_at,
                    rank,
                    begin,
                    end,
                    offset,
                });
                return Ok(());
            }
            (None, _, _) => Field::Dtype,
            (_, None, _) => Field::Shape,
            _ => Field::DataOffsets,
        };
        state.context(within, missing, JsonProblem::MissingField);
        Err(state.fail(Failure::Json(JsonProblem::MissingField)))
    }
}

struct Dtype<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Dtype<'_, 'de> {
    type Value = TensorType;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<TensorType, D::Error> {
        d.deserialize_str(self)
    }
}

string_visitor!(Dtype, "a dtype name", |state, s, borrowed| {
    let name = s.as_str();
    match TensorType::from_safetensors_name(name) {
        Some(t) => Ok(t),
        None => {
            let unknown = Error::UnknownDtype {
                dtype: Name::new(name.as_bytes()),
                offset: state
                    .offset_of(name)
                    .filter(|_| borrowed)
                    .unwrap_or(state.json_start as u64),
            };
            Err(state.fail(Failure::Done(unknown)))
        }
    }
});

/// A shape: its dimensions appended to [`Parts::dims`]; the rank.
struct Shape<'s, 'de> {
    state: &'s mut State<'de>,
    offset: u64,
}

impl<'de> DeserializeSeed<'de> for Shape<'_, 'de> {
    type Value = u8;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u8, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Shape<'_, 'de> {
    type Value = u8;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of non-negative integers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u8, A::Error> {
        let mut rank = 0u8;
        while let Some(dim) = seq.next_element_seed(Integer(&mut *self.state))? {
            if usize::from(rank) == MAX_RANK {
                let too_many = Error::RankTooHigh {
                    name: self.state.within,
                    offset: self.offset,
                };
                return Err(self.state.fail(Failure::Done(too_many)));
            }
            self.state.parts.dims.push(dim);
            rank += 1;
        }
        Ok(rank)
    }
}

/// `data_offsets`: exactly two integers.
struct Offsets<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Offsets<'_, 'de> {
    type Value = (u64, u64);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(u64, u64), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Offsets<'_, 'de> {
    type Value = (u64, u64);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("two offsets")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(u64, u64), A::Error> {
        let state = self.0;
        let begin = seq.next_element_seed(Integer(&mut *state))?;
        let end = match begin {
            Some(_) => seq.next_element_seed(Integer(&mut *state))?,
            None => None,
        };
        match (begin, end) {
            (Some(begin), Some(end)) if seq.next_element::<IgnoredAny>()?.is_none() => {
                Ok((begin, end))
            }
            _ => Err(state.fail(Failure::Json(JsonProblem::ExpectedTwoOffsets))),
        }
    }
}

/// A value the format does not define, read and dropped. Through `deserialize_any`, so that
/// serde_json's recursion limit applies as it does to the reference (its `ignored_any` walks
/// any depth).
pub(crate) struct Ignore;

impl<'de> DeserializeSeed<'de> for Ignore {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Ignore {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Ignore)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Ignore)?.is_some() {
            map.next_value_seed(Ignore)?;
        }
        Ok(())
    }
}

/// A non-negative integer that fits in 64 bits.
struct Integer<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Integer<'_, 'de> {
    type Value = u64;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_u64(self)
    }
}

impl<'de> Visitor<'de> for Integer<'_, 'de> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| self.0.fail(Failure::Json(JsonProblem::NumberOutOfRange)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u64, E> {
        // Fractions, exponents, -0 and integers past 2^64 all arrive as floats: refused, as the
        // reference refuses them.
        Err(self.0.fail(Failure::Json(JsonProblem::NumberOutOfRange)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(json: &str) -> Result<Parts> {
        let mut file = alloc::vec::Vec::from((json.len() as u64).to_le_bytes());
        file.extend_from_slice(json.as_bytes());
        parse(&file, 8, file.len())
    }

    fn problem(json: &str) -> (JsonProblem, Field, u64) {
        match parse_json(json) {
            Err(Error::InvalidJson {
                problem,
                field,
                offset,
                ..
            }) => (problem, field, offset),
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn reads_tensors_metadata_and_borrowed_names() {
        let json = r#"{"__metadata__":{"format":"pt","k\u00e9":"v\"q"},"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12],"extra":{"x":[1]}},"b":{"shape":[],"data_offsets":[12,16],"dtype":"F32"}}"#;
        let mut file = alloc::vec::Vec::from((json.len() as u64).to_le_bytes());
        file.extend_from_slice(json.as_bytes());
        let parts = parse(&file, 8, file.len()).unwrap();
        assert_eq!(parts.tensors.len(), 2);
        let w = parts.tensors[0];
        assert_eq!(w.name.get(&file, &parts.owned), "w");
        assert!(!w.name.owned);
        assert_eq!(&file[w.offset as usize..][..1], b"w");
        assert_eq!(
            (w.dtype, w.rank, w.begin, w.end),
            (TensorType::F16, 2, 0, 12)
        );
        assert_eq!(parts.dims, [2, 3]);
        assert_eq!(parts.tensors[1].rank, 0);
        let keys: alloc::vec::Vec<_> = parts
            .entries
            .iter()
            .map(|e| {
                (
                    e.key.get(&file, &parts.owned),
                    e.value.get(&file, &parts.owned),
                )
            })
            .collect();
        assert_eq!(keys, [("format", "pt"), ("ké", "v\"q")]);
    }

    #[test]
    fn errors_say_what_was_expected_where() {
        assert_eq!(problem("[]").0, JsonProblem::ExpectedObject);
        assert_eq!(problem("").0, JsonProblem::UnexpectedEnd);
        assert_eq!(problem("{} \0").0, JsonProblem::TrailingCharacters);
        assert_eq!(problem("{]").0, JsonProblem::Syntax);
        let deep = alloc::format!(r#"{{"w":{{"x":{}{}}}}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(problem(&deep).0, JsonProblem::TooDeep);
        let (p, f, _) = problem(r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#);
        assert_eq!((p, f), (JsonProblem::NumberOutOfRange, Field::Shape));
        let (p, f, _) = problem(r#"{"w":{"dtype":"F32","shape":"x","data_offsets":[0,4]}}"#);
        assert_eq!((p, f), (JsonProblem::ExpectedIntegers, Field::Shape));
        let (p, f, _) = problem(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#);
        assert_eq!(
            (p, f),
            (JsonProblem::ExpectedTwoOffsets, Field::DataOffsets)
        );
        let (p, f, _) = problem(r#"{"w":{"dtype":"F32","shape":[1]}}"#);
        assert_eq!((p, f), (JsonProblem::MissingField, Field::DataOffsets));
        let (p, f, _) = problem(r#"{"w":{"dtype":"F32","dtype":"F32"}}"#);
        assert_eq!((p, f), (JsonProblem::DuplicateField, Field::Dtype));
        let (p, _, _) = problem(r#"{"__metadata__":{"k":1}}"#);
        assert_eq!(p, JsonProblem::ExpectedString);
        let (p, _, offset) = problem(r#"{"w":["F32",[1],[0,4]]}"#);
        assert_eq!(p, JsonProblem::ExpectedObject);
        assert!((12..=13).contains(&offset), "{offset}");
        assert!(matches!(
            parse_json(r#"{"w":{"dtype":"f32"}}"#),
            Err(Error::UnknownDtype { offset: 23, .. })
        ));
        assert!(matches!(
            parse_json(r#"{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1]}}"#),
            Err(Error::RankTooHigh { offset: 10, .. })
        ));
        assert!(matches!(
            parse_json(r#"{"__metadata__":null,"__metadata__":{}}"#),
            Err(Error::DuplicateKey { .. })
        ));
    }

    #[test]
    fn positions_come_from_lines_and_columns() {
        assert_eq!(position("ab\ncd\nef", 1, 2), 1);
        assert_eq!(position("ab\ncd\nef", 3, 1), 6);
        assert_eq!(position("ab", 9, 9), 2);
        assert_eq!(position("", 1, 0), 0);
    }
}
