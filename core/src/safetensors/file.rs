//! `Safetensors<D>`: a safetensors file that owns its [`ModelData`] and the index of its
//! header, and hands out the read API, [`SafetensorsView`].

use alloc::sync::Arc;

use crate::data::ModelData;
use crate::error::{Error, Name, Result};
use crate::safetensors::index::SafetensorsIndex;
use crate::safetensors::view::{dims, MetadataEntry, SafetensorsView, TensorInfo};
use crate::tensor::handle::TensorHandle;
use crate::tensor::view::TensorView;
use crate::Endian;

/// A parsed safetensors file: the model data plus an index of its header.
///
/// Parsing reads the 8-byte length and the JSON header from [`ModelData::header`], checks
/// every entry, that the tensors tile the data section exactly and that the file ends where
/// the last tensor does. Nothing is copied out of the data.
///
/// ```
/// # let bytes = weightmap_core::testing::safetensors_sample();
/// use weightmap_core::{safetensors::Safetensors, TensorType};
/// let st = Safetensors::parse(bytes)?; // any ModelData: Vec<u8>, &[u8], a memory map...
/// let w = st.tensor("w")?;
/// assert_eq!(w.dtype(), TensorType::F32);
/// assert_eq!(w.dims(), &[2, 2][..]);
/// # Ok::<(), weightmap_core::Error>(())
/// ```
pub struct Safetensors<D> {
    data: D,
    index: SafetensorsIndex,
}

/// Writes `Safetensors` methods that hand a call on to [`SafetensorsView`].
macro_rules! view_accessors {
    ($($(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nSee [`SafetensorsView::", stringify!($name), "`].")]
        #[inline]
        pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            self.view().$name($($arg),*)
        }
    )*};
}

impl<D: ModelData> Safetensors<D> {
    /// Parses and checks a whole file.
    ///
    /// # Errors
    /// Every error of [`SafetensorsIndex::parse_header`], [`Error::TensorOutOfBounds`] for
    /// a file that ends before its last tensor, [`Error::TrailingBytes`] for bytes after it,
    /// and [`Error::NoTrustedHeader`] for data that offers no bytes safe to parse.
    pub fn parse(data: D) -> Result<Self> {
        let index = SafetensorsIndex::parse_header(data.header().ok_or(Error::NoTrustedHeader)?)?;
        Self::from_index(index, data)
    }

    /// Parses the header of data that may hold only the file's first bytes: tensors whose
    /// data is not at hand are [`Error::TensorOutOfBounds`] when asked for.
    ///
    /// # Errors
    /// As [`SafetensorsIndex::parse_header`], and [`Error::NoTrustedHeader`].
    pub fn parse_header(data: D) -> Result<Self> {
        let index = SafetensorsIndex::parse_header(data.header().ok_or(Error::NoTrustedHeader)?)?;
        Self::from_header_index(index, data)
    }

    /// Pairs an index built from `data`'s [`header`](ModelData::header) with the data,
    /// checking that the data is the whole file. An index of a different header gives wrong
    /// answers, never a panic.
    ///
    /// # Errors
    /// [`Error::NoTrustedHeader`], and the errors of [`SafetensorsView::check_complete`].
    pub fn from_index(index: SafetensorsIndex, data: D) -> Result<Self> {
        let st = Self::from_header_index(index, data)?;
        st.view().check_complete()?;
        Ok(st)
    }

    /// Pairs an index with data that may hold only the file's header.
    ///
    /// # Errors
    /// [`Error::NoTrustedHeader`] for data that offers no header.
    pub fn from_header_index(index: SafetensorsIndex, data: D) -> Result<Self> {
        if data.header().is_none() {
            return Err(Error::NoTrustedHeader);
        }
        Ok(Safetensors { data, index })
    }

    /// The read API over this file, borrowed from it.
    #[inline]
    pub fn view(&self) -> SafetensorsView<'_> {
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
    pub fn index(&self) -> &SafetensorsIndex {
        &self.index
    }

    /// The index and the data, apart.
    pub fn into_parts(self) -> (SafetensorsIndex, D) {
        (self.index, self.data)
    }

    /// The same file with its data behind an [`Arc`], for owned tensor handles.
    pub fn into_shared(self) -> Safetensors<Arc<D>> {
        Safetensors {
            data: Arc::new(self.data),
            index: self.index,
        }
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.index.tensor_count()
    }

    /// The bytes of a tensor listed by [`tensors`](Self::tensors).
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when its data is not at hand.
    pub fn tensor_view<'a>(&'a self, info: &TensorInfo<'a>) -> Result<TensorView<'a>> {
        self.view().tensor_view(info)
    }

    view_accessors! {
        /// Where the data section starts.
        fn data_offset(&self) -> u64;
        /// How many bytes the file has.
        fn required_len(&self) -> u64;
        /// The `__metadata__` value of `key`.
        fn get(&self, key: &str) -> Option<&str>;
        /// The info of the tensor called `name`.
        fn tensor_info(&self, name: &str) -> Option<TensorInfo<'_>>;
        /// The tensor called `name` with its bytes.
        fn tensor(&self, name: &str) -> Result<TensorView<'_>>;
    }

    /// `__metadata__` entries in JSON order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = MetadataEntry<'_>> + Clone {
        self.view().metadata()
    }

    /// Tensor infos in the order of their data.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = TensorInfo<'_>> + Clone {
        self.view().tensors()
    }
}

impl<D: ModelData + Send + Sync + 'static> Safetensors<Arc<D>> {
    /// The tensor called `name` as an owned handle that keeps the data alive.
    ///
    /// # Errors
    /// [`Error::TensorNotFound`], or [`Error::TensorOutOfBounds`] for a header-only parse.
    pub fn tensor_handle(&self, name: &str) -> Result<TensorHandle> {
        let info = self.tensor_info(name).ok_or(Error::TensorNotFound {
            name: Name::new(name.as_bytes()),
        })?;
        self.handle_of(&info)
    }

    /// The owned handle of a tensor listed by [`tensors`](Safetensors::tensors).
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] for a header-only parse.
    pub fn handle_of(&self, info: &TensorInfo<'_>) -> Result<TensorHandle> {
        let range = self.view().tensor_range(info)?;
        let data: Arc<dyn ModelData + Send + Sync> = self.data.clone();
        Ok(TensorHandle::new(
            data,
            range,
            info.name().into(),
            info.dtype(),
            dims(info.shape()),
            Endian::Little,
        ))
    }
}

impl<D> core::fmt::Debug for Safetensors<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Safetensors")
            .field("tensor_count", &self.index.tensor_count())
            .field("metadata_len", &self.index.metadata_len())
            .field("data_offset", &self.index.data_offset())
            .finish_non_exhaustive()
    }
}
