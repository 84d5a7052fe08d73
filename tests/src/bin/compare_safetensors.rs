//! compare-safetensors: time "open + full index" of a safetensors file for weightmap and its
//! peers in one process.
//!
//! Usage: `cargo run --release -p weightmap-tests --features peers --bin compare-safetensors -- [FILE] [--runs N] [--only READER]`
//!
//! Without FILE, a file of 10,000 small F16 tensors (about 1 MB of header, as a large
//! checkpoint's) is written to `target/fixtures/many-10000.safetensors`. Each reader opens the
//! file, parses its header, and visits every tensor's name, dtype, shape and byte range; all
//! fold what they saw into the same order-independent checksum, which must agree. Times are
//! medians over N runs (default 50) after one warm-up run, with the file in the page cache.
//!
//! - `weightmap`: the zero-copy path (`unsafe weightmap_native::open_trusted`: the file
//!   mapped and its header parsed in place);
//! - `weightmap-safe`: `weightmap_native::open` (the header read into owned memory with
//!   positioned reads and parsed there, the tensor data mapped);
//! - `safetensors`: the official crate's `SafeTensors::deserialize` over a memory map;
//! - `candle`: `candle_core::safetensors::MmapedSafetensors::new`, its `tensors()`.
//!
//! The last line, `st-ratios: safetensors/weightmap=X candle/weightmap=Y`, is what
//! docs/BENCHMARKS.md reports (`st-safe-ratios:` the same against the safe path). `--only
//! READER` runs one reader, for instruction counts under `valgrind --tool=callgrind` (steady
//! where the VM's times are not).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weightmap_core::testing::SafetensorsBuilder;

type Reader = fn(&Path) -> Result<u64, String>;

/// One tensor folded into the checksum: the same whatever order a reader lists tensors in.
fn fold(name: &str, dtype: &str, shape: &[u64], range: (u64, u64)) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(name.as_bytes());
    eat(dtype.as_bytes());
    for d in shape {
        eat(&d.to_le_bytes());
    }
    eat(&range.0.to_le_bytes());
    eat(&range.1.to_le_bytes());
    h
}

fn weightmap_sum<D: weightmap_core::ModelData>(model: &weightmap_core::Model<D>) -> u64 {
    model
        .tensors()
        .map(|t| {
            let end = t.offset() + t.size();
            fold(t.name(), t.dtype().name(), t.dims(), (t.offset(), end))
        })
        .fold(0, u64::wrapping_add)
}

fn weightmap(path: &Path) -> Result<u64, String> {
    // SAFETY: nothing modifies the benchmark's input file while it is mapped.
    let model = unsafe { weightmap_native::open_trusted(path) }.map_err(|e| e.to_string())?;
    Ok(weightmap_sum(&model))
}

fn weightmap_safe(path: &Path) -> Result<u64, String> {
    let model = weightmap_native::open(path).map_err(|e| e.to_string())?;
    Ok(weightmap_sum(&model))
}

/// A tensor view of either safetensors version (the crate's own and candle's).
fn view_sum(name: &str, dtype: String, shape: &[usize], data: &[u8], base: usize) -> u64 {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let start = (data.as_ptr() as usize - base) as u64;
    fold(name, &dtype, &shape, (start, start + data.len() as u64))
}

fn safetensors_crate(path: &Path) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // SAFETY: as above.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
    let st = safetensors::SafeTensors::deserialize(&map).map_err(|e| e.to_string())?;
    let base = map.as_ptr() as usize + 8 + header_len(&map);
    Ok(st
        .iter()
        .map(|(name, v)| view_sum(name, v.dtype().to_string(), v.shape(), v.data(), base))
        .fold(0, u64::wrapping_add))
}

fn candle(path: &Path) -> Result<u64, String> {
    // SAFETY: as above.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
        .map_err(|e| e.to_string())?;
    let tensors = st.tensors();
    // Where the data section starts: below every tensor's bytes.
    let base = tensors
        .iter()
        .map(|(_, v)| v.data().as_ptr() as usize)
        .min()
        .unwrap_or(0);
    Ok(tensors
        .iter()
        .map(|(name, v)| view_sum(name, v.dtype().to_string(), v.shape(), v.data(), base))
        .fold(0, u64::wrapping_add))
}

fn header_len(bytes: &[u8]) -> usize {
    bytes
        .first_chunk::<8>()
        .map_or(0, |n| u64::from_le_bytes(*n) as usize)
}

const READERS: [(&str, Reader); 4] = [
    ("weightmap", weightmap),
    ("weightmap-safe", weightmap_safe),
    ("safetensors", safetensors_crate),
    ("candle", candle),
];

fn measure(read: Reader, path: &Path, runs: usize) -> Result<(Duration, Duration, u64), String> {
    let checksum = read(path)?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let sum = read(path)?;
        times.push(start.elapsed());
        if sum != checksum {
            return Err("checksum changed between runs".into());
        }
    }
    times.sort();
    Ok((times[times.len() / 2], times[0], checksum))
}

/// The default input: 10,000 F16 tensors named as a large checkpoint's.
fn fixture() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures");
    let path = dir.join("many-10000.safetensors");
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("create target/fixtures");
        let mut b = SafetensorsBuilder::default().meta("format", "pt");
        for i in 0..10_000u64 {
            let (layer, part) = (i / 10, i % 10);
            let (rows, cols) = (1 + i % 4, 1 + (i / 4) % 4);
            let bytes = vec![(i % 251) as u8; (rows * cols * 2) as usize];
            let name = format!("model.layers.{layer}.mlp.part{part}.weight");
            b = b.tensor(&name, "F16", &[rows, cols], &bytes);
        }
        std::fs::write(&path, b.build()).expect("write the fixture");
    }
    path
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 50;
    let mut file = None;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage("--runs takes a positive number"));
            }
            "--only" => only = it.next().cloned(),
            "-h" | "--help" => usage(""),
            other if other.starts_with('-') => usage(&format!("unknown option {other}")),
            other => file = Some(PathBuf::from(other)),
        }
    }
    let path = file.unwrap_or_else(fixture);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let header = std::fs::read(&path).ok().map_or(0, |b| header_len(&b));
    println!(
        "{}: {size} bytes, JSON header {header} bytes, {runs} runs (median, min)",
        path.display()
    );
    let mut results = Vec::new();
    let mut reference = None;
    for (name, read) in READERS {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        match measure(read, &path, runs) {
            Ok((median, min, sum)) => {
                println!("  {name:15} {median:>12.3?} {min:>12.3?}  checksum {sum:016x}");
                if *reference.get_or_insert(sum) != sum {
                    eprintln!("error: {name} saw different tensors");
                    std::process::exit(1);
                }
                results.push((name, median));
            }
            Err(e) => {
                eprintln!("error: {name}: {e}");
                std::process::exit(1);
            }
        }
    }
    let time = |n: &str| {
        results
            .iter()
            .find(|(name, _)| *name == n)
            .map_or(f64::NAN, |(_, t)| t.as_secs_f64())
    };
    let ratios = |against: &str| {
        format!(
            "safetensors/weightmap={:.2} candle/weightmap={:.2}",
            time("safetensors") / time(against),
            time("candle") / time(against)
        )
    };
    println!("st-safe-ratios: {}", ratios("weightmap-safe"));
    println!("st-ratios: {}", ratios("weightmap"));
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!("usage: compare-safetensors [FILE] [--runs N] [--only READER]");
    std::process::exit(2);
}
