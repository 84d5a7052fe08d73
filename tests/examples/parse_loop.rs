//! Profiling harness: opens or parses a GGUF file N times, for `perf record` or callgrind.
//!
//! `cargo run --release -p weightmap-tests --example parse_loop -- FILE [N] [MODE]`
//!
//! - `memory` (the default): `Gguf::parse` over the file's first 64 MiB, read once into memory.
//! - `safe`: `ModelSource::open`, the header read into owned memory each time.
//! - `mapped`: the zero-copy path, `unsafe ModelSource::open_trusted` (a helper thread faults
//!   pages in ahead of the parser).
//! - `safe-serial`, `mapped-serial`: the same without the helper thread.
//! - `in-place`: `unsafe MmapFile::open` and `Gguf::parse` over the whole mapping.
//! - `deep`: the zero-copy open, then every array element visited (compare-parse's deep round).

use weightmap_core::Gguf;
use weightmap_native::{MmapFile, ModelSource, SourceConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect(
        "usage: parse_loop FILE [N] [memory|safe|safe-serial|mapped|mapped-serial|in-place|deep]",
    );
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mode = args.next().unwrap_or_else(|| "memory".into());
    let mut bytes = std::fs::read(&path).expect("read file");
    bytes.truncate(64 << 20);
    let serial = SourceConfig {
        read_ahead: false,
        ..SourceConfig::default()
    };
    let start = std::time::Instant::now();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let one = std::time::Instant::now();
        let tensors = match mode.as_str() {
            "safe" => ModelSource::open(&path).expect("valid GGUF").tensor_count(),
            "safe-serial" => ModelSource::open_with(&path, &serial)
                .expect("valid GGUF")
                .tensor_count(),
            "mapped-serial" => {
                // SAFETY: nothing modifies the profiled file while it is mapped.
                unsafe { ModelSource::open_trusted_with(&path, &serial) }
                    .expect("valid GGUF")
                    .tensor_count()
            }
            "mapped" => {
                // SAFETY: nothing modifies the profiled file while it is mapped.
                unsafe { ModelSource::open_trusted(&path) }
                    .expect("valid GGUF")
                    .tensor_count()
            }
            "deep" => {
                // SAFETY: nothing modifies the profiled file while it is mapped.
                let gguf = unsafe { ModelSource::open_trusted(&path) }.expect("valid GGUF");
                weightmap_tests::checksum::of_gguf(gguf.view(), true) as usize
            }
            "in-place" => {
                // SAFETY: nothing modifies the profiled file while it is mapped.
                let map = unsafe { MmapFile::open(&path) }.expect("map");
                Gguf::parse(map).expect("valid GGUF").tensor_count()
            }
            _ => Gguf::parse_header(&bytes[..])
                .expect("valid GGUF")
                .tensor_count(),
        };
        std::hint::black_box(tensors);
        times.push(one.elapsed());
        if std::env::var_os("WEIGHTMAP_PRINT_EACH").is_some() {
            println!("{:.3}", one.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort();
    let ms = |i: usize| times[i.min(n - 1)].as_secs_f64() * 1e3;
    println!(
        "{mode}: {:.3} ms per parse (p50 {:.3}, p90 {:.3}, p99 {:.3}, max {:.3})",
        start.elapsed().as_secs_f64() * 1e3 / n as f64,
        ms(n / 2),
        ms(n * 9 / 10),
        ms(n * 99 / 100),
        ms(n - 1)
    );
}
