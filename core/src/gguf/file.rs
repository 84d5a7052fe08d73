//! `Gguf<D>`: a GGUF file that owns its [`ModelData`] and the index of its header, and hands
//! out the one read API, [`GgufView`].

use alloc::sync::Arc;
use core::ops::Range;

use crate::data::ModelData;
use crate::endian::Endian;
use crate::error::{Error, Name, Result};
use crate::gguf::index::GgufIndex;
use crate::gguf::layout::Layout;
use crate::gguf::metadata::MetadataEntry;
use crate::gguf::tensor_info::TensorInfo;
use crate::gguf::value::Value;
use crate::gguf::view::{Entries, GgufView, Tensors};
use crate::tensor::dtype::TensorType;
use crate::tensor::handle::TensorHandle;
use crate::tensor::view::{Dims, TensorView};

/// A parsed GGUF file: the model data plus an index of its metadata and tensors.
///
/// Parsing reads the header, every metadata entry and every tensor info once, from
/// [`ModelData::header`], validating each count, length and offset, rejecting duplicate names
/// and overlapping tensors; nothing is copied out of the data. Values are decoded when read.
/// Every accessor is [`GgufView`]'s, reached through [`view`](Self::view) or the shorthands
/// below, which borrow the `Gguf`.
///
/// ```
/// # let bytes = weightmap_core::testing::sample_file();
/// use weightmap_core::{Gguf, GgmlType};
/// let gguf = Gguf::parse(bytes)?; // any ModelData: Vec<u8>, &[u8], a memory map...
/// assert_eq!(gguf.get("general.architecture").and_then(|v| v.as_str()), Some("test"));
/// let norm = gguf.tensor("norm.weight")?;
/// assert_eq!(norm.dtype(), GgmlType::F32);
/// assert_eq!(norm.dims(), &[4][..]);
/// # Ok::<(), weightmap_core::Error>(())
/// ```
pub struct Gguf<D> {
    data: D,
    index: GgufIndex,
}

/// Writes `Gguf` methods that hand a call on to [`GgufView`].
macro_rules! view_accessors {
    ($($(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nSee [`GgufView::", stringify!($name), "`].")]
        #[inline]
        pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            self.view().$name($($arg),*)
        }
    )*};
}

impl<D: ModelData> Gguf<D> {
    /// Parses and validates a whole file, including that every tensor's data lies inside
    /// [`ModelData::bytes`].
    ///
    /// # Errors
    /// Every validation error of the format, [`Error::TensorOutOfBounds`], and
    /// [`Error::NoTrustedHeader`] for data that offers no bytes safe to parse.
    pub fn parse(data: D) -> Result<Self> {
        let index = GgufIndex::parse_header(data.header().ok_or(Error::NoTrustedHeader)?)?;
        Self::from_index(index, data)
    }

    /// Parses the header, metadata and tensor table of data that may be only a prefix of the
    /// file. A prefix that ends before the tensor table does gives [`Error::Truncated`] with
    /// the bytes needed; [`required_len`](Self::required_len) says how long the whole file
    /// must be. Tensors whose data is not at hand give [`Error::TensorOutOfBounds`] when asked
    /// for.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), but for tensor data.
    pub fn parse_header(data: D) -> Result<Self> {
        let index = GgufIndex::parse_header(data.header().ok_or(Error::NoTrustedHeader)?)?;
        Ok(Gguf { data, index })
    }

    /// Pairs an index built from `data`'s [`header`](ModelData::header) (by
    /// [`IndexBuilder`](crate::IndexBuilder), say, while it was read) with the data, checking
    /// that every tensor's bytes are in it. An index of a different header gives wrong
    /// answers, never a panic.
    ///
    /// # Errors
    /// [`Error::NoTrustedHeader`] for data that offers no header, and
    /// [`Error::TensorOutOfBounds`] for the first tensor (in file order) whose data is missing.
    pub fn from_index(index: GgufIndex, data: D) -> Result<Self> {
        if data.header().is_none() {
            return Err(Error::NoTrustedHeader);
        }
        let gguf = Gguf { data, index };
        let view = gguf.view();
        for info in view.tensors() {
            view.tensor_range(&info)?;
        }
        Ok(gguf)
    }

    /// Pairs an index with data that may hold only the file's header (a stream read as far
    /// as its tensor table), as [`parse_header`](Self::parse_header) does: tensors whose data
    /// is not at hand are [`Error::TensorOutOfBounds`] when asked for. An index of a different
    /// header gives wrong answers, never a panic.
    ///
    /// # Errors
    /// [`Error::NoTrustedHeader`] for data that offers no header.
    pub fn from_header_index(index: GgufIndex, data: D) -> Result<Self> {
        if data.header().is_none() {
            return Err(Error::NoTrustedHeader);
        }
        Ok(Gguf { data, index })
    }

