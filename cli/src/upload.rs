//! `weightmap upload`: every tensor of a GGUF file to a CUDA device through the pinned
//! staging ring, with a progress bar, the time of each phase, the throughput and the peak
//! memory it cost.

use std::io::{self, Write};
use std::ops::{ControlFlow, Range};
use std::path::Path;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::json;
use weightmap_gpu::{
    upload_file, CudaTarget, FileUpload, Fill, HostTarget, PlanOptions, TensorFilter,
    UploadOptions, UploadReport,
};
use weightmap_native::{peak_resident_set_size, reset_peak_resident_set_size, resident_set_size};

use crate::error::{finish, write_json, CliError};

pub struct Options {
    pub device: usize,
    pub host: bool,
    pub chunk_mib: usize,
    pub buffers: usize,
    pub threads: Option<usize>,
    pub fill: Fill,
    pub evict: bool,
    pub keep_pages: bool,
    pub verify: bool,
    pub layers: Option<Range<u32>>,
    pub tensors: Vec<String>,
    pub json: bool,
}

/// Parses `A..B` (blocks A to B-1).
pub fn parse_layers(text: &str) -> Result<Range<u32>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not a range like 0..12"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|e| format!("{s:?} in {text:?}: {e}"))
    };
    let range = number(start)?..number(end)?;
    if range.is_empty() {
        return Err(format!("{text:?} is empty"));
    }
    Ok(range)
}

pub fn run(path: &Path, options: &Options) -> Result<(), CliError> {
    let chunk_size = options
        .chunk_mib
        .checked_mul(1 << 20)
        .filter(|&c| c > 0 && c <= 1 << 30)
        .ok_or_else(|| CliError::Usage("--chunk-mib must be between 1 and 1024".into()))?;
    let in_range = |v: usize| (1..=1024).contains(&v);
    if !in_range(options.buffers) || !options.threads.is_none_or(in_range) {
        return Err(CliError::Usage(
            "--buffers and --threads must be between 1 and 1024".into(),
        ));
    }
    if (options.buffers as u64) * (chunk_size as u64) > 16 << 30 {
        return Err(CliError::Usage(
            "--buffers x --chunk-mib must stay within 16 GiB of staging memory".into(),
        ));
    }
    let mut filter = None;
    if let Some(layers) = &options.layers {
        filter = Some(TensorFilter::layers(layers.clone()));
    }
    if !options.tensors.is_empty() {
        let names = TensorFilter::names(options.tensors.iter().cloned());
        filter = Some(filter.map_or(names.clone(), |f| f.or(names)));
    }
    let defaults = UploadOptions::default();
    let file_upload = FileUpload {
        plan: PlanOptions {
            chunk_size,
            ..PlanOptions::default()
        },
        upload: UploadOptions {
            buffers: options.buffers,
            threads: options.threads.unwrap_or(defaults.threads),
            release_pages: !options.keep_pages,
            verify: options.verify,
        },
        fill: options.fill,
        evict_page_cache: options.evict,
        filter: filter.unwrap_or_default(),
    };

    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} uploading {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if options.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |p: weightmap_gpu::Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        ControlFlow::Continue(())
    };

    let rss_before = resident_set_size();
    let peak_measured = reset_peak_resident_set_size();
    let (device, report, tensors) = if options.host {
        let model = upload_file(path, &mut HostTarget::new(), &file_upload, progress)?;
        (
            "host memory".to_string(),
            model.report().clone(),
            model.tensor_count(),
        )
    } else {
        let mut target = CudaTarget::new(options.device)?;
        let name = target.device_name()?;
        let model = upload_file(path, &mut target, &file_upload, progress)?;
        (
            format!("CUDA device {} ({name})", options.device),
            model.report().clone(),
            model.tensor_count(),
        )
    };
    bar.finish_and_clear();
    let peak_rss = peak_measured.then(peak_resident_set_size).flatten();
    let growth = peak_rss.zip(rss_before).map(|(p, b)| p.saturating_sub(b));

    let mut out = io::stdout().lock();
    let written = if options.json {
        let seconds = |d: Duration| d.as_secs_f64();
        write_json(
            &mut out,
            &json!({
                "file": path.display().to_string(),
                "device": device,
                "tensors": tensors,
                "bytes": report.bytes,
                "arena_bytes": report.arena_len,
                "chunks": report.chunks,
                "chunk_size": chunk_size,
                "buffers": report.buffers,
                "threads": report.threads,
                "fill": format!("{:?}", options.fill).to_lowercase(),
                "seconds": {
                    "open": seconds(report.open),
                    "allocate": seconds(report.allocate),
                    "transfer": seconds(report.transfer),
                    "verify": report.verify.map(seconds),
                },
                "bytes_per_second": report.bytes_per_second(),
                "verified": report.verify.is_some(),
                "rss_before": rss_before,
                "peak_rss": peak_rss,
                "peak_rss_growth": growth,
            }),
        )
    } else {
        write_text(&mut out, path, &device, &report, tensors, growth)
    };
    finish(written, &mut out)
}

fn write_text(
    out: &mut impl Write,
    path: &Path,
    device: &str,
    report: &UploadReport,
    tensors: usize,
    growth: Option<u64>,
) -> io::Result<()> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    writeln!(out, "{} -> {device}", path.display())?;
    writeln!(
        out,
        "  {tensors} tensors, {} in {} chunks ({} buffers of {}, {} fill threads)",
        HumanBytes(report.bytes),
        report.chunks,
        report.buffers,
        HumanBytes(report.staging_len as u64),
        report.threads
    )?;
    writeln!(
        out,
        "  transfer {:.1} ms: {:.2} GB/s",
        ms(report.transfer),
        report.bytes_per_second() / 1e9
    )?;
    write!(
        out,
        "  open+plan {:.1} ms, allocate {:.1} ms",
        ms(report.open),
        ms(report.allocate)
    )?;
    match report.verify {
        Some(v) => writeln!(out, ", verify {:.1} ms: every byte matches the file", ms(v))?,
        None => writeln!(out)?,
    }
    match growth {
        Some(g) => writeln!(out, "  peak RSS growth: {}", HumanBytes(g)),
        None => writeln!(out, "  peak RSS growth: unknown on this system"),
    }
}
