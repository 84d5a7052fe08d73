//! The `ModelFile` class: a parsed model file of either format (GGUF or safetensors, told by
//! its first bytes), the whole file or only its header.

use js_sys::{Array, Float32Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use weightmap_core::{Endian, Error, Format, ModelData, ModelFile as CoreFile, ModelTensor};

use crate::api::js_error;
use crate::convert::{self, js_u64};
use crate::{decode_f32, HeapData, TensorStatsBuilder};

/// A parsed model file, GGUF or safetensors: the whole file (`new ModelFile`), or only its
/// header (`HeaderParser.finish`, `parseHeader`). Its methods are `GgufFile`'s, for either
/// format; `version` and `alignment` are GGUF's (`undefined` for safetensors).
#[wasm_bindgen]
pub struct ModelFile {
    file: CoreFile<HeapData>,
}

/// Bytes from JavaScript, copied once into aligned heap memory.
pub(crate) fn heap_copy(bytes: &Uint8Array) -> Result<HeapData, JsValue> {
    let len = usize::try_from(bytes.length()).map_err(js_error)?;
    let mut data = HeapData::zeroed(len).map_err(js_error)?;
    bytes.copy_to(data.as_mut_bytes());
    Ok(data)
}

#[wasm_bindgen]
impl ModelFile {
    /// Parses a whole file of either format (copied into WebAssembly memory).
    ///
    /// @throws {Error} with the parser's message for a malformed file
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &Uint8Array) -> Result<ModelFile, JsValue> {
        let file = CoreFile::parse(heap_copy(bytes)?).map_err(js_error)?;
        Ok(ModelFile { file })
    }

    /// `"gguf"` or `"safetensors"`.
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> String {
        self.file.format().name().to_owned()
    }

    /// The GGUF version (2 or 3); `undefined` for safetensors.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> Option<u32> {
        self.file.as_gguf().map(|g| g.version())
    }

    /// The alignment of GGUF tensor data; `undefined` for safetensors (which promises none).
    #[wasm_bindgen(getter)]
    pub fn alignment(&self) -> Option<u32> {
        self.file.as_gguf().map(|g| g.alignment())
    }

    /// Where the tensor data starts in the file.
    #[wasm_bindgen(getter = dataOffset, unchecked_return_type = "number | bigint")]
    pub fn data_offset(&self) -> JsValue {
        js_u64(self.file.data_offset())
    }

    /// How many bytes the whole file must have (the end of the last tensor).
    #[wasm_bindgen(getter = requiredLength, unchecked_return_type = "number | bigint")]
    pub fn required_len(&self) -> JsValue {
        js_u64(self.file.required_len())
    }

    /// Whether the tensor data is here (a whole file), not only the header.
    #[wasm_bindgen(getter = hasTensorData)]
    pub fn has_tensor_data(&self) -> bool {
        self.file.data().len() as u64 >= self.file.required_len()
    }

    /// GGUF's `general.architecture`, if present.
    #[wasm_bindgen(getter)]
    pub fn architecture(&self) -> Option<String> {
        self.file.as_gguf()?.architecture().map(str::to_owned)
    }

    /// Number of metadata entries.
    #[wasm_bindgen(getter = metadataCount)]
    pub fn metadata_count(&self) -> usize {
        self.file.metadata_len()
    }

    /// Number of tensors.
    #[wasm_bindgen(getter = tensorCount)]
    pub fn tensor_count(&self) -> usize {
        self.file.tensor_count()
    }

    /// The metadata as a plain object, key to value, arrays whole (see `GgufValue`).
    #[wasm_bindgen(unchecked_return_type = "Record<string, GgufValue>")]
    pub fn metadata(&self) -> Object {
        let obj = Object::new();
        for e in self.file.metadata() {
            convert::set(&obj, e.key(), &convert::model_value(&e.value()));
        }
        obj
    }

    /// The metadata entries in file order as `{key, type, value}`; with `head`, each array is
    /// `{type, len, head}` with only its first `head` elements converted (a vocabulary of
    /// 262144 strings costs nothing to list).
    #[wasm_bindgen(js_name = metadataEntries, unchecked_return_type = "GgufEntry[]")]
    pub fn metadata_entries(&self, head: Option<u32>) -> Array {
        self.file
            .metadata()
            .map(|e| JsValue::from(convert::entry(&e, head.map(u64::from))))
            .collect()
    }

    /// The value of one key, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "GgufValue | undefined")]
    pub fn get(&self, key: &str) -> JsValue {
        self.file
            .get(key)
            .map_or(JsValue::UNDEFINED, |v| convert::model_value(&v))
    }

    /// The tensors in file order as `{name, type, shape, offset, size}`, the shape in the
    /// file's order (GGUF's `ne[0]` first, safetensors' row-major).
    #[wasm_bindgen(unchecked_return_type = "GgufTensor[]")]
    pub fn tensors(&self) -> Array {
        (0..self.file.tensor_count())
            .filter_map(|p| self.file.tensor_at(p, 0))
            .map(|t| JsValue::from(convert::tensor(&t)))
            .collect()
    }

    /// Where a tensor's bytes are in the file: `{start, end}`, absolute offsets (for
    /// `Blob.slice(start, end)` or a `Range: bytes=start-(end-1)` request).
    ///
    /// @throws {Error} when there is no such tensor
    #[wasm_bindgen(js_name = tensorRange, unchecked_return_type = "{start: number | bigint, end: number | bigint}")]
    pub fn tensor_range(&self, name: &str) -> Result<JsValue, JsValue> {
        let range = self.info(name)?.file_range();
        Ok(convert::object([("start", js_u64(range.start)), ("end", js_u64(range.end))]).into())
    }

    /// A copy of a tensor's bytes, exactly as stored.
    ///
    /// @throws {Error} when there is no such tensor or its data is not here (a header-only parse)
    #[wasm_bindgen(js_name = tensorBytes)]
    pub fn tensor_bytes(&self, name: &str) -> Result<Uint8Array, JsValue> {
        let info = self.info(name)?;
        let view = self.file.view_at(info.position()).map_err(js_error)?;
        Ok(Uint8Array::from(view.bytes()))
    }

    /// A tensor's values as a `Float32Array`: F32 as stored, F16 and BF16 widened exactly, F64
    /// rounded; big-endian GGUF files are converted.
    ///
    /// @throws {Error} for other types, a missing tensor, or data that is not here
    #[wasm_bindgen(js_name = tensorF32)]
    pub fn tensor_f32(&self, name: &str) -> Result<Float32Array, JsValue> {
        let info = self.info(name)?;
        let view = self.file.view_at(info.position()).map_err(js_error)?;
        self.decode(&info, view.bytes())
    }

    /// As `tensorF32`, for a header-only parse: `bytes` are the tensor's bytes, read from
    /// `tensorRange(name)` of the file.
    ///
    /// @throws {Error} when `bytes` is not the tensor's size, or as `tensorF32`
    #[wasm_bindgen(js_name = decodeF32)]
    pub fn decode_f32(&self, name: &str, bytes: &Uint8Array) -> Result<Float32Array, JsValue> {
        let info = self.info(name)?;
        if u64::from(bytes.length()) != info.size() {
            return Err(js_error(crate::DecodeError::WrongLength {
                expected: info.size(),
                actual: bytes.length() as usize,
            }));
        }
        self.decode(&info, heap_copy(bytes)?.bytes())
    }

    /// A builder of the statistics of a tensor of any type the core decodes (quantized ones
    /// included), fed its bytes read a slice at a time: see `TensorStatsBuilder`. `bins`:
    /// histogram bins (default 64, at most 4096). Plain numbers of a big-endian GGUF file are
    /// converted; its other multi-byte types are refused.
    ///
    /// @throws {Error} for a missing tensor, a type without a decoder (naming it), or a
    /// big-endian block type
    #[wasm_bindgen(js_name = tensorStatsBuilder)]
    pub fn tensor_stats_builder(
        &self,
        name: &str,
        bins: Option<u32>,
    ) -> Result<TensorStatsBuilder, JsValue> {
        let bins = bins.map_or(crate::api::DEFAULT_BINS, |b| b as usize);
        TensorStatsBuilder::new(&self.info(name)?, self.endian(), bins)
    }
}

