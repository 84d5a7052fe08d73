//! compare-dequant: every tensor of a GGUF file decoded to f32, on one thread, by weightmap,
//! candle and the official Python package, against a memcpy of the same output.
//!
//! Usage: `cargo run --release -p weightmap-tests --features peers --bin compare-dequant -- [FILE] [--runs N] [--only READER]`
//!
//! Without FILE, the Gemma 3 270M Q4_K_M model that `./test.sh` assembles
//! (`target/fixtures/gemma-3-270m-q4_k_m.gguf`). Each run decodes every tensor once, in file
//! order, timing each tensor alone; a tensor's time is the median of its N runs (default 5),
//! after one untimed warm-up pass, and a type's time is the sum over its tensors. Readers:
//!
//! - `weightmap`: `weightmap_core::dequant::dequantize(type, bytes, out)`, the bytes straight
//!   from the memory map (`unsafe weightmap_native::open_trusted`), `out` one buffer of the
//!   largest tensor's element count, allocated and faulted in once, before the runs;
//! - `candle`: candle-core 0.11's decoder, `<Block as GgmlType>::to_float`, over the blocks of
//!   a `QTensor` built beforehand (`gguf_file::Content::read`, `Content::tensor`), into the
//!   same buffer: what `QTensor::dequantize` runs after allocating its output;
//! - `weightmap-streamed` and `candle-streamed`: the same decoders over runs of blocks of
//!   64 Ki elements into one 256 KiB buffer that stays in cache, as a caller streams a
//!   tensor through (statistics, conversion, upload): decode speed without the DRAM writes
//!   of a whole f32 copy;
//! - `weightmap-alloc` and `candle-alloc`: the calls that return a new vector, with its
//!   allocation and page faults (`TensorView::to_f32` and `QTensor::dequantize(&Device::Cpu)`,
//!   the path an engine calls; dropping the result is not timed);
//! - `gguf-py`: `gguf.quants.dequantize` of the official `gguf` package over numpy, in
//!   `tests/py/dequant_bench.py`, run by `$WEIGHTMAP_PYTHON` (else the workspace's
//!   `.venv/bin/python`; skipped with a note if neither exists) with `OMP_NUM_THREADS=1`;
//! - `memcpy`: `copy_from_slice` of as many f32 as the tensor has, into the same buffer: a
//!   ceiling (it reads the 4 bytes per element it writes; the decoders read 0.5 to 1.1).
//!
//! Nothing here starts a thread: candle's quantized CPU code uses no thread pool (and
//! `RAYON_NUM_THREADS=1` is set in case), which the `threads:` line confirms. Every reader's
//! output is checked against weightmap's before the runs, by the SHA-256 of each tensor's f32
//! bits: candle's and gguf-py's must be equal bit for bit (for candle a difference is
//! reported with its largest absolute difference, and fails the run only beyond rounding).
//! The last line, `dequant-ratios: candle/weightmap=X gguf-py/weightmap=Y` (total time over
//! all tensors), is what docs/BENCHMARKS.md reports; `alloc-ratios:` and `streamed-ratios:`
//! before it compare the allocating calls and the streamed ones. `--only READER` times one reader (the checks still run against
//! weightmap's output).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use candle_core::quantized::{gguf_file, k_quants, GgmlDType, QTensor};
use candle_core::Device;
use sha2::{Digest, Sha256};
use weightmap_core::{dequant, TensorView};

const RUST_READERS: [&str; 7] = [
    "weightmap",
    "candle",
    "weightmap-streamed",
    "candle-streamed",
    "weightmap-alloc",
    "candle-alloc",
    "memcpy",
];

/// Elements per chunk of the streamed readers: 256 KiB of f32, within this machine's L2.
const STREAM_CHUNK: usize = 1 << 16;
const PYTHON: &str = "gguf-py";

/// Everything the readers decode: weightmap's views of the mapping, candle's tensors, and the
/// shared output buffer and memcpy source.
struct Bench<'a> {
    views: Vec<TensorView<'a>>,
    candle: Vec<(&'a QTensor, Cow<'a, [u8]>)>,
    out: Vec<f32>,
    src: Vec<f32>,
    /// The streamed readers' buffer: one chunk.
    chunk: Vec<f32>,
}

