//! `TensorType`: the element type of a tensor, whatever the file format it came from.
//!
//! One flat list: every ggml type (GGUF's quantized blocks and plain numbers) and every
//! safetensors dtype. The plain types both formats share (`F32`, `F16`, `BF16`, `F64`, `I8`,
//! `I16`, `I32`, `I64`) are one variant each, so an `F32` tensor is `TensorType::F32` whether it
//! came from a GGUF or a safetensors file, and a typed view works the same on both.

use core::fmt;

use crate::gguf::ggml::GgmlType;

macro_rules! tensor_types {
    (
        ggml: [$($g:ident),* $(,)?],
        safetensors_only: [$($s:ident = $bits:literal, $doc:literal;)*],
        shared: [$($shared:ident),* $(,)?],
    ) => {
        /// The element type of a tensor, whatever the file format.
        ///
        /// ```
        /// use weightmap_core::{GgmlType, TensorType};
        /// assert_eq!(TensorType::from(GgmlType::Q4_K).name(), "Q4_K");
        /// assert_eq!(TensorType::from_safetensors_name("F8_E4M3"), Some(TensorType::F8_E4M3));
        /// // F32 is one type in both formats.
        /// assert_eq!(TensorType::from(GgmlType::F32), TensorType::from_safetensors_name("F32").unwrap());
        /// // Sub-byte types fill whole bytes: 4 F4 elements take 2 bytes, 3 do not fill them.
        /// assert_eq!(TensorType::F4.byte_size(4), Some(2));
        /// assert_eq!(TensorType::F4.byte_size(3), None);
        /// ```
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum TensorType {
            $(
                #[doc = concat!("ggml's `", stringify!($g), "` (see [`GgmlType::", stringify!($g), "`]).")]
                $g,
            )*
            $(
                #[doc = concat!("safetensors' `", stringify!($s), "`: ", $doc, " (", stringify!($bits), " bits).")]
                $s,
            )*
        }

        impl TensorType {
            /// Every type: the ggml types in id order, then the safetensors-only ones.
            pub const ALL: &'static [TensorType] = &[$(TensorType::$g,)* $(TensorType::$s,)*];

            /// The ggml type, for the types GGUF files can hold.
            pub const fn ggml(self) -> Option<GgmlType> {
                match self {
                    $(TensorType::$g => Some(GgmlType::$g),)*
                    _ => None,
                }
            }

            /// The type safetensors calls `name` (case-sensitive, as the format is), if any.
            pub fn from_safetensors_name(name: &str) -> Option<TensorType> {
                match name {
                    $(stringify!($s) => Some(TensorType::$s),)*
                    $(stringify!($shared) => Some(TensorType::$shared),)*
                    _ => None,
                }
            }

            /// Whether safetensors files can hold this type.
            pub const fn is_safetensors(self) -> bool {
                matches!(self, $(TensorType::$s)|* $(| TensorType::$shared)*)
            }

            /// The type's name as its formats write it (`F32`, `Q4_K`, `F8_E4M3`…).
            pub const fn name(self) -> &'static str {
                match self {
                    $(TensorType::$s => stringify!($s),)*
                    _ => match self.ggml() {
                        Some(t) => t.name(),
                        None => "?",
                    },
                }
            }

            /// Bits of one element of a safetensors-only type.
            const fn own_bits(self) -> Option<u64> {
                match self {
                    $(TensorType::$s => Some($bits),)*
                    _ => None,
                }
            }
        }

        impl From<GgmlType> for TensorType {
            fn from(t: GgmlType) -> Self {
                match t {
                    $(GgmlType::$g => TensorType::$g,)*
                }
            }
        }
    };
}

tensor_types! {
    ggml: [
        F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
        IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, I8, I16, I32, I64, F64,
        IQ1_M, BF16, TQ1_0, TQ2_0, MXFP4, NVFP4, Q1_0, Q2_0,
    ],
    safetensors_only: [
        BOOL = 8, "a boolean, one byte";
        U8 = 8, "unsigned 8-bit integer";
        U16 = 16, "unsigned 16-bit integer";
        U32 = 32, "unsigned 32-bit integer";
        U64 = 64, "unsigned 64-bit integer";
        C64 = 64, "complex number of two `f32` parts";
        F8_E5M2 = 8, "8-bit float, 5 exponent and 2 mantissa bits";
        F8_E4M3 = 8, "8-bit float, 4 exponent and 3 mantissa bits";
        F8_E8M0 = 8, "8-bit power-of-two scale (MX formats)";
        F8_E4M3FNUZ = 8, "8-bit float E4M3, finite, no negative zero";
        F8_E5M2FNUZ = 8, "8-bit float E5M2, finite, no negative zero";
        F6_E2M3 = 6, "6-bit float, 2 exponent and 3 mantissa bits (MX formats)";
        F6_E3M2 = 6, "6-bit float, 3 exponent and 2 mantissa bits (MX formats)";
        F4 = 4, "4-bit float E2M1 (MX formats)";
    ],
    shared: [F64, F32, F16, BF16, I64, I32, I16, I8],
}

