//! Page faults and resident memory, which criterion does not measure:
//! - reading scattered ranges through `multi_range` in file order vs shuffled, from a cold page
//!   cache (time, minor and major faults);
//! - RSS before a file is touched, after a full pass, and after `release_cpu_pages`.
//!
//! `cargo bench -p weightmap-native --bench faults [-- FILE]`; results in docs/BENCHMARKS.md.

mod files;

use std::time::Instant;

use weightmap_native::{resident_set_size, MmapFile, PageFaults};

const RANGES: usize = 4096;
const RANGE_LEN: usize = 16 << 10;

fn main() {
    let path = files::dense(1 << 30);
    let file = MmapFile::open_untrusted(&path).unwrap();
    // Deterministic scattered ranges (xorshift), page-aligned starts.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut shuffled: Vec<_> = (0..RANGES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let start = (x as usize % (file.size() - RANGE_LEN)) & !4095;
            start..start + RANGE_LEN
        })
        .collect();
    shuffled.dedup();
    let mut sorted = shuffled.clone();
    sorted.sort_by_key(|r| r.start);

    println!(
        "multi_range: {RANGES} ranges of {} KiB over 1 GiB, cold page cache",
        RANGE_LEN >> 10
    );
    println!("{:<10} {:>10} {:>8} {:>8}", "order", "ms", "minor", "major");
    for (name, ranges) in [
        ("sorted", &sorted),
        ("shuffled", &shuffled),
        ("sorted", &sorted),
        ("shuffled", &shuffled),
    ] {
        file.evict_page_cache().unwrap();
        let start = Instant::now();
        let (sum, faults) = PageFaults::measure(|| {
            file.multi_range(ranges)
                .unwrap()
                .iter()
                .map(|s| files::checksum(s))
                .fold(0u64, u64::wrapping_add)
        });
        let ms = start.elapsed().as_secs_f64() * 1e3;
        std::hint::black_box(sum);
        println!(
            "{name:<10} {ms:>10.1} {:>8} {:>8}",
            faults.minor, faults.major
        );
    }

    // Start the RSS measurement with nothing of the 1 GiB file mapped.
    drop(file);
    let target = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or(path, Into::into);
    let file = MmapFile::open_untrusted(&target).unwrap();
    let mib = |v: u64| v as f64 / (1 << 20) as f64;
    let before = resident_set_size().unwrap_or(0);
    let report = file.touch_all(|_, _| {});
    let touched = resident_set_size().unwrap_or(0);
    file.release_cpu_pages().unwrap();
    let released = resident_set_size().unwrap_or(0);
    println!(
        "\nRSS around a full pass over {} ({:.1} MiB)",
        target.display(),
        mib(report.bytes)
    );
    println!(
        "before {:.2} MiB, touched {:.2} MiB, after release_cpu_pages {:.2} MiB (delta {:+.2} MiB)",
        mib(before),
        mib(touched),
        mib(released),
        mib(released) - mib(before)
    );
}
