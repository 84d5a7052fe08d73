//! `weightmap tensor FILE NAME`: one tensor's place and its values' statistics with a
//! histogram, or its values (`--f32`) or stored bytes (`--raw`) written to a file. Values are
//! decoded a chunk of blocks at a time, so memory stays bounded whatever the tensor's size.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use weightmap_core::TensorView;
use weightmap_native::{MmapConfig, SourceConfig};

use crate::error::{finish, write_json, CliError};

/// What `tensor` was asked for.
pub struct Options {
    pub json: bool,
    /// Write the values as little-endian f32 to this path.
    pub f32_out: Option<PathBuf>,
    /// Write the stored bytes to this path.
    pub raw_out: Option<PathBuf>,
    /// Histogram bins.
    pub bins: usize,
}

/// Elements decoded at a time (rounded to whole blocks).
const CHUNK_ELEMENTS: u64 = 1 << 16;

pub fn run(path: &Path, name: &str, options: &Options) -> Result<(), CliError> {
    if !(1..=1000).contains(&options.bins) {
        return Err(CliError::Usage(
            "--bins takes a number from 1 to 1000".into(),
        ));
    }
    // Guarded: a file cut short by another process while it is read gives an error below,
    // not SIGBUS.
    let config = SourceConfig {
        mmap: MmapConfig::guarded(),
        ..SourceConfig::default()
    };
    let model = weightmap_native::open_with(path, &config)?;
    let info = model.tensor_info(name).ok_or_else(|| {
        CliError::Usage(format!(
            "{}: no tensor named {name:?} (weightmap inspect --tensors lists them)",
            path.display()
        ))
    })?;
    let file = weightmap_native::shard_paths(path, &model)
        .get(info.shard())
        .cloned()
        .unwrap_or_else(|| path.to_path_buf());
    let view = model.tensor(name).map_err(|source| CliError::Parse {
        path: file.display().to_string(),
        source,
    })?;
    let decode_error = |source| CliError::Parse {
        path: format!("{}: tensor {name:?}", file.display()),
        source,
    };
    if let Some(out) = &options.raw_out {
        write_file(out, |w| w.write_all(view.bytes()))?;
    }
    if let Some(out) = &options.f32_out {
        let mut failed = None;
        write_file(out, |w| {
            let result = each_chunk(&view, |values| {
                for v in values {
                    w.write_all(&v.to_le_bytes())?;
                }
                Ok(())
            });
            match result {
                Ok(()) => Ok(()),
                Err(Failure::Io(e)) => Err(e),
                Err(Failure::Decode(e)) => {
                    failed = Some(e);
                    Ok(())
                }
            }
        })?;
        if let Some(e) = failed {
            let _ = std::fs::remove_file(out);
            return Err(decode_error(e));
        }
    }
    let stats = Stats::of(&view, options.bins).map_err(decode_error)?;
    // Zeros read past a cut are not the file's values.
    if let Some(shard) = model.shards().get(info.shard()) {
        if let Err(e) = shard.file().data().check_intact() {
            for written in [&options.f32_out, &options.raw_out].into_iter().flatten() {
                let _ = std::fs::remove_file(written);
            }
            return Err(e.into());
        }
    }
    let range = info.file_range();
    // As `inspect` shows it (GGUF's ne[0] first), and row-major as the values are written.
    let shape: Vec<u64> = info.file_shape().collect();
    let mut out = io::stdout().lock();
    let written = if options.json {
        write_json(
            &mut out,
            &json!({
                "name": name,
                "type": view.dtype().name(),
                "shape": shape,
                "dims": view.dims(),
                "file": file.display().to_string(),
                "byte_range": [range.start, range.end],
                "bytes": range.end - range.start,
                "count": stats.count,
                "finite": stats.finite,
                "min": stats.finite_or_null(stats.min),
                "max": stats.finite_or_null(stats.max),
                "mean": stats.finite_or_null(stats.mean()),
                "std": stats.finite_or_null(stats.std()),
                "nan": stats.nan,
                "pos_inf": stats.pos_inf,
                "neg_inf": stats.neg_inf,
                "histogram": {"edges": stats.edges(), "counts": stats.bins},
            }),
        )
    } else {
        write_text(&mut out, name, &view, &shape, &file, range, &stats)
    };
    finish(written, &mut out)
}

