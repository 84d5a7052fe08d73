//! `Model`: an opened model (one file, a GGUF split set or a sharded safetensors model), its
//! metadata and tensor table as plain Python values, its tensors' bytes as [`Buffer`]s and
//! their values as float32 arrays.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;
use weightmap_core::{Endian, Format, ModelData, ModelValue};
use weightmap_native::{MmapConfig, ModelSource, SourceConfig};

use crate::buffer::Buffer;
use crate::{errors, values};

/// The model behind every `Model` and `Buffer`.
pub(crate) type Loaded = weightmap_core::Model<ModelSource>;

/// A model opened the safe way: each file's header read into memory and parsed there, its
/// tensor data mapped with the truncation guard (a file cut short by another process reads as
/// zeros past its new end, and `is_intact()` turns false).
#[pyclass(frozen, module = "weightmap._native")]
pub struct Model {
    inner: Arc<Loaded>,
}

/// The GGUF type id of a value type name's metadata entry, for safetensors' string metadata.
const STRING_TYPE: u32 = 8;

#[pymethods]
impl Model {
    /// Opens `path`: a GGUF or safetensors file, the first file of a GGUF split set, or a
    /// sharded model's `model.safetensors.index.json`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let config = SourceConfig {
            mmap: MmapConfig::guarded(),
            ..SourceConfig::default()
        };
        let model = py
            .detach(|| weightmap_native::open_with(&path, &config))
            .map_err(errors::to_py)?;
        Ok(Model {
            inner: Arc::new(model),
        })
    }

    /// `"gguf"` or `"safetensors"`.
    #[getter]
    fn format(&self) -> &'static str {
        match self.inner.format() {
            Format::Gguf => "gguf",
            Format::Safetensors => "safetensors",
            _ => "unknown",
        }
    }

    /// `"little"` or `"big"`: the byte order of the (first) file.
    #[getter]
    fn endian(&self) -> &'static str {
        match self.inner.as_gguf().map(|g| g.endian()) {
            Some(Endian::Big) => "big",
            _ => "little",
        }
    }

    /// The files' names, in shard order.
    #[getter]
    fn files(&self) -> Vec<String> {
        self.inner
            .shards()
            .iter()
            .map(|s| s.name().to_owned())
            .collect()
    }

    /// For a GGUF model, `(version, tensor_count, kv_count, alignment, data_offset)` of its
    /// first file; `None` for safetensors.
    fn gguf_header(&self) -> Option<(u32, u64, u64, u32, u64)> {
        let gguf = self.inner.as_gguf()?;
        Some((
            gguf.version(),
            gguf.tensor_count() as u64,
            gguf.metadata_len() as u64,
            gguf.alignment(),
            gguf.data_offset(),
        ))
    }

    /// Every metadata entry as `(key, offset, types)`, in file order: the byte offset of the
    /// entry in its file, and the official reader's `types` (a value type id; for arrays,
    /// the element types after it).
    fn metadata_index(&self) -> PyResult<Vec<(String, u64, Vec<u32>)>> {
        self.inner
            .metadata()
            .map(|entry| {
                let types = match entry.value() {
                    ModelValue::Gguf(v) => values::types(&v)?,
                    _ => vec![STRING_TYPE],
                };
                Ok((entry.key().to_owned(), entry.offset(), types))
            })
            .collect()
    }

    /// The value of metadata entry `key`, decoded now (arrays as lists).
    fn metadata_value<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.get(key) {
            Some(ModelValue::Gguf(v)) => values::to_py(py, key, v),
            Some(other) => other.as_str().unwrap_or_default().into_bound_py_any(py),
            None => Err(pyo3::exceptions::PyKeyError::new_err(key.to_owned())),
        }
    }

    /// Every tensor as `(name, dtype, ggml_type, shape, offset, nbytes, shard)`, in file
    /// order: the type's name (`F32`, `Q4_K`, `F8_E4M3`…), its ggml id (`None` for the
    /// safetensors-only types), the shape row-major (outermost first; GGUF stores it reversed), the
    /// absolute byte offset in its file, the size in bytes and the file's index.
    fn tensor_table<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        self.inner
            .tensors()
            .map(|t| {
                let ggml = t.dtype().ggml().map(|g| g as u32);
                let range = t.file_range();
                (
                    t.name(),
                    t.dtype().name(),
                    ggml,
                    t.dims().to_vec(),
                    range.start,
                    range.end - range.start,
                    t.shard(),
                )
                    .into_pyobject(py)
            })
            .collect()
    }

    /// The stored bytes of tensor `name`, as a read-only buffer over the mapping.
    fn tensor_buffer(&self, name: &str) -> PyResult<Buffer> {
        let info = self.tensor(name)?;
        let range = self.inner.tensor_range(&info).map_err(errors::core_to_py)?;
        Buffer::new(Arc::clone(&self.inner), info.shard(), range).ok_or_else(|| {
            errors::raise(
                "FormatError",
                format!("tensor {name:?} lies outside its file"),
            )
        })
    }

    /// The values of tensor `name` as a new float32 array (row-major, as the official
    /// `dequantize` returns them), decoded with the GIL released.
    fn dequantize<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let info = self.tensor(name)?;
        let view = self.inner.tensor_view(&info).map_err(errors::core_to_py)?;
        let values = py.detach(|| view.to_f32()).map_err(errors::core_to_py)?;
        if !self
            .inner
            .shards()
            .get(info.shard())
            .is_some_and(|s| s.file().data().is_intact())
        {
            return Err(errors::raise(
                "FileChanged",
                format!("tensor {name:?}: its file was truncated while it was read"),
            ));
        }
        Ok(PyArray1::from_vec(py, values))
    }

    /// Whether every file's pages are still there (false once one was truncated).
    fn is_intact(&self) -> bool {
        self.inner
            .shards()
            .iter()
            .all(|s| s.file().data().is_intact())
    }
}

impl Model {
    fn tensor(&self, name: &str) -> PyResult<weightmap_core::ModelTensor<'_>> {
        self.inner
            .tensor_info(name)
            .ok_or_else(|| errors::raise("TensorNotFound", format!("no tensor named {name:?}")))
    }
}
