//! `SafetensorsIndex`: the owned, checked result of parsing a safetensors header, apart from
//! the bytes it describes.
//!
//! Tensors are kept in the order of their data (the file's order), each with its name as a
//! span of the header (or of a side buffer for names spelled with JSON escapes), dtype,
//! dimensions and offsets; names and metadata keys are hashed for lookups and checked for
//! duplicates.

use alloc::vec::Vec;

use crate::error::{Error, Name, Result, Section};
use crate::lookup::{first_duplicate, lookup, name_hash};
use crate::safetensors::json::{self, Parts, RawEntry, RawTensor};
use crate::safetensors::{LENGTH_SIZE, MAX_HEADER_SIZE};

/// The parsed header of a safetensors file: its tensors in the order of their data, its
/// `__metadata__`, and sorted name hashes for lookups. It owns no bytes of the file and has
/// no lifetime: pair it with the header it was built from ([`SafetensorsIndex::view`], or
/// [`Safetensors`](crate::safetensors::Safetensors), which keeps both).
///
/// ```
/// # let file = weightmap_core::testing::safetensors_sample();
/// use weightmap_core::{safetensors::SafetensorsIndex, Error};
/// let mut have = 0;
/// let index = loop {
///     match SafetensorsIndex::parse_header(&file[..have]) {
///         Ok(index) => break index,
///         // 8 bytes first (the header's length), then the whole header.
///         Err(Error::Truncated { needed, .. }) => have = needed as usize,
///         Err(e) => return Err(e),
///     }
/// };
/// assert_eq!(index.required_len(), file.len() as u64);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SafetensorsIndex {
    json_len: u64,
    data_len: u64,
    parts: Parts,
    /// `(hash of the name, position in parts.tensors)`, sorted.
    names: Vec<(u64, u32)>,
    /// `(hash of the key, position in parts.entries)`, sorted.
    keys: Vec<(u64, u32)>,
}

impl SafetensorsIndex {
    /// Parses and checks the header at the start of `prefix`, which may be only a prefix of
    /// the file (tensor data is not looked at).
    ///
    /// # Errors
    /// [`Error::Truncated`] asking for 8 bytes, then for the 8 + N the header needs;
    /// [`Error::JsonHeaderTooLarge`] past 100,000,000 bytes; [`Error::JsonNotUtf8`];
    /// [`Error::InvalidJson`], [`Error::UnknownDtype`], [`Error::RankTooHigh`] for a header
    /// that does not have the format's shape; [`Error::DuplicateTensor`] and
    /// [`Error::DuplicateKey`] (the reference keeps the last of two; weightmap refuses them);
    /// [`Error::ReversedOffsets`], [`Error::OffsetsNotTiled`], [`Error::TensorTooLarge`],
    /// [`Error::PartialByte`] and [`Error::TensorSizeMismatch`] for tensors whose offsets do
    /// not tile the data section exactly.
    pub fn parse_header(prefix: &[u8]) -> Result<SafetensorsIndex> {
        let json_end = header_end(prefix)?;
        let parts = json::parse(prefix, LENGTH_SIZE, json_end)?;
        let mut index = SafetensorsIndex {
            json_len: (json_end - LENGTH_SIZE) as u64,
            data_len: 0,
            parts,
            names: Vec::new(),
            keys: Vec::new(),
        };
        index.finish(prefix)?;
        Ok(index)
    }

    /// Puts the tensors in the order of their data and checks names, offsets and sizes.
    fn finish(&mut self, header: &[u8]) -> Result<()> {
        // Stable: tensors at the same offset (empty ones) keep their JSON order.
        self.parts.tensors.sort_by_key(|t| (t.begin, t.end));
        let owned = &self.parts.owned;
        self.names = hashes(
            self.parts
                .tensors
                .iter()
                .map(|t| t.name.bytes(header, owned)),
        );
        let name = |t: &RawTensor| (t.name.bytes(header, owned), t.offset);
        if let Some((name, offset, first)) =
            first_duplicate(&mut self.names, &self.parts.tensors, name)
        {
            return Err(Error::DuplicateTensor {
                name: Name::new(name),
                offset,
                first,
            });
        }
        self.keys = hashes(
            self.parts
                .entries
                .iter()
                .map(|e| e.key.bytes(header, owned)),
        );
        let key = |e: &RawEntry| (e.key.bytes(header, owned), e.offset);
        if let Some((key, offset, first)) =
            first_duplicate(&mut self.keys, &self.parts.entries, key)
        {
            return Err(Error::DuplicateKey {
                key: Name::new(key),
                offset,
                first,
            });
        }
        let mut end = 0u64;
        for t in &self.parts.tensors {
            let name = || Name::new(t.name.bytes(header, owned));
            if t.end < t.begin {
                return Err(Error::ReversedOffsets {
                    name: name(),
                    begin: t.begin,
                    end: t.end,
                });
            }
            if t.begin != end {
                return Err(Error::OffsetsNotTiled {
                    name: name(),
                    begin: t.begin,
                    expected: end,
                });
            }
            let dims = self.dims_of(t);
            let too_large = Error::TensorTooLarge {
                name: name(),
                offset: t.offset,
            };
            let n_elements = dims
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .ok_or(too_large)?;
            let expected = match t.dtype.byte_size(n_elements) {
                Some(size) => size,
                // Whole blocks of a sub-byte type, counted in bits, overflow before bytes do.
                None if n_elements.checked_mul(8).is_none() => return Err(too_large),
                None => {
                    return Err(Error::PartialByte {
                        name: name(),
                        dtype: t.dtype,
                        n_elements,
                    })
                }
            };
            if expected != t.end - t.begin {
                return Err(Error::TensorSizeMismatch {
                    name: name(),
                    expected,
                    found: t.end - t.begin,
                });
            }
            end = t.end;
        }
        self.data_len = end;
        // The whole file must be addressable as one slice.
        if self
            .data_offset()
            .checked_add(end)
            .is_none_or(|n| n > usize::MAX as u64)
        {
            return Err(Error::LengthOverflow {
                section: Section::TensorData,
                count: end,
                offset: self.data_offset(),
                within: Name::NONE,
            });
        }
        Ok(())
    }

