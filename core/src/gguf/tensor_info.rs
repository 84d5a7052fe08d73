//! The tensor-info table: each tensor's name, shape, ggml type and data offset, read one at a
//! time and validated as it is read.

use crate::endian::Endian;
use crate::error::{Error, Name, Result, Section};
use crate::gguf::cursor::Cursor;
use crate::gguf::format::MAX_DIMS;
use crate::gguf::ggml::{GgmlType, TypeIdError};

/// One tensor's entry in the tensor-info table, borrowed from the file's header bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo<'data> {
    pub(crate) name: &'data str,
    pub(crate) ggml_type: GgmlType,
    pub(crate) n_dims: u8,
    pub(crate) dims: [u64; MAX_DIMS],
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) info_offset: u64,
}

impl<'data> TensorInfo<'data> {
    /// The tensor's name.
    pub fn name(&self) -> &'data str {
        self.name
    }

    /// Element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ggml_type
    }

    /// Dimensions as GGUF stores them: `ne[0]` (the fastest-varying one) first. This is the
    /// reverse of the row-major order of [`crate::TensorView::dims`].
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
    pub fn info_offset(&self) -> u64 {
        self.info_offset
    }
}

/// Walks the tensor-info table from a given tensor on, yielding each as it is validated and
/// stopping after the first error.
#[derive(Clone)]
pub(crate) struct TensorWalker<'a> {
    cur: Cursor<'a>,
    index: u64,
    count: u64,
    alignment: u32,
}

impl<'a> TensorWalker<'a> {
    /// A walker at tensor `index` (of `count`), whose info starts at byte `pos`.
    pub(crate) fn resume(
        bytes: &'a [u8],
        endian: Endian,
        (pos, index, count): (usize, u64, u64),
        alignment: u32,
    ) -> Result<Self> {
        let cur = Cursor::new(bytes, pos, endian, Section::TensorInfo);
        // Each info needs at least a name length, n_dims, type and offset: 8 + 4 + 4 + 8.
        // Checked where the table starts, as in MetadataWalker::resume.
        if index == 0 {
            cur.ensure_room(count, 24)?;
        }
        Ok(TensorWalker {
            cur,
            index,
            count,
            alignment,
        })
    }

    /// Where the next info starts (after the table once the walker is exhausted).
    pub(crate) fn pos(&self) -> usize {
        self.cur.pos()
    }

