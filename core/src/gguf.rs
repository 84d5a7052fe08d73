//! `Gguf<D>`: a GGUF file that owns its [`ModelData`] and a compact index built in one pass,
//! with name lookups and the checks that need memory (duplicates, overlapping tensors).

use alloc::vec::Vec;
use core::cmp::Ordering;
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
    String { start: usize, len: usize },
    Array { elem: ValueType, len: u64, start: usize, end: usize },
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
                entries.push(store_entry(&e));
                Ok(())
            },
            |t| {
                tensors.push(store_tensor(&t));
                Ok(())
            },
        )?;
        // Index positions are u32: more entries than that cannot fit in any real file.
        let too_many = |n: usize, section| Error::LengthOverflow {
            section,
            count: n as u64,
            offset: 0,
        };
        if u32::try_from(entries.len()).is_err() {
            return Err(too_many(entries.len(), Section::Metadata));
        }
        if u32::try_from(tensors.len()).is_err() {
            return Err(too_many(tensors.len(), Section::TensorInfo));
        }
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
        let key_of = |i: &u32| span(bytes, &self.entries[*i as usize].key);
        let mut keys: Vec<u32> = (0..self.entries.len() as u32).collect();
        keys.sort_unstable_by(|a, b| key_of(a).cmp(key_of(b)).then(a.cmp(b)));
        if let Some(pair) = keys.windows(2).find(|w| key_of(&w[0]) == key_of(&w[1])) {
            let later = &self.entries[pair[1] as usize];
            return Err(Error::DuplicateKey {
                key: Name::new(key_of(&pair[1])),
                offset: later.offset as u64,
            });
        }
        let name_of = |i: &u32| span(bytes, &self.tensors[*i as usize].name);
        let mut names: Vec<u32> = (0..self.tensors.len() as u32).collect();
        names.sort_unstable_by(|a, b| name_of(a).cmp(name_of(b)).then(a.cmp(b)));
        if let Some(pair) = names.windows(2).find(|w| name_of(&w[0]) == name_of(&w[1])) {
            let later = &self.tensors[pair[1] as usize];
            return Err(Error::DuplicateTensor {
                name: Name::new(name_of(&pair[1])),
                offset: later.info_offset as u64,
            });
        }
        self.keys_sorted = keys;
        self.names_sorted = names;
        Ok(())
    }

    /// Checks tensor ranges for overflow, overlap and (if asked) the end of the data.
    fn check_tensor_ranges(&self, check_data: bool) -> Result<()> {
        let mut by_start: Vec<u32> = (0..self.tensors.len() as u32)
            .filter(|&i| self.tensors[i as usize].size > 0)
            .collect();
        by_start.sort_unstable_by_key(|&i| self.tensors[i as usize].offset);
        let file_len = if check_data { self.data.bytes().len() } else { usize::MAX };
        let mut previous: Option<(u32, u64)> = None;
        for &i in &by_start {
            let info = self.info(i as usize);
            let range = self.layout.data_range(&info, file_len)?;
            if let Some((prev, prev_end)) = previous {
                if (range.start as u64) < prev_end {
                    return Err(Error::OverlappingTensors {
                        name: Name::new(info.name.as_bytes()),
                        other: Name::new(self.info(prev as usize).name.as_bytes()),
                    });
                }
            }
            previous = Some((i, range.end as u64));
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
            .map(|t| (self.layout.data_offset as u64).saturating_add(t.offset).saturating_add(t.size))
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
        (0..self.entries.len()).map(|i| self.entry(i))
    }

    /// The entry for `key`.
    pub fn entry_for(&self, key: &str) -> Option<MetadataEntry<'_>> {
        let bytes = self.data.bytes();
        let found = self
            .keys_sorted
            .binary_search_by(|&i| cmp_span(bytes, &self.entries[i as usize].key, key))
            .ok()?;
        Some(self.entry(self.keys_sorted[found] as usize))
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
        (0..self.tensors.len()).map(|i| self.info(i))
    }

    /// The info of the tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Option<TensorInfo<'_>> {
        let bytes = self.data.bytes();
        let found = self
            .names_sorted
            .binary_search_by(|&i| cmp_span(bytes, &self.tensors[i as usize].name, name))
            .ok()?;
        Some(self.info(self.names_sorted[found] as usize))
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

    fn entry(&self, i: usize) -> MetadataEntry<'_> {
        let bytes = self.data.bytes();
        let e = &self.entries[i];
        let value = match e.value {
            StoredValue::Scalar(v) => v,
            StoredValue::String { start, len } => {
                let s = bytes.get(start..start.saturating_add(len)).unwrap_or(&[]);
                Value::String(GgufStr::new(s, start))
            }
            StoredValue::Array { elem, len, start, end } => {
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

    fn info(&self, i: usize) -> TensorInfo<'_> {
        let t = &self.tensors[i];
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

fn cmp_span(bytes: &[u8], range: &Range<usize>, key: &str) -> Ordering {
    span(bytes, range).cmp(key.as_bytes())
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
