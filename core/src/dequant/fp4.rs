//! The 4-bit float types of ggml (`MXFP4`, `NVFP4`): E2M1 elements (kept doubled, as ggml's
//! `kvalues_mxfp4`) times a power-of-two E8M0 scale (`MXFP4`, 32 elements) or an unsigned
//! E4M3 scale per 16 elements (`NVFP4`, 64), both halved to undo the doubling.

// Every index is a loop counter or a nibble, bounded by the fixed block layout (the block is
// a `[u8; N]`, its outputs a `[f32; B]`, the table 16 entries), so none can be out of bounds.
#![allow(clippy::indexing_slicing)]

use super::for_blocks;

/// E2M1 values, doubled: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives (-0 as 0).
const E2M1_DOUBLED: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// An E8M0 scale, halved: `2^(e - 128)`, the two smallest as subnormals (ggml's
/// `ggml_e8m0_to_fp32_half`).
#[inline(always)]
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// An unsigned E4M3 scale (bias 7; the top bit ignored), halved; 0 and 0x7F (NaN) decode
/// as 0.
#[inline(always)]
fn ue4m3_half(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let (exp, man) = (i32::from((x >> 3) & 0x0F), f32::from(x & 7));
    let raw = if exp == 0 {
        man * (1.0 / 512.0)
    } else {
        (1.0 + man / 8.0) * pow2(exp - 7)
    };
    raw * 0.5
}

/// `2^n` for the small exponents of E4M3 (exactly).
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

pub(super) fn mxfp4(bytes: &[u8], out: &mut [f32]) {
    // e, qs[16]: element j the low nibble of qs[j], element j + 16 its high nibble.
    for_blocks::<17, 32>(bytes, out, |b, y| {
        let d = e8m0_half(b[0]);
        for j in 0..16 {
            let q = b[1 + j];
            y[j] = d * f32::from(E2M1_DOUBLED[usize::from(q & 0x0F)]);
            y[j + 16] = d * f32::from(E2M1_DOUBLED[usize::from(q >> 4)]);
        }
    });
}

pub(super) fn nvfp4(bytes: &[u8], out: &mut [f32]) {
    // d[4] (one per 16 elements), qs[32]: sub-block s takes the low nibbles of its 8 bytes,
    // then their high nibbles.
    for_blocks::<36, 64>(bytes, out, |b, y| {
        for (s, y) in y.chunks_exact_mut(16).enumerate() {
            let d = ue4m3_half(b[s]);
            let qs = &b[4 + 8 * s..12 + 8 * s];
            for j in 0..8 {
                y[j] = d * f32::from(E2M1_DOUBLED[usize::from(qs[j] & 0x0F)]);
                y[j + 8] = d * f32::from(E2M1_DOUBLED[usize::from(qs[j] >> 4)]);
            }
        }
    });
}
