//! The JavaScript API: the `GgufFile` class, `parseHeader` and `tensorStats`.

use js_sys::{Array, Float32Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use weightmap_core::{Error, GgmlType, Gguf, ModelData, TensorInfo};

use crate::convert::{self, js_u64};
use crate::{decode_f32, HeapData, Stats};

/// Default number of histogram bins of `tensorStats`.
const DEFAULT_BINS: usize = 64;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A metadata value: numbers, `bigint` for UINT64/INT64, strings, booleans, typed arrays for
 * numeric arrays, `Array`s of strings, booleans or nested arrays. */
export type GgufValue = number | bigint | string | boolean | GgufValue[] | Uint8Array | Int8Array
  | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array;
/** A metadata entry; with a `head` length, arrays are shown as `{type, len, head}`. */
export interface GgufEntry { key: string; type: string; value: GgufValue | GgufArrayHead }
export interface GgufArrayHead { type: string; len: number | bigint; head: GgufValue[] }
/** A tensor: shape in GGUF order (ne[0] first), offset relative to the data section. Sizes,
 * offsets and dimensions are numbers below 2^53 (every real file); beyond, `bigint`s. */
export interface GgufTensor {
  name: string; type: string; shape: (number | bigint)[]; offset: number | bigint; size: number | bigint;
}
/** Statistics of a tensor's finite values. */
export interface TensorStats {
  count: number; finite: number; nan: number; infinite: number;
  min: number; max: number; mean: number; std: number; histogram: Uint32Array;
}
/** What `parseHeader` found: the parsed header, or how many bytes from the start it needs. */
export type HeaderResult = { file: GgufFile; needed?: undefined } | { file?: undefined; needed: number | bigint };
"#;

/// A core error as a JS `Error` carrying its text.
pub(crate) fn js_error(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// A parsed GGUF file: the whole file, or (from `parseHeader`) only its header.
#[wasm_bindgen]
pub struct GgufFile {
    gguf: Gguf<HeapData>,
}

/// Bytes from JavaScript, copied once into aligned heap memory.
fn heap_copy(bytes: &Uint8Array) -> Result<HeapData, JsValue> {
    let len = usize::try_from(bytes.length()).map_err(js_error)?;
    let mut data = HeapData::zeroed(len).map_err(js_error)?;
    bytes.copy_to(data.as_mut_bytes());
    Ok(data)
}

/// Parses the first bytes of a GGUF file: its header, metadata and tensor table, without the
/// tensor data. Returns `{file}` when `prefix` holds them, or `{needed}`: read at least that
/// many bytes from the start of the file and call again. A page reads a 10 GB model this way
/// with `Blob.slice`, a client with HTTP `Range` requests.
///
/// @throws {Error} for anything but a short prefix: a file that is not GGUF, or is malformed
#[wasm_bindgen(js_name = parseHeader, unchecked_return_type = "HeaderResult")]
pub fn parse_header(prefix: &Uint8Array) -> Result<JsValue, JsValue> {
    match Gguf::parse_header(heap_copy(prefix)?) {
        Ok(gguf) => Ok(convert::object([("file", GgufFile { gguf }.into())]).into()),
        Err(Error::Truncated { needed, .. }) => {
            Ok(convert::object([("needed", js_u64(needed))]).into())
        }
        Err(e) => Err(js_error(e)),
    }
}

/// Statistics of `values`: `{count, finite, nan, infinite, min, max, mean, std, histogram}`
/// over the finite values, with `bins` histogram bins (default 64, at most 4096).
#[wasm_bindgen(js_name = tensorStats, unchecked_return_type = "TensorStats")]
pub fn tensor_stats(values: &Float32Array, bins: Option<u32>) -> JsValue {
    let bins = bins.map_or(DEFAULT_BINS, |b| b as usize);
    // Copied into wasm memory a chunk at a time: an array of any length costs 256 KiB here.
    const CHUNK: u32 = 1 << 16;
    let mut buffer = vec![0f32; CHUNK as usize];
    let len = values.length();
    let stats = Stats::of_chunks(
        |visit| {
            let mut at = 0;
            while at < len {
                let end = len.min(at.saturating_add(CHUNK));
                let chunk = &mut buffer[..(end - at) as usize];
                values.subarray(at, end).copy_to(chunk);
                visit(chunk);
                at = end;
            }
        },
        bins,
    );
    convert::stats(&stats).into()
}

#[wasm_bindgen]
impl GgufFile {
    /// Parses a whole GGUF file (copied into WebAssembly memory).
    ///
    /// @throws {Error} with the parser's message for a malformed file
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &Uint8Array) -> Result<GgufFile, JsValue> {
        let gguf = Gguf::parse(heap_copy(bytes)?).map_err(js_error)?;
        Ok(GgufFile { gguf })
    }

    /// The GGUF version (2 or 3).
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> u32 {
        self.gguf.version()
    }

    /// The alignment of tensor data.
    #[wasm_bindgen(getter)]
    pub fn alignment(&self) -> u32 {
        self.gguf.alignment()
    }

    /// Where the tensor data starts in the file.
    #[wasm_bindgen(getter = dataOffset, unchecked_return_type = "number | bigint")]
    pub fn data_offset(&self) -> JsValue {
        js_u64(self.gguf.data_offset())
    }

    /// How many bytes the whole file must have (the end of the last tensor).
    #[wasm_bindgen(getter = requiredLength, unchecked_return_type = "number | bigint")]
    pub fn required_len(&self) -> JsValue {
        js_u64(self.gguf.required_len())
    }

    /// Whether the tensor data is here (`new GgufFile`), not only the header (`parseHeader`).
    #[wasm_bindgen(getter = hasTensorData)]
    pub fn has_tensor_data(&self) -> bool {
        self.gguf.data().len() as u64 >= self.gguf.required_len()
    }

    /// `general.architecture`, if present.
    #[wasm_bindgen(getter)]
    pub fn architecture(&self) -> Option<String> {
        self.gguf.architecture().map(str::to_owned)
    }

    /// Number of metadata entries.
    #[wasm_bindgen(getter = metadataCount)]
    pub fn metadata_count(&self) -> usize {
        self.gguf.metadata_len()
    }

    /// Number of tensors.
    #[wasm_bindgen(getter = tensorCount)]
    pub fn tensor_count(&self) -> usize {
        self.gguf.tensor_count()
    }

    /// The metadata as a plain object, key to value, arrays whole (see `GgufValue`).
    #[wasm_bindgen(unchecked_return_type = "Record<string, GgufValue>")]
    pub fn metadata(&self) -> Object {
        let obj = Object::new();
        for e in self.gguf.metadata() {
            convert::set(&obj, e.key(), &convert::value(&e.value()));
        }
        obj
    }

    /// The metadata entries in file order as `{key, type, value}`; with `head`, each array is
    /// `{type, len, head}` with only its first `head` elements converted (a vocabulary of
    /// 262144 strings costs nothing to list).
    #[wasm_bindgen(js_name = metadataEntries, unchecked_return_type = "GgufEntry[]")]
    pub fn metadata_entries(&self, head: Option<u32>) -> Array {
        self.gguf
            .metadata()
            .map(|e| JsValue::from(convert::entry(&e, head.map(u64::from))))
            .collect()
    }

    /// The value of one key, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "GgufValue | undefined")]
    pub fn get(&self, key: &str) -> JsValue {
        self.gguf
            .get(key)
            .map_or(JsValue::UNDEFINED, |v| convert::value(&v))
    }

    /// The tensors in file order as `{name, type, shape, offset, size}`.
    #[wasm_bindgen(unchecked_return_type = "GgufTensor[]")]
    pub fn tensors(&self) -> Array {
        self.gguf
            .tensors()
            .map(|t| JsValue::from(convert::tensor(&t)))
            .collect()
    }

    /// Where a tensor's bytes are in the file: `{start, end}`, absolute offsets (for
    /// `Blob.slice(start, end)` or a `Range: bytes=start-(end-1)` request).
    ///
    /// @throws {Error} when there is no such tensor
    #[wasm_bindgen(js_name = tensorRange, unchecked_return_type = "{start: number | bigint, end: number | bigint}")]
    pub fn tensor_range(&self, name: &str) -> Result<JsValue, JsValue> {
        let info = self.info(name)?;
        let (start, end) = self.gguf.layout().tensor_span(&info).map_err(js_error)?;
        Ok(convert::object([("start", js_u64(start)), ("end", js_u64(end))]).into())
    }

    /// A copy of a tensor's bytes, exactly as stored.
    ///
    /// @throws {Error} when there is no such tensor or its data is not here (a header-only parse)
    #[wasm_bindgen(js_name = tensorBytes)]
    pub fn tensor_bytes(&self, name: &str) -> Result<Uint8Array, JsValue> {
        let view = self.gguf.tensor(name).map_err(js_error)?;
        Ok(Uint8Array::from(view.bytes()))
    }

    /// A tensor's values as a `Float32Array`: F32 as stored, F16 and BF16 widened exactly, F64
    /// rounded; big-endian files are converted.
    ///
    /// @throws {Error} for other types, a missing tensor, or data that is not here
    #[wasm_bindgen(js_name = tensorF32)]
    pub fn tensor_f32(&self, name: &str) -> Result<Float32Array, JsValue> {
        let info = self.info(name)?;
        let view = self.gguf.tensor_view(&info).map_err(js_error)?;
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
}

impl GgufFile {
    pub(crate) fn from_gguf(gguf: Gguf<HeapData>) -> Self {
        GgufFile { gguf }
    }

    /// The parsed file.
    pub fn gguf(&self) -> &Gguf<HeapData> {
        &self.gguf
    }

    fn info(&self, name: &str) -> Result<TensorInfo<'_>, JsValue> {
        self.gguf.tensor_info(name).ok_or_else(|| {
            js_error(Error::TensorNotFound {
                name: weightmap_core::Name::new(name.as_bytes()),
            })
        })
    }

    fn decode(&self, info: &TensorInfo<'_>, bytes: &[u8]) -> Result<Float32Array, JsValue> {
        let ggml: GgmlType = info.ggml_type();
        let values = decode_f32(ggml, self.gguf.endian(), bytes)
            .map_err(|e| js_error(format_args!("tensor {}: {e}", info.name())))?;
        Ok(Float32Array::from(&values[..]))
    }
}
