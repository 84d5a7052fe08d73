//! `Model`: an opened model (one file, a GGUF split set or a sharded safetensors model), its
//! metadata and tensor table as plain Python values, its tensors' bytes as [`Buffer`]s and
//! their values as float32 arrays.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods};
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
    /// sharded model's `model.safetensors.index.json`. With `single_gguf`, exactly the one
    /// GGUF file at `path`, even when it is part of a split set (as the official reader does).
    #[new]
    #[pyo3(signature = (path, single_gguf = false))]
    fn new(py: Python<'_>, path: PathBuf, single_gguf: bool) -> PyResult<Self> {
        let config = SourceConfig {
            mmap: MmapConfig::guarded(),
            ..SourceConfig::default()
        };
        let model = py.detach(|| {
            if single_gguf {
                ModelSource::open_with(&path, &config).map(Loaded::from_lone_gguf)
            } else {
                weightmap_native::open_with(&path, &config)
            }
        });
        Ok(Model {
            inner: Arc::new(model.map_err(errors::to_py)?),
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

    /// For a GGUF model, where each tensor's info entry starts in the (first) file, in file
    /// order (the official reader's `ReaderTensor.field.offset`); `None` for safetensors.
    fn gguf_tensor_info_offsets(&self) -> Option<Vec<u64>> {
        let gguf = self.inner.as_gguf()?;
        Some(gguf.view().tensors().map(|t| t.info_offset()).collect())
    }

    /// Whether a safetensors header has a `__metadata__` object (even `{}`), as opposed to
    /// none or `null`; `False` for GGUF.
    fn safetensors_has_metadata(&self) -> bool {
        self.inner
            .as_safetensors()
            .is_some_and(|s| s.view().has_metadata())
    }

    /// The value of metadata entry `key`, decoded now (arrays as lists).
    fn metadata_value<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.get(key) {
            Some(ModelValue::Gguf(v)) => values::to_py(py, key, v),
            Some(other) => other.as_str().unwrap_or_default().into_bound_py_any(py),
            None => Err(pyo3::exceptions::PyKeyError::new_err(key.to_owned())),
        }
    }

    /// The leaves of GGUF array `key` (nested arrays flattened, depth first), each as
    /// `(value, stored)`: the value (`None` for a string) and its bytes as the file stores
    /// them; what `GGUFReader`'s `contents()` of an array of arrays is made from.
    fn metadata_leaves<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Vec<values::Leaf<'py>>> {
        match self.inner.get(key) {
            Some(ModelValue::Gguf(weightmap_core::Value::Array(a))) => values::leaves(py, key, a),
            Some(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{key:?} is not a GGUF array"
            ))),
            None => Err(pyo3::exceptions::PyKeyError::new_err(key.to_owned())),
        }
    }

    /// Every tensor as `(name, dtype, ggml_type, shape, offset, nbytes, shard, block_size,
    /// type_size)`, in file order: the type's name (`F32`, `Q4_K`, `F8_E4M3`…), its ggml id
    /// (`None` for the safetensors-only types), the shape row-major (outermost first; GGUF
    /// stores it reversed), the absolute byte offset in its file, the size in bytes, the
    /// file's index, and the type's elements and bytes per block.
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
                    t.dtype().block_size(),
                    t.dtype().type_size(),
                )
                    .into_pyobject(py)
            })
            .collect()
    }

    /// The (first) file's header as a read-only buffer over weightmap's private copy of it:
    /// the file from its first byte to at least the end of the tensor table.
    fn header_buffer(&self) -> PyResult<Buffer> {
        Buffer::header(Arc::clone(&self.inner), 0)
            .ok_or_else(|| errors::raise("FileError", "the file has no header copy".to_owned()))
    }

    /// The whole (first) file as a read-only buffer: its bytes where they are all in memory
    /// already, else a second, guarded mapping of the same open file from its first byte.
    fn file_buffer(&self, py: Python<'_>) -> PyResult<Buffer> {
        let data = self
            .inner
            .shards()
            .first()
            .map(|s| s.file().data())
            .ok_or_else(|| errors::raise("FileError", "the model has no file".to_owned()))?;
        let buffer = match data.as_mmap() {
            Some(map) if map.offset() != 0 => {
                reinstate_guard()?;
                let whole = py.detach(|| map.map_whole()).map_err(errors::to_py)?;
                Buffer::file(whole)
            }
            _ => Buffer::new(Arc::clone(&self.inner), 0, 0..data.bytes().len()),
        };
        buffer.ok_or_else(|| errors::raise("FileError", "the file is too large".to_owned()))
    }

    /// The stored bytes of tensor `name`, as a read-only buffer over the mapping.
    fn tensor_buffer(&self, name: &str) -> PyResult<Buffer> {
        reinstate_guard()?;
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
    /// `dequantize` returns them), decoded with the GIL released, large tensors on every
    /// core (each thread writes, and so page-faults in, its own part of the output).
    fn dequantize<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let info = self.tensor(name)?;
        let view = self.inner.tensor_view(&info).map_err(errors::core_to_py)?;
        if !weightmap_core::dequant::supports(view.dtype()) {
            return Err(errors::core_to_py(weightmap_core::Error::NoDecoder {
                ty: view.dtype(),
            }));
        }
        let elements = (view.blocks().len() as u64).saturating_mul(view.dtype().block_size());
        let count = usize::try_from(elements)
            .map_err(|_| errors::raise("DecodeError", format!("tensor {name:?} is too large")))?;
        // Fresh zeroed pages (calloc): a fault each as a thread first writes it. An error,
        // not an abort, when they do not fit.
        let mut values = bytemuck::allocation::try_zeroed_vec::<f32>(count).map_err(|()| {
            errors::core_to_py(weightmap_core::Error::OutOfMemory {
                ty: view.dtype(),
                bytes: elements.saturating_mul(4),
            })
        })?;
        reinstate_guard()?;
        py.detach(|| decode_parallel(&view, &mut values))?;
        self.check_intact(&info, name)?;
        Ok(PyArray1::from_vec(py, values))
    }

    /// Decodes tensor `name` into `out`, a C-contiguous, writable float32 array of its
    /// element count (any shape): no fresh memory, so no page faults, when `out` is reused.
    fn dequantize_into(
        &self,
        py: Python<'_>,
        name: &str,
        out: &Bound<'_, PyArrayDyn<f32>>,
    ) -> PyResult<()> {
        let info = self.tensor(name)?;
        let view = self.inner.tensor_view(&info).map_err(errors::core_to_py)?;
        let mut out = out.try_readwrite()?;
        let out = out.as_slice_mut().map_err(|_| {
            pyo3::exceptions::PyValueError::new_err("out must be a C-contiguous float32 array")
        })?;
        let elements = (view.blocks().len() as u64).saturating_mul(view.dtype().block_size());
        if out.len() as u64 != elements {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "out holds {} values; tensor {name:?} has {elements}",
                out.len()
            )));
        }
        reinstate_guard()?;
        py.detach(|| decode_parallel(&view, out))?;
        self.check_intact(&info, name)?;
        Ok(())
    }

    /// Whether every file's pages are still there (false once one was truncated).
    fn is_intact(&self) -> bool {
        self.inner
            .shards()
            .iter()
            .all(|s| s.file().data().is_intact())
    }
}

