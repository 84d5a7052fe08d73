//! `ModelEntry`: one metadata entry of a model, as its format has it.

use crate::gguf::value::Value;

/// A metadata value as the format has it: a typed GGUF value, or a safetensors string.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ModelValue<'data> {
    /// A GGUF value (numbers, strings, arrays).
    Gguf(Value<'data>),
    /// A safetensors `__metadata__` string.
    Str(&'data str),
}

impl<'data> ModelValue<'data> {
    /// The value as a string, if it is one (and, for GGUF, valid UTF-8).
    pub fn as_str(&self) -> Option<&'data str> {
        match self {
            ModelValue::Gguf(v) => v.as_str(),
            ModelValue::Str(s) => Some(s),
        }
    }

    /// The GGUF value, for a GGUF model.
    pub fn as_gguf(&self) -> Option<Value<'data>> {
        match self {
            ModelValue::Gguf(v) => Some(*v),
            ModelValue::Str(_) => None,
        }
    }

    /// The type's name: GGUF's (`UINT32`, `STRING`, `ARRAY`…), `STRING` for safetensors.
    pub fn type_name(&self) -> &'static str {
        match self {
            ModelValue::Gguf(v) => v.value_type().name(),
            ModelValue::Str(_) => "STRING",
        }
    }
}

/// One metadata entry: a key and its value.
#[derive(Debug, Clone, Copy)]
pub struct ModelEntry<'data> {
    pub(crate) key: &'data str,
    pub(crate) value: ModelValue<'data>,
    pub(crate) offset: u64,
}

impl<'data> ModelEntry<'data> {
    /// The key.
    pub fn key(&self) -> &'data str {
        self.key
    }

    /// The value.
    pub fn value(&self) -> ModelValue<'data> {
        self.value
    }

    /// Where the entry is in its file.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl<'data> From<crate::gguf::MetadataEntry<'data>> for ModelEntry<'data> {
    fn from(e: crate::gguf::MetadataEntry<'data>) -> Self {
        ModelEntry {
            key: e.key(),
            value: ModelValue::Gguf(e.value()),
            offset: e.offset(),
        }
    }
}
