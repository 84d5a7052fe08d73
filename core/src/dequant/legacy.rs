//! The 32-element block types (`Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q8_0`): an f16 scale (and
//! minimum), then packed quants. Element `j` of a block takes the low nibble of byte `j`, and
//! element `j + 16` its high nibble.

// Every index is a loop counter bounded by the fixed block layout (the block is a `[u8; N]`
// and its outputs a `[f32; B]`), so none can be out of bounds.
#![allow(clippy::indexing_slicing)]

use super::{f16, for_blocks};

pub(super) fn q4_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<18, 32>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        for j in 0..16 {
            let q = b[2 + j];
            y[j] = d * f32::from((q & 0x0F) as i8 - 8);
            y[j + 16] = d * f32::from((q >> 4) as i8 - 8);
        }
    });
}

pub(super) fn q4_1(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<20, 32>(bytes, out, |b, y| {
        let (d, m) = (f16(b[0], b[1]), f16(b[2], b[3]));
        for j in 0..16 {
            let q = b[4 + j];
            y[j] = d * f32::from(q & 0x0F) + m;
            y[j + 16] = d * f32::from(q >> 4) + m;
        }
    });
}

/// Each byte spread to eight: bit `i` of the index becomes 0x10 (the fifth bit of a quant)
/// in byte `i` of the entry, little-endian.
const SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut bit = 0;
        while bit < 8 {
            if (byte >> bit) & 1 == 1 {
                table[byte] |= 0x10 << (8 * bit);
            }
            bit += 1;
        }
        byte += 1;
    }
    table
};

/// The fifth bits of a block's 32 elements, as 0x10 or 0 each: bit `j` of the little-endian
/// `qh` for element `j`.
#[inline(always)]
fn fifth_bits(qh: &[u8]) -> [u8; 32] {
    let mut high = [0u8; 32];
    for (h, &q) in high.chunks_exact_mut(8).zip(qh) {
        h.copy_from_slice(&SPREAD[usize::from(q)].to_le_bytes());
    }
    high
}

pub(super) fn q5_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<22, 32>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        let high = fifth_bits(&b[2..6]);
        let (lo, hi) = y.split_at_mut(16);
        for (j, &q) in b[6..].iter().enumerate() {
            lo[j] = d * f32::from(((q & 0x0F) | high[j]) as i8 - 16);
            hi[j] = d * f32::from(((q >> 4) | high[j + 16]) as i8 - 16);
        }
    });
}

pub(super) fn q5_1(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<24, 32>(bytes, out, |b, y| {
        let (d, m) = (f16(b[0], b[1]), f16(b[2], b[3]));
        let high = fifth_bits(&b[4..8]);
        let (lo, hi) = y.split_at_mut(16);
        for (j, &q) in b[8..].iter().enumerate() {
            lo[j] = d * f32::from((q & 0x0F) | high[j]) + m;
            hi[j] = d * f32::from((q >> 4) | high[j + 16]) + m;
        }
    });
}

pub(super) fn q8_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<34, 32>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        for (y, &q) in y.iter_mut().zip(&b[2..]) {
            *y = f32::from(q as i8) * d;
        }
    });
}
