//! Profiling harness: parses a GGUF file N times from memory, for `perf record` or callgrind.
//!
//! `cargo run --release -p weightmap-tests --example parse_loop -- FILE [N]`

use weightmap_core::Gguf;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_loop FILE [N]");
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let bytes = std::fs::read(&path).expect("read file");
    let start = std::time::Instant::now();
    for _ in 0..n {
        let gguf = Gguf::parse(&bytes[..]).expect("valid GGUF");
        std::hint::black_box(gguf.tensor_count());
    }
    println!(
        "{:.3} ms per parse",
        start.elapsed().as_secs_f64() * 1e3 / n as f64
    );
}
