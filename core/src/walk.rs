//! The single validating pass over a GGUF file: header, metadata entries and tensor infos, each
//! yielded by an iterator that reads in place and checks every count, length and offset.

use core::ops::Range;

use zerocopy::byteorder::{BigEndian, ByteOrder, LittleEndian, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::cursor::{Cursor, Endian};
use crate::error::{Error, Name, Result, Section};
use crate::ggml::{GgmlType, TypeIdError};
use crate::range::align_up;
use crate::value::{read_value, Value, ValueType};

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u32 = 32;
/// The most dimensions a tensor may have.
pub const MAX_DIMS: usize = 4;
/// Size of the fixed header.
pub const HEADER_SIZE: usize = 24;
/// The key that sets the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// The fixed header as stored, read in place with zerocopy.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader<O: ByteOrder> {
    magic: [u8; 4],
    version: U32<O>,
    n_tensors: U64<O>,
    n_kv: U64<O>,
}

/// What the fixed header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Byte order of every number in the file.
    pub endian: Endian,
    /// Number of tensor infos.
    pub n_tensors: u64,
    /// Number of metadata entries.
    pub n_kv: u64,
}

impl Header {
    /// Reads and checks the 24-byte header.
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        if let Some(magic) = bytes.first_chunk::<4>() {
            if *magic != MAGIC {
                return Err(Error::BadMagic { found: *magic });
            }
        }
        let truncated = Error::Truncated {
            section: Section::Header,
            needed: HEADER_SIZE as u64,
            have: bytes.len() as u64,
            within: None,
        };
        let (le, _) = RawHeader::<LittleEndian>::ref_from_prefix(bytes).map_err(|_| truncated)?;
        let version = le.version.get();
        // A big-endian file's version word reads byte-swapped: 3 becomes 0x03000000.
        let header = if version & 0xFFFF == 0 && version != 0 {
            let (be, _) = RawHeader::<BigEndian>::ref_from_prefix(bytes).map_err(|_| truncated)?;
            Header {
                version: be.version.get(),
                endian: Endian::Big,
                n_tensors: be.n_tensors.get(),
                n_kv: be.n_kv.get(),
            }
        } else {
            Header {
                version,
                endian: Endian::Little,
                n_tensors: le.n_tensors.get(),
                n_kv: le.n_kv.get(),
            }
        };
        if !matches!(header.version, 2 | 3) {
            return Err(Error::UnsupportedVersion {
                version: header.version,
            });
        }
        Ok(header)
    }
}

/// One metadata entry, borrowed from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEntry<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: Value<'a>,
    pub(crate) offset: usize,
    pub(crate) value_range: Range<usize>,
}

impl<'a> MetadataEntry<'a> {
    /// The key, e.g. `general.architecture`.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The value.
    pub fn value(&self) -> Value<'a> {
        self.value
    }

    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        self.value.value_type()
    }

    /// Absolute offset of the entry (its key's length prefix) in the file.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Absolute byte range of the value (after its type id).
    pub fn value_range(&self) -> Range<usize> {
        self.value_range.clone()
    }
}

/// Walks the metadata section, yielding each entry as it is validated.
pub(crate) struct MetadataWalker<'a> {
    cur: Cursor<'a>,
    index: u64,
    count: u64,
}

impl<'a> MetadataWalker<'a> {
    pub(crate) fn new(bytes: &'a [u8], header: &Header) -> Result<Self> {
        let cur = Cursor::new(bytes, HEADER_SIZE, header.endian, Section::Metadata);
        // Each entry needs at least a key length (8) and a value type (4).
        cur.ensure_room(header.n_kv, 12)?;
        Ok(MetadataWalker {
            cur,
            index: 0,
            count: header.n_kv,
        })
    }

    /// Where the walker stands: after the last entry once it is exhausted.
    pub(crate) fn pos(&self) -> usize {
        self.cur.pos()
    }

    fn entry(&mut self) -> Result<MetadataEntry<'a>> {
        let offset = self.cur.pos();
        let key_bytes = self.cur.string()?;
        if key_bytes.is_empty() {
            return Err(Error::EmptyKey {
                index: self.index,
                offset: offset as u64,
            });
        }
        let key = core::str::from_utf8(key_bytes).map_err(|_| Error::KeyNotUtf8 {
            index: self.index,
            key: Name::new(key_bytes),
            offset: offset as u64,
        })?;
        self.value_of(key, offset).map_err(|e| e.within(key_bytes))
    }

    /// Reads the type and value of the entry whose key was just read.
    fn value_of(&mut self, key: &'a str, offset: usize) -> Result<MetadataEntry<'a>> {
        let key_bytes = key.as_bytes();
        let type_offset = self.cur.pos();
        let type_id = self.cur.u32()?;
        let ty = ValueType::from_id(type_id).ok_or(Error::UnknownValueType {
            key: Name::new(key_bytes),
            type_id,
            offset: type_offset as u64,
        })?;
        let value_start = self.cur.pos();
        let value = read_value(&mut self.cur, ty, key_bytes, 0)?;
        Ok(MetadataEntry {
            key,
            value,
            offset,
            value_range: value_start..self.cur.pos(),
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
            offset: entry.offset as u64,
        });
    };
    if value == 0 || !value.is_power_of_two() {
        return Err(Error::InvalidAlignment {
            value,
            offset: entry.offset as u64,
        });
    }
    Ok(value)
}

