//! Criterion benchmarks of the native layer: open time against file size (flat, up to 64 GiB
//! sparse), a full pass over 1 GiB with `std::fs::read` and with mmap (cold and warm page cache),
//! `range` latency, and `MmapCache` hit and miss latency.
//!
//! `cargo bench -p weightmap-native --bench mmap`; results in docs/BENCHMARKS.md.

mod files;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use weightmap_native::{CacheConfig, MmapCache, MmapFile};

fn open_vs_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("open+drop");
    for (label, size) in [
        ("1MiB", 1u64 << 20),
        ("64MiB", 64 << 20),
        ("1GiB", 1 << 30),
        ("6GiB", 6 << 30),
        ("64GiB", 64 << 30),
    ] {
        let path = files::sparse(size);
        group.bench_with_input(BenchmarkId::from_parameter(label), &path, |b, path| {
            b.iter(|| MmapFile::open_untrusted(path).unwrap())
        });
    }
    group.finish();
}

fn full_pass(c: &mut Criterion) {
    let path = files::dense(1 << 30);
    let evict = || {
        MmapFile::open_untrusted(&path)
            .unwrap()
            .evict_page_cache()
            .unwrap()
    };
    let mut group = c.benchmark_group("full pass 1GiB");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    // Warm: the file is in the page cache; mmap maps it, fs::read copies it.
    group.bench_function("warm/fs::read", |b| {
        b.iter(|| files::checksum(&std::fs::read(&path).unwrap()))
    });
    group.bench_function("warm/mmap", |b| {
        b.iter(|| files::checksum(MmapFile::open_untrusted(&path).unwrap().as_slice()))
    });
    // Cold: evicted before each pass (not timed), so every byte comes from the disk.
    group.bench_function("cold/fs::read", |b| {
        b.iter_batched(
            evict,
            |()| files::checksum(&std::fs::read(&path).unwrap()),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("cold/mmap", |b| {
        b.iter_batched(
            evict,
            |()| files::checksum(MmapFile::open_untrusted(&path).unwrap().as_slice()),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("cold/mmap+sequential", |b| {
        b.iter_batched(
            evict,
            |()| {
                let config = weightmap_native::MmapConfig::sequential();
                files::checksum(
                    MmapFile::open_untrusted_with(&path, &config)
                        .unwrap()
                        .as_slice(),
                )
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn range_latency(c: &mut Criterion) {
    let file = MmapFile::open_untrusted(files::dense(1 << 20)).unwrap();
    c.bench_function("range", |b| {
        b.iter(|| file.range(black_box(4096..8192)).unwrap().len())
    });
    c.bench_function("get_tensor_data", |b| {
        b.iter(|| {
            file.get_tensor_data(black_box(4096), black_box(4096))
                .unwrap()
                .len()
        })
    });
}

fn cache_latency(c: &mut Criterion) {
    let a = files::dense(1 << 20);
    let b_path = files::sparse(1 << 20);
    let cache = MmapCache::new(CacheConfig::default());
    cache.get_or_open(&a).unwrap();
    c.bench_function("cache hit", |b| {
        b.iter(|| cache.get_or_open(black_box(&a)).unwrap())
    });
    // One entry and two files: every lookup opens, maps, and evicts the other.
    let tiny = MmapCache::new(CacheConfig::bounded(1, 1 << 40));
    let mut flip = false;
    c.bench_function("cache miss", |b| {
        b.iter(|| {
            flip = !flip;
            tiny.get_or_open(if flip { &a } else { &b_path }).unwrap()
        })
    });
}

criterion_group!(
    benches,
    open_vs_size,
    range_latency,
    cache_latency,
    full_pass
);
criterion_main!(benches);
