//! What can be wrong with a JSON header or shard index, as small `Copy` values.

use core::fmt;

/// What is wrong with a JSON document where the format expects something else, or where it
/// does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonProblem {
    /// Not JSON: a syntax error.
    Syntax,
    /// The JSON ends before its value does.
    UnexpectedEnd,
    /// Bytes other than JSON whitespace after the value (NUL padding is not whitespace).
    TrailingCharacters,
    /// Arrays and objects nested deeper than the parser's recursion limit (128).
    TooDeep,
    /// A number that does not fit the field (negative, fractional, or past 64 bits).
    NumberOutOfRange,
    /// An object was expected.
    ExpectedObject,
    /// A string was expected.
    ExpectedString,
    /// An array of non-negative integers was expected.
    ExpectedIntegers,
    /// `data_offsets` must hold exactly two integers.
    ExpectedTwoOffsets,
    /// A field the format requires is missing.
    MissingField,
    /// A field appears twice in one object.
    DuplicateField,
    /// Shard index: an object mapping tensor names to shard file names was expected.
    ExpectedWeightMap,
    /// Shard index: `metadata.total_size` must be a non-negative integer.
    ExpectedTotalSize,
}

impl fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonProblem::Syntax => "invalid JSON",
            JsonProblem::UnexpectedEnd => "the JSON ends early",
            JsonProblem::TrailingCharacters => {
                "bytes after the JSON object that are not JSON whitespace (NUL padding is not)"
            }
            JsonProblem::TooDeep => "nested deeper than 128 levels",
            JsonProblem::NumberOutOfRange => "expected an integer from 0 to 2^64-1",
            JsonProblem::ExpectedObject => "expected a JSON object",
            JsonProblem::ExpectedString => "expected a string",
            JsonProblem::ExpectedIntegers => "expected an array of non-negative integers",
            JsonProblem::ExpectedTwoOffsets => "expected exactly two offsets",
            JsonProblem::MissingField => "missing field",
            JsonProblem::DuplicateField => "duplicate field",
            JsonProblem::ExpectedWeightMap => {
                "expected \"weight_map\": an object of tensor names to shard file names"
            }
            JsonProblem::ExpectedTotalSize => {
                "expected \"total_size\" to be a non-negative integer"
            }
        })
    }
}

/// The field of a safetensors tensor entry an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Field {
    /// None: the error is not about one field.
    #[default]
    None,
    /// `dtype`.
    Dtype,
    /// `shape`.
    Shape,
    /// `data_offsets`.
    DataOffsets,
}

impl Field {
    /// The field's name in the JSON (empty for [`Field::None`]).
    pub const fn name(self) -> &'static str {
        match self {
            Field::None => "",
            Field::Dtype => "dtype",
            Field::Shape => "shape",
            Field::DataOffsets => "data_offsets",
        }
    }
}