    /// The position of the next tensor in the table.
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    fn info(&mut self) -> Result<TensorInfo<'a>> {
        let info_offset = self.cur.pos() as u64;
        let name_bytes = self.cur.string()?;
        if name_bytes.is_empty() {
            return Err(Error::EmptyTensorName {
                index: self.index,
                offset: info_offset,
            });
        }
        let name = core::str::from_utf8(name_bytes).map_err(|_| Error::TensorNameNotUtf8 {
            index: self.index,
            name: Name::new(name_bytes),
            offset: info_offset,
        })?;
        self.info_of(name, info_offset)
            .map_err(|e| e.within(name_bytes))
    }

    /// Reads the dimensions, type and offset of the tensor whose name was just read.
    fn info_of(&mut self, name: &'a str, info_offset: u64) -> Result<TensorInfo<'a>> {
        let short = || Name::new(name.as_bytes());
        let dims_offset = self.cur.pos() as u64;
        let n_dims = self.cur.u32()?;
        if n_dims as usize > MAX_DIMS {
            return Err(Error::TooManyDims {
                name: short(),
                n_dims,
                offset: dims_offset,
            });
        }
        let mut dims = [1u64; MAX_DIMS];
        let mut n_elements = 1u64;
        for (axis, dim) in (0u8..).zip(dims.iter_mut().take(n_dims as usize)) {
            let at = self.cur.pos() as u64;
            let value = self.cur.u64()?;
            if value > i64::MAX as u64 {
                return Err(Error::NegativeDim {
                    name: short(),
                    axis,
                    value: value as i64,
                    offset: at,
                });
            }
            n_elements = n_elements
                .checked_mul(value)
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or(Error::TensorTooLarge {
                    name: short(),
                    offset: info_offset,
                })?;
            *dim = value;
        }
        let type_offset = self.cur.pos() as u64;
        let type_id = self.cur.u32()?;
        let ggml_type = GgmlType::from_id(type_id).map_err(|e| match e {
            TypeIdError::Removed(type_id) => Error::RemovedGgmlType {
                name: short(),
                type_id,
                offset: type_offset,
            },
            TypeIdError::Unknown(type_id) => Error::UnknownGgmlType {
                name: short(),
                type_id,
                offset: type_offset,
            },
        })?;
        let offset_at = self.cur.pos() as u64;
        let offset = self.cur.u64()?;
        let shape = dims.get(..n_dims as usize).unwrap_or(&[]);
        // With no dimensions, ggml's ne[0] is 1: a scalar of a block type is rejected.
        let ne0 = shape.first().copied().unwrap_or(1);
        if ne0 % ggml_type.block_size() != 0 {
            return Err(Error::NotBlockMultiple {
                name: short(),
                ggml_type,
                ne0,
                offset: info_offset,
            });
        }
        // Sizes past 63 bits cannot be offsets in any file (and ggml pads them with wrap-around).
        let size = ggml_type
            .byte_size(shape)
            .filter(|&s| s <= i64::MAX as u64)
            .ok_or(Error::TensorTooLarge {
                name: short(),
                offset: info_offset,
            })?;
        if offset % u64::from(self.alignment) != 0 {
            return Err(Error::MisalignedTensor {
                name: short(),
                value: offset,
                // ok: the alignment is a power of two below 2^32
                alignment_shift: self.alignment.trailing_zeros() as u8,
                offset: offset_at,
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn info_bytes(name: &[u8], dims: &[u64], type_id: u32, offset: u64) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u64).to_le_bytes());
        v.extend_from_slice(name);
        v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            v.extend_from_slice(&d.to_le_bytes());
        }
        v.extend_from_slice(&type_id.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
        v
    }

    fn first(bytes: &[u8], alignment: u32) -> Result<TensorInfo<'_>> {
        TensorWalker::resume(bytes, Endian::Little, (0, 0, 1), alignment)?
            .next()
            .unwrap()
    }

    #[test]
    fn reads_an_info() {
        let bytes = info_bytes(b"w", &[256, 3], 12, 64);
        let t = first(&bytes, 32).unwrap();
        assert_eq!((t.name(), t.shape(), t.offset()), ("w", &[256, 3][..], 64));
        assert_eq!(
            (t.size(), t.n_elements(), t.info_offset()),
            (144 * 3, 768, 0)
        );
    }

    #[test]
    fn errors_carry_name_and_offset() {
        let bytes = info_bytes(b"w", &[33], 8, 0);
        assert_eq!(
            first(&bytes, 32),
            Err(Error::NotBlockMultiple {
                name: Name::new(b"w"),
                ggml_type: GgmlType::Q8_0,
                ne0: 33,
                offset: 0
            })
        );
        let bytes = info_bytes(b"w", &[4], 0, 48);
        let err = first(&bytes, 32).unwrap_err();
        assert_eq!(
            err,
            Error::MisalignedTensor {
                name: Name::new(b"w"),
                value: 48,
                alignment_shift: 5,
                offset: 25
            }
        );
        assert!(
            alloc::string::ToString::to_string(&err).contains("alignment 32"),
            "{err}"
        );
        let bytes = info_bytes(b"w", &[4, u64::MAX], 0, 0);
        assert!(matches!(
            first(&bytes, 32),
            Err(Error::NegativeDim {
                axis: 1,
                value: -1,
                offset: 21,
                ..
            })
        ));
    }
}