impl TensorType {
    /// Elements per block: 1 for plain types; for ggml's quantized types the block size; for
    /// sub-byte types the fewest elements that fill whole bytes (2 for `F4`, 4 for the 6-bit
    /// floats).
    pub const fn block_size(self) -> u64 {
        match (self.ggml(), self.own_bits()) {
            (Some(t), _) => t.block_size(),
            (None, Some(bits)) if bits < 8 => 8 / gcd(bits, 8),
            _ => 1,
        }
    }

    /// Bytes per block.
    pub const fn type_size(self) -> u64 {
        match (self.ggml(), self.own_bits()) {
            (Some(t), _) => t.type_size(),
            (None, Some(bits)) => bits * self.block_size() / 8,
            (None, None) => 1,
        }
    }

    /// Whether elements are stored in blocks of several (quantized or sub-byte) rather than
    /// one by one.
    pub const fn is_blocked(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes of `n_elements` elements, or `None` when they do not fill whole blocks or the
    /// size overflows.
    pub const fn byte_size(self, n_elements: u64) -> Option<u64> {
        let block = self.block_size();
        if n_elements % block != 0 {
            return None;
        }
        (n_elements / block).checked_mul(self.type_size())
    }
}

const fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl PartialEq<GgmlType> for TensorType {
    fn eq(&self, other: &GgmlType) -> bool {
        self.ggml() == Some(*other)
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_types_compare_with_ggml_types() {
        let t = TensorType::from(GgmlType::Q4_K);
        assert_eq!(t, GgmlType::Q4_K);
        assert_ne!(t, GgmlType::F32);
        assert_eq!(
            (t.name(), t.block_size(), t.type_size()),
            ("Q4_K", 256, 144)
        );
        assert_eq!(core::mem::size_of::<TensorType>(), 1);
        for &g in GgmlType::ALL {
            assert_eq!(TensorType::from(g).ggml(), Some(g));
            assert_eq!(TensorType::from(g).name(), g.name());
        }
    }

    #[test]
    fn every_safetensors_dtype_is_known_by_name() {
        let names = [
            "BOOL",
            "U8",
            "I8",
            "U16",
            "I16",
            "U32",
            "I32",
            "U64",
            "I64",
            "F16",
            "BF16",
            "F32",
            "F64",
            "C64",
            "F8_E5M2",
            "F8_E4M3",
            "F8_E8M0",
            "F8_E4M3FNUZ",
            "F8_E5M2FNUZ",
            "F4",
            "F6_E2M3",
            "F6_E3M2",
        ];
        for name in names {
            let t = TensorType::from_safetensors_name(name).unwrap();
            assert_eq!(t.name(), name);
            assert!(t.is_safetensors());
        }
        let all = TensorType::ALL
            .iter()
            .filter(|t| t.is_safetensors())
            .count();
        assert_eq!(all, names.len());
        assert_eq!(TensorType::from_safetensors_name("f32"), None);
        assert_eq!(TensorType::from_safetensors_name("Q4_K"), None);
        assert!(!TensorType::Q4_K.is_safetensors());
    }

    #[test]
    fn sizes_of_plain_and_sub_byte_types() {
        assert_eq!(TensorType::C64.byte_size(3), Some(24));
        assert_eq!(TensorType::BOOL.byte_size(3), Some(3));
        assert_eq!(TensorType::F6_E2M3.block_size(), 4);
        assert_eq!(TensorType::F6_E2M3.type_size(), 3);
        assert_eq!(TensorType::F6_E3M2.byte_size(8), Some(6));
        assert_eq!(TensorType::F6_E3M2.byte_size(6), None);
        assert_eq!(TensorType::F4.byte_size(0), Some(0));
        assert_eq!(TensorType::U64.byte_size(u64::MAX), None);
        assert_eq!(TensorType::Q8_0.byte_size(64), Some(68));
    }
}
