//! `GgufIndex`: the owned result of parsing a GGUF header, apart from the bytes it describes,
//! and `IndexBuilder`, which builds it from a prefix that grows as the parser asks.
//!
//! The index keeps positions, never pointers: one entry per key (key span, value) and per
//! tensor (name span, type, shape, offset, size), plus the names' hashes sorted for lookups.
//! Every name is hashed once while it is read, so building the index never reads a byte twice
//! and no comparison can see two different values for the same bytes.

use alloc::vec::Vec;
use core::ops::Range;

use crate::error::{Error, Name, Result, Section};
use crate::gguf::format::{ValueType, MAX_DIMS};
use crate::gguf::ggml::GgmlType;
use crate::gguf::layout::{walk, Layout, Pass};
use crate::gguf::metadata::MetadataEntry;
use crate::gguf::tensor_info::TensorInfo;
use crate::gguf::value::{Array, GgufStr, Value};
use crate::lookup::{first_duplicate, lookup, name_hash};

/// A metadata value as kept in the index: scalars decoded, strings and arrays as spans.
#[derive(Debug, Clone, Copy)]
enum Stored {
    Scalar(ValueType, u64),
    String(usize, usize),
    Array {
        elem: ValueType,
        len: u64,
        span: (usize, usize),
    },
}

#[derive(Debug, Clone)]
pub(crate) struct IndexedEntry {
    key: Range<usize>,
    offset: u64,
    value_range: Range<u64>,
    value: Stored,
}

#[derive(Debug, Clone)]
pub(crate) struct IndexedTensor {
    name: Range<usize>,
    ggml_type: GgmlType,
    n_dims: u8,
    dims: [u64; MAX_DIMS],
    offset: u64,
    size: u64,
    info_offset: u64,
}

/// The parsed header of a GGUF file: section layout, metadata entries and tensor infos as
/// positions in the header bytes, and sorted name hashes for lookups. It owns no bytes and
/// has no lifetime: pair it with the header it was built from ([`GgufIndex::view`], or
/// [`crate::Gguf`], which keeps both).
///
/// It costs about 90 bytes per metadata entry and 100 per tensor (about 40 KB for Gemma 3
/// 270M), never a number read from the file: a crafted file of tiny entries can make it at
/// most about eight times the size of its header sections.
#[derive(Debug, Clone)]
pub struct GgufIndex {
    layout: Layout,
    lists: Lists,
}

/// What the index keeps of each entry and tensor, gathered by [`IndexBuilder`] as the walk
/// goes.
#[derive(Debug, Clone, Default)]
struct Lists {
    entries: Vec<IndexedEntry>,
    tensors: Vec<IndexedTensor>,
    /// `(hash of the key, position in entries)`, sorted once the walk is done.
    keys: Vec<(u64, u32)>,
    /// `(hash of the name, position in tensors)`, sorted once the walk is done.
    names: Vec<(u64, u32)>,
}

/// Builds a [`GgufIndex`] from a prefix of a file that grows as the parser asks, without
/// parsing anything twice.
///
/// ```
/// # let file: Vec<u8> = weightmap_core::testing::sample_file();
/// use weightmap_core::{Error, IndexBuilder};
/// let mut builder = IndexBuilder::new();
/// let mut have = 16; // bytes read so far
/// let index = loop {
///     match builder.parse(&file[..have]) {
///         Ok(index) => break index,
///         // Read at least `needed` bytes (the same file, from its first byte) and go on.
///         Err(Error::Truncated { needed, .. }) => have = needed as usize,
///         Err(e) => return Err(e),
///     }
/// };
/// assert_eq!(index.tensor_count(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct IndexBuilder {
    pass: Pass,
    lists: Lists,
}

impl IndexBuilder {
    /// A builder at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `prefix` (the file's first bytes) on from where the last call stopped.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `prefix` ends before the tensor table does: call again with a
    /// prefix of at least `needed` bytes (the entries already read are kept). Any other error
    /// is final. After success the builder starts over.
    pub fn parse(&mut self, prefix: &[u8]) -> Result<GgufIndex> {
        let IndexBuilder {
            pass,
            lists:
                Lists {
                    entries,
                    tensors,
                    keys,
                    names,
                },
        } = self;
        let layout = walk(
            prefix,
            pass,
            |e| {
                let at = room_for_one_more(entries.len(), Section::Metadata, e.offset)?;
                keys.push((name_hash(e.key.as_bytes()), at));
                entries.push(store_entry(&e));
                Ok(())
            },
            |t| {
                let at = room_for_one_more(tensors.len(), Section::TensorInfo, t.info_offset)?;
                names.push((name_hash(t.name.as_bytes()), at));
                tensors.push(store_tensor(&t));
                Ok(())
            },
        )?;
        let mut index = GgufIndex {
            layout,
            lists: core::mem::take(&mut self.lists),
        };
        *pass = Pass::default();
        index.finish(prefix)?;
        Ok(index)
    }
}

