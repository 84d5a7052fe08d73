//! `weightmap residency`: which pages of a file are in the page cache, like `vmtouch`, in all
//! and per tensor; for a model of several files (a shard index, a GGUF split set), of each
//! file and in all.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use indicatif::HumanBytes;
use serde_json::{json, Value as Json};
use weightmap_native::{MmapConfig, MmapFile, Residency};

use crate::error::{finish, write_json, CliError};

/// One file's share.
struct FileRow {
    path: PathBuf,
    size: u64,
    residency: Residency,
}

struct TensorRow {
    name: String,
    dtype: String,
    file: usize,
    offset: u64,
    size: u64,
    residency: Residency,
}

pub fn run(path: &Path, tensors: bool, json: bool) -> Result<(), CliError> {
    let paths = weightmap_native::model_files(path)?;
    // Any file: mapped for its bytes only, never parsed in place.
    let maps = paths
        .iter()
        .map(|p| MmapFile::open_untrusted_with(p, &MmapConfig::guarded()))
        .collect::<Result<Vec<_>, _>>()?;
    // Measured before parsing: parsing reads the header pages.
    let mut files = Vec::with_capacity(maps.len());
    for (p, map) in paths.iter().zip(&maps) {
        files.push(FileRow {
            path: p.clone(),
            size: map.size() as u64,
            residency: map.residency()?,
        });
    }
    let per_tensor = if tensors {
        let config = weightmap_native::SourceConfig {
            header_only: true,
            ..Default::default()
        };
        let model = weightmap_native::open_with(path, &config)?;
        let mut rows = Vec::with_capacity(model.tensor_count());
        for t in model.tensors() {
            let range = t.file_range();
            let Some(map) = maps.get(t.shard()) else {
                continue;
            };
            let (start, end) = (range.start as usize, range.end as usize);
            rows.push(TensorRow {
                name: t.name().to_string(),
                dtype: t.dtype().to_string(),
                file: t.shard(),
                offset: range.start,
                size: range.end - range.start,
                residency: map.residency_of(start..end)?,
            });
        }
        Some(rows)
    } else {
        None
    };
    let name = path.display().to_string();
    let mut out = io::stdout().lock();
    let written = if json {
        write_json(&mut out, &to_json(&name, &files, per_tensor.as_deref()))
    } else {
        text(&mut out, &name, &files, per_tensor.as_deref())
    };
    finish(written, &mut out)
}

/// The files' residency added up.
fn total(files: &[FileRow]) -> (u64, Residency) {
    let all = Residency {
        page_size: files.first().map_or(0, |f| f.residency.page_size),
        pages: files.iter().map(|f| f.residency.pages).sum(),
        cached: files.iter().map(|f| f.residency.cached).sum(),
        mapped: files.iter().map(|f| f.residency.mapped).sum(),
    };
    (files.iter().map(|f| f.size).sum(), all)
}

fn file_json(f: &FileRow) -> Json {
    json!({
        "file": f.path.display().to_string(),
        "size": f.size,
        "pages": f.residency.pages,
        "cached_pages": f.residency.cached,
        "cached_fraction": f.residency.cached_fraction(),
    })
}

fn to_json(name: &str, files: &[FileRow], tensors: Option<&[TensorRow]>) -> Json {
    let (size, whole) = total(files);
    let mut v = json!({
        "file": name,
        "size": size,
        "page_size": whole.page_size,
        "pages": whole.pages,
        "cached_pages": whole.cached,
        "cached_fraction": whole.cached_fraction(),
    });
    let sharded = files.len() > 1 || files.first().is_some_and(|f| f.path != Path::new(name));
    if sharded {
        v["files"] = files.iter().map(file_json).collect();
    }
    if let Some(rows) = tensors {
        v["tensors"] = rows
            .iter()
            .map(|t| {
                let mut row = json!({
                    "name": t.name,
                    "type": t.dtype,
                    "offset": t.offset,
                    "size": t.size,
                    "pages": t.residency.pages,
                    "cached_pages": t.residency.cached,
                });
                if sharded {
                    row["file"] = files
                        .get(t.file)
                        .map(|f| f.path.display().to_string())
                        .into();
                }
                row
            })
            .collect();
    }
    v
}

fn summary(out: &mut impl Write, indent: &str, size: u64, r: &Residency) -> io::Result<()> {
    writeln!(
        out,
        "{indent}{} ({size} bytes), {} pages of {} bytes",
        HumanBytes(size),
        r.pages,
        r.page_size
    )?;
    writeln!(
        out,
        "{indent}in page cache: {}/{} pages ({:.1}%), {}",
        r.cached,
        r.pages,
        100.0 * r.cached_fraction(),
        HumanBytes(r.cached_bytes())
    )
}

fn text(
    out: &mut impl Write,
    name: &str,
    files: &[FileRow],
    tensors: Option<&[TensorRow]>,
) -> io::Result<()> {
    writeln!(out, "{name}")?;
    let (size, whole) = total(files);
    let sharded = files.len() > 1;
    if sharded {
        writeln!(out, "  {} files together:", files.len())?;
    }
    summary(out, "  ", size, &whole)?;
    if sharded {
        for (i, f) in files.iter().enumerate() {
            writeln!(out, "  file {i}: {}", f.path.display())?;
            summary(out, "    ", f.size, &f.residency)?;
        }
    }
    if let Some(rows) = tensors {
        let file = if sharded { "  file" } else { "" };
        writeln!(
            out,
            "\n  {:>6}  {:>11}  {:<11}{file} tensor",
            "cached", "size", "type"
        )?;
        for t in rows {
            let file = if sharded {
                format!("  {:>4}", t.file)
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {:>5.1}%  {:>11}  {:<11}{file} {}",
                100.0 * t.residency.cached_fraction(),
                HumanBytes(t.size).to_string(),
                t.dtype,
                t.name
            )?;
        }
    }
    Ok(())
}
