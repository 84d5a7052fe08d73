//! `GgufView<'data>`: the one read API. Every accessor of a parsed file (metadata, tensor
//! infos, tensor views) is written here once, over borrowed header bytes and tensor data that
//! live for `'data`; with an index ([`crate::GgufIndex`]) lookups are binary searches,
//! without one (no allocator) they walk the validated bytes.

use core::ops::Range;

#[cfg(feature = "alloc")]
use crate::gguf::index::{GgufIndex, IndexedEntry, IndexedTensor};

use crate::endian::Endian;
use crate::error::{Error, Name, Result};
use crate::gguf::format::HEADER_SIZE;
use crate::gguf::layout::{walk, Layout, Pass};
use crate::gguf::metadata::{MetadataEntry, MetadataWalker};
use crate::gguf::tensor_info::{TensorInfo, TensorWalker};
use crate::gguf::value::Value;
use crate::range::checked_range;
use crate::tensor::dtype::TensorType;
use crate::tensor::view::{Dims, TensorView};

/// A parsed GGUF file borrowed for `'data`: its header bytes, its tensor data, and optionally
/// an index over them. Views and values it hands out live for `'data`, not for the borrow of
/// the view, so they can outlive it.
///
/// Get one from [`Gguf::view`](crate::Gguf::view) (indexed, the data owned by the `Gguf`),
/// [`GgufIndex::view`](crate::GgufIndex::view), or, with no allocator at all,
/// [`GgufView::parse`] over a byte slice:
///
/// ```
/// # let bytes = weightmap_core::testing::sample_file();
/// use weightmap_core::{GgmlType, GgufView};
/// let gguf = GgufView::parse(&bytes)?; // validates everything it can without allocating
/// assert_eq!(gguf.architecture(), Some("test"));
/// let norm = gguf.tensor("norm.weight")?; // found by walking the tensor table
/// assert_eq!(norm.dtype(), GgmlType::F32);
/// assert_eq!(norm.bytes().len(), 16);
/// # Ok::<(), weightmap_core::Error>(())
/// ```
///
/// Without an index, duplicate keys, duplicate tensor names and overlapping tensors are not
/// detected (that needs memory); the first of two duplicates is the one found.
#[derive(Clone, Copy)]
pub struct GgufView<'data> {
    layout: Layout,
    header: &'data [u8],
    data: &'data [u8],
    data_start: u64,
    #[cfg(feature = "alloc")]
    index: Option<&'data GgufIndex>,
}

