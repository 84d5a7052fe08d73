//! The single validating pass over a GGUF header (fixed header, metadata, tensor table) and
//! the [`Layout`] it finds. The pass can stop when its input ends and go on later from the
//! entry it stopped in, once more bytes are at hand: that is how a reader fills a buffer only
//! as far as the parser asks, without parsing anything twice.

use crate::error::{Error, Name, Result, Section};
use crate::gguf::cursor::Resume;
use crate::gguf::format::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, HEADER_SIZE};
use crate::gguf::header::Header;
use crate::gguf::metadata::{alignment_of, MetadataEntry, MetadataWalker};
use crate::gguf::tensor_info::{TensorInfo, TensorWalker};
use crate::range::align_up;

/// Where the sections of a parsed file lie. Every offset is absolute, in bytes from the start
/// of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The fixed header.
    pub header: Header,
    /// Alignment of tensor data (from `general.alignment`, default 32).
    pub alignment: u32,
    /// Where the tensor-info table starts.
    pub tensor_info_start: u64,
    /// Just past the tensor-info table: the bytes a header-only parse needs.
    pub tensor_info_end: u64,
    /// Where the data section starts: `tensor_info_end` rounded up to `alignment`. A tensor's
    /// [`offset`](TensorInfo::offset) is relative to it.
    pub data_offset: u64,
}

impl Layout {
    /// The absolute start and end of a tensor's data in the file (for a ranged read of just
    /// that tensor), checked for overflow but not against any length: that is the caller's,
    /// who knows which bytes are at hand.
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when the end does not fit in a `u64`.
    pub fn tensor_span(&self, info: &TensorInfo<'_>) -> Result<(u64, u64)> {
        let overflow = |offset| Error::TensorOutOfBounds {
            name: Name::new(info.name.as_bytes()),
            offset,
            end: u64::MAX,
        };
        let start = self
            .data_offset
            .checked_add(info.offset)
            .ok_or(overflow(u64::MAX))?;
        let end = start.checked_add(info.size).ok_or(overflow(start))?;
        Ok((start, end))
    }
}

/// How far a pass has got: everything before `pos` was validated and handed to the callbacks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pass {
    header: Option<Header>,
    /// Whether the metadata is done and the tensor table is being read.
    in_tensors: bool,
    /// Where the next entry (or tensor info) starts.
    pos: usize,
    /// Its position in its section.
    index: u64,
    alignment: Option<u32>,
    tensor_info_start: usize,
    /// How far the entry at `pos` got into its string array when the input ran out.
    strings: Resume,
}

/// Runs (or resumes) the pass over `bytes`, handing each entry and tensor info to a callback
/// once it is validated. On [`Error::Truncated`], `pass` stays at the entry that was cut, so a
/// call with a longer prefix of the same file goes on from there.
pub(crate) fn walk<'a>(
    bytes: &'a [u8],
    pass: &mut Pass,
    mut on_entry: impl FnMut(MetadataEntry<'a>) -> Result<()>,
    mut on_tensor: impl FnMut(TensorInfo<'a>) -> Result<()>,
) -> Result<Layout> {
    let header = match pass.header {
        Some(header) => header,
        None => {
            let header = Header::parse(bytes)?;
            *pass = Pass {
                header: Some(header),
                pos: HEADER_SIZE,
                ..Pass::default()
            };
            header
        }
    };
    if !pass.in_tensors {
        let mut entries =
            MetadataWalker::resume(bytes, header.endian, pass.pos, pass.index, header.n_kv)?
                .resuming(pass.strings);
        while let Some(entry) = entries.next() {
            let entry = entry.inspect_err(|_| pass.strings = entries.partial())?;
            if entry.key == ALIGNMENT_KEY {
                if pass.alignment.is_some() {
                    return Err(duplicate_alignment(bytes, &entry));
                }
                pass.alignment = Some(alignment_of(&entry)?);
            }
            on_entry(entry)?;
            (pass.pos, pass.index) = (entries.pos(), entries.index());
            pass.strings = Resume::default();
        }
        *pass = Pass {
            in_tensors: true,
            index: 0,
            tensor_info_start: pass.pos,
            ..*pass
        };
    }
    let alignment = pass.alignment.unwrap_or(DEFAULT_ALIGNMENT);
    let mut tensors = TensorWalker::resume(
        bytes,
        header.endian,
        (pass.pos, pass.index, header.n_tensors),
        alignment,
    )?;
    while let Some(info) = tensors.next() {
        on_tensor(info?)?;
        (pass.pos, pass.index) = (tensors.pos(), tensors.index());
    }
    let tensor_info_end = pass.pos as u64;
    let data_offset =
        align_up(tensor_info_end, u64::from(alignment)).ok_or(Error::LengthOverflow {
            section: Section::TensorData,
            count: u64::from(alignment),
            offset: tensor_info_end,
            within: Name::NONE,
        })?;
    Ok(Layout {
        header,
        alignment,
        tensor_info_start: pass.tensor_info_start as u64,
        tensor_info_end,
        data_offset,
    })
}

/// A second `general.alignment`: the first one's offset is the first entry with that key.
fn duplicate_alignment(bytes: &[u8], entry: &MetadataEntry<'_>) -> Error {
    let first = find_first_alignment(bytes, entry).unwrap_or(entry.offset);
    Error::DuplicateKey {
        key: Name::new(entry.key.as_bytes()),
        offset: entry.offset,
        first,
    }
}

/// Walks the (already validated) entries before `entry` to find the first alignment key.
fn find_first_alignment(bytes: &[u8], entry: &MetadataEntry<'_>) -> Option<u64> {
    let header = Header::parse(bytes).ok()?;
    MetadataWalker::resume(bytes, header.endian, HEADER_SIZE, 0, header.n_kv)
        .ok()?
        .map_while(Result::ok)
        .take_while(|e| e.offset < entry.offset)
        .find(|e| e.key == ALIGNMENT_KEY)
        .map(|e| e.offset)
}
