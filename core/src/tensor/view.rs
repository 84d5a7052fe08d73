//! Tensor views: a tensor's name, element type, dimensions and bytes, borrowed from the model
//! data, and typed slices over those bytes that check element type, byte order and alignment
//! instead of copying.
//!
//! These types do not assume GGUF: [`TensorType`] names the element type whatever format it
//! came from, and dimensions are row-major (outermost first), as numpy, PyTorch and
//! safetensors list them.

use core::fmt;
use core::ops::Deref;
use core::slice::ChunksExact;

use half::{bf16, f16};

use crate::endian::Endian;
use crate::error::{Error, Name, Result};
use crate::tensor::dtype::TensorType;

/// The most dimensions a [`TensorView`] holds (GGUF allows 4; a safetensors tensor of more is
/// refused).
pub const MAX_RANK: usize = 8;

/// A tensor's dimensions, row-major: the outermost (slowest-varying) first, at most
/// [`MAX_RANK`] of them, inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Dims {
    dims: [u64; MAX_RANK],
    rank: u8,
}

impl Dims {
    /// Dimensions given outermost first; `None` beyond [`MAX_RANK`].
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    pub(crate) fn new(row_major: &[u64]) -> Option<Dims> {
        let mut dims = [0u64; MAX_RANK];
        dims.get_mut(..row_major.len())?.copy_from_slice(row_major);
        Some(Dims {
            dims,
            // ok: at most MAX_RANK
            rank: row_major.len() as u8,
        })
    }

    /// Dimensions in GGUF's order (`ne[0]` first), reversed into row-major order.
    pub(crate) fn from_ggml(ne: &[u64]) -> Dims {
        let mut dims = [0u64; MAX_RANK];
        for (d, &n) in dims.iter_mut().zip(ne.iter().rev()) {
            *d = n;
        }
        Dims {
            dims,
            // ok: GGUF tensors have at most 4 dimensions
            rank: ne.len().min(MAX_RANK) as u8,
        }
    }

    /// Number of elements (1 for a scalar of rank 0), saturating.
    pub(crate) fn n_elements(&self) -> u64 {
        self.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }
}

impl Deref for Dims {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        self.dims.get(..usize::from(self.rank)).unwrap_or(&[])
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A tensor's name, type, dimensions and bytes, borrowed from the model data for `'data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorView<'data> {
    name: &'data str,
    dtype: TensorType,
    dims: Dims,
    endian: Endian,
    bytes: &'data [u8],
}

/// Element types a typed view can produce: `f32`, `half::f16`, `half::bf16`, `f64`, `i8`,
/// `i16`, `i32`, `i64`, `u8`, `u16`, `u32`, `u64`, each for exactly one tensor type.
pub trait TensorElement: bytemuck::Pod + sealed::Sealed {
    /// The tensor type whose elements are `Self`.
    const TYPE: TensorType;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! tensor_elements {
    ($($ty:ty => $variant:ident, $method:ident;)*) => {
        $(
            impl sealed::Sealed for $ty {}
            impl TensorElement for $ty {
                const TYPE: TensorType = TensorType::$variant;
            }
        )*

        impl<'data> TensorView<'data> {
            $(
                #[doc = concat!("The elements as `&[", stringify!($ty), "]`; the tensor must be `", stringify!($variant), "`.")]
                pub fn $method(&self) -> Result<&'data [$ty]> {
                    self.as_slice::<$ty>()
                }
            )*
        }
    };
}

tensor_elements! {
    f32 => F32, as_f32;
    f16 => F16, as_f16;
    bf16 => BF16, as_bf16;
    f64 => F64, as_f64;
    i8 => I8, as_i8;
    i16 => I16, as_i16;
    i32 => I32, as_i32;
    i64 => I64, as_i64;
    u8 => U8, as_u8;
    u16 => U16, as_u16;
    u32 => U32, as_u32;
    u64 => U64, as_u64;
}

impl<'data> TensorView<'data> {
    /// A view of `bytes` as a tensor. The caller vouches that `bytes` has the size `dims` and
    /// `dtype` imply (the parsers check it).
    pub(crate) fn new(
        name: &'data str,
        dtype: TensorType,
        dims: Dims,
        endian: Endian,
        bytes: &'data [u8],
    ) -> Self {
        TensorView {
            name,
            dtype,
            dims,
            endian,
            bytes,
        }
    }

