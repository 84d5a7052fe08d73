//! `weightmap touch`: fault every page of a file in (with a progress bar), report the time and
//! page faults it took, and optionally hand the pages back. A model of several files (a shard
//! index, a GGUF split set) is touched file after file, under one bar.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::json;
use weightmap_native::{resident_set_size, MmapConfig, MmapFile};

use crate::error::{finish, write_json, CliError};

pub struct Options {
    pub release: bool,
    pub evict: bool,
    pub json: bool,
}

/// What touching the files did, added up.
#[derive(Default)]
struct Touched {
    bytes: u64,
    pages: u64,
    elapsed: Duration,
    minor: u64,
    major: u64,
}

pub fn run(path: &Path, options: &Options) -> Result<(), CliError> {
    let paths = weightmap_native::model_files(path)?;
    // Any file: mapped for its bytes only, guarded so that a truncation is an error.
    let files = paths
        .iter()
        .map(|p| MmapFile::open_untrusted_with(p, &MmapConfig::guarded()).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    if options.evict {
        for file in &files {
            file.evict_page_cache()?;
        }
    }
    let rss_before = resident_set_size();
    let total: u64 = files.iter().map(|f| f.size() as u64).sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} touching {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if options.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut report = Touched::default();
    for file in &files {
        let warming = file.prefetch_all()?;
        while !warming.is_finished() {
            bar.set_position(report.bytes + warming.progress().0);
            std::thread::sleep(Duration::from_millis(5));
        }
        let done = warming.wait();
        file.check_intact()?;
        report.bytes += done.bytes;
        report.pages += done.pages;
        report.elapsed += done.elapsed;
        report.minor += done.faults.minor;
        report.major += done.faults.major;
    }
    bar.finish_and_clear();
    let rss_touched = resident_set_size();
    let released = if options.release {
        for file in &files {
            file.release_cpu_pages()?;
        }
        Some(resident_set_size())
    } else {
        None
    };
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        report.bytes as f64 / seconds
    } else {
        0.0
    };
    let mut out = io::stdout().lock();
    let written = if options.json {
        let mut v = json!({
            "file": path.display().to_string(),
            "bytes": report.bytes,
            "pages": report.pages,
            "seconds": seconds,
            "bytes_per_second": rate,
            "minor_faults": report.minor,
            "major_faults": report.major,
            "rss_before": rss_before,
            "rss_touched": rss_touched,
        });
        if let Some(rss) = released {
            v["rss_released"] = json!(rss);
        }
        if paths.len() > 1 || paths.first().is_some_and(|p| p != path) {
            v["files"] = paths.iter().map(|p| p.display().to_string()).collect();
        }
        write_json(&mut out, &v)
    } else {
        use std::io::Write;
        let rss =
            |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |b| HumanBytes(b).to_string());
        (|| {
            writeln!(out, "{}", path.display())?;
            if paths.len() > 1 {
                writeln!(out, "  {} files", paths.len())?;
            }
            writeln!(
                out,
                "  touched {} ({} pages) in {:.3} s, {}/s",
                HumanBytes(report.bytes),
                report.pages,
                seconds,
                HumanBytes(rate as u64)
            )?;
            writeln!(
                out,
                "  page faults: {} minor, {} major (read from disk)",
                report.minor, report.major
            )?;
            writeln!(
                out,
                "  RSS: {} before, {} touched",
                rss(rss_before),
                rss(rss_touched)
            )?;
            if let Some(after) = released {
                writeln!(out, "  released: RSS {}", rss(after))?;
            }
            Ok(())
        })()
    };
    finish(written, &mut out)
}
