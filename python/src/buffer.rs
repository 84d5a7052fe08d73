//! `Buffer`: a tensor's bytes in the model's mapping, through the buffer protocol, read-only.
//! `numpy.frombuffer(buffer)` shows them without a copy; the array's base is the buffer, and
//! the buffer holds the model, so no array ever outlives the memory it shows.

use std::ffi::{c_int, CStr};
use std::ops::Range;
use std::sync::Arc;

use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::{ffi, Bound};
use weightmap_core::ModelData;
use weightmap_native::MmapFile;

use crate::model::Loaded;

/// A read-only run of a model file's bytes (a tensor's data, the private copy of its header,
/// or the whole file), kept alive as long as any `memoryview` or numpy array shows it.
#[pyclass(frozen, module = "weightmap._native")]
pub struct Buffer {
    owner: Owner,
    range: Range<usize>,
    /// The one dimension, for `Py_buffer.shape` (owned here, not by the view, which
    /// consumers may copy).
    shape: [ffi::Py_ssize_t; 1],
}

/// What a buffer's bytes are part of, held for as long as the buffer lives.
enum Owner {
    /// A shard's (mapped) data.
    Data(Arc<Loaded>, usize),
    /// A shard's private header copy.
    Header(Arc<Loaded>, usize),
    /// A mapping of a whole file of its own.
    File(MmapFile),
}

/// Every buffer's strides: one byte.
static STRIDES: [ffi::Py_ssize_t; 1] = [1];

impl Buffer {
    /// The bytes `range` of shard `shard`'s file; checked to lie inside it.
    pub(crate) fn new(model: Arc<Loaded>, shard: usize, range: Range<usize>) -> Option<Self> {
        let len = model.shards().get(shard)?.file().data().bytes().len();
        if range.start > range.end || range.end > len {
            return None;
        }
        Self::over(Owner::Data(model, shard), range)
    }

    /// The whole private copy of shard `shard`'s header (the file from its first byte to at
    /// least its tensor data); `None` when the source has none.
    pub(crate) fn header(model: Arc<Loaded>, shard: usize) -> Option<Self> {
        let len = model.shards().get(shard)?.file().data().header()?.len();
        Self::over(Owner::Header(model, shard), 0..len)
    }

    /// Every byte of `map`, which the buffer keeps.
    pub(crate) fn file(map: MmapFile) -> Option<Self> {
        let len = map.as_slice().len();
        Self::over(Owner::File(map), 0..len)
    }

    fn over(owner: Owner, range: Range<usize>) -> Option<Self> {
        let shape = [ffi::Py_ssize_t::try_from(range.len()).ok()?];
        Some(Buffer {
            owner,
            range,
            shape,
        })
    }

    fn bytes(&self) -> &[u8] {
        let all = match &self.owner {
            Owner::Data(model, shard) => model
                .shards()
                .get(*shard)
                .map_or(&[][..], |s| s.file().data().bytes()),
            Owner::Header(model, shard) => model
                .shards()
                .get(*shard)
                .and_then(|s| s.file().data().header())
                .unwrap_or_default(),
            Owner::File(map) => map.as_slice(),
        };
        all.get(self.range.clone()).unwrap_or_default()
    }
}

/// The buffer's one format: unsigned bytes.
static FORMAT: &CStr = c"B";

#[pymethods]
impl Buffer {
    fn __len__(&self) -> usize {
        self.range.len()
    }

    /// Whether the file's pages are all still there: false once another process truncated
    /// the file (the lost pages then read as zeros).
    fn is_intact(&self) -> bool {
        match &self.owner {
            Owner::Data(model, shard) | Owner::Header(model, shard) => model
                .shards()
                .get(*shard)
                .is_some_and(|s| s.file().data().is_intact()),
            Owner::File(map) => map.is_intact(),
        }
    }

    /// Fills `view` for a read-only, one-dimensional, contiguous buffer of bytes.
    ///
    /// # Safety
    /// Called by Python with `view` pointing to a `Py_buffer` to fill (the protocol's
    /// contract).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("no view to fill"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            // SAFETY: `view` is a valid `Py_buffer` (non-null); the protocol asks for a null
            // `obj` when the request is refused.
            unsafe { (*view).obj = std::ptr::null_mut() };
            return Err(PyBufferError::new_err(
                "weightmap tensor buffers are read-only (copy the array to change it)",
            ));
        }
        let buffer = slf.get();
        let bytes = buffer.bytes();
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        let shape = buffer.shape.as_ptr().cast_mut();
        // SAFETY: `view` is a valid `Py_buffer` for us to fill (checked non-null above; the
        // protocol guarantees the rest). The memory stays valid and unchanged by us for as
        // long as the view exists: `view.obj` holds a strong reference to this buffer, which
        // holds the model and so its mapping or heap copy; it is only ever read (readonly =
        // 1, PyBUF_WRITABLE refused). `shape` points into this buffer (alive as long as the
        // view, through `obj`) and `strides` to a static; neither is ever written through.
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = ptr.cast_mut().cast();
            (*view).len = len as ffi::Py_ssize_t;
            (*view).readonly = 1;
            (*view).itemsize = 1;
            (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
                FORMAT.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                shape
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                STRIDES.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// Nothing to free: the format is static and the memory belongs to the model.
    ///
    /// # Safety
    /// Called by Python with a view this buffer filled.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}