impl core::fmt::Debug for GgufView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GgufView")
            .field("layout", &self.layout)
            .field("data_start", &self.data_start)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl<'data> GgufView<'data> {
    #[cfg(feature = "alloc")]
    fn new(
        layout: Layout,
        header: &'data [u8],
        data: &'data [u8],
        data_start: u64,
        index: Option<&'data GgufIndex>,
    ) -> Self {
        GgufView {
            layout,
            header,
            data,
            data_start,
            index,
        }
    }

    /// A view over one slice holding the file from its first byte, without an index.
    fn unindexed(layout: Layout, bytes: &'data [u8]) -> Self {
        GgufView {
            layout,
            header: bytes,
            data: bytes,
            data_start: 0,
            #[cfg(feature = "alloc")]
            index: None,
        }
    }

    /// Parses and validates a whole file without allocating, including that every tensor's
    /// data lies inside `bytes`. Strings handed out point into `bytes`, so they must not
    /// change while the view lives (bytes of a mapping of a file others may write do:
    /// parse a copy of them).
    ///
    /// # Errors
    /// Every validation error of the format except duplicates and overlaps (see the type's
    /// docs), and [`Error::TensorOutOfBounds`].
    pub fn parse(bytes: &'data [u8]) -> Result<Self> {
        let view = Self::parse_header(bytes)?;
        for info in view.tensors() {
            view.tensor_range(&info)?;
        }
        Ok(view)
    }

    /// Parses the header, metadata and tensor table of `bytes`, which may be only a prefix of
    /// the file: tensor data is checked only when a view of it is asked for.
    ///
    /// # Errors
    /// [`Error::Truncated`] with the bytes needed when the prefix ends too early, and the
    /// validation errors of [`parse`](Self::parse).
    pub fn parse_header(bytes: &'data [u8]) -> Result<Self> {
        let layout = walk(bytes, &mut Pass::default(), |_| Ok(()), |_| Ok(()))?;
        let view = Self::unindexed(layout, bytes);
        for info in view.tensors() {
            layout.tensor_span(&info)?;
        }
        Ok(view)
    }

    /// Section offsets, version, byte order and alignment.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.layout.header.version
    }

    /// Byte order of the file.
    pub fn endian(&self) -> Endian {
        self.layout.header.endian
    }

    /// Alignment of tensor data.
    pub fn alignment(&self) -> u32 {
        self.layout.alignment
    }

    /// Absolute offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.layout.data_offset
    }

    /// The header bytes the view reads metadata and names from (the file from its first byte).
    pub fn header_bytes(&self) -> &'data [u8] {
        self.header
    }

    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        // Validated: every entry takes at least 12 bytes of the header at hand.
        usize::try_from(self.layout.header.n_kv).unwrap_or(usize::MAX)
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        usize::try_from(self.layout.header.n_tensors).unwrap_or(usize::MAX)
    }

    /// How many bytes the whole file must have: the end of the last tensor's data (or of the
    /// tensor table when there are no tensors).
    pub fn required_len(&self) -> u64 {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            return index.required_len();
        }
        self.tensors()
            .filter_map(|t| self.layout.tensor_span(&t).ok())
            .map(|(_, end)| end)
            .max()
            .unwrap_or(self.layout.tensor_info_end)
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> Entries<'data> {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            return Entries(EntriesInner::Indexed {
                index,
                header: self.header,
                iter: index.entries().iter(),
            });
        }
        let walker = MetadataWalker::resume(
            self.header,
            self.endian(),
            HEADER_SIZE,
            0,
            self.layout.header.n_kv,
        );
        Entries(EntriesInner::Walked(walker.ok(), self.metadata_len()))
    }

    /// The entry for `key`.
    pub fn entry_for(&self, key: &str) -> Option<MetadataEntry<'data>> {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            let found = index.find_entry(self.header, key)?;
            return Some(index.entry(found, self.header));
        }
        self.metadata().find(|e| e.key() == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<Value<'data>> {
        self.entry_for(key).map(|e| e.value())
    }

    /// `general.architecture`, if present and a string.
    pub fn architecture(&self) -> Option<&'data str> {
        self.get("general.architecture")?.as_str()
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> Tensors<'data> {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            return Tensors(TensorsInner::Indexed {
                index,
                header: self.header,
                iter: index.tensor_list().iter(),
            });
        }
        let walker = TensorWalker::resume(
            self.header,
            self.endian(),
            (
                usize::try_from(self.layout.tensor_info_start).unwrap_or(usize::MAX),
                0,
                self.layout.header.n_tensors,
            ),
            self.layout.alignment,
        );
        Tensors(TensorsInner::Walked(walker.ok(), self.tensor_count()))
    }

    /// The info of the tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Option<TensorInfo<'data>> {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            let found = index.find_tensor(self.header, name)?;
            return Some(index.info(found, self.header));
        }
        self.tensors().find(|t| t.name() == name)
    }

    /// The position in the tensor table of the tensor called `name`.
    pub fn tensor_position(&self, name: &str) -> Option<usize> {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            return index.tensor_position(self.header, name);
        }
        self.tensors().position(|t| t.name() == name)
    }

    /// The info of the tensor at `position` in the tensor table.
    pub fn tensor_at(&self, position: usize) -> Option<TensorInfo<'data>> {
        #[cfg(feature = "alloc")]
        if let Some(index) = self.index {
            let t = index.tensor_list().get(position)?;
            return Some(index.info(t, self.header));
        }
        self.tensors().nth(position)
    }

    /// The tensor called `name` with its bytes.
    ///
    /// # Errors
    /// [`Error::TensorNotFound`], or [`Error::TensorOutOfBounds`] when its data is not at hand
    /// (a header-only parse).
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
            TensorType::from(info.ggml_type),
            Dims::from_ggml(info.shape()),
            self.endian(),
            self.data.get(range).unwrap_or(&[]),
        ))
    }

    /// Where a tensor's bytes are in the tensor data this view holds (for data holding the
    /// whole file, its absolute byte range in the file).
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when they are not all at hand.
    pub fn tensor_range(&self, info: &TensorInfo<'_>) -> Result<Range<usize>> {
        let (start, end) = self.layout.tensor_span(info)?;
        let out_of_bounds = Error::TensorOutOfBounds {
            name: Name::new(info.name.as_bytes()),
            offset: start,
            end,
        };
        let relative = start.checked_sub(self.data_start).ok_or(out_of_bounds)?;
        checked_range(relative, info.size, self.data.len()).map_err(|_| out_of_bounds)
    }
}

