//! `TensorType`: the element type of a tensor, whatever the file format it came from.

use core::fmt;

use crate::ggml::GgmlType;

/// The element type of a tensor, whatever the file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TensorType {
    /// A ggml type, as GGUF files store them.
    Ggml(GgmlType),
}

impl TensorType {
    /// The type's name as its format writes it (`F32`, `Q4_K`…).
    pub const fn name(self) -> &'static str {
        match self {
            TensorType::Ggml(t) => t.name(),
        }
    }

    /// The ggml type, for a GGUF tensor.
    pub const fn ggml(self) -> Option<GgmlType> {
        match self {
            TensorType::Ggml(t) => Some(t),
        }
    }

    /// Elements per block (1 for plain types).
    pub const fn block_size(self) -> u64 {
        match self {
            TensorType::Ggml(t) => t.block_size(),
        }
    }

    /// Bytes per block.
    pub const fn type_size(self) -> u64 {
        match self {
            TensorType::Ggml(t) => t.type_size(),
        }
    }
}

impl From<GgmlType> for TensorType {
    fn from(t: GgmlType) -> Self {
        TensorType::Ggml(t)
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
    }
}
