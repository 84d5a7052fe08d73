//! The i-quants: 256-element super-blocks whose elements come from lookup grids (rows of 8
//! or 4 magnitudes chosen by a stored index) with separate signs, or from a 16-value
//! non-linear table (`IQ4_NL`, `IQ4_XS`).
//!
//! Each value is computed as `gguf.quants` computes it: the sub-block scale first (`d`
//! times the stored scale, in the same order), then scale x grid value, then the sign (an
//! exact negation), so the bits are the same.

// Every index is a loop counter or a masked field bounded by the fixed block layout and the
// table sizes (the block is a `[u8; N]`, its outputs a `[f32; B]`, each grid index masked to
// its grid's rows), so none can be out of bounds.
#![allow(clippy::indexing_slicing)]

use super::grids::{IQ1S, IQ2S, IQ2XS, IQ2XXS, IQ3S, IQ3XXS};
use super::{f16, for_blocks};

const QK_K: usize = 256;

/// ggml's `kvalues_iq4nl`: the 16 values of a 4-bit `IQ4_NL`/`IQ4_XS` element.
const IQ4_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// The 8 signs a 7-bit index stands for: its bits, and an eighth that makes the number of
/// minus signs even (ggml's `ksigns_iq2xs`).
#[inline(always)]
fn even_signs(index: u32) -> u8 {
    let low = (index & 0x7F) as u8;
    low | (((low.count_ones() & 1) as u8) << 7)
}

/// `value`, negated where bit `bit` of `signs` is set.
#[inline(always)]
fn signed(value: f32, signs: u8, bit: usize) -> f32 {
    if (signs >> bit) & 1 == 0 {
        value
    } else {
        -value
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The scale of a 4-bit sub-block scale `s`: `d * (0.5 + s) * 0.25`.
#[inline(always)]
fn quarter_scale(d: f32, s: u32) -> f32 {
    d * (0.5 + s as f32) * 0.25
}

pub(super) fn iq2_xxs(bytes: &[u8], out: &mut [f32]) {
    // d, then per 32 elements two u32: four grid indices (bytes), then four 7-bit sign
    // indices and a 4-bit scale.
    for_blocks::<66, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let (grid, aux) = (u32_at(b, 2 + 8 * ib), u32_at(b, 6 + 8 * ib));
            let db = quarter_scale(d, aux >> 28);
            for (l, y) in y.chunks_exact_mut(8).enumerate() {
                let row = &IQ2XXS[((grid >> (8 * l)) & 0xFF) as usize];
                let signs = even_signs(aux >> (7 * l));
                for (j, y) in y.iter_mut().enumerate() {
                    *y = signed(db * f32::from(row[j]), signs, j);
                }
            }
        }
    });
}

pub(super) fn iq2_xs(bytes: &[u8], out: &mut [f32]) {
    // d, 32 u16 (9-bit grid index, 7-bit sign index) a row of 8, 8 bytes of 4-bit scales
    // (one per 16 elements).
    for_blocks::<74, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        for (k, y) in y.chunks_exact_mut(8).enumerate() {
            let q = u32::from(u16_at(b, 2 + 2 * k));
            let g = k / 2;
            let db = quarter_scale(d, u32::from((b[66 + g / 2] >> (4 * (g % 2))) & 0x0F));
            let row = &IQ2XS[(q & 511) as usize];
            let signs = even_signs(q >> 9);
            for (j, y) in y.iter_mut().enumerate() {
                *y = signed(db * f32::from(row[j]), signs, j);
            }
        }
    });
}

pub(super) fn iq2_s(bytes: &[u8], out: &mut [f32]) {
    // d, qs[32] (grid index low bits), signs[32], qh[8] (2 high bits each), scales[8].
    for_blocks::<82, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        let (qs, signs, qh, scales) = (&b[2..34], &b[34..66], &b[66..74], &b[74..82]);
        for (k, y) in y.chunks_exact_mut(8).enumerate() {
            let g = k / 2;
            let db = quarter_scale(d, u32::from((scales[g / 2] >> (4 * (g % 2))) & 0x0F));
            let high = usize::from((qh[k / 4] >> (2 * (k % 4))) & 3);
            let row = &IQ2S[usize::from(qs[k]) | (high << 8)];
            for (j, y) in y.iter_mut().enumerate() {
                *y = signed(db * f32::from(row[j]), signs[k], j);
            }
        }
    });
}

pub(super) fn iq3_xxs(bytes: &[u8], out: &mut [f32]) {
    // d, qs[64] (grid indices, a row of 4 each), then per 32 elements a u32: four 7-bit
    // sign indices and a 4-bit scale.
    for_blocks::<98, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        let qs = &b[2..66];
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let aux = u32_at(b, 66 + 4 * ib);
            let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
            for (l, y) in y.chunks_exact_mut(8).enumerate() {
                let signs = even_signs(aux >> (7 * l));
                for (j, y) in y.iter_mut().enumerate() {
                    let row = &IQ3XXS[usize::from(qs[8 * ib + 2 * l + j / 4])];
                    *y = signed(db * f32::from(row[j % 4]), signs, j);
                }
            }
        }
    });
}