    /// The one read API over this file, borrowed from it.
    #[inline]
    pub fn view(&self) -> GgufView<'_> {
        let header = self.data.header().unwrap_or(&[]);
        self.index
            .view(header, self.data.bytes(), self.data.offset())
    }

    /// The model data.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Gives the model data back.
    pub fn into_data(self) -> D {
        self.data
    }

    /// The index of the header.
    pub fn index(&self) -> &GgufIndex {
        &self.index
    }

    /// The index and the data, apart.
    pub fn into_parts(self) -> (GgufIndex, D) {
        (self.index, self.data)
    }

    /// The same file with its data behind an [`Arc`], so that
    /// [`tensor_handle`](Gguf::tensor_handle) can hand out owned tensors.
    pub fn into_shared(self) -> Gguf<Arc<D>> {
        Gguf {
            data: Arc::new(self.data),
            index: self.index,
        }
    }

    /// Section offsets, version, byte order and alignment.
    pub fn layout(&self) -> &Layout {
        self.index.layout()
    }

    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        self.index.metadata_len()
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.index.tensor_count()
    }

    /// The bytes of a tensor listed by [`tensors`](Self::tensors).
    ///
    /// See [`GgufView::tensor_view`].
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when its data is not at hand.
    pub fn tensor_view<'a>(&'a self, info: &TensorInfo<'a>) -> Result<TensorView<'a>> {
        self.view().tensor_view(info)
    }

    view_accessors! {
        /// Format version (2 or 3).
        fn version(&self) -> u32;
        /// Byte order of the file.
        fn endian(&self) -> Endian;
        /// Alignment of tensor data.
        fn alignment(&self) -> u32;
        /// Absolute offset of the data section.
        fn data_offset(&self) -> u64;
        /// How many bytes the whole file must have.
        fn required_len(&self) -> u64;
        /// Metadata entries in file order.
        fn metadata(&self) -> Entries<'_>;
        /// The entry for `key`.
        fn entry_for(&self, key: &str) -> Option<MetadataEntry<'_>>;
        /// The value of `key`.
        fn get(&self, key: &str) -> Option<Value<'_>>;
        /// `general.architecture`, if present and a string.
        fn architecture(&self) -> Option<&str>;
        /// Tensor infos in file order.
        fn tensors(&self) -> Tensors<'_>;
        /// The info of the tensor called `name`.
        fn tensor_info(&self, name: &str) -> Option<TensorInfo<'_>>;
        /// The tensor called `name` with its bytes.
        fn tensor(&self, name: &str) -> Result<TensorView<'_>>;
        /// Where a tensor's bytes are in [`ModelData::bytes`].
        fn tensor_range(&self, info: &TensorInfo<'_>) -> Result<Range<usize>>;
    }
}

impl<D: ModelData + Send + Sync + 'static> Gguf<Arc<D>> {
    /// The tensor called `name` as an owned handle that keeps the data alive: it can go to
    /// another thread or into an HTTP body without the `Gguf`.
    ///
    /// ```
    /// # let bytes = weightmap_core::testing::sample_file();
    /// use weightmap_core::Gguf;
    /// let gguf = Gguf::parse(bytes)?.into_shared();
    /// let norm = gguf.tensor_handle("norm.weight")?;
    /// drop(gguf);
    /// let sum = std::thread::spawn(move || norm.view().as_f32().map(|w| w.iter().sum::<f32>()))
    ///     .join()
    ///     .unwrap()?;
    /// assert_eq!(sum, 10.0);
    /// # Ok::<(), weightmap_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::TensorNotFound`], or [`Error::TensorOutOfBounds`] for a header-only parse.
    pub fn tensor_handle(&self, name: &str) -> Result<TensorHandle> {
        let info = self.tensor_info(name).ok_or(Error::TensorNotFound {
            name: Name::new(name.as_bytes()),
        })?;
        self.handle_of(&info)
    }

    /// The owned handle of a tensor listed by [`tensors`](Gguf::tensors).
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] for a header-only parse.
    pub fn handle_of(&self, info: &TensorInfo<'_>) -> Result<TensorHandle> {
        let range = self.tensor_range(info)?;
        let data: Arc<dyn ModelData + Send + Sync> = self.data.clone();
        Ok(TensorHandle::new(
            data,
            range,
            info.name.into(),
            TensorType::from(info.ggml_type),
            Dims::from_ggml(info.shape()),
            self.endian(),
        ))
    }
}

impl<D> core::fmt::Debug for Gguf<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gguf")
            .field("layout", self.index.layout())
            .field("metadata_len", &self.index.metadata_len())
            .field("tensor_count", &self.index.tensor_count())
            .finish_non_exhaustive()
    }
}
