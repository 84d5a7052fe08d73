//! The k-quants (`Q2_K` to `Q6_K`): 256-element super-blocks of 16 or 32-element sub-blocks,
//! each with its own scale (and minimum), scaled by the block's f16 `d` (and `dmin`).
//!
//! Where bits of one byte serve several elements, element `e` of a block is written as
//! `h = e / 128` (which half), `s` (which shift within the byte) and `k` (which byte within
//! the group), the order `gguf.quants` reshapes them in. The loops run over runs of 16 or 32
//! outputs that share a scale and a shift, so the compiler vectorises them.

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
        // Runs of 16 outputs share a scale and a shift: element (h, s, k) is bits 2s..2s+2
        // of qs[32h + k], scaled by scales[8h + 2s + k / 16].
        for (h, y) in y.chunks_exact_mut(128).enumerate() {
            let qs = &qs[32 * h..32 * h + 32];
            for (s, y) in y.chunks_exact_mut(32).enumerate() {
                for (half, (y, qs)) in y.chunks_exact_mut(16).zip(qs.chunks_exact(16)).enumerate() {
                    let sc = scales[8 * h + 2 * s + half];
                    let dl = d * f32::from(sc & 0x0F);
                    let ml = dmin * f32::from(sc >> 4);
                    for (y, &q) in y.iter_mut().zip(qs) {
                        *y = dl * f32::from((q >> (2 * s)) & 3) - ml;
                    }
                }
            }
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
        // Element (h, s, k): bits 2s..2s+2 of qs[32h + k], less 4 where bit 4h + s of
        // hmask[k] is clear; runs of 16 share a scale.
        for (h, y) in y.chunks_exact_mut(128).enumerate() {
            let qs = &qs[32 * h..32 * h + 32];
            for (s, y) in y.chunks_exact_mut(32).enumerate() {
                let bit = 4 * h + s;
                let runs = y
                    .chunks_exact_mut(16)
                    .zip(qs.chunks_exact(16).zip(hmask.chunks_exact(16)));
                for (half, (y, (qs, hm))) in runs.enumerate() {
                    let dl = dl[8 * h + 2 * s + half];
                    for ((y, &q), &m) in y.iter_mut().zip(qs).zip(hm) {
                        let low = ((q >> (2 * s)) & 3) as i8;
                        let clear = ((m >> bit) & 1) ^ 1;
                        *y = dl * f32::from(low - ((clear << 2) as i8));
                    }
                }
            }
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
    // d, dmin, scales[12], qs[128]: each 32 bytes give 64 outputs, their low nibbles (one
    // sub-block) then their high nibbles (the next).
    for_blocks::<144, QK_K>(bytes, out, |b, y| {
        let (ds, dm) = sub_scales(f16(b[0], b[1]), f16(b[2], b[3]), &b[4..16]);
        for (j, (y, qs)) in y
            .chunks_exact_mut(64)
            .zip(b[16..].chunks_exact(32))
            .enumerate()
        {
            let (low, high) = y.split_at_mut(32);
            let (d0, m0, d1, m1) = (ds[2 * j], dm[2 * j], ds[2 * j + 1], dm[2 * j + 1]);
            for ((l, h), &q) in low.iter_mut().zip(high).zip(qs) {
                *l = d0 * f32::from(q & 0x0F) - m0;
                *h = d1 * f32::from(q >> 4) - m1;
            }
        }
    });
}

pub(super) fn q5_k(bytes: &[u8], out: &mut [f32]) {
    // d, dmin, scales[12], qh[32], qs[128]: sub-block `sub` takes nibble sub % 2 of its 32
    // bytes of qs and bit `sub` of each byte of qh.
    for_blocks::<176, QK_K>(bytes, out, |b, y| {
        let (ds, dm) = sub_scales(f16(b[0], b[1]), f16(b[2], b[3]), &b[4..16]);
        let (qh, qs) = (&b[16..48], &b[48..]);
        for (j, (y, qs)) in y.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
            let (low, high) = y.split_at_mut(32);
            let (d0, m0, d1, m1) = (ds[2 * j], dm[2 * j], ds[2 * j + 1], dm[2 * j + 1]);
            for (((l, h), &q), &hb) in low.iter_mut().zip(high).zip(qs).zip(qh) {
                let q0 = (q & 0x0F) | (((hb >> (2 * j)) & 1) << 4);
                let q1 = (q >> 4) | (((hb >> (2 * j + 1)) & 1) << 4);
                *l = d0 * f32::from(q0) - m0;
                *h = d1 * f32::from(q1) - m1;
            }
        }
    });
}

pub(super) fn q6_k(bytes: &[u8], out: &mut [f32]) {
    // ql[128], qh[64], scales[16] (signed), d. In half h, byte k of qh holds the high bits
    // of four elements: k, k + 32, k + 64 and k + 96 (bits 0, 2, 4, 6), whose low nibbles
    // are the low nibbles of ql[64h + k] and ql[64h + 32 + k], then their high nibbles.
    // Runs of 16 share a scale.
    for_blocks::<210, QK_K>(bytes, out, |b, y| {
        let d = f16(b[208], b[209]);
        let mut dl = [0f32; 16];
        for (dl, &s) in dl.iter_mut().zip(&b[192..208]) {
            *dl = d * f32::from(s as i8);
        }
        let q = |low: u8, high: u8| f32::from(((low & 0x0F) | ((high & 3) << 4)) as i8 - 32);
        for (h, y) in y.chunks_exact_mut(128).enumerate() {
            let (ql, qh) = (&b[64 * h..64 * h + 64], &b[128 + 32 * h..160 + 32 * h]);
            let (y01, y23) = y.split_at_mut(64);
            let ((y0, y1), (y2, y3)) = (y01.split_at_mut(32), y23.split_at_mut(32));
            for half in 0..2 {
                let r = 16 * half..16 * half + 16;
                let dl = &dl[8 * h + half..];
                let (d0, d1, d2, d3) = (dl[0], dl[2], dl[4], dl[6]);
                let outs = y0[r.clone()].iter_mut().zip(&mut y1[r.clone()]);
                let outs = outs.zip(y2[r.clone()].iter_mut().zip(&mut y3[r.clone()]));
                let ins = ql[r.clone()].iter().zip(&ql[32 + r.start..32 + r.end]);
                for (((a, b), (c, e)), ((&l0, &l1), &hb)) in outs.zip(ins.zip(&qh[r])) {
                    *a = d0 * q(l0, hb);
                    *b = d1 * q(l1, hb >> 2);
                    *c = d2 * q(l0 >> 4, hb >> 4);
                    *e = d3 * q(l1 >> 4, hb >> 6);
                }
            }
        }
    });
}