/// Tensors of at least this many elements are decoded on several threads.
const PARALLEL_ELEMENTS: u64 = 1 << 20;

/// Decodes every element of `view` into `out` (exactly its elements), large tensors split
/// into runs of blocks decoded on one thread per core.
fn decode_parallel(view: &weightmap_core::TensorView<'_>, out: &mut [f32]) -> PyResult<()> {
    let per_block = view.dtype().block_size().max(1);
    let blocks = view.blocks().len() as u64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    if (out.len() as u64) < PARALLEL_ELEMENTS || cores < 2 {
        return view.decode_f32(0..blocks, out).map_err(errors::core_to_py);
    }
    let per_thread = blocks.div_ceil(cores.min(16));
    let chunk = (per_thread * per_block) as usize;
    std::thread::scope(|scope| {
        let parts: Vec<_> = out
            .chunks_mut(chunk)
            .zip((0..blocks).step_by(per_thread as usize))
            .map(|(part, start)| {
                let end = (start + per_thread).min(blocks);
                scope.spawn(move || view.decode_f32(start..end, part))
            })
            .collect();
        parts.into_iter().try_for_each(|part| match part.join() {
            Ok(decoded) => decoded.map_err(errors::core_to_py),
            Err(_) => Err(errors::raise(
                "DecodeError",
                "a decoding thread panicked (a weightmap bug: please report it)".to_owned(),
            )),
        })
    })
}

/// Puts the truncation guard back in front of `SIGBUS` before arrays of the mapping are
/// handed out or read: a handler installed since the model was opened (`faulthandler.enable()`,
/// a crash reporter) would otherwise take the truncation fault and end the interpreter.
fn reinstate_guard() -> PyResult<()> {
    weightmap_native::guard::reinstate()
        .map_err(|e| errors::raise("FileError", format!("cannot install the SIGBUS guard: {e}")))
}

impl Model {
    /// A `FileChanged` error when the file of `info` was truncated (its lost pages read as
    /// zeros, so what was just decoded from it cannot be trusted).
    fn check_intact(&self, info: &weightmap_core::ModelTensor<'_>, name: &str) -> PyResult<()> {
        let intact = self
            .inner
            .shards()
            .get(info.shard())
            .is_some_and(|s| s.file().data().is_intact());
        if intact {
            return Ok(());
        }
        Err(errors::raise(
            "FileChanged",
            format!("tensor {name:?}: its file was truncated while it was read"),
        ))
    }

    fn tensor(&self, name: &str) -> PyResult<weightmap_core::ModelTensor<'_>> {
        self.inner
            .tensor_info(name)
            .ok_or_else(|| errors::raise("TensorNotFound", format!("no tensor named {name:?}")))
    }
}