impl GgufIndex {
    /// Parses the header, metadata and tensor table at the start of `header`, which may be
    /// only a prefix of the file (tensor data is not looked at).
    ///
    /// # Errors
    /// [`Error::Truncated`] with the bytes needed when `header` ends too early, and every
    /// validation error of the format, including duplicate names and overlapping tensors.
    pub fn parse_header(header: &[u8]) -> Result<GgufIndex> {
        IndexBuilder::new().parse(header)
    }

    /// Sorts the lookups, rejecting duplicate names, and checks that no two tensors overlap.
    fn finish(&mut self, header: &[u8]) -> Result<()> {
        let key = |e: &IndexedEntry| (span(header, &e.key), e.offset);
        if let Some((name, offset, first)) =
            first_duplicate(&mut self.lists.keys, &self.lists.entries, key)
        {
            return Err(Error::DuplicateKey {
                key: Name::new(name),
                offset,
                first,
            });
        }
        let name = |t: &IndexedTensor| (span(header, &t.name), t.info_offset);
        if let Some((name, offset, first)) =
            first_duplicate(&mut self.lists.names, &self.lists.tensors, name)
        {
            return Err(Error::DuplicateTensor {
                name: Name::new(name),
                offset,
                first,
            });
        }
        self.check_overlaps(header)
    }

    /// Checks every tensor's data range for overflow, and that no two non-empty ones overlap.
    fn check_overlaps(&self, header: &[u8]) -> Result<()> {
        let mut spans = Vec::with_capacity(self.lists.tensors.len());
        for t in &self.lists.tensors {
            let (start, end) = self.layout.tensor_span(&self.info(t, header))?;
            if start < end {
                spans.push((start, end, t));
            }
        }
        spans.sort_unstable_by_key(|&(start, end, _)| (start, end));
        for pair in spans.windows(2) {
            if let [(other, prev_end, _), (start, _, t)] = *pair {
                if start < prev_end {
                    return Err(Error::OverlappingTensors {
                        name: Name::new(span(header, &t.name)),
                        offset: start,
                        other,
                    });
                }
            }
        }
        Ok(())
    }

    /// Section offsets, version, byte order and alignment.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        self.lists.entries.len()
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.lists.tensors.len()
    }

    /// How many bytes the whole file must have: the end of the last tensor's data (or of the
    /// tensor table when there are no tensors).
    pub fn required_len(&self) -> u64 {
        self.lists
            .tensors
            .iter()
            .map(|t| {
                self.layout
                    .data_offset
                    .saturating_add(t.offset)
                    .saturating_add(t.size)
            })
            .max()
            .unwrap_or(self.layout.tensor_info_end)
    }

    pub(crate) fn entries(&self) -> &[IndexedEntry] {
        &self.lists.entries
    }

    pub(crate) fn tensor_list(&self) -> &[IndexedTensor] {
        &self.lists.tensors
    }

    /// The entry whose key is `key`.
    pub(crate) fn find_entry<'a>(&'a self, header: &[u8], key: &str) -> Option<&'a IndexedEntry> {
        let at = lookup(&self.lists.keys, key.as_bytes(), |i| {
            self.lists
                .entries
                .get(i as usize)
                .map(|e| span(header, &e.key))
        })?;
        self.lists.entries.get(at)
    }

    /// The tensor whose name is `name`.
    pub(crate) fn find_tensor<'a>(
        &'a self,
        header: &[u8],
        name: &str,
    ) -> Option<&'a IndexedTensor> {
        self.lists.tensors.get(self.tensor_position(header, name)?)
    }

    /// The position in the tensor table of the tensor whose name is `name`.
    pub(crate) fn tensor_position(&self, header: &[u8], name: &str) -> Option<usize> {
        lookup(&self.lists.names, name.as_bytes(), |i| {
            self.lists
                .tensors
                .get(i as usize)
                .map(|t| span(header, &t.name))
        })
    }

    /// An indexed entry as read from `header`.
    pub(crate) fn entry<'a>(&self, e: &IndexedEntry, header: &'a [u8]) -> MetadataEntry<'a> {
        let key = span(header, &e.key);
        let value = match e.value {
            Stored::Scalar(ty, bits) => scalar(ty, bits),
            Stored::String(start, end) => {
                let bytes = header.get(start..end).unwrap_or(&[]);
                Value::String(GgufStr::new(bytes, start as u64, key))
            }
            Stored::Array {
                elem,
                len,
                span: (start, end),
            } => {
                let bytes = header.get(start..end).unwrap_or(&[]);
                let endian = self.layout.header.endian;
                Value::Array(Array::from_parts(elem, len, bytes, start, endian, key))
            }
        };
        MetadataEntry {
            key: core::str::from_utf8(key).unwrap_or(""),
            value,
            offset: e.offset,
            value_range: e.value_range.clone(),
        }
    }

    /// An indexed tensor as read from `header`.
    pub(crate) fn info<'a>(&self, t: &IndexedTensor, header: &'a [u8]) -> TensorInfo<'a> {
        TensorInfo {
            name: core::str::from_utf8(span(header, &t.name)).unwrap_or(""),
            ggml_type: t.ggml_type,
            n_dims: t.n_dims,
            dims: t.dims,
            offset: t.offset,
            size: t.size,
            info_offset: t.info_offset,
        }
    }
}

