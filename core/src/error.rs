//! The parser's error type: small `Copy` values that say what failed, where, and for which key
//! or tensor, without allocating.

use core::fmt;

use crate::ggml::GgmlType;
use crate::value::ValueType;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Which part of a GGUF file a truncation or count error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// The fixed 24-byte header (magic, version, counts).
    Header,
    /// The key/value metadata section.
    Metadata,
    /// The tensor-info table.
    TensorInfo,
    /// Tensor data.
    TensorData,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Metadata => "metadata",
            Section::TensorInfo => "tensor info",
            Section::TensorData => "tensor data",
        })
    }
}

/// A short inline copy of a key or tensor name, so errors can name it without allocating.
///
/// Names longer than [`Name::CAPACITY`] bytes are cut and shown with a trailing `…`;
/// bytes that are not UTF-8 are shown as `\xNN` escapes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    buf: [u8; Name::CAPACITY],
    len: u8,
    truncated: bool,
}

impl Name {
    /// How many bytes of a name are kept.
    pub const CAPACITY: usize = 48;

    /// Copies at most [`Name::CAPACITY`] bytes of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut buf = [0u8; Self::CAPACITY];
        let len = bytes.len().min(Self::CAPACITY);
        let (kept, _) = bytes.split_at(len);
        let (dst, _) = buf.split_at_mut(len);
        dst.copy_from_slice(kept);
        Name {
            buf,
            len: len as u8, // ok: len <= CAPACITY < 256
            truncated: bytes.len() > Self::CAPACITY,
        }
    }

    /// The bytes kept (a prefix of the original name).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether the original name was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Everything that can go wrong reading a GGUF file or a tensor from it.
