//! weightmap-remote: GGUF and safetensors models read straight from object storage (S3, GCS,
//! Azure Blob, HTTP(S), local files), with weightmap's own parser.
//!
//! [`open`] reads a model's header in at most two requests (a first range of 1 MiB, then the
//! rest of the header if it is longer) without downloading the file: one file, a GGUF split
//! set from its first file, or a sharded safetensors model from its
//! `model.safetensors.index.json`, the shards' headers fetched concurrently. Tensors are then
//! read by range: one as [`Bytes`](bytes::Bytes) ([`RemoteModel::tensor`]), many at once into
//! the caller's buffers ([`RemoteModel::read_tensors`]: requests of at most
//! [`Options::part_size`], [`Options::concurrency`] in flight, adjacent tensors merged), or a
//! whole object into a local file ([`download`], resumable).
//!
//! Every request after an object's first is pinned to the version the first saw (`If-Match`
//! on its ETag, and the ETag and size of each answer compared): an object replaced while it
//! is read is [`Error::Changed`], never bytes of two versions. A server that ignores `Range`
//! is [`Error::RangesIgnored`] before its body is read; short or long bodies, a wrong
//! `Content-Range`, resets and stalls are typed errors after object_store's bounded retries
//! and the [`Options`] timeouts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weightmap_remote::Error> {
//! let options = weightmap_remote::Options::default();
//! // Credentials and endpoints from the environment (AWS_*, GOOGLE_*, AZURE_*).
//! let remote = weightmap_remote::open("s3://models/llama/model.safetensors.index.json", &options).await?;
//! let model = remote.model();
//! println!("{} tensors in {} files, {} requests", model.tensor_count(), remote.objects().len(),
//!          remote.traffic().requests());
//! let norm = remote.tensor("model.norm.weight").await?; // one ranged read
//! let info = model.tensor_info("lm_head.weight").unwrap();
//! let mut buffer = vec![0u8; (info.file_range().end - info.file_range().start) as usize];
//! remote.read_tensors(vec![("lm_head.weight", &mut buffer[..])], |p| {
//!     println!("{}/{}", p.done, p.total);
//!     std::ops::ControlFlow::Continue(())
//! }).await?;
//! # let _ = norm; Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod download;
mod error;
mod header;
mod location;
mod model;
mod object;
mod plan;

use std::time::Duration;

pub use download::{download, Download};
pub use error::{Error, Result};
pub use location::Location;
pub use model::{Progress, RemoteModel};
pub use object::{RemoteObject, Traffic};

/// How requests are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Bytes of one request for tensor data and downloads: 8 MiB.
    pub part_size: u64,
    /// Requests in flight: 16.
    pub concurrency: usize,
    /// The most header (or shard index) bytes read before giving up: 1 GiB, as the local
    /// open's limit.
    pub max_header_bytes: u64,
    /// Connecting: 5 s.
    pub connect_timeout: Duration,
    /// Waiting for the next bytes of an answer: 30 s (a stalled server is an error then).
    pub read_timeout: Duration,
    /// One request, all of it: 5 min; also how long retries of one request may go on.
    pub request_timeout: Duration,
    /// Retries of a failed request (object_store's backoff): 3.
    pub retries: usize,
    /// Store settings applied over the environment's, as object_store names them (e.g.
    /// `("aws_endpoint", "http://127.0.0.1:5000")`, `("aws_allow_http", "true")`,
    /// `("google_service_account", PATH)`, `("azure_storage_account_name", NAME)`); a key the
    /// URL's store does not know is [`Error::Url`].
    pub store_options: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            part_size: 8 << 20,
            concurrency: 16,
            max_header_bytes: 1 << 30,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            retries: 3,
            store_options: Vec::new(),
        }
    }
}

/// Opens the model at `url` with `options`: see [`RemoteModel::open`].
///
/// # Errors
/// As [`RemoteModel::open`].
pub async fn open(url: &str, options: &Options) -> Result<RemoteModel> {
    RemoteModel::open(url, options).await
}
