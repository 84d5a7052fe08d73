//! Checked offset arithmetic: every offset and length read from a file, and every range a
//! caller asks for, becomes a byte range through [`checked_range`], so no computation on them
//! can wrap or index out of bounds. This is the crate's (and `weightmap-native`'s) one
//! range-check path.

use core::ops::Range;

use crate::error::{Error, Result};

/// Turns `offset` and `len` into a range within `total` bytes, or [`Error::InvalidRange`].
///
/// ```
/// use weightmap_core::checked_range;
/// assert_eq!(checked_range(4, 8, 16), Ok(4..12));
/// assert!(checked_range(u64::MAX, 2, 16).is_err());
/// assert!(checked_range(10, 7, 16).is_err());
/// ```
#[inline]
pub fn checked_range(offset: u64, len: u64, total: usize) -> Result<Range<usize>> {
    let invalid = Error::InvalidRange {
        offset,
        len,
        total: total as u64,
    };
    match offset.checked_add(len) {
        // Both fit in usize: end <= total, which is a usize.
        Some(end) if end <= total as u64 => Ok(offset as usize..end as usize),
        _ => Err(invalid),
    }
}

/// Rounds `value` up to a multiple of `align` (a power of two), or `None` if that overflows
/// or `align` is not a power of two.
///
/// This is ggml's `GGML_PAD` without its wrap-around: padding a size near `u64::MAX`
/// reports overflow instead of returning a small number.
///
/// ```
/// use weightmap_core::align_up;
/// assert_eq!(align_up(33, 32), Some(64));
/// assert_eq!(align_up(64, 32), Some(64));
/// assert_eq!(align_up(u64::MAX - 3, 32), None);
/// ```
pub fn align_up(value: u64, align: u64) -> Option<u64> {
    if !align.is_power_of_two() {
        return None;
    }
    let mask = align - 1;
    value.checked_add(mask).map(|v| v & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn checked_range_matches_naive_wide_arithmetic(offset: u64, len: u64, total in 0usize..1 << 20) {
            let wide_end = u128::from(offset) + u128::from(len);
            let ok = wide_end <= total as u128;
            match checked_range(offset, len, total) {
                Ok(r) => {
                    prop_assert!(ok);
                    prop_assert_eq!(r.start as u64, offset);
                    prop_assert_eq!((r.end - r.start) as u64, len);
                }
                Err(e) => {
                    prop_assert!(!ok);
                    prop_assert_eq!(e, Error::InvalidRange { offset, len, total: total as u64 });
                }
            }
        }

        #[test]
        fn small_ranges_near_the_end(total in 0usize..4096, offset in 0u64..5000, len in 0u64..5000) {
            let r = checked_range(offset, len, total);
            prop_assert_eq!(r.is_ok(), offset + len <= total as u64);
            if let Ok(r) = r {
                let data = alloc::vec![0u8; total];
                prop_assert!(data.get(r).is_some());
            }
        }

        #[test]
        fn align_up_is_the_smallest_multiple_at_or_above(value: u64, shift in 0u32..40) {
            let align = 1u64 << shift;
            let wide = u128::from(value).div_ceil(u128::from(align)) * u128::from(align);
            match align_up(value, align) {
                Some(v) => {
                    prop_assert_eq!(u128::from(v), wide);
                    prop_assert_eq!(v % align, 0);
                }
                None => prop_assert!(wide > u128::from(u64::MAX)),
            }
        }
    }

    #[test]
    fn align_up_rejects_non_powers_of_two() {
        assert_eq!(align_up(10, 0), None);
        assert_eq!(align_up(10, 24), None);
    }

    #[test]
    fn llama_cpp_padding_wrap_is_reported() {
        // 2^62 F32 elements = 2^64 bytes: the size itself overflows u64, and padding
        // u64::MAX - 3 (where GGML_PAD would wrap to 0) is an error.
        assert_eq!((1u64 << 62).checked_mul(4), None);
        assert_eq!(align_up(u64::MAX - 3, 32), None);
    }
}