///
/// Offsets are absolute byte offsets into the file unless a field's name says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the part being read: `needed` bytes are required, `have` are present.
    /// When parsing a prefix of a larger file, read at least `needed` bytes and try again.
    #[error(
        "truncated {section}{}: {needed} bytes needed, only {have} available",
        Within(within)
    )]
    Truncated {
        /// Which part of the file was being read.
        section: Section,
        /// Bytes from the start of the file needed to continue.
        needed: u64,
        /// Bytes available.
        have: u64,
        /// The key or tensor being read, once its name was read.
        within: Option<Name>,
    },
    /// A count or length so large that the bytes it implies cannot be addressed at all.
    #[error(
        "{section}{} at byte {offset}: count or length {count} overflows the address space",
        Within(within)
    )]
    LengthOverflow {
        /// Which part of the file was being read.
        section: Section,
        /// The count or length read from the file.
        count: u64,
        /// Where it was read.
        offset: u64,
        /// The key or tensor being read, once its name was read.
        within: Option<Name>,
    },
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file: magic bytes are {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version other than 2 or 3.
    #[error("unsupported GGUF version {version}: weightmap reads versions 2 and 3{}", version_hint(*.version))]
    UnsupportedVersion {
        /// The version word (byte-swapped if the file is big-endian).
        version: u32,
    },
    /// A metadata key of length zero.
    #[error("metadata key #{index} at byte {offset} is empty")]
    EmptyKey {
        /// Position of the entry in the metadata section.
        index: u64,
        /// Where the key starts.
        offset: u64,
    },
    /// A metadata key that is not UTF-8.
    #[error("metadata key #{index} \"{key}\" at byte {offset} is not valid UTF-8")]
    KeyNotUtf8 {
        /// Position of the entry in the metadata section.
        index: u64,
        /// The key's bytes, escaped.
        key: Name,
        /// Where the key starts.
        offset: u64,
    },
    /// The same key appears twice.
    #[error("duplicate metadata key \"{key}\" at byte {offset}")]
    DuplicateKey {
        /// The key.
        key: Name,
        /// Where the second occurrence starts.
        offset: u64,
    },
    /// A value type id outside 0..=12.
    #[error("metadata key \"{key}\": unknown value type {type_id} at byte {offset}")]
    UnknownValueType {
        /// The key whose value (or array element) has the bad type.
        key: Name,
        /// The type id read.
        type_id: u32,
        /// Where it was read.
        offset: u64,
    },
    /// Arrays nested deeper than [`crate::MAX_ARRAY_DEPTH`].
    #[error("metadata key \"{key}\": arrays nested deeper than {max} levels at byte {offset}")]
    NestingTooDeep {
        /// The key.
        key: Name,
        /// The limit.
        max: u32,
        /// Where the too-deep array starts.
        offset: u64,
    },
    /// `general.alignment` is present with a type other than UINT32.
    #[error("general.alignment at byte {offset} must be UINT32, found {found}")]
    AlignmentType {
        /// The type found.
        found: ValueType,
        /// Where the key starts.
        offset: u64,
    },
    /// `general.alignment` is zero or not a power of two.
    #[error("general.alignment = {value} at byte {offset} is not a non-zero power of two")]
    InvalidAlignment {
        /// The value found.
        value: u32,
        /// Where the key starts.
        offset: u64,
    },
    /// A tensor name of length zero.
    #[error("tensor #{index} at byte {offset} has an empty name")]
    EmptyTensorName {
        /// Position in the tensor table.
        index: u64,
        /// Where the name starts.
        offset: u64,
    },
    /// A tensor name that is not UTF-8.
    #[error("tensor #{index} name \"{name}\" at byte {offset} is not valid UTF-8")]
    TensorNameNotUtf8 {
        /// Position in the tensor table.
        index: u64,
        /// The name's bytes, escaped.
        name: Name,
        /// Where the name starts.
        offset: u64,
    },
    /// Two tensors with the same name.
    #[error("duplicate tensor name \"{name}\" at byte {offset}")]
    DuplicateTensor {
        /// The name.
        name: Name,
        /// Where the second occurrence starts.
        offset: u64,
    },
    /// More than [`crate::MAX_DIMS`] dimensions.
    #[error("tensor \"{name}\" at byte {offset} has {n_dims} dimensions, at most 4 are allowed")]
    TooManyDims {
        /// The tensor.
        name: Name,
        /// The dimension count read.
        n_dims: u32,
        /// Where the count was read.
        offset: u64,
    },
    /// A dimension that is negative when read as the signed 64-bit value ggml uses.
    #[error("tensor \"{name}\": dimension {axis} is negative ({value}) at byte {offset}")]
    NegativeDim {
        /// The tensor.
        name: Name,
        /// Which dimension (0 is `ne[0]`).
        axis: u32,
        /// The value as a signed number.
        value: i64,
        /// Where the dimension was read.
        offset: u64,
    },
    /// A ggml type id that was removed from the format.
    #[error("tensor \"{name}\" at byte {offset}: ggml type {type_id} was removed from GGUF and is not readable")]
    RemovedGgmlType {
        /// The tensor.
        name: Name,
        /// The type id read.
        type_id: u32,
        /// Where the id was read.
        offset: u64,
    },
    /// A ggml type id that no version of the format defines.
    #[error("tensor \"{name}\" at byte {offset}: unknown ggml type {type_id}")]
    UnknownGgmlType {
        /// The tensor.
        name: Name,
        /// The type id read.
        type_id: u32,
        /// Where the id was read.
        offset: u64,
    },
    /// `ne[0]` is not a multiple of the type's block size.
    #[error("tensor \"{name}\": ne[0] = {ne0} is not a multiple of the {ggml_type} block size {block_size}")]
    NotBlockMultiple {
        /// The tensor.
        name: Name,
        /// Its type.
        ggml_type: GgmlType,
        /// The first dimension.
        ne0: u64,
        /// The type's block size.
        block_size: u64,
    },
    /// Element count or byte size overflows 63 bits (ggml's `int64_t`) or the address space.
    #[error("tensor \"{name}\" at byte {offset}: element count or byte size overflows")]
    TensorTooLarge {
        /// The tensor.
        name: Name,
        /// Where its info starts.
        offset: u64,
    },
    /// A tensor's data offset is not a multiple of the file's alignment.
    #[error("tensor \"{name}\": data offset {data_offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        /// The tensor.
        name: Name,
        /// Its offset relative to the data section.
        data_offset: u64,
        /// The file's alignment.
        alignment: u32,
    },
    /// A tensor's bytes end past the end of the input (or its range overflows).
    #[error("tensor \"{name}\": data [{start}, {end}) lies outside the file of {file_len} bytes")]
    TensorOutOfBounds {
        /// The tensor.
        name: Name,
        /// Absolute start of its data (saturated on overflow).
        start: u64,
        /// Absolute end of its data (saturated on overflow).
        end: u64,
        /// Bytes available.
        file_len: u64,
    },
    /// Two tensors' data ranges overlap.
    #[error("tensor \"{name}\" overlaps tensor \"{other}\" in the data section")]
    OverlappingTensors {
        /// The tensor starting later.
        name: Name,
        /// The tensor it overlaps.
        other: Name,
    },
    /// No tensor of that name.
    #[error("no tensor named \"{name}\"")]
    TensorNotFound {
        /// The name asked for.
        name: Name,
    },
    /// A typed view asked for an element type the tensor does not have.
    #[error("tensor \"{name}\" is {actual}, not {requested}")]
    WrongTensorType {
        /// The tensor.
        name: Name,
        /// Its type.
        actual: GgmlType,
        /// The type asked for.
        requested: GgmlType,
    },
    /// A typed view of data whose byte order differs from the host's.
    #[error("tensor \"{name}\" is stored big-endian; typed views need host (little-endian) order, use the raw bytes")]
    ForeignByteOrder {
        /// The tensor.
        name: Name,
    },
    /// A typed view over bytes not aligned for the element type.
    #[error("tensor \"{name}\" data is not aligned to {align} bytes in memory")]
    MisalignedData {
        /// The tensor.
        name: Name,
        /// The alignment the element type needs.
        align: usize,
    },
    /// A string value that is not UTF-8 (reported when it is read, not when the file is parsed).
    #[error("string at byte {offset} is not valid UTF-8")]
    StringNotUtf8 {
        /// Where the string's bytes start.
        offset: u64,
    },
    /// A byte range that does not fit in the data.
    #[error("range starting at {offset} with length {len} does not fit in {total} bytes")]
    InvalidRange {
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        len: u64,
        /// Size of the data.
        total: u64,
    },
}

