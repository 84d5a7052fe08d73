//! The metadata section: key/value entries read one at a time, each validated as it is read.

use core::ops::Range;

use crate::endian::Endian;
use crate::error::{Error, Name, Result, Section};
use crate::gguf::cursor::{Cursor, Resume};
use crate::gguf::format::ValueType;
use crate::gguf::value::{read_entry_value, Value};

/// One metadata entry, borrowed from the file's header bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEntry<'data> {
    pub(crate) key: &'data str,
    pub(crate) value: Value<'data>,
    pub(crate) offset: u64,
    pub(crate) value_range: Range<u64>,
}

impl<'data> MetadataEntry<'data> {
    /// The key, e.g. `general.architecture`.
    pub fn key(&self) -> &'data str {
        self.key
    }

    /// The value.
    pub fn value(&self) -> Value<'data> {
        self.value
    }

    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        self.value.value_type()
    }

    /// Absolute offset of the entry (its key's length prefix) in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Absolute byte range of the value (after its type id).
    pub fn value_range(&self) -> Range<u64> {
        self.value_range.clone()
    }
}

/// Walks the metadata section from a given entry on, yielding each entry as it is validated
/// and stopping after the first error.
#[derive(Clone)]
pub(crate) struct MetadataWalker<'a> {
    cur: Cursor<'a>,
    index: u64,
    count: u64,
    /// How far the current entry's string array got before the input ran out.
    strings: Resume,
}

impl<'a> MetadataWalker<'a> {
    /// A walker at entry `index` (of `count`), whose key starts at byte `pos`.
    pub(crate) fn resume(
        bytes: &'a [u8],
        endian: Endian,
        pos: usize,
        index: u64,
        count: u64,
    ) -> Result<Self> {
        let cur = Cursor::new(bytes, pos, endian, Section::Metadata);
        // Each entry needs at least a key length (8) and a value type (4). Checked where the
        // section starts, as a parse of the whole does: resuming further on, over a longer
        // prefix, the check has passed already (checking the rest again could only report a
        // truncation where a parse of the whole reports the entry's own error).
        if index == 0 {
            cur.ensure_room(count, 12)?;
        }
        Ok(MetadataWalker {
            cur,
            index,
            count,
            strings: Resume::default(),
        })
    }

    /// Goes on with the entry at the walker's position from where its string array stopped
    /// last time (see [`partial`](Self::partial)).
    pub(crate) fn resuming(mut self, strings: Resume) -> Self {
        self.strings = strings;
        self
    }

    /// After an error: how far the failing entry's string array got (nothing if it is not
    /// one), for [`resuming`](Self::resuming) with a longer prefix.
    pub(crate) fn partial(&self) -> Resume {
        self.strings
    }

    /// Where the next entry starts (after the last one once the walker is exhausted).
    pub(crate) fn pos(&self) -> usize {
        self.cur.pos()
    }

    /// The position of the next entry in the section.
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    fn entry(&mut self) -> Result<MetadataEntry<'a>> {
        let offset = self.cur.pos() as u64;
        let key_bytes = self.cur.string()?;
        if key_bytes.is_empty() {
            return Err(Error::EmptyKey {
                index: self.index,
                offset,
            });
        }
        let key = core::str::from_utf8(key_bytes).map_err(|_| Error::KeyNotUtf8 {
            index: self.index,
            key: Name::new(key_bytes),
            offset,
        })?;
        self.value_of(key, offset).map_err(|e| e.within(key_bytes))
    }

    /// Reads the type and value of the entry whose key was just read.
    fn value_of(&mut self, key: &'a str, offset: u64) -> Result<MetadataEntry<'a>> {
        let key_bytes = key.as_bytes();
        let type_offset = self.cur.pos() as u64;
        let type_id = self.cur.u32()?;
        let ty = ValueType::from_id(type_id).ok_or(Error::UnknownValueType {
            key: Name::new(key_bytes),
            type_id,
            offset: type_offset,
        })?;
        let value_start = self.cur.pos() as u64;
        let value = read_entry_value(&mut self.cur, ty, key_bytes, &mut self.strings)?;
        self.strings = Resume::default();
        Ok(MetadataEntry {
            key,
            value,
            offset,
            value_range: value_start..self.cur.pos() as u64,
        })
    }
}

impl<'a> Iterator for MetadataWalker<'a> {
    type Item = Result<MetadataEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let entry = self.entry();
        self.index = match entry {
            Ok(_) => self.index + 1,
            Err(_) => self.count, // stop after the first error
        };
        Some(entry)
    }
}

/// Checks the alignment entry and returns the alignment it sets.
pub(crate) fn alignment_of(entry: &MetadataEntry<'_>) -> Result<u32> {
    let Value::Uint32(value) = entry.value else {
        return Err(Error::AlignmentType {
            found: entry.value_type(),
            offset: entry.offset,
        });
    };
    if value == 0 || !value.is_power_of_two() {
        return Err(Error::InvalidAlignment {
            value,
            offset: entry.offset,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn entry_bytes(key: &[u8], type_id: u32, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(key.len() as u64).to_le_bytes());
        v.extend_from_slice(key);
        v.extend_from_slice(&type_id.to_le_bytes());
        v.extend_from_slice(value);
        v
    }

    #[test]
    fn walks_entries_and_resumes_mid_section() {
        let mut bytes = entry_bytes(b"a", 4, &7u32.to_le_bytes());
        let second = bytes.len();
        bytes.extend(entry_bytes(b"bb", 8, b"\x02\0\0\0\0\0\0\0hi"));
        let all: Vec<_> = MetadataWalker::resume(&bytes, Endian::Little, 0, 0, 2)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(all[0].key(), "a");
        assert_eq!(all[0].value(), Value::Uint32(7));
        assert_eq!(all[1].value().as_str(), Some("hi"));
        assert_eq!(all[1].offset(), second as u64);
        assert_eq!(all[1].value_range(), second as u64 + 14..bytes.len() as u64);
        let mut rest = MetadataWalker::resume(&bytes, Endian::Little, second, 1, 2).unwrap();
        assert_eq!(rest.next().unwrap().unwrap().key(), "bb");
        assert_eq!((rest.index(), rest.pos()), (2, bytes.len()));
        assert!(rest.next().is_none());
    }

    #[test]
    fn entry_errors_name_key_and_offset() {
        let bytes = entry_bytes(b"k", 13, &[]);
        let err = MetadataWalker::resume(&bytes, Endian::Little, 0, 0, 1)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(
            err,
            Err(Error::UnknownValueType {
                key: Name::new(b"k"),
                type_id: 13,
                offset: 9
            })
        );
        let bytes = entry_bytes(b"", 4, &[0; 4]);
        let mut w = MetadataWalker::resume(&bytes, Endian::Little, 0, 0, 1).unwrap();
        assert_eq!(
            w.next(),
            Some(Err(Error::EmptyKey {
                index: 0,
                offset: 0
            }))
        );
        assert!(w.next().is_none(), "the walk stops after an error");
    }
}
