//! Floating-point tensor bytes as `f32`s, whatever their stored width and byte order.

use std::fmt;

use half::{bf16, f16};
use weightmap_core::{Endian, TensorType};

/// Why bytes could not be decoded as `f32`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Only F32, F16, BF16 and F64 tensors convert to `f32`.
    NotFloat(TensorType),
    /// The bytes are not a whole number of elements of the type.
    PartialElement {
        /// The tensor's type.
        dtype: TensorType,
        /// The bytes given.
        len: usize,
    },
    /// The bytes given are not the tensor's size.
    WrongLength {
        /// The tensor's size in bytes.
        expected: u64,
        /// The bytes given.
        actual: usize,
    },
    /// Memory for the result could not be allocated.
    OutOfMemory {
        /// Elements asked for.
        elements: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::NotFloat(t) => write!(
                f,
                "a {} tensor does not convert to f32 (F32, F16, BF16 and F64 do)",
                t.name()
            ),
            DecodeError::PartialElement { dtype, len } => write!(
                f,
                "{len} bytes are not a whole number of {} elements",
                dtype.name()
            ),
            DecodeError::WrongLength { expected, actual } => {
                write!(f, "the tensor has {expected} bytes but {actual} were given")
            }
            DecodeError::OutOfMemory { elements } => {
                write!(f, "cannot allocate memory for {elements} f32 values")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// The elements of a floating-point tensor stored as `dtype` in `endian` byte order, as
/// `f32`s (F64 values are rounded; F16 and BF16 widen exactly).
///
/// ```
/// use weightmap_core::{Endian, TensorType};
/// let bytes = [0x00, 0x3c, 0x00, 0xc0]; // F16 1.0 and -2.0, little-endian
/// let values = weightmap_wasm::decode_f32(TensorType::F16, Endian::Little, &bytes)?;
/// assert_eq!(values, [1.0, -2.0]);
/// # Ok::<(), weightmap_wasm::DecodeError>(())
/// ```
///
/// # Errors
/// [`DecodeError::NotFloat`] for other types, [`DecodeError::PartialElement`] when `bytes`
/// is not a whole number of elements, [`DecodeError::OutOfMemory`].
pub fn decode_f32(
    dtype: TensorType,
    endian: Endian,
    bytes: &[u8],
) -> Result<Vec<f32>, DecodeError> {
    let width = match dtype {
        TensorType::F32 => 4,
        TensorType::F16 | TensorType::BF16 => 2,
        TensorType::F64 => 8,
        other => return Err(DecodeError::NotFloat(other)),
    };
    if bytes.len() % width != 0 {
        return Err(DecodeError::PartialElement {
            dtype,
            len: bytes.len(),
        });
    }
    let elements = bytes.len() / width;
    let mut out = Vec::new();
    out.try_reserve_exact(elements)
        .map_err(|_| DecodeError::OutOfMemory { elements })?;
    let big = endian == Endian::Big;
    match width {
        4 => out.extend(bytes.chunks_exact(4).map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            if big {
                f32::from_be_bytes(b)
            } else {
                f32::from_le_bytes(b)
            }
        })),
        8 => out.extend(bytes.chunks_exact(8).map(|c| {
            let mut b = [0; 8];
            b.copy_from_slice(c);
            let v = if big {
                f64::from_be_bytes(b)
            } else {
                f64::from_le_bytes(b)
            };
            v as f32
        })),
        _ => {
            let bf = dtype == TensorType::BF16;
            out.extend(bytes.chunks_exact(2).map(|c| {
                let bits = if big {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                };
                if bf {
                    bf16::from_bits(bits).to_f32()
                } else {
                    f16::from_bits(bits).to_f32()
                }
            }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_float_type_in_both_byte_orders() {
        let want = [1.5f32, -0.25, 0.0, 65504.0];
        type Encode = fn(f32) -> Vec<u8>;
        let cases: [(TensorType, Encode, Encode); 4] = [
            (
                TensorType::F32,
                |v| v.to_le_bytes().to_vec(),
                |v| v.to_be_bytes().to_vec(),
            ),
            (
                TensorType::F16,
                |v| f16::from_f32(v).to_le_bytes().to_vec(),
                |v| f16::from_f32(v).to_be_bytes().to_vec(),
            ),
            (
                TensorType::BF16,
                |v| bf16::from_f32(v).to_le_bytes().to_vec(),
                |v| bf16::from_f32(v).to_be_bytes().to_vec(),
            ),
            (
                TensorType::F64,
                |v| f64::from(v).to_le_bytes().to_vec(),
                |v| f64::from(v).to_be_bytes().to_vec(),
            ),
        ];
        for (t, le, be) in cases {
            let expect: Vec<f32> = want
                .iter()
                .map(|&v| {
                    if t == TensorType::BF16 {
                        bf16::from_f32(v).to_f32()
                    } else {
                        v
                    }
                })
                .collect();
            let little: Vec<u8> = want.iter().flat_map(|&v| le(v)).collect();
            let big: Vec<u8> = want.iter().flat_map(|&v| be(v)).collect();
            assert_eq!(
                decode_f32(t, Endian::Little, &little).unwrap(),
                expect,
                "{t:?}"
            );
            assert_eq!(decode_f32(t, Endian::Big, &big).unwrap(), expect, "{t:?}");
        }
    }

    #[test]
    fn other_types_and_ragged_bytes_are_errors() {
        assert_eq!(
            decode_f32(TensorType::Q4_K, Endian::Little, &[0; 144]),
            Err(DecodeError::NotFloat(TensorType::Q4_K))
        );
        assert_eq!(
            decode_f32(TensorType::F16, Endian::Little, &[0; 3]),
            Err(DecodeError::PartialElement {
                dtype: TensorType::F16,
                len: 3
            })
        );
        assert!(decode_f32(TensorType::I32, Endian::Little, &[]).is_err());
        assert_eq!(
            decode_f32(TensorType::F32, Endian::Little, &[]).unwrap(),
            [0f32; 0]
        );
    }
}
