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

use crate::dtype::TensorType;
use crate::error::{Error, Name, Result};
use crate::format::Endian;
use crate::ggml::GgmlType;

/// The most dimensions a [`TensorView`] holds (GGUF allows 4).
pub const MAX_RANK: usize = 8;

/// A tensor's dimensions, row-major: the outermost (slowest-varying) first, at most
/// [`MAX_RANK`] of them, inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Dims {
    dims: [u64; MAX_RANK],
    rank: u8,
}

impl Dims {
    /// Dimensions given outermost first; `None` beyond [`MAX_RANK`].
    #[cfg(test)]
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
/// `i16`, `i32`, `i64`, each for exactly one tensor type.
pub trait TensorElement: bytemuck::Pod + sealed::Sealed {
    /// The ggml type whose elements are `Self`.
    const GGML_TYPE: GgmlType;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! tensor_elements {
    ($($ty:ty => $ggml:ident, $method:ident;)*) => {
        $(
            impl sealed::Sealed for $ty {}
            impl TensorElement for $ty {
                const GGML_TYPE: GgmlType = GgmlType::$ggml;
            }
        )*

        impl<'data> TensorView<'data> {
            $(
                #[doc = concat!("The elements as `&[", stringify!($ty), "]`; the tensor must be `", stringify!($ggml), "`.")]
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
    /// [`TensorInfo::shape`](crate::TensorInfo::shape) of `[640, 262144]` is dims
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
    /// [`Error::WrongTensorType`] unless the tensor is `T::GGML_TYPE`,
    /// [`Error::ForeignByteOrder`] if the file's byte order is not the host's, and
    /// [`Error::MisalignedData`] if the bytes are not aligned for `T` in memory.
    pub fn as_slice<T: TensorElement>(&self) -> Result<&'data [T]> {
        let name = || Name::new(self.name.as_bytes());
        if self.dtype != T::GGML_TYPE {
            return Err(Error::WrongTensorType {
                name: name(),
                actual: self.dtype,
                requested: TensorType::Ggml(T::GGML_TYPE),
            });
        }
        if self.endian != Endian::HOST && core::mem::size_of::<T>() > 1 {
            return Err(Error::ForeignByteOrder { name: name() });
        }
        // Size was checked against the type at parse time, so only alignment can fail here.
        bytemuck::try_cast_slice(self.bytes).map_err(|_| Error::MisalignedData {
            name: name(),
            // ok: alignments of the element types are at most 8
            align: core::mem::align_of::<T>() as u8,
        })
    }

    /// The blocks of a quantized tensor (or the elements of a plain one) as byte chunks of
    /// [`TensorType::type_size`] bytes each.
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
