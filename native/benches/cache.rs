//! `MmapCache` under contention, which criterion's one-thread timings do not show:
//! - hit latency (p50, p99, p99.9, max) with 1, 4 and 64 threads looking up cached files;
//! - the longest hit on a small cached file, in 1 and in 4 threads, while another thread evicts
//!   a 253 MB mapping whose every page is resident (tearing down its page tables takes about a
//!   millisecond), against the longest hit in the same threads just before.
//!
//! Latencies include the clock read (printed first) and, with more threads than cores, time
//! spent descheduled: then the longest hits are a scheduler time slice, eviction or not, and
//! the one-thread rows are the ones that show a stall.
//!
//! `cargo bench -p weightmap-native --bench cache`; results in docs/BENCHMARKS.md.

mod files;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use weightmap_native::{CacheConfig, MmapCache};

/// Lookups timed per run of [`hit_latency`], shared among its threads.
const HIT_SAMPLES: usize = 2_000_000;
/// Runs of [`hit_latency`] per thread count.
const RUNS: usize = 3;
/// The mapping evicted in [`eviction_stall`].
const LARGE: u64 = 253_000_000;
const ROUNDS: usize = 5;

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("MmapCache under contention ({cores} cores)");
    println!("clock read: {}", Summary::of(clock_reads()));
    println!();
    let small: Vec<PathBuf> = (1..=4).map(|i| files::dense(i << 16)).collect();
    println!("hits on 4 cached files of 64-256 KiB, {HIT_SAMPLES} timed per run");
    for threads in [1, 4, 64] {
        // Contended runs vary from one to the next (which threads share a core), so three.
        for run in 1..=RUNS {
            let summary = hit_latency(&small, threads);
            println!("{threads:>3} threads, run {run}: {summary}");
        }
    }
    for hammers in [1, 4] {
        println!();
        eviction_stall(&small, hammers);
    }
}

/// Percentiles of latencies in nanoseconds.
struct Summary {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

impl Summary {
    fn of(mut ns: Vec<u64>) -> Summary {
        ns.sort_unstable();
        let at = |q: f64| ns.get(((ns.len() as f64 * q) as usize).min(ns.len().saturating_sub(1)));
        let at = |q| at(q).copied().unwrap_or(0);
        Summary {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} ns, p99 {} ns, p99.9 {} ns, max {}",
            self.p50,
            self.p99,
            self.p999,
            ms(self.max)
        )
    }
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn elapsed_ns(start: Instant) -> u64 {
    start.elapsed().as_nanos().try_into().unwrap_or(u64::MAX)
}

/// What timing nothing costs.
fn clock_reads() -> Vec<u64> {
    (0..100_000)
        .map(|_| elapsed_ns(black_box(Instant::now())))
        .collect()
}

/// Every thread looks up the cached files in turn, timing each lookup.
fn hit_latency(paths: &[PathBuf], threads: usize) -> Summary {
    let cache = MmapCache::new(CacheConfig::default());
    for path in paths {
        cache.get_or_open(path).unwrap();
    }
    let per_thread = HIT_SAMPLES / threads;
    let start = Barrier::new(threads);
    let samples = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (cache, start) = (&cache, &start);
                s.spawn(move || {
                    let mut ns = Vec::with_capacity(per_thread);
                    start.wait();
                    for i in 0..per_thread {
                        let path = &paths[(t + i) % paths.len()];
                        let begin = Instant::now();
                        black_box(cache.get_or_open(path).unwrap());
                        ns.push(elapsed_ns(begin));
                    }
                    ns
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let stats = cache.stats();
    assert_eq!(stats.misses, paths.len() as u64, "{stats:?}");
    Summary::of(samples)
}

/// Longest hit in `hammers` threads on a small cached file before, and while, the main
/// thread evicts a large resident mapping by looking up another file.
fn eviction_stall(small: &[PathBuf], hammers: usize) {
    let large = files::dense(LARGE);
    println!(
        "{hammers} thread(s) hit a small cached file; another evicts a {} MB mapping, all resident",
        LARGE / 1_000_000
    );
    println!(
        "{:<6} {:>14} {:>16} {:>16}",
        "round", "longest hit", "longest hit", "evicting lookup"
    );
    println!(
        "{:<6} {:>14} {:>16} {:>16}",
        "", "before", "during eviction", ""
    );
    let mut worst = 0;
    for round in 1..=ROUNDS {
        // Two entries: the hot file and the large one; the next file evicts the large one,
        // the least recently used.
        let cache = MmapCache::new(CacheConfig::bounded(2, 1 << 40));
        let hot = &small[0];
        cache.get_or_open(hot).unwrap();
        {
            let map = cache.get_or_open(&large).unwrap();
            let touched = map.as_slice().iter().step_by(4096).fold(0u8, |a, &b| a ^ b);
            black_box(touched);
        }
        // 0: before, 1: during the eviction, 2: stop.
        let phase = AtomicU8::new(0);
        let start = Barrier::new(hammers + 1);
        let (before, during, evicting) = std::thread::scope(|s| {
            let threads: Vec<_> = (0..hammers)
                .map(|_| {
                    let (cache, phase, start) = (&cache, &phase, &start);
                    s.spawn(move || {
                        let mut longest = [0u64; 2];
                        start.wait();
                        loop {
                            let now = phase.load(Ordering::Acquire);
                            if now > 1 {
                                return longest;
                            }
                            let begin = Instant::now();
                            black_box(cache.get_or_open(hot).unwrap());
                            let ns = elapsed_ns(begin);
                            let slot = &mut longest[usize::from(now)];
                            *slot = (*slot).max(ns);
                        }
                    })
                })
                .collect();
            start.wait();
            std::thread::sleep(Duration::from_millis(200));
            phase.store(1, Ordering::Release);
            let begin = Instant::now();
            black_box(cache.get_or_open(&small[1]).unwrap());
            let evicting = elapsed_ns(begin);
            std::thread::sleep(Duration::from_millis(50));
            phase.store(2, Ordering::Release);
            let longest = threads
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold([0, 0], |a, b| [a[0].max(b[0]), a[1].max(b[1])]);
            (longest[0], longest[1], evicting)
        });
        let stats = cache.stats();
        assert_eq!(stats.evictions, 1, "{stats:?}");
        worst = worst.max(during);
        println!(
            "{round:<6} {:>14} {:>16} {:>16}",
            ms(before),
            ms(during),
            ms(evicting)
        );
    }
    println!("longest hit during an eviction: {}", ms(worst));
}