impl Error {
    /// Names the key or tensor a truncation or overflow happened in, if not named yet.
    pub(crate) fn within(mut self, name: &[u8]) -> Self {
        if let Error::Truncated { within, .. } | Error::LengthOverflow { within, .. } = &mut self {
            within.get_or_insert(Name::new(name));
        }
        self
    }
}

/// Shows ` of "name"` for an error's optional context.
struct Within<'a>(&'a Option<Name>);

impl fmt::Display for Within<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " in \"{name}\""),
            None => Ok(()),
        }
    }
}

fn version_hint(version: u32) -> &'static str {
    match version {
        1 => " (version 1 used 32-bit counts; convert the file with a current llama.cpp)",
        0 => " (a version of 0 is not a GGUF file)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn name_keeps_short_names_and_marks_long_ones() {
        assert_eq!(
            Name::new(b"token_embd.weight").to_string(),
            "token_embd.weight"
        );
        let long = [b'a'; 100];
        let name = Name::new(&long);
        assert!(name.is_truncated());
        assert_eq!(name.as_bytes().len(), Name::CAPACITY);
        assert!(name.to_string().ends_with('…'));
    }

    #[test]
    fn name_escapes_invalid_utf8() {
        assert_eq!(Name::new(b"a\xffb").to_string(), "a\\xffb");
    }

    #[test]
    fn messages_name_the_cause() {
        let e = Error::UnsupportedVersion { version: 1 };
        assert!(e.to_string().contains("32-bit counts"));
        let e = Error::Truncated {
            section: Section::Header,
            needed: 24,
            have: 4,
            within: None,
        };
        assert_eq!(
            e.to_string(),
            "truncated header: 24 bytes needed, only 4 available"
        );
        let e = e.within(b"general.name");
        assert_eq!(
            e.to_string(),
            "truncated header in \"general.name\": 24 bytes needed, only 4 available"
        );
    }
}
