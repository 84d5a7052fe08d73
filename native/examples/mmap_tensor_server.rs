//! A tensor server in a few lines: serves the model files of a directory over HTTP, straight
//! from the page cache, until Ctrl-C or SIGTERM.
//!
//! ```sh
//! cargo run --release -p weightmap-native --features server --example mmap_tensor_server -- DIR [ADDR]
//! curl -r 0-15 http://127.0.0.1:8080/files/model.gguf | xxd          # the first 16 bytes
//! curl http://127.0.0.1:8080/models/model.gguf                      # the index as JSON
//! curl -o t.bin http://127.0.0.1:8080/models/model.gguf/tensors/token_embd.weight
//! ```

use std::num::NonZeroUsize;

use weightmap_native::serve::{shutdown_signal, ServeConfig, Server};
use weightmap_native::CacheConfig;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().init();
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| ".".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());

    // Keep up to 16 files (and 256 GiB of address space) mapped; allow 8 ranges a request.
    let config = ServeConfig {
        cache: CacheConfig::bounded(16, 256 << 30),
        max_ranges: NonZeroUsize::new(8).expect("non-zero"),
        ..ServeConfig::new(dir)
    };
    let server = Server::new(config)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "serving {} on http://{}",
        server.root().display(),
        listener.local_addr()?
    );

    // Or mount `server.router()` into an axum application of your own.
    let handle = server.clone();
    server.run(listener, shutdown_signal()).await?;
    println!("served {} requests", handle.stats().requests);
    Ok(())
}
