//! Where the time of a safetensors open goes: the JSON parse and checks
//! (`SafetensorsIndex::parse_header` over bytes in memory), then visiting every tensor through
//! the model layer, then the whole zero-copy open.
//!
//! `cargo run --release -p weightmap-tests --example safetensors_phases -- FILE [RUNS]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weightmap_core::safetensors::SafetensorsIndex;
use weightmap_core::Model;

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: safetensors_phases FILE [RUNS]"));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(50);
    let bytes = std::fs::read(&path).unwrap();
    let parse = median(
        || {
            std::hint::black_box(SafetensorsIndex::parse_header(&bytes).unwrap());
        },
        runs,
    );
    let model = Model::parse(bytes.as_slice()).unwrap();
    let visit = median(
        || {
            let n: u64 = model
                .tensors()
                .map(|t| t.size() + t.dims().len() as u64)
                .sum();
            std::hint::black_box(n);
        },
        runs,
    );
    let lookup = median(
        || {
            for t in model.tensors() {
                std::hint::black_box(model.tensor_info(t.name()));
            }
        },
        runs,
    );
    let open = median(
        || {
            // SAFETY: nothing modifies the input while it is mapped.
            std::hint::black_box(unsafe { weightmap_native::open_trusted(&path) }.unwrap());
        },
        runs,
    );
    println!(
        "{}: parse {parse:?}, visit every tensor {visit:?}, look every tensor up {lookup:?}, zero-copy open {open:?}",
        path.display()
    );
}
