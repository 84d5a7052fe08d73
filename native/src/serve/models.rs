//! `GET /models/{path}` (the parsed index as the JSON of `inspect --json`) and
//! `GET /models/{path}/tensors/{name}` (one tensor's bytes, ranges within the tensor).
//!
//! A model's index is built the safe way: its header is read into owned memory from the file
//! opened beneath the root, parsed, and turned into the JSON and a table of tensors; the
//! header copy is then dropped. Indexes are kept in a small LRU, each with the identity of
//! the file it describes, and rebuilt when the file changes. Tensor bytes come from the same
//! mapping cache as `/files/`, and only from a mapping of the very file that was indexed.

use std::collections::HashMap;
use std::fs::File;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lru::LruCache;
use weightmap_core::Gguf;

use super::files::{etag, http_time, Representation};
use super::Shared;
use crate::error::Error;
use crate::identity::FileIdentity;

/// The largest header the server reads to index a model (the library's default is 1 GiB):
/// a request must not make the server read and hold gigabytes.
const MAX_HEADER: u64 = 256 << 20;

/// What a model request needs of a parsed file.
#[derive(Debug)]
pub(crate) struct ModelIndex {
    /// The JSON of `inspect --json`, rendered once.
    json: bytes::Bytes,
    tensors: HashMap<String, TensorEntry>,
}

#[derive(Debug)]
struct TensorEntry {
    ggml_type: &'static str,
    shape: String,
    /// The tensor's bytes, as offsets in the file.
    span: Range<u64>,
}

/// The outcome of indexing a file: kept for failures too, so that a file that does not parse
/// is not read again on every request (until it changes).
#[derive(Debug)]
struct Outcome {
    identity: FileIdentity,
    index: Result<ModelIndex, String>,
}

/// Parsed indexes by path, least recently used first out.
#[derive(Debug)]
pub(crate) struct Indexes(Mutex<LruCache<std::path::PathBuf, Arc<Outcome>>>);

impl Indexes {
    pub(crate) fn new(entries: usize) -> Self {
        let cap = NonZeroUsize::new(entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        Indexes(Mutex::new(LruCache::new(cap)))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The index of the file at `key`, opened as `file` with identity `id`: cached if it
    /// describes that file, else built on a blocking thread (the header read is disk I/O
    /// and the parse can take milliseconds) and cached, failures included.
    async fn get_or_build(
        self: &Arc<Self>,
        key: &FsPath,
        file: File,
        id: FileIdentity,
    ) -> Arc<Outcome> {
        let cached = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(outcome) = cached.filter(|o| o.identity == id) {
            return outcome;
        }
        let path = key.to_path_buf();
        let built = tokio::task::spawn_blocking(move || build(&path, &file, &id))
            .await
            .unwrap_or_else(|_| Err("indexing the model failed".into()));
        let outcome = Arc::new(Outcome {
            identity: id,
            index: built,
        });
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key.to_path_buf(), Arc::clone(&outcome));
        outcome
    }
}

/// Reads and parses the header of `file`, and keeps what the routes need.
fn build(key: &FsPath, file: &File, id: &FileIdentity) -> Result<ModelIndex, String> {
    let (header, index) =
        crate::header::read_header(key, file, id.size, MAX_HEADER).map_err(|e| match e {
            // The parser's message, without the server's path to the file.
            Error::Parse { source, .. } => source.to_string(),
            Error::HeaderTooLarge { needed, limit, .. } => {
                format!("the header needs {needed} bytes, more than the {limit} the server reads")
            }
            _ => "cannot read the file".to_owned(),
        })?;
    let gguf = Gguf::from_header_index(index, &*header).map_err(|e| e.to_string())?;
    let data_offset = gguf.view().layout().data_offset;
    let mut tensors = HashMap::new();
    for t in gguf.tensors() {
        let span = data_offset
            .checked_add(t.offset())
            .and_then(|start| Some(start..start.checked_add(t.size())?))
            .filter(|span| span.end <= id.size)
            .ok_or_else(|| {
                format!(
                    "tensor {:?} lies outside the file ({} bytes)",
                    t.name(),
                    id.size
                )
            })?;
        let shape = format!("{:?}", t.shape()).replace(' ', "");
        tensors.insert(
            t.name().to_owned(),
            TensorEntry {
                ggml_type: t.ggml_type().name(),
                shape,
                span,
            },
        );
    }
    let json = crate::report::json(crate::report::of_gguf(&gguf, Some(id.size)));
    tracing::debug!(path = %key.display(), tensors = tensors.len(), "model indexed");
    Ok(ModelIndex {
        json: bytes::Bytes::from(json.to_string()),
        tensors,
    })
}

/// `GET /models/{path}` and `GET /models/{path}/tensors/{name}`.
pub(crate) async fn get(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> Response {
    // The model path is the first prefix before a "/tensors/" that names a file; the file
    // that probe opened is the one indexed.
    let split = rest.match_indices("/tensors/").find_map(|(at, sep)| {
        let found = state.probe(&rest[..at])?;
        Some((found, &rest[at + sep.len()..]))
    });
    let ((key, file, id), tensor) = match split {
        Some((found, name)) => (found, Some(name)),
        None => match state.resolve(&rest) {
            Ok(found) => (found, None),
            Err(refused) => return refused,
        },
    };
    let outcome = state.indexes.get_or_build(&key, file, id).await;
    let index = match &outcome.index {
        Ok(index) => index,
        Err(message) => {
            tracing::info!(path = %key.display(), error = %message, "not a model");
            state
                .counters
                .record(StatusCode::UNPROCESSABLE_ENTITY, 0, false);
            let body = serde_json::json!({ "error": message }).to_string();
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
    };
    let Some(name) = tensor else {
        state
            .counters
            .record(StatusCode::OK, index.json.len() as u64, false);
        return (
            [(header::CONTENT_TYPE, "application/json")],
            index.json.clone(),
        )
            .into_response();
    };
    let Some(entry) = index.tensors.get(name) else {
        return state.plain(StatusCode::NOT_FOUND, "no such tensor");
    };
    let mapping = match state.mapping_of(&key, &id) {
        Ok(Some(mapping)) => mapping,
        Ok(None) => return state.changing(),
        Err(refused) => return refused,
    };
    let mut extra = Vec::new();
    for (name, value) in [
        ("x-tensor-type", entry.ggml_type),
        ("x-tensor-shape", entry.shape.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            extra.push((HeaderName::from_static(name), value));
        }
    }
    let rep = Representation {
        file: mapping,
        span: entry.span.clone(),
        etag: etag(&id, &format!("-t{:x}", entry.span.start)),
        last_modified: http_time(id.modified),
        extra,
    };
    state.respond(&method, &headers, uri.query(), rep)
}
