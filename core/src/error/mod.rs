//! The parser's error type: 32-byte `Copy` values that say what failed, at which byte offset,
//! and for which key, tensor or element, without allocating.

use core::fmt;

mod json;
mod name;
mod show;

pub use json::{Field, JsonProblem};
pub use name::Name;
use show::{EndOf, Magic, Within};

use crate::gguf::format::{ValueType, MAX_ARRAY_DEPTH};
use crate::gguf::ggml::GgmlType;
use crate::tensor::dtype::TensorType;
use crate::tensor::view::MAX_RANK;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Which part of a file a truncation or count error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// The fixed header: GGUF's 24 bytes (magic, version, counts), safetensors' 8-byte
    /// length of its JSON header.
    Header,
    /// The key/value metadata section.
    Metadata,
    /// The tensor-info table.
    TensorInfo,
    /// Tensor data.
    TensorData,
    /// A safetensors file's JSON header.
    JsonHeader,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Metadata => "metadata",
            Section::TensorInfo => "tensor info",
            Section::TensorData => "tensor data",
            Section::JsonHeader => "JSON header",
        })
    }
}

/// Everything that can go wrong reading a model file (GGUF, safetensors, a shard set) or a
/// tensor from it.
///
/// Every parse-time variant carries the absolute byte offset it concerns (`offset`, or the
/// positions in its message) and the key, tensor name or element index; a second party (a
/// duplicate's first occurrence, an overlapped tensor) is named by its offset. The value is
/// `Copy` and 32 bytes, so results stay cheap on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the part being read: `needed` bytes are required, `have` are
    /// present. When parsing a prefix of a larger file, read at least `needed` bytes and try
    /// again.
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
        /// The key or tensor being read, once its name was read ([`Name::NONE`] before).
        within: Name,
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
        within: Name,
    },
    /// The file does not start with `GGUF`.
    #[error(
        "not a GGUF file: the first bytes are {}, expected \"GGUF\"",
        Magic(found)
    )]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version other than 2 or 3 (read at byte 4).
    #[error("unsupported GGUF version {version} at byte 4: weightmap reads versions 2 and 3{}", show::version_hint(*.version))]
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
        /// The key's first bytes, escaped.
        key: Name,
        /// Where the key starts.
        offset: u64,
    },
    /// The same key appears twice.
    #[error("duplicate metadata key \"{key}\" at byte {offset} (first at byte {first})")]
    DuplicateKey {
        /// The key.
        key: Name,
        /// Where the second occurrence starts.
        offset: u64,
        /// Where the first occurrence starts.
        first: u64,
    },
    /// A value type id outside 0..=12.
    #[error("metadata key \"{key}\": unknown value type {type_id} at byte {offset}")]
    UnknownValueType {
        /// The key whose value (or array element type) is bad.
        key: Name,
        /// The type id read.
        type_id: u32,
        /// Where it was read.
        offset: u64,
    },
    /// Arrays nested deeper than [`crate::MAX_ARRAY_DEPTH`].
    #[error("metadata key \"{key}\": arrays nested deeper than {MAX_ARRAY_DEPTH} levels at byte {offset}")]
    NestingTooDeep {
        /// The key.
        key: Name,
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
        /// The name's first bytes, escaped.
        name: Name,
        /// Where the name starts.
        offset: u64,
    },
    /// Two tensors with the same name.
    #[error("duplicate tensor name \"{name}\" at byte {offset} (first at byte {first})")]
    DuplicateTensor {
        /// The name.
        name: Name,
        /// Where the second occurrence's info starts.
        offset: u64,
        /// Where the first occurrence's info starts.
        first: u64,
    },
    /// More than [`crate::MAX_DIMS`] dimensions.
    #[error(
        "tensor \"{name}\" has {n_dims} dimensions (read at byte {offset}), at most 4 are allowed"
    )]
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
        axis: u8,
        /// The value as a signed number.
        value: i64,
        /// Where the dimension was read.
        offset: u64,
    },
    /// A ggml type id that was removed from the format.
    #[error("tensor \"{name}\": ggml type {type_id} at byte {offset} was removed from GGUF and is not readable")]
    RemovedGgmlType {
        /// The tensor.
        name: Name,
        /// The type id read.
        type_id: u32,
        /// Where the id was read.
        offset: u64,
    },
    /// A ggml type id that no version of the format defines.
    #[error("tensor \"{name}\": unknown ggml type {type_id} at byte {offset}")]
    UnknownGgmlType {
        /// The tensor.
        name: Name,
        /// The type id read.
        type_id: u32,
        /// Where the id was read.
        offset: u64,
    },
    /// `ne[0]` is not a multiple of the type's block size.
    #[error("tensor \"{name}\" (info at byte {offset}): ne[0] = {ne0} is not a multiple of the {ggml_type} block size {}", ggml_type.block_size())]
    NotBlockMultiple {
        /// The tensor.
        name: Name,
        /// Its type.
        ggml_type: GgmlType,
        /// The first dimension.
        ne0: u64,
        /// Where the tensor's info starts.
        offset: u64,
    },
    /// Element count or byte size overflows 63 bits (ggml's `int64_t`) or the address space.
    #[error("tensor \"{name}\" (info at byte {offset}): element count or byte size overflows")]
    TensorTooLarge {
        /// The tensor.
        name: Name,
        /// Where its info starts.
        offset: u64,
    },
    /// A tensor's data offset is not a multiple of the file's alignment.
    #[error("tensor \"{name}\": data offset {value} (read at byte {offset}) is not a multiple of the alignment {}", 1u64 << alignment_shift)]
    MisalignedTensor {
        /// The tensor.
        name: Name,
        /// The offset read, relative to the data section.
        value: u64,
        /// The file's alignment is `1 << alignment_shift`.
        alignment_shift: u8,
        /// Where the offset was read.
        offset: u64,
    },
    /// A tensor's bytes end past the end of the data (or its range overflows).
    #[error("tensor \"{name}\": data [{offset}, {}) lies past the end of the data", EndOf(*.end))]
    TensorOutOfBounds {
        /// The tensor.
        name: Name,
        /// Absolute start of its data (`u64::MAX` if that overflows).
        offset: u64,
        /// Absolute end of its data (`u64::MAX` if that overflows).
        end: u64,
    },
    /// Two tensors' data ranges overlap.
    #[error("tensor \"{name}\" (data at byte {offset}) overlaps the tensor whose data starts at byte {other}")]
    OverlappingTensors {
        /// The tensor starting later.
        name: Name,
        /// Absolute start of its data.
        offset: u64,
        /// Absolute start of the data of the tensor it overlaps.
        other: u64,
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
        actual: TensorType,
        /// The type asked for.
        requested: TensorType,
    },
    /// No `f32` decoder for this tensor type (yet).
    #[error("no f32 decoder for {ty} tensors")]
    NoDecoder {
        /// The type.
        ty: TensorType,
    },
    /// The memory for a tensor's values could not be allocated.
    #[error(
        "cannot allocate {bytes} bytes for the values of a {ty} tensor (decode it in block ranges)"
    )]
    OutOfMemory {
        /// The type.
        ty: TensorType,
        /// The bytes asked for.
        bytes: u64,
    },
    /// Bytes that are not whole blocks of the type, or an output of another element count.
    #[error("{bytes} bytes of {ty} are not whole blocks of {} bytes holding {elements} elements ({} per block)", .ty.type_size(), .ty.block_size())]
    DecodeLength {
        /// The type.
        ty: TensorType,
        /// Bytes given.
        bytes: u64,
        /// Elements the output holds.
        elements: u64,
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
        align: u8,
    },
    /// A string value that is not UTF-8 (reported when it is read, not when the file is
    /// parsed).
    #[error("metadata key \"{key}\": string at byte {offset} is not valid UTF-8")]
    StringNotUtf8 {
        /// The key whose value it is.
        key: Name,
        /// Where the string's bytes start.
        offset: u64,
    },
    /// An element of a string array that is not UTF-8 (reported when it is read).
    #[error("metadata key \"{key}\": element #{index} at byte {offset} is not valid UTF-8")]
    ElementNotUtf8 {
        /// The key whose array it is.
        key: Name,
        /// Position of the element in its array.
        index: u64,
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
    /// The data offers no bytes a parser may trust to stay unchanged
    /// ([`ModelData::header`](crate::ModelData::header) is `None`): a shared mapping of a file
    /// other processes may write. Parse a private copy of its header instead.
    #[error("the data may change underneath and has no private copy of its header to parse (open files with weightmap_native::ModelSource::open)")]
    NoTrustedHeader,

    /// The bytes are neither GGUF nor safetensors (nor a shard index, where one is looked for).
    #[error("not a GGUF or safetensors file: the first bytes are {}", Magic(found))]
    UnknownFormat {
        /// The first bytes (fewer are zero-filled).
        found: [u8; 8],
    },
    /// A safetensors JSON header longer than the format's cap.
    #[error(
        "safetensors header of {len} bytes (read at byte 0) is longer than the {max}-byte limit"
    )]
    JsonHeaderTooLarge {
        /// The length read.
        len: u64,
        /// The cap ([`crate::safetensors::MAX_HEADER_SIZE`]).
        max: u64,
    },
    /// A safetensors JSON header that is not UTF-8.
    #[error("safetensors header: invalid UTF-8 at byte {offset}")]
    JsonNotUtf8 {
        /// Where the first invalid byte is.
        offset: u64,
    },
    /// A JSON header (or shard index) that does not parse, or does not have the format's shape.
    #[error("{} at byte {offset}: {problem}", show::JsonWhere(within, field))]
    InvalidJson {
        /// What is wrong.
        problem: JsonProblem,
        /// Where (bytes from the start of the file).
        offset: u64,
        /// The tensor or key whose value was being read ([`Name::NONE`] at the top level).
        within: Name,
        /// The field of a tensor entry being read, if any.
        field: Field,
    },
    /// A dtype name safetensors does not define (names are case-sensitive).
    #[error("unknown safetensors dtype \"{dtype}\" at byte {offset} (known: BOOL, U8-U64, I8-I64, F16, BF16, F32, F64, C64, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, F4, F6_E2M3, F6_E3M2)")]
    UnknownDtype {
        /// The name found.
        dtype: Name,
        /// Where it is.
        offset: u64,
    },
    /// A safetensors tensor with more dimensions than a [`TensorView`](crate::TensorView) holds.
    #[error("tensor \"{name}\" (at byte {offset}) has more than {MAX_RANK} dimensions, the most weightmap reads")]
    RankTooHigh {
        /// The tensor.
        name: Name,
        /// Where its entry starts.
        offset: u64,
    },
    /// A tensor of a sub-byte type whose elements do not fill whole bytes.
    #[error("tensor \"{name}\": {n_elements} {dtype} elements do not fill whole bytes")]
    PartialByte {
        /// The tensor.
        name: Name,
        /// Its type.
        dtype: TensorType,
        /// Its element count.
        n_elements: u64,
    },
    /// A safetensors tensor whose byte range does not hold exactly its elements.
    #[error(
        "tensor \"{name}\": data_offsets span {found} bytes, its dtype and shape need {expected}"
    )]
    TensorSizeMismatch {
        /// The tensor.
        name: Name,
        /// The bytes its dtype and shape need.
        expected: u64,
        /// The bytes its offsets span.
        found: u64,
    },
    /// Safetensors tensors whose data do not tile the data section from its start, in order of
    /// their offsets, with no gap and no overlap.
    #[error("tensor \"{name}\": data starts at byte {begin} of the data section, where the previous tensor ends at {expected} (offsets must tile the data section from 0, no gap, no overlap)")]
    OffsetsNotTiled {
        /// The tensor.
        name: Name,
        /// Where its data starts, relative to the data section.
        begin: u64,
        /// Where it should start.
        expected: u64,
    },
    /// Safetensors offsets whose end comes before their start.
    #[error("tensor \"{name}\": data_offsets [{begin}, {end}] end before they start")]
    ReversedOffsets {
        /// The tensor.
        name: Name,
        /// The first offset.
        begin: u64,
        /// The second offset.
        end: u64,
    },
    /// Bytes after a safetensors file's last tensor.
    #[error("{} trailing bytes after the last tensor's data (which ends at byte {data_end})", .file_len.saturating_sub(*.data_end))]
    TrailingBytes {
        /// Where the data section ends.
        data_end: u64,
        /// The file's length.
        file_len: u64,
    },

    /// A split key (`split.no`, `split.count`, `split.tensors.count`) of the wrong type.
    #[error("GGUF split key \"{key}\" must be {expected}, found {found}")]
    SplitKeyType {
        /// The key.
        key: Name,
        /// Its type.
        found: ValueType,
        /// The type llama.cpp reads.
        expected: ValueType,
    },
    /// A split file without one of the split keys.
    #[error("GGUF split file has no \"{key}\" key")]
    SplitKeyMissing {
        /// The key.
        key: Name,
    },
    /// A split number or count that cannot be (a count of 0, a number past the count, a
    /// negative tensor count).
    #[error("invalid GGUF split keys: split.no = {no}, split.count = {count}, split.tensors.count = {tensors}")]
    InvalidSplit {
        /// `split.no`.
        no: u64,
        /// `split.count`.
        count: u64,
        /// `split.tensors.count`.
        tensors: i64,
    },
    /// A split file opened where another was expected.
    #[error("GGUF split file #{position} of the set says it is split.no = {no} of split.count = {count}")]
    WrongSplit {
        /// Its place in the set (0-based).
        position: u64,
        /// Its `split.no`.
        no: u64,
        /// Its `split.count`.
        count: u64,
    },
    /// A split set (or shard set) of a different number of files than it says it has.
    #[error("{files} file(s) given for a model whose split count or shard index says {count}")]
    SplitFileCount {
        /// Files given.
        files: u64,
        /// Files the set says it has.
        count: u64,
    },
    /// The splits hold a different number of tensors than the first says.
    #[error("GGUF splits hold {found} tensors, split.tensors.count says {declared}")]
    SplitTensorCount {
        /// `split.tensors.count`.
        declared: u64,
        /// Tensors found in all splits.
        found: u64,
    },
    /// A tensor found in two shards of a model.
    #[error("tensor \"{name}\" is in shard #{shard} and in shard #{first}")]
    TensorInTwoShards {
        /// The tensor.
        name: Name,
        /// The later shard (0-based).
        shard: u32,
        /// The first shard it is in.
        first: u32,
    },
    /// A shard file name in a shard index that is not a plain file name.
    #[error("shard index entry \"{name}\" names the shard file {}: only a plain file name beside the index is allowed", show::ShardName(file))]
    ShardPath {
        /// The tensor whose entry it is.
        name: Name,
        /// The file name given.
        file: Name,
    },
    /// A tensor of a shard that the shard index does not list.
    #[error("tensor \"{name}\" of shard #{shard} is not in the shard index")]
    NotInIndex {
        /// The tensor.
        name: Name,
        /// The shard it is in.
        shard: u32,
    },
    /// A tensor the shard index lists that its shard does not hold.
    #[error("the shard index puts tensor \"{name}\" in shard #{shard}, which does not hold it")]
    MissingFromShard {
        /// The tensor.
        name: Name,
        /// The shard the index names.
        shard: u32,
    },
}

