//! compare-parse: time "open + full index" of a GGUF file for weightmap and its Rust peers in
//! one process, and weightmap's peak heap for the index.
//!
//! Usage: `cargo run --release -p weightmap-tests --features peers --bin compare-parse -- FILE [--runs N]`
//!
//! Each parser opens the file, parses header, metadata and tensor table, and touches every key,
//! every scalar value and every tensor info (name, shape, type, offset); all fold what they saw
//! into the same checksum, which must agree. A second, "deep" round also visits every array
//! element (every vocabulary string, checked as UTF-8 by every parser). Times are medians over
//! N runs (default 20) after one warm-up run, with the file in the page cache.
//!
//! weightmap runs twice: the zero-copy path (`unsafe ModelSource::open_trusted`, the file
//! trusted and parsed in place) and the safe path (`ModelSource::open`: the header read into owned memory
//! with positioned reads and parsed there, the tensor data mapped). ggus parses a memory map,
//! candle reads through a BufReader, gguf-rs-lib through its own buffered reader. The last
//! lines, `ratios:` (peers against the zero-copy path) and `safe-ratios:` (against the safe
//! path), are what docs/BENCHMARKS.md reports. The figures depend on the folios the page cache
//! holds the header in, printed before and after the runs (as root; see the `cache_state`
//! example, which puts the file into a known state).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use peak_alloc::PeakAlloc;
use weightmap_core::Gguf;
use weightmap_native::ModelSource;
use weightmap_tests::checksum;
use weightmap_tests::page_cache::folios;
use weightmap_tests::peers::{candle_index, gguf_rs_lib_index, ggus_index};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

type Parser = fn(&Path, bool) -> Result<u64, String>;

/// The zero-copy path: the whole file mapped, trusted and parsed in place.
fn weightmap_index(path: &Path, deep: bool) -> Result<u64, String> {
    // SAFETY: nothing modifies the benchmark's input file while it is mapped.
    let gguf = unsafe { ModelSource::open_trusted(path) }.map_err(|e| e.to_string())?;
    Ok(checksum::of_gguf(gguf.view(), deep))
}

/// The safe path: the header read into owned memory and parsed there, tensor data mapped.
fn weightmap_safe_index(path: &Path, deep: bool) -> Result<u64, String> {
    let gguf = ModelSource::open(path).map_err(|e| e.to_string())?;
    Ok(checksum::of_gguf(gguf.view(), deep))
}

const SAFE: &str = "weightmap-safe";

const PARSERS: [(&str, Parser); 5] = [
    ("weightmap", weightmap_index),
    (SAFE, weightmap_safe_index),
    ("ggus", ggus_index),
    ("candle", candle_index),
    ("gguf-rs-lib", gguf_rs_lib_index),
];

struct Timing {
    median: Duration,
    min: Duration,
    checksum: u64,
}

fn measure(parse: Parser, path: &Path, deep: bool, runs: usize) -> Result<Timing, String> {
    let checksum = parse(path, deep)?; // warm-up: page cache, lazy statics
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let sum = parse(path, deep)?;
        times.push(start.elapsed());
        if sum != checksum {
            return Err(format!(
                "checksum changed between runs: {sum} vs {checksum}"
            ));
        }
    }
    times.sort();
    Ok(Timing {
        median: times[times.len() / 2],
        min: times[0],
        checksum,
    })
}

/// The parse alone over a heap copy of the file: the CPU part of weightmap's time.
fn in_memory_parse(path: &Path, runs: usize) -> Result<Timing, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let parse = |bytes: &[u8]| {
        Gguf::parse(bytes)
            .map(|g| checksum::of_gguf(g.view(), false))
            .map_err(|e| e.to_string())
    };
    let checksum = parse(&bytes)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(parse(&bytes)?);
        times.push(start.elapsed());
    }
    times.sort();
    Ok(Timing {
        median: times[times.len() / 2],
        min: times[0],
        checksum,
    })
}

/// Reading every `tokenizer.ggml.tokens` entry as a UTF-8-checked `&str`: the windowed
/// iterator against checking each string on its own.
fn vocabulary_scan(path: &Path, runs: usize) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let gguf = Gguf::parse(&bytes[..]).map_err(|e| e.to_string())?;
    let tokens = gguf
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.as_array())
        .ok_or("no tokenizer.ggml.tokens array")?;
    let n = tokens.len() as f64;
    let windowed = || {
        tokens
            .strings()
            .into_iter()
            .flatten()
            .map(|s| s.map_or(0, str::len))
            .sum::<usize>()
    };
    let per_string = || {
        tokens
            .iter()
            .map(|v| v.ok().and_then(|v| v.as_str()).map_or(0, str::len))
            .sum::<usize>()
    };
    for (label, scan) in [
        ("windowed check", &windowed as &dyn Fn() -> usize),
        ("per-string check", &per_string),
    ] {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(scan());
                start.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "weightmap: all {n} tokens as &str ({label}): median {:.3} ms, {:.1} ns per token",
            ms(median),
            median.as_secs_f64() * 1e9 / n
        );
    }
    Ok(())
}

