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
    // One thread per core, each with its own runtime accepting on the one listening socket,
    // as nginx runs a worker per core: a connection and its requests stay on the thread that
    // accepted it (a multi-thread runtime spent a sixth of its time waking other workers).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let listener = std::net::TcpListener::bind(options.addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| CliError::Serve(format!("cannot listen on {}: {e}", options.addr)))?;
    let mut listeners = vec![listener];
    for _ in 1..threads {
        match listeners[0].try_clone() {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                tracing::debug!(error = %e, "cannot share the listener: fewer threads");
                break;
            }
        }
    }
    let local = listeners[0].local_addr()?;
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
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for listener in listeners.split_off(1) {
        let server = server.clone();
        let mut stopped = stopped.clone();
        let worker = std::thread::Builder::new().name("serve".into()).spawn(
            move || -> Result<(), CliError> {
                let runtime = current_thread()?;
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    let shutdown = async move {
                        let _ = stopped.wait_for(|&stop| stop).await;
                    };
                    server.run(listener, shutdown).await?;
                    Ok(())
                })
            },
        );
        match worker {
            Ok(worker) => workers.push(worker),
            Err(e) => {
                // The threads already started (and this one) serve all connections.
                tracing::warn!(error = %e, "cannot start another serving thread");
                break;
            }
        }
    }
    let listener = listeners.remove(0);
    let runtime = current_thread()?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let handle = server.clone();
        let shutdown = async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        };
        server.run(listener, shutdown).await?;
        let stats = handle.stats();
        tracing::info!(
            requests = stats.requests,
            bytes = stats.body_bytes,
            "stopped"
        );
        Ok::<(), CliError>(())
    });
    for worker in workers {
        match worker.join() {
            Ok(result) => result?,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    served
}

/// A runtime for one thread's share of the connections.
fn current_thread() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