/// Why walking the values stopped.
enum Failure {
    Io(io::Error),
    Decode(weightmap_core::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Calls `f` with the tensor's values, a chunk of whole blocks at a time, in order.
fn each_chunk(
    view: &TensorView<'_>,
    mut f: impl FnMut(&[f32]) -> io::Result<()>,
) -> Result<(), Failure> {
    let ty = view.dtype();
    let block = ty.block_size().max(1);
    let blocks = view.bytes().len() as u64 / ty.type_size().max(1);
    let per_chunk = (CHUNK_ELEMENTS / block).max(1);
    // ok: at most CHUNK_ELEMENTS, or one block (256 elements at most)
    let mut buffer = vec![0f32; (per_chunk * block) as usize];
    let mut at = 0;
    while at < blocks {
        let n = per_chunk.min(blocks - at);
        // ok: n * block <= buffer.len()
        let values = &mut buffer[..(n * block) as usize];
        view.decode_f32(at..at + n, values)
            .map_err(Failure::Decode)?;
        f(values)?;
        at += n;
    }
    Ok(())
}

/// Creates `path` and writes it through `write`.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), CliError> {
    let failed =
        |e: io::Error| CliError::Usage(format!("{}: cannot write it: {e}", path.display()));
    let file = File::create(path).map_err(failed)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write(&mut w).map_err(failed)?;
    w.flush().map_err(failed)
}

/// Count, extremes, moments and a histogram of the finite values.
struct Stats {
    count: u64,
    finite: u64,
    nan: u64,
    pos_inf: u64,
    neg_inf: u64,
    min: f64,
    max: f64,
    /// Welford's running mean and sum of squared deviations (f64).
    mean: f64,
    m2: f64,
    bins: Vec<u64>,
}

impl Stats {
    /// Two passes over the values: counts and moments, then the histogram between the
    /// extremes.
    fn of(view: &TensorView<'_>, bins: usize) -> Result<Stats, weightmap_core::Error> {
        let mut s = Stats {
            count: 0,
            finite: 0,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
            bins: vec![0; bins],
        };
        let first = each_chunk(view, |values| {
            for &v in values {
                s.add(v);
            }
            Ok(())
        });
        unwrap_decode(first)?;
        if s.finite > 0 {
            let (min, width) = (s.min, (s.max - s.min) / bins as f64);
            let last = bins - 1;
            let counts = &mut s.bins;
            let second = each_chunk(view, |values| {
                for &v in values.iter().filter(|v| v.is_finite()) {
                    let bin = if width > 0.0 {
                        // ok: a non-negative finite float, clamped to the last bin
                        (((f64::from(v) - min) / width) as usize).min(last)
                    } else {
                        0
                    };
                    counts[bin] += 1;
                }
                Ok(())
            });
            unwrap_decode(second)?;
        }
        Ok(s)
    }

    fn add(&mut self, v: f32) {
        self.count += 1;
        if v.is_nan() {
            self.nan += 1;
        } else if v == f32::INFINITY {
            self.pos_inf += 1;
        } else if v == f32::NEG_INFINITY {
            self.neg_inf += 1;
        } else {
            let v = f64::from(v);
            self.finite += 1;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            let delta = v - self.mean;
            self.mean += delta / self.finite as f64;
            self.m2 += delta * (v - self.mean);
        }
    }

    fn mean(&self) -> f64 {
        if self.finite == 0 {
            f64::NAN
        } else {
            self.mean
        }
    }

    /// The population standard deviation (numpy's `std`).
    fn std(&self) -> f64 {
        if self.finite == 0 {
            f64::NAN
        } else {
            (self.m2 / self.finite as f64).sqrt()
        }
    }

    fn edges(&self) -> Vec<f64> {
        if self.finite == 0 {
            return Vec::new();
        }
        let n = self.bins.len();
        let width = (self.max - self.min) / n as f64;
        (0..=n).map(|i| self.min + width * i as f64).collect()
    }

    fn finite_or_null(&self, v: f64) -> serde_json::Value {
        if self.finite > 0 && v.is_finite() {
            json!(v)
        } else {
            serde_json::Value::Null
        }
    }
}

fn unwrap_decode(result: Result<(), Failure>) -> Result<(), weightmap_core::Error> {
    match result {
        Ok(()) | Err(Failure::Io(_)) => Ok(()),
        Err(Failure::Decode(e)) => Err(e),
    }
}

fn write_text(
    out: &mut impl Write,
    name: &str,
    view: &TensorView<'_>,
    shape: &[u64],
    file: &Path,
    range: std::ops::Range<u64>,
    s: &Stats,
) -> io::Result<()> {
    writeln!(
        out,
        "{name}: {} {shape:?} (row-major {:?})",
        view.dtype().name(),
        view.dims()
    )?;
    writeln!(
        out,
        "  {} bytes {}..{} ({})",
        file.display(),
        range.start,
        range.end,
        indicatif::HumanBytes(range.end - range.start)
    )?;
    writeln!(out, "  {} values, {} finite", s.count, s.finite)?;
    if s.finite > 0 {
        writeln!(
            out,
            "  min {:.6e}  max {:.6e}  mean {:.6e}  std {:.6e}",
            s.min,
            s.max,
            s.mean(),
            s.std()
        )?;
    }
    writeln!(
        out,
        "  NaN {}  +inf {}  -inf {}",
        s.nan, s.pos_inf, s.neg_inf
    )?;
    let edges = s.edges();
    let top = s.bins.iter().copied().max().unwrap_or(0).max(1);
    for (i, &n) in s.bins.iter().enumerate() {
        let (Some(lo), Some(hi)) = (edges.get(i), edges.get(i + 1)) else {
            break;
        };
        // ok: at most 40
        let width = (n as f64 / top as f64 * 40.0).round() as usize;
        writeln!(
            out,
            "  {lo:>13.5e} .. {hi:<13.5e} {:<40} {n}",
            "█".repeat(width)
        )?;
    }
    Ok(())
}
