//! `weightmap inspect URL` and `weightmap get URL`: models in object storage (S3, GCS, Azure,
//! HTTP(S), file://), through weightmap-remote.

use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::json;
use weightmap_remote::{Options as RemoteOptions, RemoteModel, RemoteObject};

use crate::error::{finish, write_json, CliError};
use crate::inspect::Options as InspectOptions;
use crate::report;

/// The URL in a file argument, if it is one (`scheme://...`).
pub fn as_url(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    let plain = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    plain.then_some(text)
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Output)
}

/// `inspect URL`: the header (of every file of a sharded model) read by range, shown as for a
/// local file, plus the requests and bytes it took.
pub fn inspect(url: &str, options: &InspectOptions) -> Result<(), CliError> {
    let remote = runtime()?.block_on(RemoteModel::open(url, &RemoteOptions::default()))?;
    let model = remote.model();
    let lens: Vec<_> = remote.objects().iter().map(|o| Some(o.size())).collect();
    let traffic = remote.traffic();
    let mut out = io::stdout().lock();
    let written = if options.json {
        let mut value = report::json(report::of_model(model, &lens));
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "remote".into(),
                json!({"url": url, "requests": traffic.requests(), "bytes": traffic.bytes()}),
            );
        }
        write_json(&mut out, &value)
    } else {
        let name = format!(
            "{url} (read by range: {} requests, {})",
            traffic.requests(),
            HumanBytes(traffic.bytes())
        );
        let fit = crate::display::Fit { full: options.full };
        report::text(
            &mut out,
            report::of_model(model, &lens),
            &name,
            options.tensors,
            fit,
        )
    };
    finish(written, &mut out)
}

/// The remote options of `--concurrency N --part-mib N`.
pub fn remote_options(concurrency: usize, part_mib: u64) -> Result<RemoteOptions, CliError> {
    if !(1..=1024).contains(&concurrency) || !(1..=1024).contains(&part_mib) {
        return Err(CliError::Usage(
            "--concurrency and --part-mib take numbers from 1 to 1024".into(),
        ));
    }
    Ok(RemoteOptions {
        concurrency,
        part_size: part_mib << 20,
        ..RemoteOptions::default()
    })
}

/// A download's part size when none is given: about four parts per connection, between
/// 8 and 64 MiB. Fewer, larger requests cost less per byte on every server (and per request
/// on S3's bill); four per connection keep the connections busy to the end.
pub fn auto_part_size(size: u64, concurrency: usize) -> u64 {
    let parts = (concurrency.max(1) as u64).saturating_mul(4);
    (size / parts).clamp(8 << 20, 64 << 20)
}

/// `get`'s options.
pub struct GetOptions {
    pub output: PathBuf,
    pub concurrency: usize,
    /// `None`: [`auto_part_size`].
    pub part_mib: Option<u64>,
    pub force: bool,
    pub json: bool,
}

/// `get URL -o PATH`: the model's files downloaded by parallel ranged reads (a sharded model's
/// into the folder PATH), resumed where a partial download stopped, then opened to check
/// that they parse.
pub fn get(url: &str, options: &GetOptions) -> Result<(), CliError> {
    let remote_options = remote_options(options.concurrency, options.part_mib.unwrap_or(8))?;
    let started = Instant::now();
    let runtime = runtime()?;
    let remote = runtime.block_on(RemoteModel::open(url, &remote_options))?;
    let mut objects: Vec<&RemoteObject> = remote.index_object().into_iter().collect();
    objects.extend(remote.objects());
    // One file to PATH (or into PATH if it is a folder); a model of several into folder PATH.
    let several = objects.len() > 1;
    let target = |object: &RemoteObject| -> PathBuf {
        if several || options.output.is_dir() {
            options.output.join(object.location().file_name())
        } else {
            options.output.clone()
        }
    };
    if several {
        std::fs::create_dir_all(&options.output).map_err(|e| {
            CliError::Usage(format!(
                "{}: cannot make the folder: {e}",
                options.output.display()
            ))
        })?;
    }
    let total: u64 = objects.iter().map(|o| o.size()).sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} {msg} {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if options.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut files = Vec::new();
    let mut before = 0u64;
    for object in &objects {
        let path = target(object);
        if options.force && path.exists() {
            std::fs::remove_file(&path).map_err(|e| {
                CliError::Usage(format!("{}: cannot replace it: {e}", path.display()))
            })?;
        }
        bar.set_message(object.location().file_name().to_owned());
        let progress = |p: weightmap_remote::Progress| {
            bar.set_position(before + p.done);
            ControlFlow::Continue(())
        };
        let part_size = match options.part_mib {
            Some(_) => remote_options.part_size,
            None => auto_part_size(object.size(), options.concurrency),
        };
        let object_options = RemoteOptions {
            part_size,
            ..remote_options.clone()
        };
        let done = runtime.block_on(weightmap_remote::download(
            object,
            &path,
            &object_options,
            progress,
        ))?;
        before += done.size;
        files.push((path, done));
    }
    bar.finish_and_clear();
    // What was downloaded must open as the model it is.
    let first = match remote.index_object() {
        Some(index) => target(index),
        None => files.first().map(|(p, _)| p.clone()).unwrap_or_default(),
    };
    let opened = weightmap_native::open(&first)?;
    let seconds = started.elapsed().as_secs_f64();
    let fetched: u64 = files.iter().map(|(_, d)| d.fetched).sum();
    let mut out = io::stdout().lock();
    let written = if options.json {
        let list: Vec<_> = files
            .iter()
            .map(|(path, d)| json!({"file": path, "size": d.size, "fetched": d.fetched, "resumed": d.resumed}))
            .collect();
        write_json(
            &mut out,
            &json!({
                "url": url,
                "files": list,
                "bytes": total,
                "fetched": fetched,
                "tensors": opened.tensor_count(),
                "seconds": seconds,
                "bytes_per_second": fetched as f64 / seconds.max(1e-9),
                "requests": remote.traffic().requests(),
            }),
        )
    } else {
        use std::io::Write;
        writeln!(
            out,
            "{url}: {} files, {} ({} fetched) in {seconds:.2} s ({}/s); {} tensors, checked",
            files.len(),
            HumanBytes(total),
            HumanBytes(fetched),
            HumanBytes((fetched as f64 / seconds.max(1e-9)) as u64),
            opened.tensor_count()
        )
    };
    finish(written, &mut out)
}

#[cfg(test)]
mod tests {
    use super::auto_part_size;

    #[test]
    fn parts_are_a_quarter_of_a_connection_share_within_8_to_64_mib() {
        assert_eq!(auto_part_size(1 << 30, 16), 16 << 20);
        assert_eq!(auto_part_size(1 << 20, 16), 8 << 20);
        assert_eq!(auto_part_size(100 << 30, 16), 64 << 20);
        assert_eq!(auto_part_size(u64::MAX, 0), 64 << 20);
    }
}
