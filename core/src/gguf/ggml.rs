//! The ggml tensor type table: every type id the official GGUF writer knows (gguf 0.19.0's
//! `GGML_QUANT_SIZES`) plus ggml's newer `Q2_0`, with block size and bytes per block.

use core::fmt;

/// Why a type id is not a readable [`GgmlType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeIdError {
    /// The id once existed but was removed from the format (4, 5, 31-33, 36-38).
    Removed(u32),
    /// No version of the format defines the id.
    Unknown(u32),
}

macro_rules! ggml_types {
    ($($variant:ident = $id:literal, $name:literal, $block:literal, $size:literal;)*) => {
        /// A ggml tensor element type.
        ///
        /// ```
        /// use weightmap_core::GgmlType;
        /// let t = GgmlType::Q4_K;
        /// assert_eq!(GgmlType::from_id(12), Ok(t));
        /// assert_eq!((t.block_size(), t.type_size()), (256, 144));
        /// assert_eq!(t.name(), "Q4_K");
        /// ```
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum GgmlType {
            $(
                #[doc = concat!("`", $name, "`: ", stringify!($block), " elements per ", stringify!($size), "-byte block.")]
                $variant = $id,
            )*
        }

        impl GgmlType {
            /// Every type, in id order.
            pub const ALL: &'static [GgmlType] = &[$(GgmlType::$variant),*];

            /// The type with this id, or why there is none.
            pub const fn from_id(id: u32) -> Result<GgmlType, TypeIdError> {
                match id {
                    $($id => Ok(GgmlType::$variant),)*
                    4 | 5 | 31..=33 | 36..=38 => Err(TypeIdError::Removed(id)),
                    _ => Err(TypeIdError::Unknown(id)),
                }
            }

            /// The official name (`F32`, `Q4_K`, `MXFP4`…).
            pub const fn name(self) -> &'static str {
                match self { $(GgmlType::$variant => $name,)* }
            }

            /// Elements per block (1 for plain types).
            pub const fn block_size(self) -> u64 {
                match self { $(GgmlType::$variant => $block,)* }
            }

            /// Bytes per block.
            pub const fn type_size(self) -> u64 {
                match self { $(GgmlType::$variant => $size,)* }
            }
        }
    };
}

ggml_types! {
    F32 = 0, "F32", 1, 4;
    F16 = 1, "F16", 1, 2;
    Q4_0 = 2, "Q4_0", 32, 18;
    Q4_1 = 3, "Q4_1", 32, 20;
    Q5_0 = 6, "Q5_0", 32, 22;
    Q5_1 = 7, "Q5_1", 32, 24;
    Q8_0 = 8, "Q8_0", 32, 34;
    Q8_1 = 9, "Q8_1", 32, 40;
    Q2_K = 10, "Q2_K", 256, 84;
    Q3_K = 11, "Q3_K", 256, 110;
    Q4_K = 12, "Q4_K", 256, 144;
    Q5_K = 13, "Q5_K", 256, 176;
    Q6_K = 14, "Q6_K", 256, 210;
    Q8_K = 15, "Q8_K", 256, 292;
    IQ2_XXS = 16, "IQ2_XXS", 256, 66;
    IQ2_XS = 17, "IQ2_XS", 256, 74;
    IQ3_XXS = 18, "IQ3_XXS", 256, 98;
    IQ1_S = 19, "IQ1_S", 256, 50;
    IQ4_NL = 20, "IQ4_NL", 32, 18;
    IQ3_S = 21, "IQ3_S", 256, 110;
    IQ2_S = 22, "IQ2_S", 256, 82;
    IQ4_XS = 23, "IQ4_XS", 256, 136;
    I8 = 24, "I8", 1, 1;
    I16 = 25, "I16", 1, 2;
    I32 = 26, "I32", 1, 4;
    I64 = 27, "I64", 1, 8;
    F64 = 28, "F64", 1, 8;
    IQ1_M = 29, "IQ1_M", 256, 56;
    BF16 = 30, "BF16", 1, 2;
    TQ1_0 = 34, "TQ1_0", 256, 54;
    TQ2_0 = 35, "TQ2_0", 256, 66;
    MXFP4 = 39, "MXFP4", 32, 17;
    NVFP4 = 40, "NVFP4", 64, 36;
    Q1_0 = 41, "Q1_0", 128, 18;
    Q2_0 = 42, "Q2_0", 64, 18;
}

impl GgmlType {
    /// The numeric id stored in files.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// Whether elements are stored in blocks (quantized) rather than one by one.
    pub const fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes needed for a tensor of `shape` (`ne[0]` first), or `None` if `ne[0]` is not a
    /// multiple of the block size or the size overflows.
    ///
    /// ```
    /// use weightmap_core::GgmlType;
    /// assert_eq!(GgmlType::Q8_0.byte_size(&[64, 3]), Some(2 * 34 * 3));
    /// assert_eq!(GgmlType::Q8_0.byte_size(&[33]), None);
    /// assert_eq!(GgmlType::F32.byte_size(&[1 << 62]), None);
    /// ```
    pub fn byte_size(self, shape: &[u64]) -> Option<u64> {
        // With no dimensions the tensor is a scalar: ggml's ne[0] is 1.
        let (&ne0, rest) = shape.split_first().unwrap_or((&1, &[]));
        if ne0 % self.block_size() != 0 {
            return None;
        }
        let row = (ne0 / self.block_size()).checked_mul(self.type_size())?;
        rest.iter().try_fold(row, |acc, &d| acc.checked_mul(d))
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_official_type_plus_q2_0() {
        assert_eq!(GgmlType::ALL.len(), 35);
        for &t in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(t.id()), Ok(t));
            assert!(t.type_size() > 0 && t.block_size() > 0);
        }
        assert_eq!(GgmlType::MXFP4.block_size(), 32);
        assert_eq!(GgmlType::MXFP4.type_size(), 17);
        assert_eq!(GgmlType::NVFP4.type_size(), 36);
        assert_eq!(GgmlType::Q2_0.id(), 42);
    }

    #[test]
    fn removed_and_unknown_ids_are_distinguished() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38] {
            assert_eq!(GgmlType::from_id(id), Err(TypeIdError::Removed(id)));
        }
        for id in [43, 100, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), Err(TypeIdError::Unknown(id)));
        }
    }

    #[test]
    fn byte_size_checks_blocks_and_overflow() {
        assert_eq!(GgmlType::Q4_K.byte_size(&[512, 2]), Some(2 * 144 * 2));
        assert_eq!(GgmlType::Q4_K.byte_size(&[255]), None);
        assert_eq!(GgmlType::F32.byte_size(&[]), Some(4));
        assert_eq!(GgmlType::Q4_0.byte_size(&[]), None);
        assert_eq!(GgmlType::F16.byte_size(&[0, 7]), Some(0));
        assert_eq!(GgmlType::F32.byte_size(&[1 << 32, 1 << 32]), None);
    }
}
