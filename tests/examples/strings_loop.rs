//! Profiling harness for string arrays: every string of `tokenizer.ggml.tokens`, N times, read
//! through iterator adapters (`adapters`, the default), a `for` loop (`for`) or `fold` (`fold`).
use weightmap_core::Gguf;
fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: strings_loop FILE [N] [MODE]");
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let mode = std::env::args().nth(3).unwrap_or_else(|| "adapters".into());
    let bytes = std::fs::read(&path).expect("read file");
    let gguf = Gguf::parse(&bytes[..]).expect("valid GGUF");
    let tokens = gguf
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.as_array())
        .expect("tokens");
    let start = std::time::Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        total += match mode.as_str() {
            "for" => {
                let mut sum = 0;
                if let Some(strings) = tokens.strings() {
                    for s in strings {
                        let Ok(s) = s else { break };
                        sum += s.len() + 1;
                    }
                }
                sum
            }
            "fold" => tokens.strings().map_or(0, |s| {
                s.fold(0, |acc, s| acc + s.map_or(0, |s| s.len() + 1))
            }),
            "adapters" => tokens
                .strings()
                .into_iter()
                .flatten()
                .map_while(Result::ok)
                .fold(0, |acc, s| acc + s.len() + 1),
            other => panic!("unknown mode {other}: adapters, for or fold"),
        };
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64 / tokens.len() as f64;
    println!("{mode}: {per:.2} ns per token ({total} bytes)");
}
