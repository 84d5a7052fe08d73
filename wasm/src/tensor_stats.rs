//! `TensorStatsBuilder`: the statistics of a tensor of any type `dequant` decodes, from its
//! bytes read a slice at a time, so a 178 MB embedding costs a few MiB of memory and no copy
//! of its values.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use weightmap_core::{dequant, Endian, Error, ModelTensor, Name, TensorType};

use crate::api::js_error;
use crate::convert::{self, js_u64};
use crate::StatsPasses;

/// Bytes a read asks for (rounded down to whole blocks): Chromium reads a file at twice the
/// speed in 8 MiB slices as in 2 MiB ones (no faster beyond), and the buffer stays small.
const READ_BYTES: u64 = 8 << 20;
/// Elements decoded at a time into the reused `f32` buffer (256 KiB).
const CHUNK_ELEMENTS: u64 = 1 << 16;

/// A tensor's statistics (see `tensorStats`), gathered from its bytes as the caller reads
/// them: read the range `nextRead()` gives and `push` it, until `push` returns `true`, then
/// `finish()`. The bytes are read twice (the standard deviation and the histogram need the
/// mean and the extremes first), in slices of about 8 MiB of whole blocks, each decoded in
/// WebAssembly and dropped.
///
/// ```js
/// const stats = header.tensorStatsBuilder("token_embd.weight", 64);
/// for (let r; (r = stats.nextRead()); ) {
///   stats.push(new Uint8Array(await file.slice(r.start, r.end).arrayBuffer()));
/// }
/// stats.finish(); // {count, min, max, mean, std, nan, infinite, histogram, ...}
/// ```
#[wasm_bindgen]
pub struct TensorStatsBuilder {
    name: String,
    ty: TensorType,
    /// Bytes of each element to reverse (a plain number of a big-endian file); 0 for none.
    swap: usize,
    /// The tensor's bytes in the file.
    start: u64,
    size: u64,
    /// Bytes per read: whole blocks.
    read: u64,
    /// Where the next read starts, from the tensor's start, in this pass.
    at: u64,
    passes: StatsPasses,
    bytes: Vec<u8>,
    values: Vec<f32>,
}

/// GGUF's plain multi-byte types: one number per element, so a big-endian file's elements
/// read right once their bytes are reversed. Blocks (a quantized type's scales and packed
/// values) are refused instead, as the core refuses them.
fn swappable(ty: TensorType) -> bool {
    use TensorType as T;
    matches!(
        ty,
        T::F16 | T::BF16 | T::F32 | T::F64 | T::I16 | T::I32 | T::I64
    )
}

impl TensorStatsBuilder {
    /// A builder for `tensor`, stored in `endian` byte order, with up to `bins` histogram
    /// bins.
    pub(crate) fn new(
        tensor: &ModelTensor<'_>,
        endian: Endian,
        bins: usize,
    ) -> Result<Self, JsValue> {
        let (name, ty) = (tensor.name(), tensor.dtype());
        let failed = |e: Error| js_error(format_args!("tensor {name}: {e}"));
        if !dequant::supports(ty) {
            return Err(failed(Error::NoDecoder { ty }));
        }
        let (block, type_size) = (ty.block_size(), ty.type_size());
        let swap = if endian == Endian::Big && type_size > 1 {
            if !swappable(ty) {
                return Err(failed(Error::ForeignByteOrder {
                    name: Name::new(name.as_bytes()),
                }));
            }
            type_size as usize
        } else {
            0
        };
        let range = tensor.file_range();
        let size = range.end - range.start;
        if size % type_size != 0 {
            return Err(failed(Error::DecodeLength {
                ty,
                bytes: size,
                elements: size / type_size * block,
            }));
        }
        let mut passes = StatsPasses::new(bins);
        if size == 0 {
            passes.end_pass(); // nothing to read: no values
        }
        Ok(TensorStatsBuilder {
            name: name.to_owned(),
            ty,
            swap,
            start: range.start,
            size,
            read: (READ_BYTES / type_size).max(1) * type_size,
            at: 0,
            passes,
            bytes: Vec::new(),
            values: Vec::new(),
        })
    }

