//! `Gguf<D>`: a GGUF file that owns its [`ModelData`] and a compact index built in one pass,
//! with name lookups and the checks that need memory (duplicates, overlapping tensors).

use alloc::vec::Vec;
use core::ops::Range;

use crate::borrowed::view;
use crate::cursor::Endian;
use crate::data::ModelData;
use crate::error::{Error, Name, Result, Section};
use crate::ggml::GgmlType;
use crate::tensor::TensorView;
use crate::value::{Array, GgufStr, Value, ValueType};
use crate::walk::{walk, Layout, MetadataEntry, TensorInfo, MAX_DIMS};

/// A metadata value as kept in the index: scalars decoded, strings and arrays as spans.
#[derive(Debug, Clone, Copy)]
enum StoredValue {
    Scalar(Value<'static>),
    String {
        start: usize,
        len: usize,
    },
    Array {
        elem: ValueType,
        len: u64,
        start: usize,
        end: usize,
    },
}

#[derive(Debug, Clone)]
struct IndexedEntry {
    key: Range<usize>,
    offset: usize,
    value_range: Range<usize>,
    value: StoredValue,
}

#[derive(Debug, Clone)]
struct IndexedTensor {
    name: Range<usize>,
    ggml_type: GgmlType,
    n_dims: u8,
    dims: [u64; MAX_DIMS],
    offset: u64,
    size: u64,
    info_offset: usize,
}

/// A parsed GGUF file: the model data plus an index of its metadata and tensors.
///
/// Parsing reads the header, every metadata entry and every tensor info once, validating each
/// count, length and offset; nothing is copied out of the data. Values are decoded when read.
///
/// The index costs about 90 bytes per metadata entry and 100 per tensor (36 KB for Gemma 3
/// 270M), never a number read from the file: a crafted file of tiny entries can make it at most
/// about seven times the size of its header sections. [`crate::GgufRef`] allocates nothing.
///
/// ```
/// # let bytes = weightmap_core::testing::sample_file();
/// use weightmap_core::{Gguf, GgmlType};
/// let gguf = Gguf::parse(bytes)?; // any ModelData: Vec<u8>, &[u8], a memory map...
/// assert_eq!(gguf.get("general.architecture").and_then(|v| v.as_str()), Some("test"));
/// let norm = gguf.tensor("norm.weight")?;
/// assert_eq!(norm.ggml_type(), GgmlType::F32);
/// let weights: &[f32] = norm.as_f32()?;
/// assert_eq!(weights, &[1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), weightmap_core::Error>(())
/// ```
pub struct Gguf<D> {
    data: D,
    layout: Layout,
    entries: Vec<IndexedEntry>,
    tensors: Vec<IndexedTensor>,
    /// Entry indices sorted by key, for lookups.
    keys_sorted: Vec<u32>,
    /// Tensor indices sorted by name, for lookups.
    names_sorted: Vec<u32>,
}

impl<D: ModelData> Gguf<D> {
    /// Parses and validates a whole file, including that every tensor's data lies inside it
    /// and that no two tensors overlap.
    pub fn parse(data: D) -> Result<Self> {
        Self::build(data, true)
    }

    /// Parses the header, metadata and tensor table of data that may be only a prefix of the
    /// file. A prefix that ends before the tensor table does gives [`Error::Truncated`] with
    /// the bytes needed; [`Gguf::required_len`] says how long the whole file must be.
    pub fn parse_header(data: D) -> Result<Self> {
        Self::build(data, false)
    }

    fn build(data: D, check_data: bool) -> Result<Self> {
        let bytes = data.bytes();
        let mut entries = Vec::new();
        let mut tensors = Vec::new();
        let layout = walk(
            bytes,
            |e| {
                room_for_one_more(entries.len(), Section::Metadata, e.offset)?;
                entries.push(store_entry(&e));
                Ok(())
            },
            |t| {
                room_for_one_more(tensors.len(), Section::TensorInfo, t.info_offset)?;
                tensors.push(store_tensor(&t));
                Ok(())
            },
        )?;
        let mut gguf = Gguf {
            data,
            layout,
            entries,
            tensors,
            keys_sorted: Vec::new(),
            names_sorted: Vec::new(),
        };
        gguf.index_names()?;
        gguf.check_tensor_ranges(check_data)?;
        Ok(gguf)
    }