#[cfg(feature = "alloc")]
impl GgufIndex {
    /// A view of the file whose header this index was built from: `header` must be those
    /// bytes (a different header gives wrong answers, never a panic), `data` the bytes that
    /// start at file offset `data_start` and hold the tensor data (for a whole file in memory,
    /// the same bytes and 0).
    pub fn view<'a>(&'a self, header: &'a [u8], data: &'a [u8], data_start: u64) -> GgufView<'a> {
        GgufView::new(*self.layout(), header, data, data_start, Some(self))
    }
}

/// The next item of a walk over validated bytes (which cannot fail; if bytes changed since
/// they were validated, the listing just ends), counting down what is left.
fn walked_next<T>(
    walker: &mut Option<impl Iterator<Item = Result<T>>>,
    left: &mut usize,
) -> Option<T> {
    let item = walker.as_mut()?.next()?.ok();
    *left = if item.is_some() {
        left.saturating_sub(1)
    } else {
        0
    };
    item
}

/// Metadata entries in file order ([`GgufView::metadata`]).
#[derive(Clone)]
pub struct Entries<'data>(EntriesInner<'data>);

#[derive(Clone)]
enum EntriesInner<'data> {
    #[cfg(feature = "alloc")]
    Indexed {
        index: &'data GgufIndex,
        header: &'data [u8],
        iter: core::slice::Iter<'data, IndexedEntry>,
    },
    Walked(Option<MetadataWalker<'data>>, usize),
}

impl<'data> Iterator for Entries<'data> {
    type Item = MetadataEntry<'data>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            #[cfg(feature = "alloc")]
            EntriesInner::Indexed {
                index,
                header,
                iter,
            } => iter.next().map(|e| index.entry(e, header)),
            EntriesInner::Walked(walker, left) => walked_next(walker, left),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            #[cfg(feature = "alloc")]
            EntriesInner::Indexed { iter, .. } => iter.len(),
            EntriesInner::Walked(_, left) => *left,
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for Entries<'_> {}

/// Tensor infos in file order ([`GgufView::tensors`]).
#[derive(Clone)]
pub struct Tensors<'data>(TensorsInner<'data>);

#[derive(Clone)]
enum TensorsInner<'data> {
    #[cfg(feature = "alloc")]
    Indexed {
        index: &'data GgufIndex,
        header: &'data [u8],
        iter: core::slice::Iter<'data, IndexedTensor>,
    },
    Walked(Option<TensorWalker<'data>>, usize),
}

impl<'data> Iterator for Tensors<'data> {
    type Item = TensorInfo<'data>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            #[cfg(feature = "alloc")]
            TensorsInner::Indexed {
                index,
                header,
                iter,
            } => iter.next().map(|t| index.info(t, header)),
            TensorsInner::Walked(walker, left) => walked_next(walker, left),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            #[cfg(feature = "alloc")]
            TensorsInner::Indexed { iter, .. } => iter.len(),
            TensorsInner::Walked(_, left) => *left,
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for Tensors<'_> {}