/// Peak heap allocated while weightmap opens and indexes the file: on the zero-copy path the
/// index itself (the mapping is not heap); on the safe path also the header's copy.
fn weightmap_heap(path: &Path, safe: bool) -> Result<usize, String> {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let checksum = if safe {
        weightmap_safe_index(path, false)
    } else {
        weightmap_index(path, false)
    }?;
    std::hint::black_box(checksum);
    Ok(HEAP.peak_usage().saturating_sub(before))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file: Option<PathBuf> = None;
    let mut runs = 20usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ if file.is_none() => file = Some(PathBuf::from(arg)),
            _ => usage(),
        }
    }
    let Some(file) = file else { usage() };
    let size = std::fs::metadata(&file)
        .map(|m| m.len())
        .unwrap_or_else(|e| {
            eprintln!("error: {}: {e}", file.display());
            std::process::exit(1)
        });
    println!(
        "file: {} ({size} bytes), median of {runs} runs, warm page cache",
        file.display()
    );
    let page_cache = || {
        let header = ModelSource::open(&file).map(|g| g.data_offset() as usize);
        match header
            .map_err(|e| e.to_string())
            .and_then(|h| folios(&file, h))
        {
            Ok(f) => format!("the header's {f}"),
            Err(e) => format!("folio sizes unknown ({e})"),
        }
    };
    println!("page cache before: {}", page_cache());

    let (mut ratios, mut safe_ratios) = (Vec::new(), Vec::new());
    for deep in [false, true] {
        let mode = if deep {
            "deep (every array element visited)"
        } else {
            "index (keys, scalars, tensor infos)"
        };
        println!("\n{mode}:");
        let mut base: Option<Timing> = None;
        let mut safe_median = None;
        for (name, parse) in PARSERS {
            match measure(parse, &file, deep, runs) {
                Ok(t) => {
                    if name == SAFE {
                        safe_median = Some(t.median);
                    }
                    let agree = base.as_ref().map_or(String::new(), |b| {
                        if b.checksum == t.checksum {
                            "  checksum agrees".into()
                        } else {
                            format!("  CHECKSUM DIFFERS ({})", t.checksum)
                        }
                    });
                    let ratio = base
                        .as_ref()
                        .map(|b| t.median.as_secs_f64() / b.median.as_secs_f64());
                    println!(
                        "  {name:12} median {:9.3} ms  min {:9.3} ms{}{agree}",
                        ms(t.median),
                        ms(t.min),
                        ratio.map_or(String::new(), |r| format!("  {r:7.1}x weightmap's time"))
                    );
                    if !deep && name != SAFE {
                        if let Some(r) = ratio {
                            ratios.push(format!("{name}/weightmap={r:.1}"));
                        }
                        if let Some(safe) = safe_median {
                            let r = t.median.as_secs_f64() / safe.as_secs_f64();
                            safe_ratios.push(format!("{name}/weightmap={r:.1}"));
                        }
                    }
                    base.get_or_insert(t);
                }
                Err(e) => {
                    println!("  {name:12} failed: {e}");
                    if !deep && base.is_some() {
                        ratios.push(format!("{name}/weightmap=failed"));
                    }
                }
            }
        }
    }
    println!();
    match in_memory_parse(&file, runs) {
        Ok(t) => println!(
            "weightmap parse of bytes already in memory (no mmap, no page faults): median {:.3} ms  min {:.3} ms",
            ms(t.median),
            ms(t.min)
        ),
        Err(e) => println!("weightmap in-memory parse failed: {e}"),
    }
    if let Err(e) = vocabulary_scan(&file, runs) {
        println!("vocabulary scan skipped: {e}");
    }
    if let (Some(before), Ok(_), Some(after)) = (
        weightmap_tests::minor_faults(),
        weightmap_index(&file, false),
        weightmap_tests::minor_faults(),
    ) {
        println!(
            "weightmap open + index: {} minor page faults (warm page cache)",
            after - before
        );
    }
    match (weightmap_heap(&file, false), weightmap_heap(&file, true)) {
        (Ok(index), Ok(safe)) => println!("heap: weightmap={index} weightmap-safe={safe}"),
        (a, b) => println!("heap: failed ({:?}, {:?})", a.err(), b.err()),
    }
    println!("page cache after: {}", page_cache());
    println!("ratios: {}", ratios.join(" "));
    println!("safe-ratios: {}", safe_ratios.join(" "));
}

fn usage() -> ! {
    eprintln!("usage: compare-parse FILE [--runs N]");
    std::process::exit(2)
}
