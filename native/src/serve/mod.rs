//! An HTTP server of the model files in one directory, straight from the page cache
//! (feature `server`): what `weightmap serve` runs.
//!
//! Routes:
//! - `GET`/`HEAD /files/{path}`: the file, with `Accept-Ranges: bytes`, a strong `ETag` from
//!   the file's identity, `Last-Modified` and `X-Served-By: mmap`. Byte ranges per RFC 9110:
//!   single (206 with `Content-Range`), suffix and open-ended, several as
//!   `multipart/byteranges`, `If-Range` by ETag or date, 416 with `Content-Range: bytes */len`
//!   when none is satisfiable; also `?start=S&end=E` (end exclusive). `If-None-Match` gives
//!   304, an `If-Match` naming another ETag 412 (a reader pinned to one version of the file
//!   never gets bytes of the next). See [`ranges`] for what is ignored and what is refused.
//! - `GET /models/{path}`: the model's index as the JSON of `weightmap inspect --json`
//!   ([`crate::report`]); `GET /models/{path}/tensors/{name}`: one tensor's bytes (ranges
//!   count within the tensor) with `X-Tensor-Type` and `X-Tensor-Shape`.
//! - `GET /cache/stats`: the mapping cache's counters and the request counters;
//!   `GET /healthz`.
//!
//! Only regular files inside the directory are reachable; anything else is
//! 400 or 404, logged at WARN. Bodies are `Bytes` that own an `Arc` of the mapping: no file
//! data is copied in user space. A file truncated while a response streams cuts that
//! response short (the truncation guard keeps the process alive). A connection
//! that makes no progress for [`ServeConfig::stall_timeout`] is closed, and request headers
//! must arrive within [`ServeConfig::header_timeout`].
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use weightmap_native::serve::{shutdown_signal, ServeConfig, Server};
//!
//! let server = Server::new(ServeConfig::new("models"))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.run(listener, shutdown_signal()).await
//! # }
//! ```

mod body;
mod files;
mod model_index;
mod models;
mod paths;
pub mod ranges;
mod resolved;
mod stalls;
mod stats;

use std::fs::File;
use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::{CacheConfig, MmapCache};
use crate::config::MmapConfig;
use crate::error::Error;
use crate::identity::FileIdentity;
use crate::mmap::MmapFile;
use paths::{Refusal, Root};
pub use stats::RequestStats;

/// What a [`Server`] serves and how.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The directory served.
    pub root: PathBuf,
    /// The mapping cache: how many files and bytes stay mapped. Mappings are untrusted and
    /// guarded against truncation whatever `cache.mmap` says.
    pub cache: CacheConfig,
    /// Most ranges one request may ask for; more is answered with 416.
    pub max_ranges: NonZeroUsize,
    /// Bytes handed to the connection at a time.
    pub chunk_size: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a connection may make no progress (idle keep-alive, a client that stops
    /// sending or stops reading) before it is closed.
    pub stall_timeout: Duration,
    /// Most connections served at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// How long shutdown waits for responses in flight.
    pub shutdown_grace: Duration,
}

impl ServeConfig {
    /// Serves `root` with the defaults: 64 files and 64 GiB mapped, 16 ranges, 4 MiB chunks,
    /// 10 s for headers, 60 s without progress, 4,096 connections, 10 s of grace.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServeConfig {
            root: root.into(),
            cache: CacheConfig::bounded(64, 64 << 30),
            max_ranges: NonZeroUsize::new(16).unwrap_or(NonZeroUsize::MIN),
            chunk_size: 4 << 20,
            header_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    root: Root,
    cache: MmapCache,
    resolved: resolved::ResolvedPaths,
    /// One permit per open connection, across every `run` of the server.
    connections: Arc<Semaphore>,
    indexes: Arc<models::Indexes>,
    counters: stats::Counters,
    max_ranges: NonZeroUsize,
    chunk_size: usize,
}

/// The server: its routes over shared state (the mapping cache, parsed indexes, counters), and
/// the loop that accepts connections. Cheap to clone; clones share that state.
#[derive(Debug, Clone)]
pub struct Server {
    shared: Arc<Shared>,
    config: ServeConfig,
}

impl Server {
    /// A server of `config.root`.
    ///
    /// # Errors
    /// If the root cannot be opened or is not a directory.
    pub fn new(mut config: ServeConfig) -> io::Result<Self> {
        // Bounds that keep hyper's and tokio's arithmetic from overflowing.
        let day = Duration::from_secs(86_400);
        config.header_timeout = config.header_timeout.min(day);
        config.stall_timeout = config.stall_timeout.min(day);
        config.shutdown_grace = config.shutdown_grace.min(day);
        config.max_connections = config.max_connections.clamp(1, 1 << 20);
        let root = Root::open(&config.root)?;
        let mut cache = config.cache;
        cache.mmap = MmapConfig {
            guard: true,
            ..cache.mmap
        };
        let shared = Shared {
            root,
            resolved: resolved::ResolvedPaths::new(cache.max_entries.min(4096)),
            connections: Arc::new(Semaphore::new(config.max_connections.max(1))),
            cache: MmapCache::new(cache),
            indexes: Arc::new(models::Indexes::new(cache.max_entries)),
            counters: stats::Counters::default(),
            max_ranges: config.max_ranges,
            chunk_size: config.chunk_size,
        };
        Ok(Server {
            shared: Arc::new(shared),
            config,
        })
    }

    /// The canonical path of the directory served.
    pub fn root(&self) -> &Path {
        self.shared.root.path()
    }