pub(super) fn iq3_s(bytes: &[u8], out: &mut [f32]) {
    // d, qs[64] (grid index low bits), qh[8] (the ninth bits), signs[32], scales[4].
    for_blocks::<110, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        let (qs, qh, signs, scales) = (&b[2..66], &b[66..74], &b[74..106], &b[106..110]);
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let scale = (scales[ib / 2] >> (4 * (ib % 2))) & 0x0F;
            let db = d * f32::from(1 + 2 * scale);
            for (e, y) in y.iter_mut().enumerate() {
                let k = 8 * ib + e / 4;
                let high = usize::from((qh[k / 8] >> (k % 8)) & 1);
                let row = &IQ3S[usize::from(qs[k]) | (high << 8)];
                *y = signed(db * f32::from(row[e % 4]), signs[4 * ib + e / 8], e % 8);
            }
        }
    });
}

/// `IQ1_S`/`IQ1_M`'s offset of every grid value: plus or minus 1/8.
#[inline(always)]
fn delta(negative: bool) -> f32 {
    if negative {
        -0.125
    } else {
        0.125
    }
}

pub(super) fn iq1_s(bytes: &[u8], out: &mut [f32]) {
    // d, qs[32] (grid index low bits), then per 32 elements a u16: four 3-bit high parts,
    // a 3-bit scale and the delta's sign.
    for_blocks::<50, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let qh = u16_at(b, 34 + 2 * ib);
            let dl = d * f32::from(2 * ((qh >> 12) & 7) + 1);
            let delta = delta(qh & 0x8000 != 0);
            for (l, y) in y.chunks_exact_mut(8).enumerate() {
                let high = usize::from((qh >> (3 * l)) & 7);
                let row = &IQ1S[usize::from(b[2 + 4 * ib + l]) | (high << 8)];
                for (y, &g) in y.iter_mut().zip(row) {
                    *y = dl * (f32::from(g) + delta);
                }
            }
        }
    });
}

pub(super) fn iq1_m(bytes: &[u8], out: &mut [f32]) {
    // qs[32] (grid index low bits), qh[16] (two nibbles: 3 high bits and the delta's sign),
    // scales as 4 u16: twelve 3-bit sub-block scales each, the f16 `d` in their top nibbles.
    for_blocks::<56, QK_K>(bytes, out, |b, y| {
        let (qs, qh) = (&b[..32], &b[32..48]);
        let sc = [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)];
        let d_bits =
            (sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000);
        let d = half::f16::from_bits(d_bits).to_f32();
        for (k, y) in y.chunks_exact_mut(8).enumerate() {
            let t = k / 2;
            let scale = (sc[t / 4] >> (3 * (t % 4))) & 7;
            let dl = d * f32::from(2 * scale + 1);
            let nibble = (qh[k / 2] >> (4 * (k % 2))) & 0x0F;
            let row = &IQ1S[usize::from(qs[k]) | (usize::from(nibble & 7) << 8)];
            let delta = delta(nibble & 8 != 0);
            for (y, &g) in y.iter_mut().zip(row) {
                *y = dl * (f32::from(g) + delta);
            }
        }
    });
}

pub(super) fn iq4_nl(bytes: &[u8], out: &mut [f32]) {
    // d, qs[16]: element j the low nibble of byte j, element j + 16 its high nibble.
    for_blocks::<18, 32>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        for j in 0..16 {
            let q = b[2 + j];
            y[j] = d * f32::from(IQ4_VALUES[usize::from(q & 0x0F)]);
            y[j + 16] = d * f32::from(IQ4_VALUES[usize::from(q >> 4)]);
        }
    });
}

pub(super) fn iq4_xs(bytes: &[u8], out: &mut [f32]) {
    // d, scales_h (u16: 2 high bits per sub-block), scales_l[4] (4 low bits), qs[128].
    for_blocks::<136, QK_K>(bytes, out, |b, y| {
        let d = f16(b[0], b[1]);
        let high = u16_at(b, 2);
        let (low, qs) = (&b[4..8], &b[8..]);
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let l = (low[ib / 2] >> (4 * (ib % 2))) & 0x0F;
            let h = ((high >> (2 * ib)) & 3) as u8;
            let dl = d * f32::from(((l | (h << 4)) as i8).wrapping_sub(32));
            let qs = &qs[16 * ib..16 * ib + 16];
            for j in 0..16 {
                y[j] = dl * f32::from(IQ4_VALUES[usize::from(qs[j] & 0x0F)]);
                y[j + 16] = dl * f32::from(IQ4_VALUES[usize::from(qs[j] >> 4)]);
            }
        }
    });
}