impl ModelFile {
    pub(crate) fn from_file(file: CoreFile<HeapData>) -> Self {
        ModelFile { file }
    }

    /// The parsed file.
    pub fn file(&self) -> &CoreFile<HeapData> {
        &self.file
    }

    fn info(&self, name: &str) -> Result<ModelTensor<'_>, JsValue> {
        let found = self
            .file
            .position_of(name)
            .and_then(|p| self.file.tensor_at(p, 0));
        found.ok_or_else(|| {
            js_error(Error::TensorNotFound {
                name: weightmap_core::Name::new(name.as_bytes()),
            })
        })
    }

    /// The byte order of the tensor data: a GGUF file's own, safetensors' little-endian.
    fn endian(&self) -> Endian {
        match &self.file {
            CoreFile::Gguf(g) => g.endian(),
            _ => Endian::Little,
        }
    }

    fn decode(&self, info: &ModelTensor<'_>, bytes: &[u8]) -> Result<Float32Array, JsValue> {
        let values = decode_f32(info.dtype(), self.endian(), bytes)
            .map_err(|e| js_error(format_args!("tensor {}: {e}", info.name())))?;
        Ok(Float32Array::from(&values[..]))
    }

    /// Whether the file is GGUF.
    pub(crate) fn is_gguf(&self) -> bool {
        self.file.format() == Format::Gguf
    }
}
