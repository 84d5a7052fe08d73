//! `weightmap touch`: fault every page of a file in (with a progress bar), report the time and
//! page faults it took, and optionally hand the pages back.

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

pub fn run(path: &Path, options: &Options) -> Result<(), CliError> {
    // Any file: mapped for its bytes only, guarded so that a truncation is an error.
    let file = Arc::new(MmapFile::open_untrusted_with(path, &MmapConfig::guarded())?);
    if options.evict {
        file.evict_page_cache()?;
    }
    let rss_before = resident_set_size();
    let warming = file.prefetch_all()?;
    let bar = ProgressBar::new(file.size() as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} touching {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if options.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    while !warming.is_finished() {
        bar.set_position(warming.progress().0);
        std::thread::sleep(Duration::from_millis(5));
    }
    bar.finish_and_clear();
    let report = warming.wait();
    file.check_intact()?;
    let rss_touched = resident_set_size();
    let released = if options.release {
        file.release_cpu_pages()?;
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
            "minor_faults": report.faults.minor,
            "major_faults": report.faults.major,
            "rss_before": rss_before,
            "rss_touched": rss_touched,
        });
        if let Some(rss) = released {
            v["rss_released"] = json!(rss);
        }
        write_json(&mut out, &v)
    } else {
        use std::io::Write;
        let rss =
            |v: Option<u64>| v.map_or_else(|| "unknown".to_string(), |b| HumanBytes(b).to_string());
        (|| {
            writeln!(out, "{}", path.display())?;
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
                report.faults.minor, report.faults.major
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