    /// Length of the JSON header (the N of the first 8 bytes).
    pub fn json_len(&self) -> u64 {
        self.json_len
    }

    /// Where the data section starts: 8 + N.
    pub fn data_offset(&self) -> u64 {
        LENGTH_SIZE as u64 + self.json_len
    }

    /// Length of the data section: where the last tensor ends.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// How many bytes the file must have, exactly: the data section's end.
    pub fn required_len(&self) -> u64 {
        // Checked in finish: it fits.
        self.data_offset().saturating_add(self.data_len)
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.parts.tensors.len()
    }

    /// Number of `__metadata__` entries.
    pub fn metadata_len(&self) -> usize {
        self.parts.entries.len()
    }

    /// Whether the header has a `__metadata__` object, empty or not (`false` when the key
    /// is absent or `null`): the official reader's `metadata()` is then `{}`, not `None`.
    pub fn has_metadata(&self) -> bool {
        self.parts.metadata_object
    }

    pub(crate) fn raw_tensors(&self) -> &[RawTensor] {
        &self.parts.tensors
    }

    pub(crate) fn raw_entries(&self) -> &[RawEntry] {
        &self.parts.entries
    }

    pub(crate) fn owned(&self) -> &str {
        &self.parts.owned
    }

    pub(crate) fn dims_of(&self, t: &RawTensor) -> &[u64] {
        let start = t.dims_at as usize;
        self.parts
            .dims
            .get(start..start.saturating_add(usize::from(t.rank)))
            .unwrap_or(&[])
    }

    /// The position of the tensor called `name`.
    pub(crate) fn find_tensor(&self, header: &[u8], name: &str) -> Option<usize> {
        lookup(&self.names, name.as_bytes(), |i| {
            let t = self.parts.tensors.get(i as usize)?;
            Some(t.name.bytes(header, &self.parts.owned))
        })
    }

    /// The position of the metadata entry whose key is `key`.
    pub(crate) fn find_entry(&self, header: &[u8], key: &str) -> Option<usize> {
        lookup(&self.keys, key.as_bytes(), |i| {
            let e = self.parts.entries.get(i as usize)?;
            Some(e.key.bytes(header, &self.parts.owned))
        })
    }
}

/// `(hash, position)` pairs of names, unsorted (duplicate checking sorts them).
fn hashes<'a>(names: impl Iterator<Item = &'a [u8]>) -> Vec<(u64, u32)> {
    // ok: fewer items than header bytes, which are at most 100 MB
    names
        .enumerate()
        .map(|(i, n)| (name_hash(n), i as u32))
        .collect()
}

