//! Plain numbers: floats widened or narrowed to `f32` (round to nearest, as numpy's
//! `astype(np.float32)`), integers as their values.

use half::f16;

/// `N`-byte little-endian elements, each converted by `f`.
#[inline(always)]
fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (x, y) in bytes.chunks_exact(N).zip(out.iter_mut()) {
        if let Ok(x) = x.try_into() {
            *y = f(x);
        }
    }
}

pub(super) fn f32s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, f32::from_le_bytes);
}

pub(super) fn f16s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| f16::from_le_bytes(b).to_f32());
}

/// bfloat16 is the top half of an f32: its bits shifted up, as the official reader does
/// (NaN payloads kept as they are).
pub(super) fn bf16s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| {
        f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
    });
}

pub(super) fn f64s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| f64::from_le_bytes(b) as f32);
}

pub(super) fn i8s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b: [u8; 1]| f32::from(b[0] as i8));
}

pub(super) fn i16s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| f32::from(i16::from_le_bytes(b)));
}

pub(super) fn i32s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| i32::from_le_bytes(b) as f32);
}

pub(super) fn i64s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| i64::from_le_bytes(b) as f32);
}

pub(super) fn u8s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b: [u8; 1]| f32::from(b[0]));
}

pub(super) fn u16s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| f32::from(u16::from_le_bytes(b)));
}

pub(super) fn u32s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| u32::from_le_bytes(b) as f32);
}

pub(super) fn u64s(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| u64::from_le_bytes(b) as f32);
}
