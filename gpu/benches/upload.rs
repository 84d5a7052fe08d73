//! Upload throughput, in one run: the card's pinned host-to-device ceiling, a naive
//! per-tensor pageable copy straight from the mapping (what candle and llama.cpp's mmap path
//! do), and weightmap's pipeline with each fill mode, on a warm and a cold page cache, with
//! the peak RSS growth of each. Without a GPU the CUDA rows print `skipped: no CUDA device`
//! and the pipeline runs into host memory, which measures the fill side alone.
//!
//! `cargo bench -p weightmap-gpu --bench upload -- [--model PATH] [--size-mib N] [--runs N]`
//! (default: a generated model of 2 GiB, 3 runs per row, median reported).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cudarc::driver::CudaContext;
use weightmap_gpu::testing::write_model;
use weightmap_gpu::{upload_file, CudaTarget, FileUpload, Fill, HostTarget, Target, UploadReport};
use weightmap_native::{
    peak_resident_set_size, reset_peak_resident_set_size, resident_set_size, MmapFile,
};

struct Args {
    model: Option<PathBuf>,
    size_mib: u64,
    runs: usize,
}

fn args() -> Args {
    let mut args = Args {
        model: None,
        size_mib: 2048,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => args.model = it.next().map(PathBuf::from),
            "--size-mib" => args.size_mib = it.next().and_then(|v| v.parse().ok()).unwrap_or(2048),
            "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(3).max(1),
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Drops the file from the page cache so the next read comes from the disk.
fn evict(path: &Path) {
    let file = MmapFile::open_untrusted(path).expect("open for eviction");
    if let Err(e) = file.evict_page_cache() {
        eprintln!("cannot evict the page cache: {e}");
    }
}

/// Reads the whole file into the page cache.
fn warm(path: &Path) {
    let file = MmapFile::open_untrusted(path).expect("open for warming");
    file.touch_all(|_, _| {});
    file.release_cpu_pages().expect("release");
}

/// One pipeline row: median GB/s over `runs`, and the largest peak RSS growth.
fn pipeline_row<T: Target>(
    label: &str,
    path: &Path,
    fill: Fill,
    cold: bool,
    runs: usize,
    mut target: impl FnMut() -> T,
) -> Option<f64> {
    let mut rates = Vec::new();
    let mut growth = 0;
    let mut last: Option<UploadReport> = None;
    for _ in 0..runs {
        if cold {
            evict(path);
        } else {
            warm(path);
        }
        let before = resident_set_size().unwrap_or(0);
        reset_peak_resident_set_size();
        let options = FileUpload {
            fill,
            ..FileUpload::default()
        };
        let model = match upload_file(path, &mut target(), &options, |_| ControlFlow::Continue(()))
        {
            Ok(model) => model,
            Err(e) => {
                println!("{label:<44} failed: {e}");
                return None;
            }
        };
        growth = growth.max(peak_resident_set_size().unwrap_or(0).saturating_sub(before));
        rates.push(model.report().bytes_per_second() / 1e9);
        last = Some(model.report().clone());
    }
    let rate = median(rates);
    let report = last?;
    println!(
        "{label:<44} {rate:>7.2} GB/s   peak RSS +{:>5} MiB   ({} chunks of {} MiB, {} buffers, {} threads)",
        growth >> 20,
        report.chunks,
        report.staging_len >> 20,
        report.buffers,
        report.threads
    );
    Some(rate)
}

/// The card's ceiling: one large copy from plain pinned memory, median of `runs`.
fn pinned_ceiling(
    ordinal: usize,
    bytes: usize,
    runs: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let ctx = CudaContext::new(ordinal)?;
    let stream = ctx.new_stream()?;
    // SAFETY: the buffer is filled below before it is read.
    let mut host = unsafe { ctx.alloc_pinned_with_flags::<u8>(bytes, 0) }?;
    host.as_mut_slice()?.fill(7);
    let mut device = stream.alloc_zeros::<u8>(bytes)?;
    let mut rates = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        stream.memcpy_htod(&host, &mut device)?;
        stream.synchronize()?;
        rates.push(bytes as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    Ok(median(rates))
}

/// The naive path: one pageable copy per tensor straight from a mapping of the file.
fn naive_mmap(
    ordinal: usize,
    path: &Path,
    cold: bool,
    runs: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let ctx = CudaContext::new(ordinal)?;
    let stream = ctx.new_stream()?;
    let gguf = weightmap_native::ModelSource::open_with(path, &weightmap_gpu::source_config())?;
    let mut rates = Vec::new();
    for _ in 0..runs {
        if cold {
            evict(path);
        } else {
            warm(path);
        }
        gguf.data().release_cpu_pages()?;
        let start = Instant::now();
        let mut bytes = 0u64;
        let mut keep = Vec::new();
        for info in gguf.tensors() {
            let src = gguf.tensor_view(&info)?.bytes();
            let mut dst = stream.alloc_zeros::<u8>(src.len().max(1))?;
            stream.memcpy_htod(src, &mut dst.slice_mut(..src.len()))?;
            bytes += src.len() as u64;
            keep.push(dst);
        }
        stream.synchronize()?;
        rates.push(bytes as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    Ok(median(rates))
}

fn main() {
    let args = args();
    let path = args.model.clone().unwrap_or_else(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-models");
        std::fs::create_dir_all(&dir).expect("create target/bench-models");
        let path = dir.join(format!("generated-{}mib.gguf", args.size_mib));
        if !path.exists() {
            eprintln!("writing {} ...", path.display());
            write_model(&path, args.size_mib << 20, 42).expect("write the model");
        }
        path
    });
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "model: {} ({} MiB), {} runs per row, median",
        path.display(),
        size >> 20,
        args.runs
    );

    match CudaTarget::new(0) {
        Ok(target) => {
            let name = target.device_name().unwrap_or_default();
            drop(target);
            println!("device: CUDA 0 ({name})");
            let ceiling = pinned_ceiling(0, 1 << 30, args.runs.max(5));
            match &ceiling {
                Ok(c) => println!(
                    "{:<44} {c:>7.2} GB/s",
                    "pinned cuMemcpyHtoD, 1 GiB (ceiling)"
                ),
                Err(e) => println!("pinned ceiling failed: {e}"),
            }
            for cold in [false, true] {
                let cache = if cold { "cold" } else { "warm" };
                let naive = naive_mmap(0, &path, cold, args.runs);
                match &naive {
                    Ok(n) => println!(
                        "{:<44} {n:>7.2} GB/s",
                        format!("naive per-tensor pageable copy, {cache}")
                    ),
                    Err(e) => println!("naive copy failed: {e}"),
                }
                for fill in [Fill::Mmap, Fill::Pread, Fill::Direct] {
                    let label = format!("weightmap {fill:?}, {cache}");
                    let rate = pipeline_row(&label, &path, fill, cold, args.runs, || {
                        CudaTarget::new(0).expect("device 0")
                    });
                    if let (Some(rate), Ok(c), Ok(n)) = (rate, &ceiling, &naive) {
                        println!(
                            "{:<44} {:>6.0}% of ceiling, {:.1}x naive",
                            "",
                            100.0 * rate / c,
                            rate / n
                        );
                    }
                }
            }
        }
        Err(e) => {
            println!("skipped: no CUDA device ({e}); pipeline into host memory instead");
            for cold in [false, true] {
                let cache = if cold { "cold" } else { "warm" };
                for fill in [Fill::Mmap, Fill::Pread, Fill::Direct] {
                    let label = format!("host target {fill:?}, {cache}");
                    pipeline_row(&label, &path, fill, cold, args.runs, HostTarget::new);
                }
            }
        }
    }
}
