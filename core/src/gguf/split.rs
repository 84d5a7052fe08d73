//! The keys llama.cpp's split files carry (`split.no`, `split.count`, `split.tensors.count`),
//! read and checked.
//!
//! A model split by llama.cpp's `gguf-split` or the official writer
//! (`GGUFWriter(..., split_max_tensors=N)`) is a set of files named `NAME-00001-of-0000N.gguf`
//! to `NAME-0000N-of-0000N.gguf`. Each carries `split.no` (UINT16, 0-based), `split.count`
//! (UINT16) and `split.tensors.count` (INT32, the tensors of all splits together); only the
//! first carries the model's other metadata.

use crate::error::{Error, Name, Result};
use crate::gguf::format::ValueType;
use crate::gguf::value::Value;
use crate::gguf::view::GgufView;

/// `split.no`.
pub const SPLIT_NO: &str = "split.no";
/// `split.count`.
pub const SPLIT_COUNT: &str = "split.count";
/// `split.tensors.count`.
pub const SPLIT_TENSORS_COUNT: &str = "split.tensors.count";

/// What a split file's keys say about its place in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Split {
    /// This file's number, from 0.
    pub no: u16,
    /// How many files the set has.
    pub count: u16,
    /// How many tensors the files hold together.
    pub tensors: u32,
}

impl Split {
    /// The split keys of a parsed file: `None` when it has none of them (a single file, not a
    /// split).
    ///
    /// ```
    /// # let bytes = weightmap_core::testing::sample_file();
    /// use weightmap_core::{gguf::Split, GgufView};
    /// assert_eq!(Split::of(&GgufView::parse(&bytes)?)?, None);
    /// # Ok::<(), weightmap_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::SplitKeyType`] for a key of the wrong type, [`Error::SplitKeyMissing`] when
    /// some keys are there and others not, [`Error::InvalidSplit`] for a count of 0, a number
    /// past the count or a negative tensor count.
    pub fn of(view: &GgufView<'_>) -> Result<Option<Split>> {
        let no = view.get(SPLIT_NO);
        let count = view.get(SPLIT_COUNT);
        let tensors = view.get(SPLIT_TENSORS_COUNT);
        if no.is_none() && count.is_none() && tensors.is_none() {
            return Ok(None);
        }
        let no = u16_key(SPLIT_NO, no)?;
        let count = u16_key(SPLIT_COUNT, count)?;
        let tensors = match tensors {
            Some(Value::Int32(n)) => n,
            Some(other) => return Err(wrong_type(SPLIT_TENSORS_COUNT, other, ValueType::Int32)),
            None => return Err(missing(SPLIT_TENSORS_COUNT)),
        };
        match u32::try_from(tensors) {
            Ok(tensors) if count > 0 && no < count => Ok(Some(Split { no, count, tensors })),
            _ => Err(Error::InvalidSplit {
                no: no.into(),
                count: count.into(),
                tensors: tensors.into(),
            }),
        }
    }

    /// The split keys of a later file of a set, which must have them.
    ///
    /// # Errors
    /// As [`of`](Self::of), and [`Error::SplitKeyMissing`] for a file without split keys.
    pub fn of_later(view: &GgufView<'_>) -> Result<Split> {
        Split::of(view)?.ok_or_else(|| missing(SPLIT_NO))
    }

    /// The names of every file of the set, as llama.cpp names them (`NAME-00001-of-00004.gguf`
    /// to `NAME-00004-of-00004.gguf`), from `file_name`, this file's name: `None` when
    /// `file_name` does not end as this file's number says it should.
    ///
    /// ```
    /// use weightmap_core::gguf::Split;
    /// let split = Split { no: 1, count: 2, tensors: 9 };
    /// let names = split.file_names("m-00002-of-00002.gguf").unwrap();
    /// assert_eq!(names, ["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"]);
    /// assert_eq!(split.file_names("m-00001-of-00002.gguf"), None);
    /// ```
    #[cfg(feature = "alloc")]
    pub fn file_names(&self, file_name: &str) -> Option<alloc::vec::Vec<alloc::string::String>> {
        use alloc::format;
        let count = self.count;
        let suffix = |no: u16| format!("-{:05}-of-{count:05}.gguf", u32::from(no) + 1);
        let prefix = file_name.strip_suffix(&suffix(self.no))?;
        Some(
            (0..count)
                .map(|no| format!("{prefix}{}", suffix(no)))
                .collect(),
        )
    }
}

fn u16_key(key: &str, value: Option<Value<'_>>) -> Result<u16> {
    match value {
        Some(Value::Uint16(n)) => Ok(n),
        Some(other) => Err(wrong_type(key, other, ValueType::Uint16)),
        None => Err(missing(key)),
    }
}

fn wrong_type(key: &str, found: Value<'_>, expected: ValueType) -> Error {
    Error::SplitKeyType {
        key: Name::new(key.as_bytes()),
        found: found.value_type(),
        expected,
    }
}

fn missing(key: &str) -> Error {
    Error::SplitKeyMissing {
        key: Name::new(key.as_bytes()),
    }
}