/// One tensor's entry in the tensor-info table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    pub(crate) name: &'a str,
    pub(crate) ggml_type: GgmlType,
    pub(crate) n_dims: u8,
    pub(crate) dims: [u64; MAX_DIMS],
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) info_offset: usize,
}

impl<'a> TensorInfo<'a> {
    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// Dimensions in file order (`ne[0]` first, the fastest-varying one).
    pub fn shape(&self) -> &[u64] {
        self.dims.get(..usize::from(self.n_dims)).unwrap_or(&[])
    }

    /// Number of elements (1 for a tensor with no dimensions).
    pub fn n_elements(&self) -> u64 {
        // Checked when the file was parsed: the product fits in 63 bits.
        self.shape()
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Offset of the data relative to the start of the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the data in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Absolute offset of this entry in the tensor-info table.
    pub fn info_offset(&self) -> usize {
        self.info_offset
    }
}

/// Walks the tensor-info table, yielding each tensor as it is validated.
pub(crate) struct TensorWalker<'a> {
    cur: Cursor<'a>,
    index: u64,
    count: u64,
    alignment: u32,
}

impl<'a> TensorWalker<'a> {
    pub(crate) fn new(
        bytes: &'a [u8],
        start: usize,
        header: &Header,
        alignment: u32,
    ) -> Result<Self> {
        let cur = Cursor::new(bytes, start, header.endian, Section::TensorInfo);
        // Each info needs at least a name length, n_dims, type and offset: 8 + 4 + 4 + 8.
        cur.ensure_room(header.n_tensors, 24)?;
        Ok(TensorWalker {
            cur,
            index: 0,
            count: header.n_tensors,
            alignment,
        })
    }

    pub(crate) fn pos(&self) -> usize {
        self.cur.pos()
    }

    fn info(&mut self) -> Result<TensorInfo<'a>> {
        let info_offset = self.cur.pos();
        let name_bytes = self.cur.string()?;
        if name_bytes.is_empty() {
            return Err(Error::EmptyTensorName {
                index: self.index,
                offset: info_offset as u64,
            });
        }
        let name = core::str::from_utf8(name_bytes).map_err(|_| Error::TensorNameNotUtf8 {
            index: self.index,
            name: Name::new(name_bytes),
            offset: info_offset as u64,
        })?;
        self.info_of(name, info_offset)
            .map_err(|e| e.within(name_bytes))
    }

    /// Reads the dimensions, type and offset of the tensor whose name was just read.
    fn info_of(&mut self, name: &'a str, info_offset: usize) -> Result<TensorInfo<'a>> {
        let name_bytes = name.as_bytes();
        let short = || Name::new(name_bytes);
        let dims_offset = self.cur.pos();
        let n_dims = self.cur.u32()?;
        if n_dims as usize > MAX_DIMS {
            return Err(Error::TooManyDims {
                name: short(),
                n_dims,
                offset: dims_offset as u64,
            });
        }
        let mut dims = [1u64; MAX_DIMS];
        let mut n_elements = 1u64;
        for (axis, dim) in dims.iter_mut().take(n_dims as usize).enumerate() {
            let at = self.cur.pos();
            let value = self.cur.u64()?;
            if value > i64::MAX as u64 {
                return Err(Error::NegativeDim {
                    name: short(),
                    axis: axis as u32,
                    value: value as i64,
                    offset: at as u64,
                });
            }
            n_elements = n_elements
                .checked_mul(value)
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or(Error::TensorTooLarge {
                    name: short(),
                    offset: info_offset as u64,
                })?;
            *dim = value;
        }
        let type_offset = self.cur.pos();
        let type_id = self.cur.u32()?;
        let ggml_type = GgmlType::from_id(type_id).map_err(|e| match e {
            TypeIdError::Removed(type_id) => Error::RemovedGgmlType {
                name: short(),
                type_id,
                offset: type_offset as u64,
            },
            TypeIdError::Unknown(type_id) => Error::UnknownGgmlType {
                name: short(),
                type_id,
                offset: type_offset as u64,
            },
        })?;
        let offset = self.cur.u64()?;
        let shape = dims.get(..n_dims as usize).unwrap_or(&[]);
        // With no dimensions, ggml's ne[0] is 1: a scalar of a block type is rejected.
        let ne0 = shape.first().copied().unwrap_or(1);
        if ne0 % ggml_type.block_size() != 0 {
            return Err(Error::NotBlockMultiple {
                name: short(),
                ggml_type,
                ne0,
                block_size: ggml_type.block_size(),
            });
        }
        // Sizes past 63 bits cannot be offsets in any file (and ggml pads them with wrap-around).
        let size = ggml_type
            .byte_size(shape)
            .filter(|&s| s <= i64::MAX as u64)
            .ok_or(Error::TensorTooLarge {
                name: short(),
                offset: info_offset as u64,
            })?;
        if offset % u64::from(self.alignment) != 0 {
            return Err(Error::MisalignedTensor {
                name: short(),
                data_offset: offset,
                alignment: self.alignment,
            });
        }
        Ok(TensorInfo {
            name,
            ggml_type,
            n_dims: n_dims as u8,
            dims,
            offset,
            size,
            info_offset,
        })
    }
}

