//! The k-quants (`Q2_K` to `Q6_K`): 256-element super-blocks of 16 or 32-element sub-blocks,
//! each with its own scale (and minimum), scaled by the block's f16 `d` (and `dmin`).
//!
//! Where bits of one byte serve several elements, element `e` of a block is written as
//! `h = e / 128` (which half), `s` (which shift within the byte) and `k` (which byte within
//! the group), the order `gguf.quants` reshapes them in.

// Every index is a loop counter bounded by the fixed block layout (the block is a `[u8; N]`
// and its outputs a `[f32; B]`), so none can be out of bounds.
#![allow(clippy::indexing_slicing)]

use super::{f16, for_blocks};

const QK_K: usize = 256;

pub(super) fn q2_k(bytes: &[u8], out: &mut [f32]) {
    // scales[16] (low nibble: scale, high: minimum), qs[64], d, dmin
    for_blocks::<84, QK_K>(bytes, out, |b, y| {
        let (scales, qs) = (&b[..16], &b[16..80]);
        let (d, dmin) = (f16(b[80], b[81]), f16(b[82], b[83]));
        for (e, y) in y.iter_mut().enumerate() {
            let (h, s, k) = (e / 128, (e % 128) / 32, e % 32);
            let q = (qs[32 * h + k] >> (2 * s)) & 3;
            let sc = scales[e / 16];
            let dl = d * f32::from(sc & 0x0F);
            let ml = dmin * f32::from(sc >> 4);
            *y = dl * f32::from(q) - ml;
        }
    });
}

pub(super) fn q3_k(bytes: &[u8], out: &mut [f32]) {
    // hmask[32], qs[64], scales[12] (16 six-bit scales), d
    for_blocks::<110, QK_K>(bytes, out, |b, y| {
        let (hmask, qs, packed) = (&b[..32], &b[32..96], &b[96..108]);
        let d = f16(b[108], b[109]);
        let mut dl = [0f32; 16];
        for (i, dl) in dl.iter_mut().enumerate() {
            let low = (packed[i % 8] >> (4 * (i / 8))) & 0x0F;
            let high = (packed[8 + i % 4] >> (2 * (i / 4))) & 0x03;
            let scale = ((low | (high << 4)) as i8).wrapping_sub(32);
            *dl = d * f32::from(scale);
        }
        for (e, y) in y.iter_mut().enumerate() {
            let (h, s, k) = (e / 128, (e % 128) / 32, e % 32);
            let low = ((qs[32 * h + k] >> (2 * s)) & 3) as i8;
            // The third bit subtracts 4 where the mask bit is clear.
            let clear = ((hmask[k] >> (e / 32)) & 1) ^ 1;
            let q = low - ((clear << 2) as i8);
            *y = dl[e / 16] * f32::from(q);
        }
    });
}

/// The eight 6-bit scales and minimums of `Q4_K` and `Q5_K`, packed in 12 bytes.
#[inline(always)]
fn scales_and_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut m) = ([0u8; 8], [0u8; 8]);
    for j in 0..4 {
        sc[j] = s[j] & 0x3F;
        m[j] = s[j + 4] & 0x3F;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
    (sc, m)
}

/// Each 32-element sub-block's scale and offset: `d * sc` and `dmin * m`.
#[inline(always)]
fn sub_scales(d: f32, dmin: f32, packed: &[u8]) -> ([f32; 8], [f32; 8]) {
    let (sc, m) = scales_and_mins(packed);
    let (mut ds, mut dm) = ([0f32; 8], [0f32; 8]);
    for j in 0..8 {
        ds[j] = d * f32::from(sc[j]);
        dm[j] = dmin * f32::from(m[j]);
    }
    (ds, dm)
}

pub(super) fn q4_k(bytes: &[u8], out: &mut [f32]) {
    // d, dmin, scales[12], qs[128]
    for_blocks::<144, QK_K>(bytes, out, |b, y| {
        let (ds, dm) = sub_scales(f16(b[0], b[1]), f16(b[2], b[3]), &b[4..16]);
        let qs = &b[16..];
        for (e, y) in y.iter_mut().enumerate() {
            let (sub, k) = (e / 32, e % 32);
            let q = (qs[32 * (sub / 2) + k] >> (4 * (sub % 2))) & 0x0F;
            *y = ds[sub] * f32::from(q) - dm[sub];
        }
    });
}

pub(super) fn q5_k(bytes: &[u8], out: &mut [f32]) {
    // d, dmin, scales[12], qh[32], qs[128]
    for_blocks::<176, QK_K>(bytes, out, |b, y| {
        let (ds, dm) = sub_scales(f16(b[0], b[1]), f16(b[2], b[3]), &b[4..16]);
        let (qh, qs) = (&b[16..48], &b[48..]);
        for (e, y) in y.iter_mut().enumerate() {
            let (sub, k) = (e / 32, e % 32);
            let low = (qs[32 * (sub / 2) + k] >> (4 * (sub % 2))) & 0x0F;
            let high = (qh[k] >> sub) & 1;
            *y = ds[sub] * f32::from(low | (high << 4)) - dm[sub];
        }
    });
}

pub(super) fn q6_k(bytes: &[u8], out: &mut [f32]) {
    // ql[128], qh[64], scales[16] (signed), d
    for_blocks::<210, QK_K>(bytes, out, |b, y| {
        let (ql, qh, scales) = (&b[..128], &b[128..192], &b[192..208]);
        let d = f16(b[208], b[209]);
        let mut dl = [0f32; 16];
        for (dl, &s) in dl.iter_mut().zip(scales) {
            *dl = d * f32::from(s as i8);
        }
        for (e, y) in y.iter_mut().enumerate() {
            let (h, r) = (e / 128, e % 128);
            let low = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
            let high = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
            let q = ((low | (high << 4)) as i8).wrapping_sub(32);
            *y = dl[e / 16] * f32::from(q);
        }
    });
}
