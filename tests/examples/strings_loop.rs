//! Profiling harness for string arrays: every string of `tokenizer.ggml.tokens`, N times.
use weightmap_core::Gguf;
fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: strings_loop FILE [N]");
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let bytes = std::fs::read(&path).expect("read file");
    let gguf = Gguf::parse(&bytes[..]).expect("valid GGUF");
    let tokens = gguf
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.as_array())
        .expect("tokens");
    let start = std::time::Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        total += tokens
            .strings()
            .into_iter()
            .flatten()
            .map(|s| s.map_or(0, str::len))
            .sum::<usize>();
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64 / tokens.len() as f64;
    println!("{per:.2} ns per token ({total} bytes)");
}