    /// Bytes the next read must have.
    fn next_len(&self) -> u64 {
        self.read.min(self.size - self.at)
    }

    /// Decodes `self.bytes` (whole blocks) and adds the values to the current pass.
    fn add_bytes(&mut self) -> Result<(), Error> {
        if self.swap > 1 {
            self.bytes
                .chunks_exact_mut(self.swap)
                .for_each(<[u8]>::reverse);
        }
        let (block, type_size) = (self.ty.block_size(), self.ty.type_size());
        let per_chunk = (CHUNK_ELEMENTS / block).max(1);
        // ok: at most CHUNK_ELEMENTS, or one block (256 elements at most)
        self.values.resize((per_chunk * block) as usize, 0.0);
        // ok: a chunk is at most READ_BYTES
        for blocks in self.bytes.chunks((per_chunk * type_size) as usize) {
            let n = blocks.len() as u64 / type_size * block;
            let values = &mut self.values[..n as usize];
            dequant::dequantize(self.ty, blocks, values)?;
            self.passes.add(values);
        }
        Ok(())
    }
}

#[wasm_bindgen]
impl TensorStatsBuilder {
    /// The file's bytes to read next, `{start, end}` (absolute offsets, whole blocks), or
    /// `undefined` once done.
    #[wasm_bindgen(js_name = nextRead, unchecked_return_type = "{start: number | bigint, end: number | bigint} | undefined")]
    pub fn next_read(&self) -> JsValue {
        if self.passes.is_done() {
            return JsValue::UNDEFINED;
        }
        let start = self.start + self.at;
        let end = start + self.next_len();
        convert::object([("start", js_u64(start)), ("end", js_u64(end))]).into()
    }

    /// Adds the bytes `nextRead()` asked for; returns `true` once the statistics are complete.
    ///
    /// @throws {Error} when `bytes` is not the length asked for, or memory runs out
    pub fn push(&mut self, bytes: &Uint8Array) -> Result<bool, JsValue> {
        if self.passes.is_done() {
            return Ok(true);
        }
        let want = self.next_len();
        if u64::from(bytes.length()) != want {
            return Err(js_error(format_args!(
                "tensor {}: the read at byte {} must have {want} bytes, not {}",
                self.name,
                self.start + self.at,
                bytes.length()
            )));
        }
        // ok: want <= READ_BYTES
        let len = want as usize;
        self.bytes.clear();
        self.bytes
            .try_reserve_exact(len)
            .map_err(|_| js_error(format_args!("cannot allocate {len} bytes of memory")))?;
        self.bytes.resize(len, 0);
        bytes.copy_to(&mut self.bytes);
        self.add_bytes()
            .map_err(|e| js_error(format_args!("tensor {}: {e}", self.name)))?;
        self.at += want;
        if self.at == self.size {
            self.passes.end_pass();
            self.at = 0;
        }
        Ok(self.passes.is_done())
    }

    /// Whether the statistics are complete.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.passes.is_done()
    }

    /// How far the reads are, from 0 to 1 (half-way when the first pass is read).
    #[wasm_bindgen(getter)]
    pub fn progress(&self) -> f64 {
        let within = if self.size == 0 {
            0.0
        } else {
            self.at as f64 / self.size as f64
        };
        match self.passes.pass() {
            1 => within / 2.0,
            2 => 0.5 + within / 2.0,
            _ => 1.0,
        }
    }

    /// The statistics: `{count, finite, nan, infinite, min, max, mean, std, histogram}`. The
    /// builder is consumed.
    ///
    /// @throws {Error} if `push` has not returned `true`
    #[wasm_bindgen(unchecked_return_type = "TensorStats")]
    pub fn finish(self) -> Result<JsValue, JsValue> {
        let name = self.name;
        match self.passes.finish() {
            Some(stats) => Ok(convert::stats(&stats).into()),
            None => Err(js_error(format_args!(
                "tensor {name}: the statistics are not complete: \
                 push every read until push returns true"
            ))),
        }
    }
}
