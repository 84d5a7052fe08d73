//! `GET /models/{path}` (the parsed index as the JSON of `inspect --json`) and
//! `GET /models/{path}/tensors/{name}` (one tensor's bytes, ranges within the tensor).
//!
//! `{path}` is a GGUF or safetensors file, the first file of a GGUF split set, or a sharded
//! safetensors model's `model.safetensors.index.json` (see [`model_index`](super::model_index)).
//! A model's index is built the safe way: each file's header is read into owned memory from
//! the file opened beneath the root, parsed, and turned into the JSON and a table of tensors;
//! the header copies are then dropped. Indexes are kept in a small LRU, each with the
//! identities of the files it read, and rebuilt when one of them changes. Tensor bytes come
//! from the same mapping cache as `/files/`, and only from a mapping of the very file that
//! was indexed.

use std::fs::File;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use super::files::{etag, http_time, Representation};
use super::model_index::{build, IndexedFile, ModelIndex};
use super::Shared;
use crate::identity::FileIdentity;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lru::LruCache;

/// The outcome of indexing a file: kept for failures too, so that a file that does not parse
/// is not read again on every request (until it changes).
#[derive(Debug)]
struct Outcome {
    /// Every file read to build it: the request's first, with its identity then.
    read: Vec<IndexedFile>,
    index: Result<ModelIndex, String>,
}

impl Outcome {
    /// Whether every file read to build it is still the file it was (the request's own file
    /// is `id` now).
    fn is_current(&self, state: &Shared, id: &FileIdentity) -> bool {
        let mut read = self.read.iter();
        read.next().is_some_and(|first| first.identity == *id)
            && read.all(|f| {
                state
                    .probe(&f.raw)
                    .is_some_and(|(_, _, now)| now == f.identity)
            })
    }
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
        state: &Arc<Shared>,
        raw: &str,
        (key, file, id): (std::path::PathBuf, File, FileIdentity),
    ) -> Arc<Outcome> {
        let cached = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(outcome) = cached.filter(|o| o.is_current(state, &id)) {
            return outcome;
        }
        let (shared, raw_owned, path) = (Arc::clone(state), raw.to_owned(), key.clone());
        let built = tokio::task::spawn_blocking(move || {
            let (index, read) = build(&shared, &raw_owned, &path, &file, &id);
            if let Ok(index) = &index {
                tracing::debug!(path = %path.display(), tensors = index.tensors.len(), files = index.files.len(), "model indexed");
            }
            Outcome { read, index }
        })
        .await
        .unwrap_or_else(|_| Outcome {
            read: Vec::new(),
            index: Err("indexing the model failed".into()),
        });
        let outcome = Arc::new(built);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, Arc::clone(&outcome));
        outcome
    }
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
        Some((found, &rest[..at], &rest[at + sep.len()..]))
    });
    let (found, model_path, tensor) = match split {
        Some((found, path, name)) => (found, path, Some(name)),
        None => match state.resolve(&rest) {
            Ok(found) => (found, rest.as_str(), None),
            Err(refused) => return refused,
        },
    };
    let key = found.0.clone();
    let indexes = Arc::clone(&state.indexes);
    let outcome = indexes.get_or_build(&state, model_path, found).await;
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
    let Some(file) = index.files.get(entry.file) else {
        return state.changing();
    };
    let (key, id) = (&file.key, &file.identity);
    let mapping = match state.mapping_of(key, id) {
        Ok(Some(mapping)) => mapping,
        Ok(None) => return state.changing(),
        Err(refused) => return refused,
    };
    let mut extra = Vec::new();
    for (name, value) in [
        ("x-tensor-type", entry.dtype),
        ("x-tensor-shape", entry.shape.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            extra.push((HeaderName::from_static(name), value));
        }
    }
    let rep = Representation {
        file: mapping,
        span: entry.span.clone(),
        etag: etag(id, &format!("-t{:x}", entry.span.start)),
        last_modified: http_time(id.modified),
        extra,
    };
    state.respond(&method, &headers, uri.query(), rep)
}
