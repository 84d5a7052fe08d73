//! Cost of the truncation guard on the read path: a warm pass over a 1 GiB file (every
//! 64-bit word summed) through an unguarded and a guarded mapping, alternating, median of
//! the runs. The guard adds nothing per read by design; this checks it.
//!
//! `cargo bench -p weightmap-native --bench guard [-- RUNS]`; results in docs/BENCHMARKS.md.

mod files;

use std::time::Instant;

use weightmap_native::{MmapConfig, MmapFile};

fn pass(file: &MmapFile) -> (f64, u64) {
    let start = Instant::now();
    let sum = file
        .as_slice()
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
        .fold(0u64, u64::wrapping_add);
    (
        start.elapsed().as_secs_f64() * 1e3,
        std::hint::black_box(sum),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(21);
    let path = files::dense(1 << 30);
    let plain = MmapFile::open_untrusted(&path).unwrap();
    let guarded = MmapFile::open_untrusted_with(&path, &MmapConfig::guarded()).unwrap();
    assert!(guarded.is_guarded());
    // Warm both mappings' page tables and the page cache.
    let (_, a) = pass(&plain);
    let (_, b) = pass(&guarded);
    assert_eq!(a, b);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        off.push(pass(&plain).0);
        on.push(pass(&guarded).0);
    }
    let (off, on) = (median(off), median(on));
    println!("warm pass over 1 GiB, median of {runs} alternating runs");
    println!(
        "  unguarded {off:8.2} ms  {:6.2} GB/s",
        1.073_741_824 / off * 1e3
    );
    println!(
        "  guarded   {on:8.2} ms  {:6.2} GB/s",
        1.073_741_824 / on * 1e3
    );
    println!("guard cost: {:+.2}%", (on / off - 1.0) * 100.0);
    assert!(guarded.is_intact());
}