    /// Sorts keys and tensor names for lookup, rejecting duplicates.
    fn index_names(&mut self) -> Result<()> {
        let bytes = self.data.bytes();
        self.keys_sorted = sort_unique(&self.entries, |e| span(bytes, &e.key)).map_err(|e| {
            Error::DuplicateKey {
                key: Name::new(span(bytes, &e.key)),
                offset: e.offset as u64,
            }
        })?;
        self.names_sorted = sort_unique(&self.tensors, |t| span(bytes, &t.name)).map_err(|t| {
            Error::DuplicateTensor {
                name: Name::new(span(bytes, &t.name)),
                offset: t.info_offset as u64,
            }
        })?;
        Ok(())
    }

    /// Checks every tensor's range for overflow and (if asked) the end of the data, and that
    /// no two non-empty tensors overlap.
    fn check_tensor_ranges(&self, check_data: bool) -> Result<()> {
        let limit = check_data.then_some(self.data.bytes().len() as u64);
        let mut spans = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let (start, end) = self.layout.data_span(&self.info(t), limit)?;
            if start < end {
                spans.push((start, end, t));
            }
        }
        spans.sort_unstable_by_key(|&(start, ..)| start);
        for pair in spans.windows(2) {
            if let [(_, prev_end, prev), (start, _, t)] = *pair {
                if start < prev_end {
                    return Err(Error::OverlappingTensors {
                        name: Name::new(span(self.data.bytes(), &t.name)),
                        other: Name::new(span(self.data.bytes(), &prev.name)),
                    });
                }
            }
        }
        Ok(())
    }

    /// The model data.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Gives the model data back.
    pub fn into_data(self) -> D {
        self.data
    }

    /// Section offsets, version, byte order and alignment.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.layout.header.version
    }

    /// Byte order of the file.
    pub fn endian(&self) -> Endian {
        self.layout.header.endian
    }

    /// Alignment of tensor data.
    pub fn alignment(&self) -> u32 {
        self.layout.alignment
    }

    /// Absolute offset of the data section.
    pub fn data_offset(&self) -> usize {
        self.layout.data_offset
    }

    /// How many bytes the whole file must have: the end of the last tensor's data (or of the
    /// tensor table when there are no tensors).
    pub fn required_len(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| {
                (self.layout.data_offset as u64)
                    .saturating_add(t.offset)
                    .saturating_add(t.size)
            })
            .max()
            .unwrap_or(self.layout.tensor_info_end as u64)
    }

    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        self.entries.len()
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = MetadataEntry<'_>> + '_ {
        self.entries.iter().map(|e| self.entry(e))
    }

    /// The entry for `key`.
    pub fn entry_for(&self, key: &str) -> Option<MetadataEntry<'_>> {
        let bytes = self.data.bytes();
        let found = lookup(&self.keys_sorted, &self.entries, key.as_bytes(), |e| {
            span(bytes, &e.key)
        })?;
        Some(self.entry(found))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        self.entry_for(key).map(|e| e.value())
    }

    /// `general.architecture`, if present and a string.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture")?.as_str()
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = TensorInfo<'_>> + '_ {
        self.tensors.iter().map(|t| self.info(t))
    }

    /// The info of the tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Option<TensorInfo<'_>> {
        let bytes = self.data.bytes();
        let found = lookup(&self.names_sorted, &self.tensors, name.as_bytes(), |t| {
            span(bytes, &t.name)
        })?;
        Some(self.info(found))
    }

    /// The tensor called `name` with its bytes.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let info = self.tensor_info(name).ok_or(Error::TensorNotFound {
            name: Name::new(name.as_bytes()),
        })?;
        self.tensor_view(&info)
    }

    /// The bytes of a tensor listed by [`Gguf::tensors`].
    pub fn tensor_view<'s>(&'s self, info: &TensorInfo<'s>) -> Result<TensorView<'s>> {
        view(self.data.bytes(), &self.layout, info)
    }

    /// Absolute byte range of a tensor's data in the file (checked against the data's length).
    pub fn tensor_range(&self, info: &TensorInfo<'_>) -> Result<Range<usize>> {
        self.layout.data_range(info, self.data.bytes().len())
    }

    fn entry(&self, e: &IndexedEntry) -> MetadataEntry<'_> {
        let bytes = self.data.bytes();
        let value = match e.value {
            StoredValue::Scalar(v) => v,
            StoredValue::String { start, len } => {
                let s = bytes.get(start..start.saturating_add(len)).unwrap_or(&[]);
                Value::String(GgufStr::new(s, start))
            }
            StoredValue::Array {
                elem,
                len,
                start,
                end,
            } => {
                let body = bytes.get(start..end).unwrap_or(&[]);
                Value::Array(Array::from_parts(elem, len, body, start, self.endian(), 1))
            }
        };
        MetadataEntry {
            key: core::str::from_utf8(span(bytes, &e.key)).unwrap_or(""),
            value,
            offset: e.offset,
            value_range: e.value_range.clone(),
        }
    }

    fn info(&self, t: &IndexedTensor) -> TensorInfo<'_> {
        TensorInfo {
            name: core::str::from_utf8(span(self.data.bytes(), &t.name)).unwrap_or(""),
            ggml_type: t.ggml_type,
            n_dims: t.n_dims,
            dims: t.dims,
            offset: t.offset,
            size: t.size,
            info_offset: t.info_offset,
        }
    }
}