/// Where the JSON header of `prefix` ends (8 + N), once `prefix` holds all of it.
///
/// # Errors
/// [`Error::Truncated`] for 8 bytes, then for 8 + N; [`Error::JsonHeaderTooLarge`].
pub(crate) fn header_end(prefix: &[u8]) -> Result<usize> {
    let truncated = |section, needed: u64| Error::Truncated {
        section,
        needed,
        have: prefix.len() as u64,
        within: Name::NONE,
    };
    let Some(len) = prefix.first_chunk::<8>() else {
        return Err(truncated(Section::Header, LENGTH_SIZE as u64));
    };
    let len = u64::from_le_bytes(*len);
    if len > MAX_HEADER_SIZE {
        return Err(Error::JsonHeaderTooLarge {
            len,
            max: MAX_HEADER_SIZE,
        });
    }
    let end = LENGTH_SIZE as u64 + len; // ok: len is at most 10^8
    if (prefix.len() as u64) < end {
        return Err(truncated(Section::JsonHeader, end));
    }
    Ok(end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SafetensorsBuilder;

    fn parse(json: &str, data_len: usize) -> Result<SafetensorsIndex> {
        let file = SafetensorsBuilder::raw(json, &alloc::vec![0u8; data_len]);
        SafetensorsIndex::parse_header(&file)
    }

    #[test]
    fn an_empty_metadata_object_is_told_from_none() {
        let has = |json: &str| parse(json, 0).unwrap().has_metadata();
        assert!(!has("{}"));
        assert!(!has(r#"{"__metadata__":null}"#));
        assert!(has(r#"{"__metadata__":{}}"#));
        assert!(has(r#"{"__metadata__":{"k":"v"}}"#));
    }

    #[test]
    fn truncation_asks_for_the_length_then_the_header() {
        let file = SafetensorsBuilder::raw("{}", &[]);
        let needed = |n: usize| match SafetensorsIndex::parse_header(&file[..n]) {
            Err(Error::Truncated { needed, .. }) => needed,
            other => panic!("{other:?}"),
        };
        assert_eq!(needed(0), 8);
        assert_eq!(needed(7), 8);
        assert_eq!(needed(8), 10);
        assert_eq!(needed(9), 10);
        let index = SafetensorsIndex::parse_header(&file).unwrap();
        assert_eq!((index.tensor_count(), index.required_len()), (0, 10));
        let mut huge = (MAX_HEADER_SIZE + 1).to_le_bytes().to_vec();
        huge.push(b'{');
        assert!(matches!(
            SafetensorsIndex::parse_header(&huge),
            Err(Error::JsonHeaderTooLarge { .. })
        ));
        assert!(matches!(
            SafetensorsIndex::parse_header(&u64::MAX.to_le_bytes()),
            Err(Error::JsonHeaderTooLarge { .. })
        ));
    }

    #[test]
    fn offsets_must_tile_the_data() {
        let t = |name: &str, dtype: &str, shape: &str, b: u64, e: u64| {
            alloc::format!(
                r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{b},{e}]}}"#
            )
        };
        let ok = alloc::format!(
            "{{{},{},{}}}",
            t("b", "F32", "[2]", 4, 12),
            t("a", "U8", "[4]", 0, 4),
            t("e", "F32", "[0]", 12, 12)
        );
        let index = parse(&ok, 12).unwrap();
        assert_eq!((index.tensor_count(), index.data_len()), (3, 12));
        let gap = alloc::format!(
            "{{{},{}}}",
            t("a", "U8", "[4]", 0, 4),
            t("b", "U8", "[4]", 5, 9)
        );
        assert!(matches!(
            parse(&gap, 9),
            Err(Error::OffsetsNotTiled {
                begin: 5,
                expected: 4,
                ..
            })
        ));
        let overlap = alloc::format!(
            "{{{},{}}}",
            t("a", "U8", "[4]", 0, 4),
            t("b", "U8", "[4]", 3, 7)
        );
        assert!(matches!(
            parse(&overlap, 7),
            Err(Error::OffsetsNotTiled { .. })
        ));
        let reversed = alloc::format!("{{{}}}", t("a", "U8", "[0]", 4, 0));
        assert!(matches!(
            parse(&reversed, 4),
            Err(Error::ReversedOffsets { .. })
        ));
        let size = alloc::format!("{{{}}}", t("a", "F32", "[2]", 0, 4));
        assert!(matches!(
            parse(&size, 4),
            Err(Error::TensorSizeMismatch {
                expected: 8,
                found: 4,
                ..
            })
        ));
        let f4 = alloc::format!("{{{}}}", t("a", "F4", "[3]", 0, 2));
        assert!(matches!(
            parse(&f4, 2),
            Err(Error::PartialByte { n_elements: 3, .. })
        ));
        let big = alloc::format!("{{{}}}", t("a", "U8", "[4294967296,4294967296]", 0, 0));
        assert!(matches!(parse(&big, 0), Err(Error::TensorTooLarge { .. })));
        let big = alloc::format!("{{{}}}", t("a", "F64", "[4611686018427387904]", 0, 0));
        assert!(matches!(parse(&big, 0), Err(Error::TensorTooLarge { .. })));
        let dup = alloc::format!(
            "{{{},{}}}",
            t("a", "U8", "[4]", 0, 4),
            t("\\u0061", "U8", "[4]", 4, 8)
        );
        assert!(matches!(parse(&dup, 8), Err(Error::DuplicateTensor { .. })));
        let dup_key = r#"{"__metadata__":{"k":"1","k":"2"}}"#;
        assert!(matches!(parse(dup_key, 0), Err(Error::DuplicateKey { .. })));
    }
}
