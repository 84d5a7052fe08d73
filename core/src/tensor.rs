//! Tensor views: a tensor's info together with its bytes, and typed slices over those bytes
//! that check element type, byte order and alignment instead of copying.

use core::slice::ChunksExact;

use half::{bf16, f16};

use crate::cursor::Endian;
use crate::error::{Error, Name, Result};
use crate::ggml::GgmlType;
use crate::walk::TensorInfo;

/// A tensor's info and its bytes, borrowed from the model data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorView<'a> {
    info: TensorInfo<'a>,
    bytes: &'a [u8],
    endian: Endian,
}

/// Element types a typed view can produce; each corresponds to exactly one [`GgmlType`].
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

        impl<'a> TensorView<'a> {
            $(
                #[doc = concat!("The elements as `&[", stringify!($ty), "]`; the tensor must be `", stringify!($ggml), "`.")]
                pub fn $method(&self) -> Result<&'a [$ty]> {
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

impl<'a> TensorView<'a> {
    pub(crate) fn new(info: TensorInfo<'a>, bytes: &'a [u8], endian: Endian) -> Self {
        TensorView {
            info,
            bytes,
            endian,
        }
    }

    /// The tensor's info (name, type, shape, offset, size).
    pub fn info(&self) -> &TensorInfo<'a> {
        &self.info
    }

    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        self.info.name()
    }

    /// The element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.info.ggml_type()
    }

    /// Dimensions, `ne[0]` first.
    pub fn shape(&self) -> &[u64] {
        self.info.shape()
    }

    /// The raw bytes exactly as stored, whatever the type or byte order.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Byte order of the stored elements.
    pub fn endian(&self) -> Endian {
        self.endian
    }

    /// The elements as `&[T]`, without copying.
    ///
    /// Fails with [`Error::WrongTensorType`] unless the tensor is `T::GGML_TYPE`,
    /// [`Error::ForeignByteOrder`] if the file's byte order is not the host's, and
    /// [`Error::MisalignedData`] if the bytes are not aligned for `T` in memory.
    pub fn as_slice<T: TensorElement>(&self) -> Result<&'a [T]> {
        let name = || Name::new(self.info.name().as_bytes());
        if self.ggml_type() != T::GGML_TYPE {
            return Err(Error::WrongTensorType {
                name: name(),
                actual: self.ggml_type(),
                requested: T::GGML_TYPE,
            });
        }
        if self.endian != Endian::HOST && core::mem::size_of::<T>() > 1 {
            return Err(Error::ForeignByteOrder { name: name() });
        }
        // Size was checked against the type at parse time, so only alignment can fail here.
        bytemuck::try_cast_slice(self.bytes).map_err(|_| Error::MisalignedData {
            name: name(),
            align: core::mem::align_of::<T>(),
        })
    }

    /// The blocks of a quantized tensor (or the elements of a plain one) as byte chunks of
    /// [`GgmlType::type_size`] bytes each.
    pub fn blocks(&self) -> ChunksExact<'a, u8> {
        // type_size is at most 292 and never zero.
        self.bytes
            .chunks_exact(self.ggml_type().type_size() as usize)
    }
}
