//! The GGUF format's constants, byte order and value types.
//!
//! A leaf module: it depends on nothing else in the crate, so every other module can use it.

use core::fmt;

pub use crate::endian::Endian;

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u32 = 32;
/// The most dimensions a GGUF tensor may have.
pub const MAX_DIMS: usize = 4;
/// Size of the fixed header (magic, version, tensor count, entry count).
pub const HEADER_SIZE: usize = 24;
/// The key that sets the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// How deeply arrays may nest inside arrays before a file is rejected.
pub const MAX_ARRAY_DEPTH: u32 = 16;

macro_rules! value_types {
    ($($variant:ident = $id:literal, $name:literal, $size:expr;)*) => {
        /// A GGUF metadata value type (the `gguf_type` enum).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ValueType {
            $(
                #[doc = concat!("`", $name, "` (id ", stringify!($id), ").")]
                $variant = $id,
            )*
        }

        impl ValueType {
            /// Every value type, in id order.
            pub const ALL: &'static [ValueType] = &[$(ValueType::$variant),*];

            /// The type with this id, if any.
            pub const fn from_id(id: u32) -> Option<ValueType> {
                match id {
                    $($id => Some(ValueType::$variant),)*
                    _ => None,
                }
            }

            /// The official name (`UINT8`, `STRING`, `ARRAY`…).
            pub const fn name(self) -> &'static str {
                match self { $(ValueType::$variant => $name,)* }
            }

            /// Size in bytes of a value of this type, for the fixed-size types.
            pub const fn fixed_size(self) -> Option<u64> {
                match self { $(ValueType::$variant => $size,)* }
            }
        }
    };
}

value_types! {
    Uint8 = 0, "UINT8", Some(1);
    Int8 = 1, "INT8", Some(1);
    Uint16 = 2, "UINT16", Some(2);
    Int16 = 3, "INT16", Some(2);
    Uint32 = 4, "UINT32", Some(4);
    Int32 = 5, "INT32", Some(4);
    Float32 = 6, "FLOAT32", Some(4);
    Bool = 7, "BOOL", Some(1);
    String = 8, "STRING", None;
    Array = 9, "ARRAY", None;
    Uint64 = 10, "UINT64", Some(8);
    Int64 = 11, "INT64", Some(8);
    Float64 = 12, "FLOAT64", Some(8);
}

impl ValueType {
    /// The numeric id stored in files.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// The fewest bytes one value of this type can occupy (a length prefix, or an array's
    /// type and count), used to reject counts that cannot fit before looping.
    pub(crate) const fn min_size(self) -> u64 {
        match (self.fixed_size(), self) {
            (Some(n), _) => n,
            (None, ValueType::String) => 8,
            (None, _) => 12,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_round_trips_ids() {
        assert_eq!(ValueType::ALL.len(), 13);
        for (i, &t) in ValueType::ALL.iter().enumerate() {
            assert_eq!(t.id(), i as u32);
            assert_eq!(ValueType::from_id(t.id()), Some(t));
        }
        assert_eq!(ValueType::from_id(13), None);
        assert_eq!(ValueType::String.min_size(), 8);
        assert_eq!(ValueType::Array.min_size(), 12);
        assert_eq!(ValueType::Float64.fixed_size(), Some(8));
    }

    #[test]
    fn numbers_read_in_both_orders() {
        assert_eq!(Endian::Little.u32([1, 0, 0, 0]), 1);
        assert_eq!(Endian::Big.u32([0, 0, 0, 1]), 1);
        assert_eq!(Endian::Big.u16([1, 2]), 0x0102);
        assert_eq!(Endian::Little.u64([0, 0, 0, 0, 0, 0, 0, 1]), 1 << 56);
    }
}