/// The SHA-256 of `values`' f32 bits, little-endian: what the Python side prints.
fn digest(values: &[f32]) -> String {
    let mut hash = Sha256::new();
    let mut bytes = [0u8; 16384];
    for chunk in values.chunks(bytes.len() / 4) {
        for (b, v) in bytes.chunks_exact_mut(4).zip(chunk) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        hash.update(&bytes[..chunk.len() * 4]);
    }
    format!("{:x}", hash.finalize())
}

/// candle's decoder of one block type over the bytes of candle's own `Vec<T>`.
fn to_float<T: k_quants::GgmlType>(bytes: &[u8], out: &mut [f32]) -> Result<(), String> {
    let size = std::mem::size_of::<T>();
    let aligned = (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>());
    if !aligned
        || !bytes.len().is_multiple_of(size)
        || bytes.len() / size * T::BLCK_SIZE != out.len()
    {
        return Err(format!(
            "candle: {:?} storage does not fit its type",
            T::DTYPE
        ));
    }
    // SAFETY: `bytes` is the storage of the QTensor's `Vec<T>` (`QTensor::data` borrows it on
    // the CPU), checked above to be aligned for T and whole T's; candle's block types are
    // `repr(C)` structs of f16 and byte arrays (or f32, f16, bf16 themselves), valid for any
    // bits.
    let blocks =
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) };
    T::to_float(blocks, out);
    Ok(())
}

/// `to_float` of candle's block type for `dtype`.
fn candle_to_float(dtype: GgmlDType, bytes: &[u8], out: &mut [f32]) -> Result<(), String> {
    use k_quants::*;
    use GgmlDType as D;
    match dtype {
        D::F32 => to_float::<f32>(bytes, out),
        D::F16 => to_float::<half::f16>(bytes, out),
        D::BF16 => to_float::<half::bf16>(bytes, out),
        D::Q4_0 => to_float::<BlockQ4_0>(bytes, out),
        D::Q4_1 => to_float::<BlockQ4_1>(bytes, out),
        D::Q5_0 => to_float::<BlockQ5_0>(bytes, out),
        D::Q5_1 => to_float::<BlockQ5_1>(bytes, out),
        D::Q8_0 => to_float::<BlockQ8_0>(bytes, out),
        D::Q8_1 => to_float::<BlockQ8_1>(bytes, out),
        D::Q2K => to_float::<BlockQ2K>(bytes, out),
        D::Q3K => to_float::<BlockQ3K>(bytes, out),
        D::Q4K => to_float::<BlockQ4K>(bytes, out),
        D::Q5K => to_float::<BlockQ5K>(bytes, out),
        D::Q6K => to_float::<BlockQ6K>(bytes, out),
        D::Q8K => to_float::<BlockQ8K>(bytes, out),
    }
}

fn candle_err(e: candle_core::Error) -> String {
    // Candle appends a backtrace when RUST_BACKTRACE is set; keep only the message itself.
    let text = e.to_string();
    format!("candle: {}", text.lines().next().unwrap_or_default())
}

