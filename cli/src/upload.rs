//! `weightmap upload`: every tensor of a GGUF file to a CUDA device through the pinned
//! staging ring, with a progress bar, the time of each phase, the throughput and the peak
//! memory it cost.

use std::io::{self, Write};
use std::ops::{ControlFlow, Range};
use std::path::Path;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::json;
use tokio::runtime::{Handle, Runtime};
use weightmap_gpu::{
    upload_file, upload_remote, CudaTarget, FileUpload, Fill, HostTarget, PlanOptions,
    RemoteUpload, Target, TensorFilter, UploadOptions, UploadReport,
};
use weightmap_native::{peak_resident_set_size, reset_peak_resident_set_size, resident_set_size};
use weightmap_remote::RemoteModel;

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
    /// Requests in flight and bytes of one request, for a model read from a URL.
    pub concurrency: usize,
    pub part_mib: u64,
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

/// Where the tensors come from.
enum Source<'a> {
    File(&'a Path),
    /// A model opened from object storage, the runtime its requests run on, and how long
    /// opening it took.
    Remote(&'a Handle, &'a RemoteModel, Duration),
}

/// Runs the upload from `source` into `target`: its report (the open phase included) and
/// how many tensors it uploaded.
fn load<T: Target>(
    source: &Source<'_>,
    options: &FileUpload,
    target: &mut T,
    progress: impl FnMut(weightmap_gpu::Progress) -> ControlFlow<()>,
) -> Result<(UploadReport, usize), CliError> {
    let model = match *source {
        Source::File(path) => upload_file(path, target, options, progress)?,
        Source::Remote(runtime, remote, _) => {
            let options = RemoteUpload {
                plan: options.plan.clone(),
                upload: options.upload.clone(),
                filter: options.filter.clone(),
            };
            upload_remote(remote, runtime, target, &options, progress)?
        }
    };
    let mut report = model.report().clone();
    if let Source::Remote(_, _, opened) = source {
        report.open += *opened;
    }
    Ok((report, model.tensor_count()))
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
    // A URL is opened first (its header read by range), then uploaded from its objects.
    let remote = match crate::remote::as_url(path) {
        Some(url) => Some(open_remote(url, options)?),
        None => None,
    };
    let source = match &remote {
        Some((runtime, model, opened)) => Source::Remote(runtime.handle(), model, *opened),
        None => Source::File(path),
    };
    let (device, report, tensors) = if options.host {
        let (report, tensors) = load(&source, &file_upload, &mut HostTarget::new(), progress)?;
        ("host memory".to_string(), report, tensors)
    } else {
        let mut target = CudaTarget::new(options.device)?;
        let name = target.device_name()?;
        let (report, tensors) = load(&source, &file_upload, &mut target, progress)?;
        (
            format!("CUDA device {} ({name})", options.device),
            report,
            tensors,
        )
    };
    bar.finish_and_clear();
    let traffic = remote
        .as_ref()
        .map(|(_, m, _)| (m.traffic().requests(), m.traffic().bytes()));
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
                "fill": match remote {
                    Some(_) => "remote".to_owned(),
                    None => format!("{:?}", options.fill).to_lowercase(),
                },
                "remote": traffic.map(|(requests, bytes)| json!({"requests": requests, "bytes": bytes})),
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
        write_text(&mut out, path, &device, &report, tensors, growth, traffic)
    };
    finish(written, &mut out)
}

/// Opens the model at `url` (its header read by range) on a runtime the upload's requests
/// then run on; how long it took.
fn open_remote(url: &str, options: &Options) -> Result<(Runtime, RemoteModel, Duration), CliError> {
    let started = std::time::Instant::now();
    let runtime = crate::remote::runtime()?;
    let remote_options = crate::remote::remote_options(options.concurrency, options.part_mib)?;
    let model = runtime.block_on(RemoteModel::open(url, &remote_options))?;
    Ok((runtime, model, started.elapsed()))
}

fn write_text(
    out: &mut impl Write,
    path: &Path,
    device: &str,
    report: &UploadReport,
    tensors: usize,
    growth: Option<u64>,
    traffic: Option<(u64, u64)>,
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
        Some(v) => writeln!(
            out,
            ", verify {:.1} ms: every byte matches the source",
            ms(v)
        )?,
        None => writeln!(out)?,
    }
    if let Some((requests, bytes)) = traffic {
        writeln!(
            out,
            "  read by range: {requests} requests, {}",
            HumanBytes(bytes)
        )?;
    }
    match growth {
        Some(g) => writeln!(out, "  peak RSS growth: {}", HumanBytes(g)),
        None => writeln!(out, "  peak RSS growth: unknown on this system"),
    }
}
