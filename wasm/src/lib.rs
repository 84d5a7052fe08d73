//! weightmap's GGUF and safetensors parsers in the browser and in Node, through WebAssembly.
//!
//! The same parser native engines use ([`weightmap_core`]), over [`HeapData`] (bytes in the
//! module's memory), with a `wasm-bindgen` API shaped for JavaScript:
//!
//! ```js
//! import init, { GgufFile, HeaderParser, tensorStats } from "./pkg/weightmap_wasm.js";
//! await init();
//!
//! // A whole file in memory (ModelFile reads GGUF and safetensors; GgufFile only GGUF):
//! const gguf = new GgufFile(new Uint8Array(await file.arrayBuffer()));
//! gguf.metadata();          // {"general.architecture": "llama", "llama.block_count": 32, ...}
//! gguf.tensors();           // [{name, type, shape, offset, size}, ...]
//! gguf.tensorF32("output_norm.weight"); // Float32Array (F32, F16, BF16 and F64 tensors)
//!
//! // Only the header of a 10 GB file of either format: read what the parser asks for, chunk
//! // by chunk (finish gives a ModelFile; header.format is "gguf" or "safetensors").
//! const parser = new HeaderParser();
//! for (let done = false; !done; ) {
//!   const from = parser.length, to = parser.nextReadEnd(file.size); // throws if truncated
//!   done = parser.push(new Uint8Array(await file.slice(from, to).arrayBuffer()));
//! }
//! const header = parser.finish();
//! const { start, end } = header.tensorRange("output_norm.weight");
//! const values = header.decodeF32("output_norm.weight",
//!                                 new Uint8Array(await file.slice(start, end).arrayBuffer()));
//! tensorStats(values, 64);  // {min, max, mean, std, histogram, ...}
//!
//! // Statistics of a tensor of any type the core decodes (Q4_K, Q8_0, ...), its bytes read in
//! // slices of whole blocks (twice: two passes), never all in memory:
//! const stats = header.tensorStatsBuilder("token_embd.weight", 64);
//! for (let r; (r = stats.nextRead()); ) {
//!   stats.push(new Uint8Array(await file.slice(r.start, r.end).arrayBuffer()));
//! }
//! stats.finish();           // {count, min, max, mean, std, nan, infinite, histogram, ...}
//! ```
//!
//! Values: a GGUF UINT64 or INT64 is a `BigInt` whatever its value (its type survives); other
//! numbers are JS numbers; numeric arrays are typed arrays (`BigInt64Array`,
//! `BigUint64Array` for 64-bit integers). Sizes, offsets and dimensions are numbers (exact
//! below 2^53; a hostile header's larger ones come as `BigInt`s). Errors are JS `Error`s whose
//! message is the core parser's. `parseHeader(prefix)` is the one-call form of the header
//! reader: `{file}`, or `{needed}` bytes from the start of the file.
//!
//! The Rust side is usable without JavaScript: [`HeapData`], [`decode_f32`], [`Stats`] and
//! [`StatsPasses`] are what the JS API is made of, and are tested natively.
//!
//! `wasm/www/` holds a demo page built on this API (`wasm/build.sh`, then
//! `wasm/serve.sh`): it inspects a model of any size by reading only its header.

#![forbid(unsafe_code)]

mod api;
mod convert;
mod decode;
mod header;
mod heap;
mod model;
mod stats;
mod tensor_stats;

pub use api::{parse_header, tensor_stats, GgufFile};
pub use decode::{decode_f32, DecodeError};
pub use header::HeaderParser;
pub use heap::{HeapData, OutOfMemory};
pub use model::ModelFile;
pub use stats::{Stats, StatsPasses, MAX_BINS};
pub use tensor_stats::TensorStatsBuilder;
pub use weightmap_core as core;
