//! `SafetensorsView<'data>`: the read API over a parsed safetensors file (metadata, tensor
//! infos, tensor views), borrowed for the data's lifetime.

use core::ops::Range;

use crate::endian::Endian;
use crate::error::{Error, Name, Result};
use crate::range::checked_range;
use crate::safetensors::index::SafetensorsIndex;
use crate::safetensors::json::{RawEntry, RawTensor};
use crate::tensor::dtype::TensorType;
use crate::tensor::view::{Dims, TensorView};

/// A parsed safetensors file borrowed for `'data`: its header bytes, its tensor data and its
/// index. Views and strings it hands out live for `'data`, not for the borrow of the view.
///
/// ```
/// # let file = weightmap_core::testing::safetensors_sample();
/// use weightmap_core::{safetensors::SafetensorsIndex, TensorType};
/// let index = SafetensorsIndex::parse_header(&file)?;
/// let st = index.view(&file, &file, 0);
/// assert_eq!(st.get("format"), Some("pt"));
/// let w = st.tensor("w")?;
/// assert_eq!((w.dtype(), w.dims()), (TensorType::F32, &[2, 2][..]));
/// assert_eq!(w.to_vec::<f32>()?, [1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), weightmap_core::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct SafetensorsView<'data> {
    index: &'data SafetensorsIndex,
    header: &'data [u8],
    data: &'data [u8],
    data_start: u64,
}

impl core::fmt::Debug for SafetensorsView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SafetensorsView")
            .field("tensors", &self.index.tensor_count())
            .field("data_offset", &self.index.data_offset())
            .field("data_start", &self.data_start)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// One `__metadata__` entry: a string key and a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataEntry<'data> {
    key: &'data str,
    value: &'data str,
    offset: u64,
}

impl<'data> MetadataEntry<'data> {
    /// The key.
    pub fn key(&self) -> &'data str {
        self.key
    }

    /// The value.
    pub fn value(&self) -> &'data str {
        self.value
    }

    /// Where the key is in the file (for a key written with JSON escapes, where the header
    /// starts).
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// One tensor's entry in the header, borrowed from the header and the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo<'data> {
    name: &'data str,
    dtype: TensorType,
    dims: &'data [u64],
    begin: u64,
    end: u64,
    entry_offset: u64,
    position: usize,
}

impl<'data> TensorInfo<'data> {
    /// The tensor's name.
    pub fn name(&self) -> &'data str {
        self.name
    }

    /// Its element type.
    pub fn dtype(&self) -> TensorType {
        self.dtype
    }

    /// Its shape, row-major (outermost first), as the file stores it.
    pub fn shape(&self) -> &'data [u64] {
        self.dims
    }

    /// Number of elements (1 for a scalar of shape `[]`).
    pub fn n_elements(&self) -> u64 {
        // Checked when the file was parsed.
        self.dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// `data_offsets`: where the bytes start and end, relative to the data section.
    pub fn data_offsets(&self) -> (u64, u64) {
        (self.begin, self.end)
    }

    /// Size of the data in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.begin
    }

    /// Where the tensor's key is in the file (for a name written with JSON escapes, where
    /// the header starts).
    pub fn entry_offset(&self) -> u64 {
        self.entry_offset
    }

    /// Its position among the file's tensors, in the order of their data.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl SafetensorsIndex {
    /// A view of the file whose header this index was built from: `header` must be those
    /// bytes (the file from its first byte; a different header gives wrong answers, never a
    /// panic), `data` the bytes that start at file offset `data_start` and hold the tensor
    /// data (for a whole file in memory, the same bytes and 0).
    pub fn view<'a>(
        &'a self,
        header: &'a [u8],
        data: &'a [u8],
        data_start: u64,
    ) -> SafetensorsView<'a> {
        SafetensorsView {
            index: self,
            header,
            data,
            data_start,
        }
    }
}