impl Error {
    /// Names the key or tensor a truncation or overflow happened in, if not named yet.
    pub(crate) fn within(mut self, name: &[u8]) -> Self {
        if let Error::Truncated { within, .. } | Error::LengthOverflow { within, .. } = &mut self {
            if within.is_empty() {
                *within = Name::new(name);
            }
        }
        self
    }

    /// The error for bytes of neither format (or not of the one wanted): names their first
    /// bytes.
    pub fn unknown_format(prefix: &[u8]) -> Self {
        let mut found = [0u8; 8];
        for (dst, src) in found.iter_mut().zip(prefix) {
            *dst = *src;
        }
        Error::UnknownFormat { found }
    }

    /// For an error that one file of a sharded model caused: that file's position among the
    /// model's shards (a split out of order, a tensor found again, a shard that holds a
    /// tensor the index does not list or misses one it does).
    pub fn shard(&self) -> Option<usize> {
        match *self {
            Error::WrongSplit { position, .. } => usize::try_from(position).ok(),
            Error::TensorInTwoShards { shard, .. }
            | Error::NotInIndex { shard, .. }
            | Error::MissingFromShard { shard, .. } => usize::try_from(shard).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn errors_are_small_and_copy() {
        assert!(core::mem::size_of::<Error>() <= 32);
        assert_eq!(core::mem::size_of::<Name>(), 14);
        fn copy<T: Copy>() {}
        copy::<Error>();
    }

    #[test]
    fn name_keeps_short_names_and_marks_long_ones() {
        assert_eq!(Name::new(b"output.weight").to_string(), "output.weight");
        let long = [b'a'; 100];
        let name = Name::new(&long);
        assert!(name.is_truncated());
        assert_eq!(name.as_bytes().len(), Name::CAPACITY);
        assert!(name.to_string().ends_with('…'));
        assert!(Name::NONE.is_empty());
        assert!(!Name::new(b"").is_truncated());
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
            within: Name::NONE,
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
        let e = Error::BadMagic { found: *b"GGML" };
        assert_eq!(
            e.to_string(),
            "not a GGUF file: the first bytes are 0x47 0x47 0x4d 0x4c (\"GGML\"), expected \"GGUF\""
        );
        let e = Error::BadMagic {
            found: [0, 1, 2, 3],
        };
        assert!(e.to_string().contains("0x00 0x01 0x02 0x03, expected"));
    }
}
