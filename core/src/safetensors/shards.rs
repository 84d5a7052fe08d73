//! `ShardIndex`: a sharded safetensors model's `model.safetensors.index.json`, which maps
//! every tensor to the shard file that holds it.
//!
//! ```json
//! {"metadata": {"total_size": 1234}, "weight_map": {"w": "model-00001-of-00002.safetensors"}}
//! ```
//!
//! `weight_map` is required; `metadata` and its `total_size` are optional, other keys are
//! ignored (but read: their strings must be valid Unicode, their nesting within serde_json's
//! limit, as everywhere in a header). Shard names must be plain file names beside the index: no `/`, `\`, `:` or NUL,
//! not `.` or `..`, not empty, so an index can never name a file elsewhere. A tensor listed
//! twice is refused, and so is a second `weight_map`, `metadata` or `total_size`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use crate::error::{Error, Field, JsonProblem, Name, Result};
use crate::safetensors::json::{position, problem_of, Ignore};

/// A parsed shard index: tensor names, the shard files they are in, and the declared total.
///
/// ```
/// use weightmap_core::safetensors::ShardIndex;
/// let json = br#"{"metadata": {"total_size": 24},
///   "weight_map": {"a": "m-00001-of-00002.safetensors", "b": "m-00002-of-00002.safetensors"}}"#;
/// let index = ShardIndex::parse(json)?;
/// assert_eq!(index.shards(), ["m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors"]);
/// assert_eq!(index.shard_of("b"), Some(1));
/// assert_eq!(index.total_size(), Some(24));
/// assert!(ShardIndex::parse(br#"{"weight_map": {"a": "../x.safetensors"}}"#).is_err());
/// # Ok::<(), weightmap_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardIndex {
    total_size: Option<u64>,
    /// Shard file names, each once, in the order the weight map first names them.
    shards: Vec<String>,
    /// `(tensor name, position in shards, where the name is in the file)`, sorted by name.
    weight_map: Vec<(String, u32, u64)>,
}

impl ShardIndex {
    /// Parses an index file's bytes.
    ///
    /// # Errors
    /// [`Error::JsonNotUtf8`], [`Error::InvalidJson`] (no `weight_map`, values that are not
    /// strings, a `total_size` that is not a non-negative integer, invalid JSON),
    /// [`Error::ShardPath`] for a shard name that is not a plain file name, and
    /// [`Error::DuplicateTensor`] for a tensor listed twice.
    pub fn parse(bytes: &[u8]) -> Result<ShardIndex> {
        let text = core::str::from_utf8(bytes).map_err(|e| Error::JsonNotUtf8 {
            offset: e.valid_up_to() as u64,
        })?;
        let mut state = State {
            base: bytes.as_ptr().addr(),
            index: ShardIndex::default(),
            failure: None,
            within: Name::NONE,
            expected: JsonProblem::ExpectedObject,
            saw_map: false,
            saw_metadata: false,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let result = Top(&mut state).deserialize(&mut de).and_then(|()| {
            state.expected = JsonProblem::TrailingCharacters;
            de.end()
        });
        if let Err(e) = result {
            if let Some(failure) = state.failure.take() {
                return Err(failure);
            }
            return Err(Error::InvalidJson {
                problem: problem_of(&e, state.expected),
                offset: position(text, e.line(), e.column()) as u64,
                within: state.within,
                field: Field::None,
            });
        }
        if !state.saw_map {
            return Err(Error::InvalidJson {
                problem: JsonProblem::ExpectedWeightMap,
                offset: 0,
                within: Name::NONE,
                field: Field::None,
            });
        }
        let mut index = state.index;
        index.weight_map.sort_unstable();
        if let Some([a, b]) = index
            .weight_map
            .windows(2)
            .find(|p| matches!(p, [a, b] if a.0 == b.0))
        {
            return Err(Error::DuplicateTensor {
                name: Name::new(a.0.as_bytes()),
                offset: a.2.max(b.2),
                first: a.2.min(b.2),
            });
        }
        Ok(index)
    }

    /// `metadata.total_size`, if the index gives it: by convention the tensors' bytes in all.
    ///
    /// Reported, not enforced: writers disagree on what it counts (transformers sums tensor
    /// bytes, some tools the shard files' sizes), so a model is never refused for it.
    pub fn total_size(&self) -> Option<u64> {
        self.total_size
    }

    /// The shard file names, each once, in the order the weight map first names them.
    pub fn shards(&self) -> &[String] {
        &self.shards
    }

    /// How many tensors the weight map lists.
    pub fn len(&self) -> usize {
        self.weight_map.len()
    }

    /// Whether the weight map is empty.
    pub fn is_empty(&self) -> bool {
        self.weight_map.is_empty()
    }

    /// The position in [`shards`](Self::shards) of the shard holding `name`.
    pub fn shard_of(&self, name: &str) -> Option<usize> {
        let at = self
            .weight_map
            .binary_search_by(|(n, _, _)| n.as_str().cmp(name))
            .ok()?;
        self.weight_map.get(at).map(|&(_, shard, _)| shard as usize)
    }

    /// Every `(tensor name, shard position)`, sorted by name.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&str, usize)> + Clone {
        self.weight_map
            .iter()
            .map(|(name, shard, _)| (name.as_str(), *shard as usize))
    }
}

/// Whether a shard name is a plain file name.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', ':', '\0'])
}

