//! `HeaderParser`: the header of a file of either format read chunk by chunk: a GGUF header
//! parsed once as the chunks come, a safetensors header once its 8 + N bytes are in.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use weightmap_core::model::{HeaderIndex, HeaderParser as CoreParser};
use weightmap_core::{detect, Content, Error, ModelData};

use crate::api::js_error;
use crate::convert::js_u64;
use crate::model::ModelFile;
use crate::HeapData;

/// Parses a file's header from the chunks a reader appends, resuming where it stopped: the way
/// to read a large header (a 262144-token vocabulary is 6 MB) over `Blob.slice` or HTTP
/// `Range` requests without parsing or copying anything twice.
///
/// ```js
/// const parser = new HeaderParser();
/// for (let done = false; !done; ) {
///   const from = parser.length, to = parser.nextReadEnd(blob.size); // throws if truncated
///   done = parser.push(new Uint8Array(await blob.slice(from, to).arrayBuffer()));
/// }
/// const header = parser.finish(); // a ModelFile without tensor data
/// ```
#[wasm_bindgen]
#[derive(Default)]
pub struct HeaderParser {
    parser: CoreParser,
    data: HeapData,
    needed: u64,
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Reading,
    Done(HeaderIndex),
    Failed,
}

#[wasm_bindgen]
impl HeaderParser {
    /// A parser at the start of a file.
    #[wasm_bindgen(constructor)]
    pub fn new() -> HeaderParser {
        HeaderParser::default()
    }

    /// Appends the file's next bytes (from offset `length`) and parses on. Returns `true` once
    /// the header, metadata and tensor table are complete (`finish` then gives the file), and
    /// `false` while it needs more: at least up to `needed` bytes from the start of the file.
    /// An empty chunk is allowed; an empty chunk that does not reach `needed` changes nothing.
    ///
    /// @throws {Error} for a malformed header (final: later calls throw too), or when memory
    /// runs out
    pub fn push(&mut self, chunk: &Uint8Array) -> Result<bool, JsValue> {
        match self.state {
            State::Reading => {}
            State::Done(_) => return Ok(true),
            State::Failed => return Err(js_error("the header parser already failed")),
        }
        let more = usize::try_from(chunk.length()).map_err(js_error)?;
        chunk.copy_to(self.data.extend(more).map_err(js_error)?);
        match self.parser.parse(self.data.bytes()) {
            Ok(index) => {
                self.state = State::Done(index);
                self.needed = 0;
                Ok(true)
            }
            Err(Error::Truncated { needed, .. }) => {
                self.needed = needed;
                Ok(false)
            }
            Err(e) => {
                self.state = State::Failed;
                Err(js_error(e))
            }
        }
    }

    /// The format of the file (`"gguf"`, `"safetensors"`), once its first bytes tell it.
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> Option<String> {
        match detect(self.data.bytes()) {
            Ok(Content::Model(f)) => Some(f.name().to_owned()),
            _ => None,
        }
    }

    /// Bytes from the start of the file needed to go on (0 before the first chunk and once done).
    #[wasm_bindgen(getter, unchecked_return_type = "number | bigint")]
    pub fn needed(&self) -> JsValue {
        js_u64(self.needed)
    }

    /// Where the next read of a file of `file_size` bytes should end (it starts at `length`):
    /// at least what the parser needs, otherwise twice what was read, and 1 MiB first (most
    /// headers without a vocabulary fit), never past the file's end. Doubling keeps a 6 MB
    /// vocabulary to four reads and the bytes read under twice the header.
    ///
    /// @throws {Error} when the file is too short to hold the header
    #[wasm_bindgen(js_name = nextReadEnd)]
    pub fn next_read_end(&self, file_size: f64) -> Result<f64, JsValue> {
        // A JS file size is an integer below 2^53; anything else is treated as empty.
        let size = if file_size.is_finite() && file_size >= 0.0 {
            file_size as u64
        } else {
            0
        };
        let have = self.data.len() as u64;
        match CoreParser::next_read_end(have, self.needed, size) {
            Ok(end) => Ok(end as f64),
            Err(Error::Truncated { needed, .. }) => Err(js_error(format_args!(
                "truncated file: its header needs {needed} bytes but the file has {size}"
            ))),
            Err(e) => Err(js_error(e)),
        }
    }

    /// Bytes pushed so far: the offset of the next chunk.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.data.len() as f64
    }

    /// The parsed header as a `ModelFile` (without tensor data: `tensorRange` and
    /// `decodeF32` read tensors). The parser is consumed.
    ///
    /// @throws {Error} if `push` has not returned `true`
    pub fn finish(self) -> Result<ModelFile, JsValue> {
        match self.state {
            State::Done(index) => {
                let file = index.pair(self.data, false).map_err(js_error)?;
                Ok(ModelFile::from_file(file))
            }
            _ => Err(js_error(
                "the header is not complete: push more bytes until push returns true",
            )),
        }
    }
}