impl<'a> Iterator for TensorWalker<'a> {
    type Item = Result<TensorInfo<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let info = self.info();
        self.index = match info {
            Ok(_) => self.index + 1,
            Err(_) => self.count,
        };
        Some(info)
    }
}

/// Where the sections of a parsed file lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The fixed header.
    pub header: Header,
    /// Alignment of tensor data (from `general.alignment`, default 32).
    pub alignment: u32,
    /// Absolute offset of the tensor-info table.
    pub tensor_info_start: usize,
    /// Absolute offset just past the tensor-info table.
    pub tensor_info_end: usize,
    /// Absolute offset of the data section: `tensor_info_end` rounded up to `alignment`.
    pub data_offset: usize,
}

impl Layout {
    /// The absolute start and end of a tensor's data, checked for overflow and, when a length
    /// is given, against it. Computed in `u64`, so files beyond 4 GiB work on 32-bit targets
    /// when only their header is at hand.
    pub(crate) fn data_span(
        &self,
        info: &TensorInfo<'_>,
        limit: Option<u64>,
    ) -> Result<(u64, u64)> {
        let out_of_bounds = |start: u64, end: u64| Error::TensorOutOfBounds {
            name: Name::new(info.name.as_bytes()),
            start,
            end,
            file_len: limit.unwrap_or(u64::MAX),
        };
        let start = (self.data_offset as u64)
            .checked_add(info.offset)
            .ok_or(out_of_bounds(u64::MAX, u64::MAX))?;
        let end = start
            .checked_add(info.size)
            .ok_or(out_of_bounds(start, u64::MAX))?;
        match limit {
            Some(len) if end > len => Err(out_of_bounds(start, end)),
            _ => Ok((start, end)),
        }
    }

    /// The absolute byte range of a tensor's data, checked against `file_len`.
    pub(crate) fn data_range(
        &self,
        info: &TensorInfo<'_>,
        file_len: usize,
    ) -> Result<Range<usize>> {
        let (start, end) = self.data_span(info, Some(file_len as u64))?;
        // Both are at most file_len, a usize.
        Ok(start as usize..end as usize)
    }
}

/// Drives the whole pass, handing each entry and tensor info to a callback.
pub(crate) fn walk<'a>(
    bytes: &'a [u8],
    mut on_entry: impl FnMut(MetadataEntry<'a>) -> Result<()>,
    mut on_tensor: impl FnMut(TensorInfo<'a>) -> Result<()>,
) -> Result<Layout> {
    let header = Header::parse(bytes)?;
    let mut alignment: Option<u32> = None;
    let mut entries = MetadataWalker::new(bytes, &header)?;
    for entry in entries.by_ref() {
        let entry = entry?;
        if entry.key == ALIGNMENT_KEY {
            if alignment.is_some() {
                return Err(Error::DuplicateKey {
                    key: Name::new(entry.key.as_bytes()),
                    offset: entry.offset as u64,
                });
            }
            alignment = Some(alignment_of(&entry)?);
        }
        on_entry(entry)?;
    }
    let alignment = alignment.unwrap_or(DEFAULT_ALIGNMENT);
    let tensor_info_start = entries.pos();
    let mut tensors = TensorWalker::new(bytes, tensor_info_start, &header, alignment)?;
    for info in tensors.by_ref() {
        on_tensor(info?)?;
    }
    let tensor_info_end = tensors.pos();
    let data_offset = align_up(tensor_info_end as u64, u64::from(alignment))
        .and_then(|v| usize::try_from(v).ok())
        .ok_or(Error::LengthOverflow {
            section: Section::TensorData,
            count: u64::from(alignment),
            offset: tensor_info_end as u64,
            within: None,
        })?;
    Ok(Layout {
        header,
        alignment,
        tensor_info_start,
        tensor_info_end,
        data_offset,
    })
}
