//! `weightmap serve`: the HTTP server of a directory's model files (see
//! `weightmap_native::serve`), until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use weightmap_native::serve::{shutdown_signal, ServeConfig, Server};
use weightmap_native::CacheConfig;

use crate::error::CliError;

/// What `serve` was asked for.
pub struct Options {
    pub addr: SocketAddr,
    pub cache_entries: usize,
    pub cache_bytes: u64,
    pub max_ranges: std::num::NonZeroUsize,
    pub header_timeout: std::time::Duration,
    pub stall_timeout: std::time::Duration,
    pub json: bool,
}

pub fn run(dir: &Path, options: &Options) -> Result<(), CliError> {
    let config = ServeConfig {
        cache: CacheConfig::bounded(options.cache_entries, options.cache_bytes),
        max_ranges: options.max_ranges,
        header_timeout: options.header_timeout,
        stall_timeout: options.stall_timeout,
        ..ServeConfig::new(dir)
    };
    // Each connection is a file descriptor: allow as many as the hard limit does.
    if let Some(limit) = weightmap_native::serve::raise_fd_limit() {
        tracing::debug!(limit, "open-file limit");
    }
    let server =
        Server::new(config).map_err(|e| CliError::Serve(format!("{}: {e}", dir.display())))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|e| CliError::Serve(format!("cannot listen on {}: {e}", options.addr)))?;
        let local = listener.local_addr()?;
        // One line on stdout once the socket listens, for people and for scripts.
        if options.json {
            let line = serde_json::json!({
                "listening": format!("http://{local}"),
                "root": server.root().display().to_string(),
            });
            println!("{line}");
        } else {
            println!("serving {} on http://{local}", server.root().display());
        }
        let handle = server.clone();
        server.run(listener, shutdown_signal()).await?;
        let stats = handle.stats();
        tracing::info!(
            requests = stats.requests,
            bytes = stats.body_bytes,
            "stopped"
        );
        Ok(())
    })
}