impl<'data> SafetensorsView<'data> {
    /// The index.
    pub fn index(&self) -> &'data SafetensorsIndex {
        self.index
    }

    /// Where the data section starts: 8 + the JSON header's length.
    pub fn data_offset(&self) -> u64 {
        self.index.data_offset()
    }

    /// How many bytes the file has, exactly.
    pub fn required_len(&self) -> u64 {
        self.index.required_len()
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.index.tensor_count()
    }

    /// Number of `__metadata__` entries.
    pub fn metadata_len(&self) -> usize {
        self.index.metadata_len()
    }

    /// Whether the header has a `__metadata__` object, empty or not (`false` when the key
    /// is absent or `null`).
    pub fn has_metadata(&self) -> bool {
        self.index.has_metadata()
    }

    /// The header bytes the view reads names from (the file from its first byte).
    pub fn header_bytes(&self) -> &'data [u8] {
        self.header
    }

    /// `__metadata__` entries in the order the JSON lists them.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = MetadataEntry<'data>> + Clone {
        let (index, header) = (self.index, self.header);
        index
            .raw_entries()
            .iter()
            .map(move |e| entry(index, header, e))
    }

    /// The `__metadata__` value of `key`.
    pub fn get(&self, key: &str) -> Option<&'data str> {
        self.entry_for(key).map(|e| e.value)
    }

    /// The `__metadata__` entry of `key`.
    pub fn entry_for(&self, key: &str) -> Option<MetadataEntry<'data>> {
        let at = self.index.find_entry(self.header, key)?;
        let e = self.index.raw_entries().get(at)?;
        Some(entry(self.index, self.header, e))
    }

    /// Tensor infos in the order of their data.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = TensorInfo<'data>> + Clone {
        let (index, header) = (self.index, self.header);
        index
            .raw_tensors()
            .iter()
            .enumerate()
            .map(move |(i, t)| info(index, header, t, i))
    }

    /// The info of the tensor at `position` in the order of their data.
    pub fn tensor_at(&self, position: usize) -> Option<TensorInfo<'data>> {
        let t = self.index.raw_tensors().get(position)?;
        Some(info(self.index, self.header, t, position))
    }

    /// The info of the tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Option<TensorInfo<'data>> {
        self.tensor_at(self.index.find_tensor(self.header, name)?)
    }

    /// The tensor called `name` with its bytes.
    ///
    /// # Errors
    /// [`Error::TensorNotFound`], or [`Error::TensorOutOfBounds`] when its data is not at
    /// hand (a header-only parse).
    pub fn tensor(&self, name: &str) -> Result<TensorView<'data>> {
        let info = self.tensor_info(name).ok_or(Error::TensorNotFound {
            name: Name::new(name.as_bytes()),
        })?;
        self.tensor_view(&info)
    }

    /// The bytes of a tensor listed by [`tensors`](Self::tensors).
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when its data is not at hand.
    pub fn tensor_view(&self, info: &TensorInfo<'data>) -> Result<TensorView<'data>> {
        let range = self.tensor_range(info)?;
        Ok(TensorView::new(
            info.name,
            info.dtype,
            dims(info.dims),
            Endian::Little,
            self.data.get(range).unwrap_or(&[]),
        ))
    }

    /// The absolute start and end of a tensor's bytes in the file.
    pub fn tensor_span(&self, info: &TensorInfo<'_>) -> (u64, u64) {
        // The index checked that the data section's end fits.
        let base = self.index.data_offset();
        (
            base.saturating_add(info.begin),
            base.saturating_add(info.end),
        )
    }

    /// Where a tensor's bytes are in the tensor data this view holds.
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when they are not all at hand.
    pub fn tensor_range(&self, info: &TensorInfo<'_>) -> Result<Range<usize>> {
        let (start, end) = self.tensor_span(info);
        let out_of_bounds = Error::TensorOutOfBounds {
            name: Name::new(info.name.as_bytes()),
            offset: start,
            end,
        };
        let relative = start.checked_sub(self.data_start).ok_or(out_of_bounds)?;
        checked_range(relative, info.size(), self.data.len()).map_err(|_| out_of_bounds)
    }

    /// Checks that the data at hand ends where the file must, as a whole-file parse does.
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] for the first tensor whose data is missing,
    /// [`Error::TrailingBytes`] for bytes past the last tensor (the reference refuses both).
    pub fn check_complete(&self) -> Result<()> {
        let file_len = self.data_start.saturating_add(self.data.len() as u64);
        let required = self.required_len();
        if file_len > required {
            return Err(Error::TrailingBytes {
                data_end: required,
                file_len,
            });
        }
        for info in self.tensors() {
            self.tensor_range(&info)?;
        }
        if file_len < required {
            // No tensor is missing bytes: the end is inside the header.
            return Err(Error::Truncated {
                section: crate::error::Section::TensorData,
                needed: required,
                have: file_len,
                within: Name::NONE,
            });
        }
        Ok(())
    }
}

/// Dimensions from a shape the index checked to have at most [`MAX_RANK`](crate::MAX_RANK).
pub(crate) fn dims(shape: &[u64]) -> Dims {
    Dims::new(shape).unwrap_or_default()
}

fn entry<'a>(index: &'a SafetensorsIndex, header: &'a [u8], e: &RawEntry) -> MetadataEntry<'a> {
    MetadataEntry {
        key: e.key.get(header, index.owned()),
        value: e.value.get(header, index.owned()),
        offset: e.offset,
    }
}

fn info<'a>(
    index: &'a SafetensorsIndex,
    header: &'a [u8],
    t: &RawTensor,
    position: usize,
) -> TensorInfo<'a> {
    TensorInfo {
        name: t.name.get(header, index.owned()),
        dtype: t.dtype,
        dims: index.dims_of(t),
        begin: t.begin,
        end: t.end.max(t.begin),
        entry_offset: t.offset,
        position,
    }
}