    /// The tensor's name.
    pub fn name(&self) -> &'data str {
        self.name
    }

    /// The element type.
    pub fn dtype(&self) -> TensorType {
        self.dtype
    }

    /// Dimensions, row-major: the outermost (slowest-varying) first, as numpy, PyTorch and
    /// safetensors list them. GGUF stores them the other way round (`ne[0]` first): a GGUF
    /// [`TensorInfo::shape`](crate::gguf::TensorInfo::shape) of `[640, 262144]` is dims
    /// `[262144, 640]`.
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.n_elements()
    }

    /// The raw bytes exactly as stored, whatever the type or byte order.
    pub fn bytes(&self) -> &'data [u8] {
        self.bytes
    }

    /// Byte order of the stored elements.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// The elements as `&[T]`, without copying.
    ///
    /// # Errors
    /// [`Error::WrongTensorType`] unless the tensor is `T::TYPE`,
    /// [`Error::ForeignByteOrder`] if the file's byte order is not the host's, and
    /// [`Error::MisalignedData`] if the bytes are not aligned for `T` in memory (safetensors
    /// files promise no alignment: [`copy_to`](Self::copy_to) and
    /// [`to_vec`](Self::to_vec) read any tensor).
    pub fn as_slice<T: TensorElement>(&self) -> Result<&'data [T]> {
        self.check_element::<T>()?;
        // Size was checked against the type at parse time, so only alignment can fail here.
        bytemuck::try_cast_slice(self.bytes).map_err(|_| Error::MisalignedData {
            name: self.short_name(),
            // ok: alignments of the element types are at most 8
            align: core::mem::align_of::<T>() as u8,
        })
    }

    /// Copies the elements into `out`, wherever the bytes lie in memory: the accessor for
    /// tensors that are not aligned for `T`.
    ///
    /// ```
    /// # let file = weightmap_core::testing::sample_file();
    /// use weightmap_core::Gguf;
    /// let gguf = Gguf::parse(file)?;
    /// let mut weights = [0f32; 4];
    /// gguf.tensor("norm.weight")?.copy_to(&mut weights)?;
    /// assert_eq!(weights, [1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), weightmap_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongTensorType`], [`Error::ForeignByteOrder`] as for
    /// [`as_slice`](Self::as_slice), and [`Error::InvalidRange`] unless `out` holds exactly
    /// the tensor's elements.
    pub fn copy_to<T: TensorElement>(&self, out: &mut [T]) -> Result<()> {
        self.check_element::<T>()?;
        let dst: &mut [u8] = bytemuck::cast_slice_mut(out);
        if dst.len() != self.bytes.len() {
            return Err(Error::InvalidRange {
                offset: 0,
                len: dst.len() as u64,
                total: self.bytes.len() as u64,
            });
        }
        dst.copy_from_slice(self.bytes);
        Ok(())
    }

    /// The elements copied into a new `Vec`, wherever the bytes lie in memory.
    ///
    /// # Errors
    /// As [`copy_to`](Self::copy_to).
    #[cfg(feature = "alloc")]
    pub fn to_vec<T: TensorElement>(&self) -> Result<alloc::vec::Vec<T>> {
        self.check_element::<T>()?;
        let count = self.bytes.len() / core::mem::size_of::<T>();
        let mut out = alloc::vec![T::zeroed(); count];
        self.copy_to(&mut out)?;
        Ok(out)
    }

    /// Decodes blocks `blocks` of the tensor (elements, for a plain type) to `f32` into `out`,
    /// which holds exactly their elements; a large tensor streams through a small buffer
    /// this way. Values are those of the official `gguf.quants.dequantize` (see
    /// [`dequant`](crate::dequant)).
    ///
    /// ```
    /// # let file = weightmap_core::testing::sample_file();
    /// let gguf = weightmap_core::Gguf::parse(file)?;
    /// let norm = gguf.tensor("norm.weight")?;
    /// let mut tail = [0f32; 2];
    /// norm.decode_f32(2..4, &mut tail)?;
    /// assert_eq!(tail, [3.0, 4.0]);
    /// # Ok::<(), weightmap_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoDecoder`] for a type without a decoder, [`Error::ForeignByteOrder`] for a
    /// multi-byte type in a big-endian file (never numbers read in the wrong order),
    /// [`Error::InvalidRange`] for blocks past the tensor's end, [`Error::DecodeLength`] when
    /// `out` is not their element count.
    pub fn decode_f32(&self, blocks: core::ops::Range<u64>, out: &mut [f32]) -> Result<()> {
        if !crate::dequant::supports(self.dtype) {
            return Err(Error::NoDecoder { ty: self.dtype });
        }
        // The decoders read little-endian bytes on any host: a big-endian file's multi-byte
        // fields would come out as wrong numbers.
        if self.endian != Endian::Little && self.dtype.type_size() > 1 {
            return Err(Error::ForeignByteOrder {
                name: self.short_name(),
            });
        }
        let size = self.dtype.type_size();
        let total = self.bytes.len() as u64;
        let bad = || Error::InvalidRange {
            offset: blocks.start.saturating_mul(size),
            len: blocks.end.saturating_sub(blocks.start).saturating_mul(size),
            total,
        };
        let start = blocks.start.checked_mul(size).ok_or_else(bad)?;
        let end = blocks.end.checked_mul(size).ok_or_else(bad)?;
        if start > end || end > total {
            return Err(bad());
        }
        // ok: both are within the bytes' length
        let bytes = self
            .bytes
            .get(start as usize..end as usize)
            .ok_or_else(bad)?;
        crate::dequant::dequantize(self.dtype, bytes, out)
    }

    /// Every element decoded to `f32` in a new `Vec` (see [`decode_f32`](Self::decode_f32)).
    ///
    /// # Errors
    /// As [`decode_f32`](Self::decode_f32), and [`Error::OutOfMemory`] when the values do not
    /// fit in memory (decode block ranges into a smaller buffer instead).
    #[cfg(feature = "alloc")]
    pub fn to_f32(&self) -> Result<alloc::vec::Vec<f32>> {
        let size = self.dtype.type_size().max(1);
        let blocks = self.bytes.len() as u64 / size;
        // The element count of bytes that are in memory: no larger than they allow.
        let count = usize::try_from(blocks.saturating_mul(self.dtype.block_size()))
            .map_err(|_| Error::NoDecoder { ty: self.dtype })?;
        if !crate::dequant::supports(self.dtype) {
            return Err(Error::NoDecoder { ty: self.dtype });
        }
        // Zeroed pages straight from the allocator (calloc), or an error where the values
        // do not fit in memory: the count comes from the file.
        let mut out = bytemuck::allocation::try_zeroed_vec::<f32>(count).map_err(|()| {
            Error::OutOfMemory {
                ty: self.dtype,
                bytes: (count as u64).saturating_mul(4),
            }
        })?;
        self.decode_f32(0..blocks, &mut out)?;
        Ok(out)
    }

    /// Checks that the tensor's elements are `T`, in the host's byte order.
    fn check_element<T: TensorElement>(&self) -> Result<()> {
        if self.dtype != T::TYPE {
            return Err(Error::WrongTensorType {
                name: self.short_name(),
                actual: self.dtype,
                requested: T::TYPE,
            });
        }
        if self.endian != Endian::HOST && core::mem::size_of::<T>() > 1 {
            return Err(Error::ForeignByteOrder {
                name: self.short_name(),
            });
        }
        Ok(())
    }

    fn short_name(&self) -> Name {
        Name::new(self.name.as_bytes())
    }

    /// The blocks of a quantized or sub-byte tensor (or the elements of a plain one) as byte
    /// chunks of [`TensorType::type_size`] bytes each.
    pub fn blocks(&self) -> ChunksExact<'data, u8> {
        // type_size is at most 292 and never zero.
        let size = usize::try_from(self.dtype.type_size()).unwrap_or(1).max(1);
        self.bytes.chunks_exact(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_reverse_ggml_order() {
        let d = Dims::from_ggml(&[640, 262144]);
        assert_eq!(&*d, &[262144, 640]);
        assert_eq!(d.n_elements(), 640 * 262144);
        assert_eq!(&*Dims::from_ggml(&[]), &[] as &[u64]);
        assert_eq!(Dims::from_ggml(&[]).n_elements(), 1);
        assert_eq!(Dims::new(&[1; 9]), None);
        assert_eq!(&*Dims::new(&[2, 3]).unwrap(), &[2, 3]);
    }
}
