//! The ternary types (`TQ1_0`, `TQ2_0`): 256 elements of -1, 0 or 1 times one f16 scale.

// Every index is a loop counter bounded by the fixed block layout (the block is a `[u8; N]`
// and its outputs a `[f32; B]`), so none can be out of bounds.
#![allow(clippy::indexing_slicing)]

use super::{f16, for_blocks};

const QK_K: usize = 256;

/// The trit a base-3 digit stands for, from a byte holding five (or four) of them as a
/// fixed-point fraction: the byte times `3^k` (wrapping, as in ggml) selects digit `k`.
#[inline(always)]
fn trit(byte: u8, pow3: u8) -> f32 {
    let q = byte.wrapping_mul(pow3);
    f32::from(((u16::from(q) * 3) >> 8) as i8 - 1)
}

pub(super) fn tq1_0(bytes: &[u8], out: &mut [f32]) {
    // qs[48] (five trits a byte), qh[4] (four trits a byte), d. Elements: digit k of qs[j]
    // for the first 32 bytes (k * 32 + j), then of the next 16 (160 + k * 16 + j), then
    // digit k of qh[j] (240 + k * 4 + j).
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    for_blocks::<54, QK_K>(bytes, out, |b, y| {
        let d = f16(b[52], b[53]);
        let (first, rest) = y.split_at_mut(160);
        let (second, third) = rest.split_at_mut(80);
        let groups: [(&[u8], &mut [f32], usize); 3] = [
            (&b[..32], first, 5),
            (&b[32..48], second, 5),
            (&b[48..52], third, 4),
        ];
        for (qs, y, digits) in groups {
            for (k, y) in y.chunks_exact_mut(qs.len()).take(digits).enumerate() {
                for (y, &q) in y.iter_mut().zip(qs) {
                    *y = d * trit(q, POW3[k]);
                }
            }
        }
    });
}

pub(super) fn tq2_0(bytes: &[u8], out: &mut [f32]) {
    // qs[64] (four 2-bit values a byte), d. Element h * 128 + s * 32 + k is bits 2s..2s+2 of
    // qs[32h + k], minus one.
    for_blocks::<66, QK_K>(bytes, out, |b, y| {
        let d = f16(b[64], b[65]);
        for (e, y) in y.iter_mut().enumerate() {
            let (h, s, k) = (e / 128, (e % 128) / 32, e % 32);
            let q = (b[32 * h + k] >> (2 * s)) & 3;
            *y = d * f32::from(q as i8 - 1);
        }
    });
}