fn span<'a>(bytes: &'a [u8], range: &Range<usize>) -> &'a [u8] {
    bytes.get(range.clone()).unwrap_or(&[])
}

/// Index positions are `u32`: a file claiming more entries than that is rejected as soon as it
/// gets there (no real file comes near: each entry takes at least 12 bytes).
fn room_for_one_more(len: usize, section: Section, offset: u64) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::LengthOverflow {
        section,
        count: u64::from(u32::MAX) + 1,
        offset,
        within: Name::NONE,
    })
}

/// The range of a string whose u64 length prefix starts at `offset`.
fn string_range(offset: u64, text: &[u8]) -> Range<usize> {
    let start = (offset as usize).saturating_add(8);
    start..start.saturating_add(text.len())
}

fn store_entry(e: &MetadataEntry<'_>) -> IndexedEntry {
    let value = match e.value {
        Value::String(s) => {
            let start = s.offset() as usize;
            Stored::String(start, start.saturating_add(s.as_bytes().len()))
        }
        Value::Array(a) => {
            let start = a.offset() as usize;
            Stored::Array {
                elem: a.element_type(),
                len: a.len(),
                span: (start, start.saturating_add(a.raw_bytes().len())),
            }
        }
        Value::Uint8(v) => Stored::Scalar(ValueType::Uint8, v.into()),
        Value::Int8(v) => Stored::Scalar(ValueType::Int8, v as u8 as u64),
        Value::Uint16(v) => Stored::Scalar(ValueType::Uint16, v.into()),
        Value::Int16(v) => Stored::Scalar(ValueType::Int16, v as u16 as u64),
        Value::Uint32(v) => Stored::Scalar(ValueType::Uint32, v.into()),
        Value::Int32(v) => Stored::Scalar(ValueType::Int32, v as u32 as u64),
        Value::Float32(v) => Stored::Scalar(ValueType::Float32, v.to_bits().into()),
        Value::Bool(v) => Stored::Scalar(ValueType::Bool, v.into()),
        Value::Uint64(v) => Stored::Scalar(ValueType::Uint64, v),
        Value::Int64(v) => Stored::Scalar(ValueType::Int64, v as u64),
        Value::Float64(v) => Stored::Scalar(ValueType::Float64, v.to_bits()),
    };
    IndexedEntry {
        key: string_range(e.offset, e.key.as_bytes()),
        offset: e.offset,
        value_range: e.value_range.clone(),
        value,
    }
}

/// A scalar value from the bits [`store_entry`] kept.
fn scalar(ty: ValueType, bits: u64) -> Value<'static> {
    match ty {
        ValueType::Uint8 => Value::Uint8(bits as u8),
        ValueType::Int8 => Value::Int8(bits as u8 as i8),
        ValueType::Uint16 => Value::Uint16(bits as u16),
        ValueType::Int16 => Value::Int16(bits as u16 as i16),
        ValueType::Uint32 => Value::Uint32(bits as u32),
        ValueType::Int32 => Value::Int32(bits as u32 as i32),
        ValueType::Float32 => Value::Float32(f32::from_bits(bits as u32)),
        ValueType::Bool => Value::Bool(bits != 0),
        ValueType::Uint64 => Value::Uint64(bits),
        ValueType::Int64 => Value::Int64(bits as i64),
        // Strings and arrays are stored as spans.
        ValueType::Float64 | ValueType::String | ValueType::Array => {
            Value::Float64(f64::from_bits(bits))
        }
    }
}

fn store_tensor(t: &TensorInfo<'_>) -> IndexedTensor {
    IndexedTensor {
        name: string_range(t.info_offset, t.name.as_bytes()),
        ggml_type: t.ggml_type,
        n_dims: t.n_dims,
        dims: t.dims,
        offset: t.offset,
        size: t.size,
        info_offset: t.info_offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Builder;

    #[test]
    fn the_builder_resumes_where_it_stopped() {
        let file = Builder::default()
            .kv_str("general.architecture", "test")
            .kv_u32("test.block_count", 1)
            .tensor("a", &[4], 0, &[0; 16])
            .tensor("b", &[4], 0, &[0; 16])
            .build();
        let whole = GgufIndex::parse_header(&file).unwrap();
        let mut builder = IndexBuilder::new();
        let mut asked = alloc::vec::Vec::new();
        let mut have = 0;
        let index = loop {
            match builder.parse(&file[..have]) {
                Ok(index) => break index,
                Err(Error::Truncated { needed, .. }) => {
                    asked.push(needed);
                    assert!(needed as usize > have);
                    have = needed as usize;
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(asked.len() > 3, "{asked:?}");
        assert_eq!(index.layout(), whole.layout());
        assert_eq!(index.tensor_count(), 2);
        assert_eq!(index.metadata_len(), 2);
        let view = index.view(&file, &file, 0);
        assert_eq!(view.architecture(), Some("test"));
        assert_eq!(view.tensor_info("b").unwrap().offset(), 32);
    }
}
