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

/// The fifth bit of element `j`: bit `j` of the little-endian `u32` `qh`.
#[inline(always)]
fn high(qh: u32, j: usize) -> u8 {
    ((qh >> j) & 1) as u8
}

pub(super) fn q5_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<22, 32>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        for j in 0..16 {
            let q = b[6 + j];
            let lo = (q & 0x0F) | (high(qh, j) << 4);
            let hi = (q >> 4) | (high(qh, j + 16) << 4);
            y[j] = d * f32::from(lo as i8 - 16);
            y[j + 16] = d * f32::from(hi as i8 - 16);
        }
    });
}

pub(super) fn q5_1(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<24, 32>(bytes, out, |b, y| {
        let (d, m) = (f16(b[0], b[1]), f16(b[2], b[3]));
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        for j in 0..16 {
            let q = b[8 + j];
            let lo = (q & 0x0F) | (high(qh, j) << 4);
            let hi = (q >> 4) | (high(qh, j + 16) << 4);
            y[j] = d * f32::from(lo) + m;
            y[j + 16] = d * f32::from(hi) + m;
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