    /// The routes, for embedding in another axum application.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/files/{*path}", get(files::get))
            .route("/models/{*path}", get(models::get))
            .route("/cache/stats", get(cache_stats))
            .route("/healthz", get(|| async { "ok\n" }))
            .fallback(not_found)
            .with_state(Arc::clone(&self.shared))
    }

    /// The request counters so far.
    pub fn stats(&self) -> RequestStats {
        self.shared.counters.snapshot()
    }

    /// Serves HTTP/1.1 on `listener` until `shutdown` completes, then stops accepting and
    /// waits up to [`ServeConfig::shutdown_grace`] for responses in flight. Clones of the
    /// server may run at once, each on its own listener and runtime (as `weightmap serve`
    /// runs one per core on clones of one listening socket): they share the caches, counters and
    /// the limit of [`ServeConfig::max_connections`].
    ///
    /// # Errors
    /// None yet: failed accepts (out of file descriptors, say) are logged and retried.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let app = self.router();
        let graceful = GracefulShutdown::new();
        // Shared by every `run` of this server (one per thread and listener, say).
        let slots = Arc::clone(&self.shared.connections);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot,
                () = &mut shutdown => break,
            };
            let Ok(slot) = slot else { break };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(stalls::Stalls::new(stream, self.config.stall_timeout));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.config.header_timeout)
                .serve_connection(io, TowerToHyperService::new(app.clone()));
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        tracing::info!("shutting down: no new connections");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(self.config.shutdown_grace) => {
                tracing::warn!("responses still in flight after the grace period");
            }
        }
        Ok(())
    }
}

/// Raises this process's soft limit on open files to its hard limit, as servers do (each
/// connection is a descriptor, and the usual soft limit of 1,024 is soon reached). Returns
/// the limit now in force, or `None` where it cannot be read.
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if limit.current != limit.maximum && setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum.or(Some(u64::MAX));
        }
        limit.current.or(Some(u64::MAX))
    }
    #[cfg(not(unix))]
    None
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

async fn cache_stats(axum::extract::State(state): axum::extract::State<Arc<Shared>>) -> Response {
    let json = stats::json(
        &state.cache.stats(),
        &state.counters.snapshot(),
        state.indexes.len(),
    );
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}

async fn not_found(axum::extract::State(state): axum::extract::State<Arc<Shared>>) -> Response {
    state.plain(StatusCode::NOT_FOUND, "not found")
}

// The errors here are the responses sent back (a refusal, a 503): built once per failed
// request and returned as they are, so boxing them would only add an allocation.
#[allow(clippy::result_large_err)]
impl Shared {
    /// The file a request path names, opened beneath the root, with its identity and its key
    /// in the caches; a refusal is logged, counted and answered.
    fn resolve(&self, raw: &str) -> Result<(PathBuf, File, FileIdentity), Response> {
        let refused = |refusal: Refusal| {
            let status = match refusal {
                Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
                Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            };
            if refusal == Refusal::NotFound(paths::NO_SUCH_FILE) {
                // A plain miss: not an attempt on the root, and scanners make many.
                tracing::debug!(path = ?raw, "no such file");
            } else {
                self.counters.refused_path();
                tracing::warn!(path = ?raw, reason = refusal.reason(), %status, "refused path");
            }
            self.plain(status, refusal.reason())
        };
        let rel = paths::relative(raw).map_err(refused)?;
        let (file, meta) = self.root.open_file(&rel).map_err(refused)?;
        Ok((self.root.join(&rel), file, FileIdentity::of(&meta)))
    }

    /// [`resolve`](Self::resolve) without logging or counting a refusal: a probe.
    fn probe(&self, raw: &str) -> Option<(PathBuf, File, FileIdentity)> {
        let rel = paths::relative(raw).ok()?;
        let (file, meta) = self.root.open_file(&rel).ok()?;
        Some((self.root.join(&rel), file, FileIdentity::of(&meta)))
    }

    /// The mapping of the file a request path names.
    fn mapping(&self, raw: &str) -> Result<Arc<MmapFile>, Response> {
        // A path resolved beneath the root before that still names the same file (one
        // `stat`), whose mapping shows it: no open, fstat and close.
        if let Some((key, id)) = self.resolved.get(raw, |rel| self.root.identity_of(rel)) {
            if let Some(mapped) = self.mapping_of(&key, &id)? {
                return Ok(mapped);
            }
            self.resolved.forget(raw);
        }
        // A file replaced between opening it and mapping it: resolve again, a few times.
        for _ in 0..3 {
            let (key, _file, id) = self.resolve(raw)?;
            if let Some(mapped) = self.mapping_of(&key, &id)? {
                if let Ok(rel) = key.strip_prefix(self.root.path()) {
                    self.resolved.insert(raw, rel, &key, id);
                }
                return Ok(mapped);
            }
        }
        Err(self.changing())
    }

    /// The cached mapping of `key` if it shows the file with identity `id`, re-mapped once if
    /// the cache holds an older one; `None` if the file at `key` is no longer that file.
    fn mapping_of(&self, key: &Path, id: &FileIdentity) -> Result<Option<Arc<MmapFile>>, Response> {
        for _ in 0..2 {
            let mapped = self
                .cache
                .get_or_open(key)
                .map_err(|e| self.open_failed(&e))?;
            if mapped.identity() == id {
                return Ok(Some(mapped));
            }
            self.cache.remove(key);
        }
        Ok(None)
    }

    fn changing(&self) -> Response {
        let mut response = self.plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the file is changing on disk; try again",
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        response
    }

    fn open_failed(&self, error: &Error) -> Response {
        match error {
            Error::FileNotFound { .. } => self.plain(StatusCode::NOT_FOUND, "no such file"),
            other => {
                tracing::error!(error = %other, "cannot map a served file");
                self.plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot map the file")
            }
        }
    }
}
