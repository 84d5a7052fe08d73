//! `TensorHandle`: one tensor's bytes as an owned value that keeps its model data alive, for
//! threads and HTTP bodies that must not borrow the parser.

use alloc::sync::Arc;
use core::fmt;
use core::ops::{Deref, Range};

use crate::data::ModelData;
use crate::endian::Endian;
use crate::tensor::dtype::TensorType;
use crate::tensor::view::{Dims, TensorView};

/// A tensor's bytes, owned: an [`Arc`] of the model data plus the tensor's checked range in it,
/// with the tensor's name, type and dimensions. `Send + Sync + 'static`, cheap to clone, and
/// derefs to `[u8]`; with the `bytes` feature it converts into `bytes::Bytes` without copying.
///
/// Get one from [`Gguf::tensor_handle`](crate::Gguf::tensor_handle).
#[derive(Clone)]
pub struct TensorHandle {
    data: Arc<dyn ModelData + Send + Sync>,
    range: Range<usize>,
    name: Arc<str>,
    dtype: TensorType,
    dims: Dims,
    endian: Endian,
}

impl TensorHandle {
    /// A handle of `range` of `data`. The caller checked the range against `data.bytes()`; a
    /// range that does not fit reads as empty (never out of bounds).
    pub(crate) fn new(
        data: Arc<dyn ModelData + Send + Sync>,
        range: Range<usize>,
        name: Arc<str>,
        dtype: TensorType,
        dims: Dims,
        endian: Endian,
    ) -> Self {
        TensorHandle {
            data,
            range,
            name,
            dtype,
            dims,
            endian,
        }
    }

    /// The tensor's bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.data.bytes().get(self.range.clone()).unwrap_or(&[])
    }

    /// A borrowed view of the tensor, for typed access ([`TensorView::as_f32`]…).
    pub fn view(&self) -> TensorView<'_> {
        TensorView::new(&self.name, self.dtype, self.dims, self.endian, self.bytes())
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The element type.
    pub fn dtype(&self) -> TensorType {
        self.dtype
    }

    /// Dimensions, row-major (outermost first): see [`TensorView::dims`].
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }

    /// Where the bytes are in the model data's [`bytes`](ModelData::bytes).
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Whether the bytes read through this handle were the file's: see
    /// [`ModelData::is_intact`]. Check it after using them.
    pub fn is_intact(&self) -> bool {
        self.data.is_intact()
    }

    /// The model data the bytes belong to: for hints such as
    /// [`release`](ModelData::release) once the tensor has been copied elsewhere.
    pub fn data(&self) -> &Arc<dyn ModelData + Send + Sync> {
        &self.data
    }

    /// Tells the model data these bytes will not be read again soon
    /// ([`ModelData::release`]): a mapped file gives the pages back to the kernel.
    pub fn release(&self) {
        self.data.release(self.range.clone());
    }
}

impl Deref for TensorHandle {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl AsRef<[u8]> for TensorHandle {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl fmt::Debug for TensorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorHandle")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("dims", &self.dims)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Without copying: the `Bytes` keeps the handle (and so the model data) alive.
#[cfg(feature = "bytes")]
impl From<TensorHandle> for bytes::Bytes {
    fn from(handle: TensorHandle) -> Self {
        bytes::Bytes::from_owner(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_file;
    use crate::Gguf;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn handles_outlive_the_parser_and_cross_threads() {
        assert_send_sync_static::<TensorHandle>();
        let gguf = Gguf::parse(sample_file()).unwrap().into_shared();
        let expected = gguf.tensor("embd.weight").unwrap().bytes().to_vec();
        let handle = gguf.tensor_handle("embd.weight").unwrap();
        let ptr = gguf.tensor("embd.weight").unwrap().bytes().as_ptr();
        drop(gguf);
        assert_eq!(handle.as_ptr(), ptr, "no copy");
        let bytes = std::thread::spawn(move || handle.to_vec()).join().unwrap();
        assert_eq!(bytes, expected);
    }

    #[cfg(feature = "bytes")]
    #[test]
    fn converts_into_bytes_without_copying() {
        let gguf = Gguf::parse(sample_file()).unwrap().into_shared();
        let handle = gguf.tensor_handle("norm.weight").unwrap();
        let ptr = handle.as_ptr();
        let bytes = bytes::Bytes::from(handle);
        assert_eq!(bytes.as_ptr(), ptr);
        assert_eq!(bytes.len(), 16);
    }
}