struct State {
    base: usize,
    index: ShardIndex,
    failure: Option<Error>,
    within: Name,
    expected: JsonProblem,
    saw_map: bool,
    saw_metadata: bool,
}

impl State {
    /// Stops the parse at a second `key` in one object (serde_json and Python keep the last
    /// of two; which one an index means is anyone's guess).
    fn duplicate<E: de::Error>(&mut self, key: &str) -> E {
        let duplicate = Error::DuplicateKey {
            key: Name::new(key.as_bytes()),
            offset: 0,
            first: 0,
        };
        self.fail(duplicate)
    }

    fn fail<E: de::Error>(&mut self, error: Error) -> E {
        self.failure = Some(error);
        E::custom("weightmap")
    }

    fn shard(&mut self, name: &str) -> u32 {
        // Few shards: a linear search is cheaper than a map.
        let at = self.index.shards.iter().position(|s| s == name);
        let at = at.unwrap_or_else(|| {
            self.index.shards.push(name.into());
            self.index.shards.len() - 1
        });
        at as u32 // ok: fewer shards than bytes of the index
    }
}

struct Top<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a shard index")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        loop {
            state.within = Name::NONE;
            state.expected = JsonProblem::ExpectedString;
            let Some(key) = map.next_key::<alloc::borrow::Cow<'de, str>>()? else {
                return Ok(());
            };
            state.within = Name::new(key.as_bytes());
            match &*key {
                "weight_map" if state.saw_map => return Err(state.duplicate("weight_map")),
                "metadata" if state.saw_metadata => return Err(state.duplicate("metadata")),
                "weight_map" => {
                    state.saw_map = true;
                    state.expected = JsonProblem::ExpectedWeightMap;
                    map.next_value_seed(WeightMap(&mut *state))?;
                }
                "metadata" => {
                    state.saw_metadata = true;
                    state.expected = JsonProblem::ExpectedObject;
                    map.next_value_seed(Metadata(&mut *state))?;
                }
                _ => {
                    map.next_value_seed(Ignore)?;
                }
            }
        }
    }
}

struct WeightMap<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for WeightMap<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WeightMap<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of shard file names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(name) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
            state.within = Name::new(name.as_bytes());
            state.expected = JsonProblem::ExpectedString;
            let file = map.next_value::<alloc::borrow::Cow<'de, str>>()?;
            if !is_plain_file_name(&file) {
                let path = Error::ShardPath {
                    name: state.within,
                    file: Name::new(file.as_bytes()),
                };
                return Err(state.fail(path));
            }
            let shard = state.shard(&file);
            // Where the name is, when it is borrowed from the text (no escapes).
            let offset = match &name {
                alloc::borrow::Cow::Borrowed(s) => s.as_ptr().addr().saturating_sub(state.base),
                alloc::borrow::Cow::Owned(_) => 0,
            } as u64;
            state
                .index
                .weight_map
                .push((name.into_owned(), shard, offset));
        }
        Ok(())
    }
}

struct Metadata<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Metadata<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Metadata<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
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
        while let Some(key) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
            if key == "total_size" {
                if state.index.total_size.is_some() {
                    return Err(state.duplicate("total_size"));
                }
                state.within = Name::new(key.as_bytes());
                state.expected = JsonProblem::ExpectedTotalSize;
                state.index.total_size = Some(map.next_value::<u64>()?);
            } else {
                map.next_value_seed(Ignore)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for bad in ["", ".", "..", "a/b", "../a", "/a", "a\\b", "c:a", "a\0"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
            let json = alloc::format!(
                r#"{{"weight_map":{{"t":{}}}}}"#,
                serde_json::to_string(bad).unwrap()
            );
            assert!(
                matches!(
                    ShardIndex::parse(json.as_bytes()),
                    Err(Error::ShardPath { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(is_plain_file_name("model-00001-of-00002.safetensors"));
        assert!(is_plain_file_name("..a"));
    }

    #[test]
    fn refuses_what_is_not_an_index() {
        let problem = |json: &str| match ShardIndex::parse(json.as_bytes()) {
            Err(Error::InvalidJson { problem, .. }) => problem,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(problem("{}"), JsonProblem::ExpectedWeightMap);
        assert_eq!(problem("[]"), JsonProblem::ExpectedObject);
        assert_eq!(
            problem(r#"{"weight_map":[]}"#),
            JsonProblem::ExpectedWeightMap
        );
        assert_eq!(
            problem(r#"{"weight_map":{"a":1}}"#),
            JsonProblem::ExpectedString
        );
        assert_eq!(
            problem(r#"{"metadata":{"total_size":1.5},"weight_map":{}}"#),
            JsonProblem::ExpectedTotalSize
        );
        assert_eq!(
            problem(r#"{"weight_map":{}} x"#),
            JsonProblem::TrailingCharacters
        );
        assert!(matches!(
            ShardIndex::parse(br#"{"weight_map":{"a":"x","a":"y"}}"#),
            Err(Error::DuplicateTensor { .. })
        ));
        assert!(matches!(
            ShardIndex::parse(br#"{"weight_map":{},"weight_map":{}}"#),
            Err(Error::DuplicateKey { .. })
        ));
        let index = ShardIndex::parse(br#"{"metadata":null,"weight_map":{},"x":[[1]]}"#).unwrap();
        assert!(index.is_empty());
        assert_eq!(index.total_size(), None);
    }
}