impl<D> core::fmt::Debug for Gguf<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gguf")
            .field("layout", &self.layout)
            .field("metadata_len", &self.entries.len())
            .field("tensor_count", &self.tensors.len())
            .finish_non_exhaustive()
    }
}

fn span<'a>(bytes: &'a [u8], range: &Range<usize>) -> &'a [u8] {
    bytes.get(range.clone()).unwrap_or(&[])
}

/// Positions of `items` sorted by `name`; on a duplicate name, the later of the two items.
fn sort_unique<'b, T>(
    items: &[T],
    name: impl Fn(&T) -> &'b [u8],
) -> core::result::Result<Vec<u32>, &T> {
    let key = |i: &u32| items.get(*i as usize).map(&name).unwrap_or(&[]);
    // Counts were checked to fit in u32 before indexing.
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.cmp(b)));
    for pair in order.windows(2) {
        if let [a, b] = *pair {
            if let (true, Some(later)) = (key(&a) == key(&b), items.get(b as usize)) {
                return Err(later);
            }
        }
    }
    Ok(order)
}

/// The item whose name is `wanted`, by binary search over `sorted` positions.
fn lookup<'s, 'b, T>(
    sorted: &[u32],
    items: &'s [T],
    wanted: &[u8],
    name: impl Fn(&T) -> &'b [u8],
) -> Option<&'s T> {
    let key = |i: &u32| items.get(*i as usize).map(&name).unwrap_or(&[]);
    let found = sorted.binary_search_by(|i| key(i).cmp(wanted)).ok()?;
    items.get(*sorted.get(found)? as usize)
}

/// Index positions are `u32`: a file claiming more entries than that is rejected as soon as it
/// gets there (no real file comes near: each entry takes at least 12 bytes).
fn room_for_one_more(len: usize, section: Section, offset: usize) -> Result<()> {
    if len < u32::MAX as usize {
        return Ok(());
    }
    Err(Error::LengthOverflow {
        section,
        count: u64::from(u32::MAX) + 1,
        offset: offset as u64,
        within: None,
    })
}

/// The range of a string whose u64 length prefix starts at `offset`.
fn string_range(offset: usize, text: &str) -> Range<usize> {
    let start = offset.saturating_add(8);
    start..start.saturating_add(text.len())
}

fn store_entry(e: &MetadataEntry<'_>) -> IndexedEntry {
    let value = match e.value {
        Value::String(s) => StoredValue::String {
            start: s.offset(),
            len: s.as_bytes().len(),
        },
        Value::Array(a) => StoredValue::Array {
            elem: a.element_type(),
            len: a.len(),
            start: a.offset(),
            end: a.offset().saturating_add(a.raw_bytes().len()),
        },
        Value::Uint8(v) => StoredValue::Scalar(Value::Uint8(v)),
        Value::Int8(v) => StoredValue::Scalar(Value::Int8(v)),
        Value::Uint16(v) => StoredValue::Scalar(Value::Uint16(v)),
        Value::Int16(v) => StoredValue::Scalar(Value::Int16(v)),
        Value::Uint32(v) => StoredValue::Scalar(Value::Uint32(v)),
        Value::Int32(v) => StoredValue::Scalar(Value::Int32(v)),
        Value::Float32(v) => StoredValue::Scalar(Value::Float32(v)),
        Value::Bool(v) => StoredValue::Scalar(Value::Bool(v)),
        Value::Uint64(v) => StoredValue::Scalar(Value::Uint64(v)),
        Value::Int64(v) => StoredValue::Scalar(Value::Int64(v)),
        Value::Float64(v) => StoredValue::Scalar(Value::Float64(v)),
    };
    IndexedEntry {
        key: string_range(e.offset, e.key),
        offset: e.offset,
        value_range: e.value_range.clone(),
        value,
    }
}

fn store_tensor(t: &TensorInfo<'_>) -> IndexedTensor {
    IndexedTensor {
        name: string_range(t.info_offset, t.name),
        ggml_type: t.ggml_type,
        n_dims: t.n_dims,
        dims: t.dims,
        offset: t.offset,
        size: t.size,
        info_offset: t.info_offset,
    }
}
