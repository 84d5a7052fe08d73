//! The small floats of safetensors: the five 8-bit types (OCP `E4M3`/`E5M2`, the `FNUZ`
//! variants, the `E8M0` scale), the 6-bit MX types and 4-bit `E2M1`, each decoded exactly
//! through a table of its every value, built at compile time.
//!
//! Sub-byte elements are packed as a little-endian bit stream (element `i` of a block in
//! bits `[w * i, w * (i + 1))` of its bytes read as one little-endian integer): `F4` low
//! nibble first, as PyTorch's `float4_e2m1fn_x2`; `F6` four elements in three bytes.

// Every index is a byte or a masked field below its table's length.
#![allow(clippy::indexing_slicing)]

/// How a format encodes what is not a finite number.
#[derive(Clone, Copy)]
enum Special {
    /// IEEE: the top exponent is infinity (mantissa 0) or NaN.
    Ieee,
    /// `FN`: no infinity; all exponent and mantissa bits set is NaN.
    Fn,
    /// `FNUZ`: no infinity, no negative zero; the negative-zero pattern is NaN.
    Fnuz,
    /// Every pattern is a finite number (the MX element types).
    None,
}

/// The `f32` bits of a positive float with exponent field `e` and mantissa field `m` of
/// `m_bits` bits, exponent bias `bias` (exact: every such value is a normal `f32`).
const fn magnitude(e: u32, m: u32, m_bits: u32, bias: i32) -> u32 {
    let (exp, frac) = if e == 0 {
        if m == 0 {
            return 0;
        }
        // Subnormal m * 2^(1 - bias - m_bits): normalised on its leading bit.
        let lead = 31 - m.leading_zeros();
        (
            lead as i32 + 1 - bias - m_bits as i32,
            (m ^ (1 << lead)) << (23 - lead),
        )
    } else {
        (e as i32 - bias, m << (23 - m_bits))
    };
    (((exp + 127) as u32) << 23) | frac
}

/// Every value of a signed float format of `1 + e_bits + m_bits` bits, indexed by its bits.
const fn table<const N: usize>(e_bits: u32, m_bits: u32, bias: i32, special: Special) -> [f32; N] {
    let mut values = [0f32; N];
    let (top, e_max, m_max) = (
        1u32 << (e_bits + m_bits),
        (1 << e_bits) - 1,
        (1 << m_bits) - 1,
    );
    let mut x = 0;
    while x < N as u32 {
        let sign = (x & top) << (31 - e_bits - m_bits);
        let (e, m) = ((x >> m_bits) & e_max, x & m_max);
        let nan = match special {
            Special::Ieee => e == e_max && m != 0,
            Special::Fn => e == e_max && m == m_max,
            Special::Fnuz => x == top,
            Special::None => false,
        };
        let bits = if nan {
            0x7FC0_0000
        } else if matches!(special, Special::Ieee) && e == e_max {
            sign | 0x7F80_0000
        } else {
            sign | magnitude(e, m, m_bits, bias)
        };
        values[x as usize] = f32::from_bits(bits);
        x += 1;
    }
    values
}

/// `E8M0`: unsigned powers of two `2^(x - 127)`; 0xFF is NaN.
const fn e8m0_table() -> [f32; 256] {
    let mut values = [0f32; 256];
    let mut x = 0;
    while x < 256 {
        values[x as usize] = f32::from_bits(match x {
            0 => 0x0040_0000, // 2^-127, an f32 subnormal
            255 => 0x7FC0_0000,
            _ => x << 23,
        });
        x += 1;
    }
    values
}

static F8_E4M3: [f32; 256] = table(4, 3, 7, Special::Fn);
static F8_E5M2: [f32; 256] = table(5, 2, 15, Special::Ieee);
static F8_E4M3FNUZ: [f32; 256] = table(4, 3, 8, Special::Fnuz);
static F8_E5M2FNUZ: [f32; 256] = table(5, 2, 16, Special::Fnuz);
static F8_E8M0: [f32; 256] = e8m0_table();
static F6_E2M3: [f32; 64] = table(2, 3, 1, Special::None);
static F6_E3M2: [f32; 64] = table(3, 2, 3, Special::None);
static F4_E2M1: [f32; 16] = table(2, 1, 1, Special::None);

fn bytes_through(table: &[f32; 256], bytes: &[u8], out: &mut [f32]) {
    for (y, &x) in out.iter_mut().zip(bytes) {
        *y = table[usize::from(x)];
    }
}

pub(super) fn f8_e4m3(bytes: &[u8], out: &mut [f32]) {
    bytes_through(&F8_E4M3, bytes, out);
}

pub(super) fn f8_e5m2(bytes: &[u8], out: &mut [f32]) {
    bytes_through(&F8_E5M2, bytes, out);
}

pub(super) fn f8_e4m3fnuz(bytes: &[u8], out: &mut [f32]) {
    bytes_through(&F8_E4M3FNUZ, bytes, out);
}

pub(super) fn f8_e5m2fnuz(bytes: &[u8], out: &mut [f32]) {
    bytes_through(&F8_E5M2FNUZ, bytes, out);
}

pub(super) fn f8_e8m0(bytes: &[u8], out: &mut [f32]) {
    bytes_through(&F8_E8M0, bytes, out);
}

pub(super) fn f4(bytes: &[u8], out: &mut [f32]) {
    for (y, &x) in out.chunks_exact_mut(2).zip(bytes) {
        y[0] = F4_E2M1[usize::from(x & 0x0F)];
        y[1] = F4_E2M1[usize::from(x >> 4)];
    }
}

fn six_bits(table: &[f32; 64], bytes: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(3)) {
        let word = u32::from(b[0]) | (u32::from(b[1]) << 8) | (u32::from(b[2]) << 16);
        for (k, y) in y.iter_mut().enumerate() {
            *y = table[((word >> (6 * k)) & 0x3F) as usize];
        }
    }
}

pub(super) fn f6_e2m3(bytes: &[u8], out: &mut [f32]) {
    six_bits(&F6_E2M3, bytes, out);
}

pub(super) fn f6_e3m2(bytes: &[u8], out: &mut [f32]) {
    six_bits(&F6_E3M2, bytes, out);
}
