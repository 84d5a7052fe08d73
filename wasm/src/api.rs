//! The JavaScript API: the `GgufFile` class, `parseHeader` and `tensorStats` (the
//! format-neutral `ModelFile` class is in `model.rs`, `TensorStatsBuilder` in
//! `tensor_stats.rs`).

use js_sys::{Array, Float32Array, Object, Uint8Array};
use wasm_bindgen::prelude::*;
use weightmap_core::{Error, Gguf, ModelFile as CoreFile};

use crate::convert::{self, js_u64};
use crate::model::{heap_copy, ModelFile};
use crate::{HeapData, Stats, TensorStatsBuilder};

/// Default number of histogram bins of `tensorStats`.
pub(crate) const DEFAULT_BINS: usize = 64;

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
/** A tensor: shape in the file's order (GGUF: ne[0] first; safetensors: row-major), offset
 * relative to the data section. Sizes,
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
export type HeaderResult = { file: ModelFile; needed?: undefined } | { file?: undefined; needed: number | bigint };
"#;

/// A core error as a JS `Error` carrying its text.
pub(crate) fn js_error(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// A parsed GGUF file: the whole file. (`ModelFile` reads either format, and is what
/// `parseHeader` and `HeaderParser` give.)
#[wasm_bindgen]
pub struct GgufFile {
    inner: ModelFile,
}

/// Parses the first bytes of a model file of either format: its header, metadata and tensor
/// table, without the tensor data. Returns `{file}` (a `ModelFile`) when `prefix` holds them,
/// or `{needed}`: read at least that many bytes from the start of the file and call again. A
/// page reads a 10 GB model this way with `Blob.slice`, a client with HTTP `Range` requests.
///
/// @throws {Error} for anything but a short prefix: a file of neither format, or a malformed
/// one
#[wasm_bindgen(js_name = parseHeader, unchecked_return_type = "HeaderResult")]
pub fn parse_header(prefix: &Uint8Array) -> Result<JsValue, JsValue> {
    match CoreFile::parse_header(heap_copy(prefix)?) {
        Ok(file) => Ok(convert::object([("file", ModelFile::from_file(file).into())]).into()),
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
        let inner = ModelFile::from_file(CoreFile::Gguf(gguf));
        debug_assert!(inner.is_gguf());
        Ok(GgufFile { inner })
    }

    /// The GGUF version (2 or 3).
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> u32 {
        self.inner.version().unwrap_or(0)
    }

    /// The alignment of tensor data.
    #[wasm_bindgen(getter)]
    pub fn alignment(&self) -> u32 {
        self.inner.alignment().unwrap_or(0)
    }

    /// Where the tensor data starts in the file.
    #[wasm_bindgen(getter = dataOffset, unchecked_return_type = "number | bigint")]
    pub fn data_offset(&self) -> JsValue {
        self.inner.data_offset()
    }

    /// How many bytes the whole file must have (the end of the last tensor).
    #[wasm_bindgen(getter = requiredLength, unchecked_return_type = "number | bigint")]
    pub fn required_len(&self) -> JsValue {
        self.inner.required_len()
    }

    /// Whether the tensor data is here (always, for a whole file).
    #[wasm_bindgen(getter = hasTensorData)]
    pub fn has_tensor_data(&self) -> bool {
        self.inner.has_tensor_data()
    }

    /// `general.architecture`, if present.
    #[wasm_bindgen(getter)]
    pub fn architecture(&self) -> Option<String> {
        self.inner.architecture()
    }

    /// Number of metadata entries.
    #[wasm_bindgen(getter = metadataCount)]
    pub fn metadata_count(&self) -> usize {
        self.inner.metadata_count()
    }

    /// Number of tensors.
    #[wasm_bindgen(getter = tensorCount)]
    pub fn tensor_count(&self) -> usize {
        self.inner.tensor_count()
    }

    /// The metadata as a plain object, key to value (see `ModelFile.metadata`).
    #[wasm_bindgen(unchecked_return_type = "Record<string, GgufValue>")]
    pub fn metadata(&self) -> Object {
        self.inner.metadata()
    }

    /// The metadata entries in file order (see `ModelFile.metadataEntries`).
    #[wasm_bindgen(js_name = metadataEntries, unchecked_return_type = "GgufEntry[]")]
    pub fn metadata_entries(&self, head: Option<u32>) -> Array {
        self.inner.metadata_entries(head)
    }

    /// The value of one key, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "GgufValue | undefined")]
    pub fn get(&self, key: &str) -> JsValue {
        self.inner.get(key)
    }

    /// The tensors in file order as `{name, type, shape, offset, size}`, shape `ne[0]` first.
    #[wasm_bindgen(unchecked_return_type = "GgufTensor[]")]
    pub fn tensors(&self) -> Array {
        self.inner.tensors()
    }

    /// Where a tensor's bytes are in the file: `{start, end}`.
    ///
    /// @throws {Error} when there is no such tensor
    #[wasm_bindgen(js_name = tensorRange, unchecked_return_type = "{start: number | bigint, end: number | bigint}")]
    pub fn tensor_range(&self, name: &str) -> Result<JsValue, JsValue> {
        self.inner.tensor_range(name)
    }

    /// A copy of a tensor's bytes, exactly as stored.
    ///
    /// @throws {Error} when there is no such tensor
    #[wasm_bindgen(js_name = tensorBytes)]
    pub fn tensor_bytes(&self, name: &str) -> Result<Uint8Array, JsValue> {
        self.inner.tensor_bytes(name)
    }

    /// A tensor's values as a `Float32Array` (F32, F16, BF16, F64; see `ModelFile.tensorF32`).
    ///
    /// @throws {Error} for other types or a missing tensor
    #[wasm_bindgen(js_name = tensorF32)]
    pub fn tensor_f32(&self, name: &str) -> Result<Float32Array, JsValue> {
        self.inner.tensor_f32(name)
    }

    /// As `tensorF32`, from the tensor's bytes read elsewhere.
    ///
    /// @throws {Error} when `bytes` is not the tensor's size, or as `tensorF32`
    #[wasm_bindgen(js_name = decodeF32)]
    pub fn decode_f32(&self, name: &str, bytes: &Uint8Array) -> Result<Float32Array, JsValue> {
        self.inner.decode_f32(name, bytes)
    }

    /// A builder of a tensor's statistics from its bytes read in slices (see
    /// `ModelFile.tensorStatsBuilder`).
    ///
    /// @throws {Error} as `ModelFile.tensorStatsBuilder`
    #[wasm_bindgen(js_name = tensorStatsBuilder)]
    pub fn tensor_stats_builder(
        &self,
        name: &str,
        bins: Option<u32>,
    ) -> Result<TensorStatsBuilder, JsValue> {
        self.inner.tensor_stats_builder(name, bins)
    }
}

impl GgufFile {
    /// The parsed file.
    pub fn gguf(&self) -> Option<&Gguf<HeapData>> {
        self.inner.file().as_gguf()
    }
}
