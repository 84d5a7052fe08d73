//! Tensor elements as `f32`: every block of a quantized ggml type decoded the way the official
//! `gguf` package's `gguf.quants.dequantize` decodes it (same operations in the same order, so
//! the same bits), the small floats of safetensors (F8, F6, F4) exactly, and plain numbers
//! converted.
//!
//! [`dequantize`] decodes whole blocks from bytes into the caller's `&mut [f32]`, with no
//! allocation: any run of blocks of a tensor decodes alone, so a tensor of any size streams
//! through a small buffer. Bytes are the file's, little-endian (as GGUF and safetensors store
//! them). Types without a decoder (C64; ggml's activation types `Q8_1` and `Q8_K`) are
//! [`Error::NoDecoder`].
//!
//! ```
//! use weightmap_core::{dequant, TensorType};
//!
//! // One Q8_0 block: an f16 scale of 0.5, then 32 signed bytes.
//! let mut block = vec![0x00, 0x38];
//! block.extend((0..32).map(|i| (i as i8 - 16) as u8));
//! let mut out = [0f32; 32];
//! dequant::dequantize(TensorType::Q8_0, &block, &mut out)?;
//! assert_eq!(out[0], -8.0);
//! assert_eq!(out[31], 7.5);
//! // The wrong number of outputs is an error, never a partial decode.
//! assert!(dequant::dequantize(TensorType::Q8_0, &block, &mut out[..16]).is_err());
//! # Ok::<(), weightmap_core::Error>(())
//! ```

mod fp4;
mod grids;
mod iquants;
mod kquants;
mod legacy;
mod minifloat;
mod plain;
mod ternary;

use crate::{Error, Result, TensorType};

/// Whether [`dequantize`] decodes `ty`.
pub fn supports(ty: TensorType) -> bool {
    decoder(ty).is_some()
}

/// Decodes `bytes`, whole blocks of `ty` as stored (little-endian), into `out`, which must
/// hold exactly their elements (blocks x [`TensorType::block_size`]).
///
/// # Errors
/// [`Error::NoDecoder`] for a type without a decoder; [`Error::DecodeLength`] when `bytes`
/// is not whole blocks or `out` is not their element count (nothing is written then).
pub fn dequantize(ty: TensorType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let decode = decoder(ty).ok_or(Error::NoDecoder { ty })?;
    let (block, size) = (ty.block_size(), ty.type_size());
    let blocks = bytes.len() as u64 / size.max(1);
    let fits = size > 0
        && bytes.len() as u64 % size == 0
        && blocks.checked_mul(block) == Some(out.len() as u64);
    if !fits {
        return Err(Error::DecodeLength {
            ty,
            bytes: bytes.len() as u64,
            elements: out.len() as u64,
        });
    }
    decode(bytes, out);
    Ok(())
}

/// A decoder: `bytes` whole blocks, `out` exactly their elements (checked by the caller).
type Decode = fn(&[u8], &mut [f32]);

fn decoder(ty: TensorType) -> Option<Decode> {
    use TensorType as T;
    Some(match ty {
        T::F32 => plain::f32s,
        T::F16 => plain::f16s,
        T::BF16 => plain::bf16s,
        T::F64 => plain::f64s,
        T::I8 => plain::i8s,
        T::I16 => plain::i16s,
        T::I32 => plain::i32s,
        T::I64 => plain::i64s,
        T::U8 | T::BOOL => plain::u8s,
        T::U16 => plain::u16s,
        T::U32 => plain::u32s,
        T::U64 => plain::u64s,
        T::Q4_0 => legacy::q4_0,
        T::Q4_1 => legacy::q4_1,
        T::Q5_0 => legacy::q5_0,
        T::Q5_1 => legacy::q5_1,
        T::Q8_0 => legacy::q8_0,
        T::Q2_K => kquants::q2_k,
        T::Q3_K => kquants::q3_k,
        T::Q4_K => kquants::q4_k,
        T::Q5_K => kquants::q5_k,
        T::Q6_K => kquants::q6_k,
        T::IQ2_XXS => iquants::iq2_xxs,
        T::IQ2_XS => iquants::iq2_xs,
        T::IQ2_S => iquants::iq2_s,
        T::IQ3_XXS => iquants::iq3_xxs,
        T::IQ3_S => iquants::iq3_s,
        T::IQ1_S => iquants::iq1_s,
        T::IQ1_M => iquants::iq1_m,
        T::IQ4_NL => iquants::iq4_nl,
        T::IQ4_XS => iquants::iq4_xs,
        T::TQ1_0 => ternary::tq1_0,
        T::TQ2_0 => ternary::tq2_0,
        T::MXFP4 => fp4::mxfp4,
        T::NVFP4 => fp4::nvfp4,
        T::F8_E4M3 => minifloat::f8_e4m3,
        T::F8_E5M2 => minifloat::f8_e5m2,
        T::F8_E4M3FNUZ => minifloat::f8_e4m3fnuz,
        T::F8_E5M2FNUZ => minifloat::f8_e5m2fnuz,
        T::F8_E8M0 => minifloat::f8_e8m0,
        T::F6_E2M3 => minifloat::f6_e2m3,
        T::F6_E3M2 => minifloat::f6_e3m2,
        T::F4 => minifloat::f4,
        _ => return None,
    })
}

/// Runs `f` over each block of `N` bytes and its `B` outputs (the lengths were checked).
#[inline(always)]
fn for_blocks<const N: usize, const B: usize>(
    bytes: &[u8],
    out: &mut [f32],
    mut f: impl FnMut(&[u8; N], &mut [f32; B]),
) {
    for (block, values) in bytes.chunks_exact(N).zip(out.chunks_exact_mut(B)) {
        if let (Ok(block), Ok(values)) = (block.try_into(), values.try_into()) {
            f(block, values);
        }
    }
}

/// An IEEE half from its two little-endian bytes, widened exactly.
#[inline(always)]
fn f16(lo: u8, hi: u8) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}

#[cfg(test)]
mod tests;