impl Bench<'_> {
    fn elements(&self, i: usize) -> usize {
        self.views[i].n_elements() as usize
    }

    /// Decodes tensor `i` with `reader`; its time, and with `check` the SHA-256 of its output
    /// (taken after the clock stops).
    fn decode(
        &mut self,
        reader: &str,
        i: usize,
        check: bool,
    ) -> Result<(Duration, Option<String>), String> {
        let n = self.elements(i);
        let view = &self.views[i];
        let (time, output): (Duration, Option<Cow<'_, [f32]>>) = match reader {
            "weightmap" => {
                let out = &mut self.out[..n];
                let start = Instant::now();
                dequant::dequantize(view.dtype(), view.bytes(), out).map_err(|e| e.to_string())?;
                let time = start.elapsed();
                std::hint::black_box(&*out);
                (time, Some(Cow::Borrowed(&*out)))
            }
            "candle" => {
                let (q, bytes) = &self.candle[i];
                let out = &mut self.out[..n];
                let start = Instant::now();
                candle_to_float(q.dtype(), bytes, out)?;
                let time = start.elapsed();
                std::hint::black_box(&*out);
                (time, Some(Cow::Borrowed(&*out)))
            }
            "weightmap-streamed" | "candle-streamed" => {
                let (block, size) = (
                    view.dtype().block_size() as usize,
                    view.dtype().type_size() as usize,
                );
                let blocks_per_chunk = (STREAM_CHUNK / block).max(1);
                let streamed_candle = reader == "candle-streamed";
                let (bytes, dtype): (&[u8], _) = match self.candle.get(i) {
                    Some((q, bytes)) if streamed_candle => (bytes, Some(q.dtype())),
                    _ => (view.bytes(), None),
                };
                let chunk = &mut self.chunk[..blocks_per_chunk * block];
                let mut kept = check.then(|| Vec::with_capacity(n));
                let start = Instant::now();
                for run in bytes.chunks(blocks_per_chunk * size) {
                    let out = &mut chunk[..run.len() / size * block];
                    match dtype {
                        Some(dtype) => candle_to_float(dtype, run, out)?,
                        None => dequant::dequantize(view.dtype(), run, out)
                            .map_err(|e| e.to_string())?,
                    }
                    std::hint::black_box(&*out);
                    if let Some(kept) = kept.as_mut() {
                        kept.extend_from_slice(out);
                    }
                }
                let time = start.elapsed();
                (time, kept.map(Cow::Owned))
            }
            "weightmap-alloc" => {
                let start = Instant::now();
                let values = view.to_f32().map_err(|e| e.to_string())?;
                let time = start.elapsed();
                std::hint::black_box(&values);
                (time, Some(Cow::Owned(values)))
            }
            "candle-alloc" => {
                let (q, _) = &self.candle[i];
                let start = Instant::now();
                let tensor = q.dequantize(&Device::Cpu).map_err(candle_err)?;
                let time = start.elapsed();
                std::hint::black_box(&tensor);
                let values = if check {
                    let flat = tensor.flatten_all().map_err(candle_err)?;
                    Some(Cow::Owned(flat.to_vec1::<f32>().map_err(candle_err)?))
                } else {
                    None
                };
                (time, values)
            }
            "memcpy" => {
                let out = &mut self.out[..n];
                let start = Instant::now();
                out.copy_from_slice(&self.src[..n]);
                let time = start.elapsed();
                std::hint::black_box(&*out);
                (time, None)
            }
            _ => return Err(format!("no reader {reader}")),
        };
        let sum = if check {
            output.map(|v| digest(&v))
        } else {
            None
        };
        Ok((time, sum))
    }

    /// Where candle's output for tensor `i` differs from weightmap's: (elements that differ,
    /// largest absolute difference, largest magnitude of weightmap's values).
    fn difference(&mut self, i: usize) -> Result<(usize, f32, f32), String> {
        let n = self.elements(i);
        let view = &self.views[i];
        dequant::dequantize(view.dtype(), view.bytes(), &mut self.out[..n])
            .map_err(|e| e.to_string())?;
        let mut theirs = vec![0f32; n];
        let (q, bytes) = &self.candle[i];
        candle_to_float(q.dtype(), bytes, &mut theirs)?;
        let mine = &self.out[..n];
        let differ = mine
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        let max_diff = mine
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let scale = mine.iter().map(|a| a.abs()).fold(0f32, f32::max);
        Ok((differ, max_diff, scale))
    }
}

/// One line of the report: a type, or the total.
struct Row {
    name: &'static str,
    tensors: usize,
    elements: usize,
    /// Bytes decoded.
    input: usize,
    /// Each reader's seconds, summed over the tensors.
    seconds: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, readers: usize) -> Self {
        Row {
            name,
            tensors: 0,
            elements: 0,
            input: 0,
            seconds: vec![0.0; readers],
        }
    }
}

/// One tensor of the Python side's report.
struct PyTensor {
    name: String,
    ty: String,
    elements: usize,
    seconds: f64,
    sha256: String,
}

fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("WEIGHTMAP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| weightmap_tests::workspace_root().join(".venv/bin/python"));
    candidate.exists().then_some(candidate)
}

/// Runs `tests/py/dequant_bench.py` on `path`: (gguf and numpy versions, each tensor).
fn run_python(python: &Path, path: &Path, runs: usize) -> Result<(String, Vec<PyTensor>), String> {
    let script = weightmap_tests::workspace_root().join("tests/py/dequant_bench.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(path)
        .arg(runs.to_string())
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "dequant_bench.py failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("dequant_bench.py output: {e}"))?;
    let field = |t: &serde_json::Value, key: &str| t.get(key).cloned().unwrap_or_default();
    let text =
        |t: &serde_json::Value, key: &str| field(t, key).as_str().unwrap_or_default().to_owned();
    let versions = format!(
        "gguf {}, numpy {}",
        text(&json, "gguf"),
        text(&json, "numpy")
    );
    let tensors = json
        .get("tensors")
        .and_then(|t| t.as_array())
        .ok_or("dequant_bench.py output: no tensors")?
        .iter()
        .map(|t| PyTensor {
            name: text(t, "name"),
            ty: text(t, "type"),
            elements: field(t, "elements").as_u64().unwrap_or(0) as usize,
            seconds: field(t, "seconds").as_f64().unwrap_or(f64::NAN),
            sha256: text(t, "sha256"),
        })
        .collect();
    Ok((versions, tensors))
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

/// This process's thread count (Linux: `Threads:` in /proc/self/status).
fn threads() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // candle's quantized CPU code starts no thread pool; should anything in it use rayon, one
    // thread. Set before anything else runs.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 5;
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
            "--only" => {
                let reader = it
                    .next()
                    .cloned()
                    .unwrap_or_else(|| usage("--only takes a reader"));
                if !RUST_READERS.contains(&reader.as_str()) && reader != PYTHON {
                    usage(&format!("no reader {reader}"));
                }
                only = Some(reader);
            }
            "-h" | "--help" => usage(""),
            other if other.starts_with('-') => usage(&format!("unknown option {other}")),
            other => file = Some(PathBuf::from(other)),
        }
    }
    let hint = if file.is_none() {
        " (./test.sh assembles the Gemma model)"
    } else {
        ""
    };
    let path = file.unwrap_or_else(|| {
        let gemma =
            weightmap_tests::workspace_root().join("target/fixtures/gemma-3-270m-q4_k_m.gguf");
        std::fs::canonicalize(&gemma).unwrap_or(gemma)
    });
    let size = std::fs::metadata(&path)
        .map(|m| m.len())
        .unwrap_or_else(|e| fail(&format!("{}: {e}{hint}", path.display())));
    let selected = |r: &str| only.as_deref().is_none_or(|o| o == r);

    // SAFETY: nothing modifies the benchmark's input file while it is mapped.
    let model = unsafe { weightmap_native::open_trusted(&path) }
        .unwrap_or_else(|e| fail(&format!("weightmap: {e}")));
    let names: Vec<String> = model.tensors().map(|t| t.name().to_owned()).collect();
    let views: Vec<TensorView<'_>> = names
        .iter()
        .map(|n| {
            model
                .tensor(n)
                .unwrap_or_else(|e| fail(&format!("weightmap: {n}: {e}")))
        })
        .collect();
    if let Some(v) = views.iter().find(|v| !dequant::supports(v.dtype())) {
        fail(&format!(
            "weightmap has no decoder for {} ({})",
            v.dtype(),
            v.name()
        ));
    }

    // candle's tensors, built before anything is timed: the blocks copied into its own vectors.
    let candle_tensors: Vec<QTensor> = if selected("candle") || selected("candle-alloc") {
        let mut reader =
            BufReader::new(File::open(&path).unwrap_or_else(|e| fail(&format!("candle: {e}"))));
        let content =
            gguf_file::Content::read(&mut reader).unwrap_or_else(|e| fail(&candle_err(e)));
        names
            .iter()
            .map(|n| {
                content
                    .tensor(&mut reader, n, &Device::Cpu)
                    .unwrap_or_else(|e| fail(&format!("{n}: {}", candle_err(e))))
            })
            .collect()
    } else {
        Vec::new()
    };
    let candle = candle_tensors
        .iter()
        .map(|q| (q, q.data().unwrap_or_else(|e| fail(&candle_err(e)))))
        .collect();

    let largest = views
        .iter()
        .map(|v| v.n_elements() as usize)
        .max()
        .unwrap_or(0);
    let total: usize = views.iter().map(|v| v.n_elements() as usize).sum();
    // Both buffers are written once here, so that no run pays their page faults.
    let mut bench = Bench {
        views,
        candle,
        out: vec![1f32; largest],
        src: vec![1f32; if selected("memcpy") { largest } else { 0 }],
        chunk: vec![1f32; STREAM_CHUNK],
    };
    println!(
        "{}: {size} bytes, {} tensors, {total} elements ({:.3} GB of f32), median of {runs} runs per tensor, one thread",
        path.display(),
        names.len(),
        total as f64 * 4e-9
    );

    // weightmap's output is the reference; every other reader's is checked against it.
    let reference: Vec<String> = (0..names.len())
        .map(|i| match bench.decode("weightmap", i, true) {
            Ok((_, Some(sum))) => sum,
            Ok(_) => fail("weightmap's output was not checked"),
            Err(e) => fail(&format!("weightmap: {}: {e}", names[i])),
        })
        .collect();
    let readers: Vec<&str> = RUST_READERS.into_iter().filter(|r| selected(r)).collect();
    let mut notes = Vec::new();
    for &reader in &readers {
        // The warm-up pass, checked.
        let (mut equal, mut checked) = (0, 0);
        for i in 0..names.len() {
            let (_, sum) = bench
                .decode(reader, i, true)
                .unwrap_or_else(|e| fail(&format!("{reader}: {}: {e}", names[i])));
            let Some(sum) = sum else { continue };
            checked += 1;
            if sum == reference[i] {
                equal += 1;
                continue;
            }
            if !reader.starts_with("candle") {
                fail(&format!(
                    "{reader} decodes {} differently from weightmap",
                    names[i]
                ));
            }
            let (differ, max_diff, scale) = bench
                .difference(i)
                .unwrap_or_else(|e| fail(&format!("candle: {}: {e}", names[i])));
            println!(
                "  {reader}: {} ({}): {differ} of {} values differ from weightmap's, by at most {max_diff:e} (largest value {scale:e})",
                names[i],
                bench.views[i].dtype(),
                bench.elements(i)
            );
            // Rounding of another order of operations, not another decoding.
            if max_diff.is_nan() || max_diff > scale * 1e-5 {
                fail(&format!(
                    "{reader} decodes {} differently from weightmap",
                    names[i]
                ));
            }
        }
        if checked > 0 {
            notes.push(format!("{reader} {equal}/{checked}"));
        }
    }

    let mut times: Vec<Vec<Vec<Duration>>> =
        vec![vec![Vec::with_capacity(runs); names.len()]; readers.len()];
    for _ in 0..runs {
        for (r, &reader) in readers.iter().enumerate() {
            for (i, name) in names.iter().enumerate() {
                let (time, _) = bench
                    .decode(reader, i, false)
                    .unwrap_or_else(|e| fail(&format!("{reader}: {name}: {e}")));
                times[r][i].push(time);
            }
        }
    }
    // Per reader, each tensor's median in seconds.
    let mut seconds: Vec<(&str, Vec<f64>)> = readers
        .iter()
        .zip(&mut times)
        .map(|(&reader, t)| {
            (
                reader,
                t.iter_mut().map(|t| median(t).as_secs_f64()).collect(),
            )
        })
        .collect();

    if selected(PYTHON) {
        match python() {
            None => println!(
                "{PYTHON}: skipped: no Python at $WEIGHTMAP_PYTHON or .venv/bin/python (./test.sh installs it)"
            ),
            Some(python) => {
                let (versions, py) = run_python(&python, &path, runs).unwrap_or_else(|e| fail(&e));
                if py.len() != names.len() {
                    fail(&format!("{PYTHON} lists {} tensors, weightmap {}", py.len(), names.len()));
                }
                for (i, t) in py.iter().enumerate() {
                    let view = &bench.views[i];
                    if t.name != names[i] || t.ty != view.dtype().name() || t.elements != bench.elements(i) {
                        fail(&format!(
                            "{PYTHON} lists {} {} of {} elements where weightmap has {} {} of {}",
                            t.name,
                            t.ty,
                            t.elements,
                            names[i],
                            view.dtype(),
                            bench.elements(i)
                        ));
                    }
                    if t.sha256 != reference[i] {
                        fail(&format!("{PYTHON} decodes {} differently from weightmap", names[i]));
                    }
                }
                notes.push(format!("{PYTHON} {0}/{0}", py.len()));
                println!("{PYTHON}: {versions}, {}", python.display());
                seconds.push((PYTHON, py.iter().map(|t| t.seconds).collect()));
            }
        }
    }
    if !notes.is_empty() {
        println!(
            "output equal to weightmap's bit for bit (tensors): {}",
            notes.join(", ")
        );
    }

    // Per type, and in total: each reader's summed seconds.
    let mut types: BTreeMap<&str, Row> = BTreeMap::new();
    let mut total_row = Row::new("total", seconds.len());
    for (i, view) in bench.views.iter().enumerate() {
        let name = view.dtype().name();
        let row = types
            .entry(name)
            .or_insert_with(|| Row::new(name, seconds.len()));
        for row in [row, &mut total_row] {
            row.tensors += 1;
            row.elements += bench.elements(i);
            row.input += view.bytes().len();
            for (r, (_, s)) in seconds.iter().enumerate() {
                row.seconds[r] += s[i];
            }
        }
    }
    let mut rows: Vec<Row> = types.into_values().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.elements));
    rows.push(total_row);
    let reader_at = |name: &str| seconds.iter().position(|(r, _)| *r == name);
    for row in &rows {
        println!(
            "\n{}: {} tensors, {} elements, {:.1} MB in, {:.1} MB of f32 out",
            row.name,
            row.tensors,
            row.elements,
            row.input as f64 * 1e-6,
            row.elements as f64 * 4e-6
        );
        let secs = &row.seconds;
        for (r, (reader, _)) in seconds.iter().enumerate() {
            // Each reader against weightmap's time; the allocating call against weightmap's.
            let base = match *reader {
                "candle-alloc" => "weightmap-alloc",
                "candle-streamed" => "weightmap-streamed",
                _ => "weightmap",
            };
            let ratio = reader_at(base)
                .filter(|&b| b != r)
                .map_or(String::new(), |b| {
                    format!("  {:7.2}x {base}'s time", secs[r] / secs[b])
                });
            println!(
                "  {reader:16} {:10.6} s  {:7.2} GB/s{ratio}",
                secs[r],
                row.elements as f64 * 4e-9 / secs[r]
            );
        }
    }
    println!();
    if let Some(n) = threads() {
        println!("threads: {n}");
    }
    let total = &rows[rows.len() - 1].seconds;
    let total_of = |name: &str| reader_at(name).map_or(f64::NAN, |r| total[r]);
    println!(
        "alloc-ratios: candle-alloc/weightmap-alloc={:.2} gguf-py/weightmap-alloc={:.2}",
        total_of("candle-alloc") / total_of("weightmap-alloc"),
        total_of(PYTHON) / total_of("weightmap-alloc")
    );
    println!(
        "streamed-ratios: candle-streamed/weightmap-streamed={:.2} gguf-py/weightmap-streamed={:.2}",
        total_of("candle-streamed") / total_of("weightmap-streamed"),
        total_of(PYTHON) / total_of("weightmap-streamed")
    );
    println!(
        "dequant-ratios: candle/weightmap={:.2} gguf-py/weightmap={:.2}",
        total_of("candle") / total_of("weightmap"),
        total_of(PYTHON) / total_of("weightmap")
    );
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: compare-dequant [FILE] [--runs N] [--only weightmap|candle|weightmap-alloc|candle-alloc|memcpy|gguf-py]"
    );
    std::process::exit(2);
}
