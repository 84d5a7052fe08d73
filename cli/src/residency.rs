//! `weightmap residency`: which pages of a file are in the page cache, like `vmtouch`, in all
//! and per tensor.

use std::io::{self, Write};
use std::path::Path;

use indicatif::HumanBytes;
use serde_json::{json, Value as Json};
use weightmap_core::ModelData;
use weightmap_native::{Error, MmapConfig, MmapFile, ModelSource, Residency};

use crate::error::{finish, write_json, CliError};

pub fn run(path: &Path, tensors: bool, json: bool) -> Result<(), CliError> {
    // Any file: mapped for its bytes only, never parsed in place.
    let file = MmapFile::open_untrusted_with(path, &MmapConfig::guarded())?;
    // Measured before parsing: parsing reads the header pages.
    let whole = file.residency()?;
    let name = path.display().to_string();
    let per_tensor = if tensors {
        let gguf = ModelSource::open(path)?;
        let base = gguf.data().offset();
        let mut rows = Vec::with_capacity(gguf.tensor_count());
        for info in gguf.tensors() {
            let range = gguf.tensor_range(&info).map_err(|source| Error::Parse {
                path: path.into(),
                source,
            })?;
            // Positions in the data, which start at `base` in the file.
            let start = base as usize + range.start;
            rows.push(TensorRow {
                name: info.name().to_string(),
                ggml_type: info.ggml_type().to_string(),
                offset: start as u64,
                size: range.len() as u64,
                residency: file.residency_of(start..start + range.len())?,
            });
        }
        Some(rows)
    } else {
        None
    };
    let mut out = io::stdout().lock();
    let written = if json {
        write_json(
            &mut out,
            &to_json(&name, file.size() as u64, &whole, per_tensor.as_deref()),
        )
    } else {
        text(
            &mut out,
            &name,
            file.size() as u64,
            &whole,
            per_tensor.as_deref(),
        )
    };
    finish(written, &mut out)
}

struct TensorRow {
    name: String,
    ggml_type: String,
    offset: u64,
    size: u64,
    residency: Residency,
}

fn to_json(name: &str, size: u64, whole: &Residency, tensors: Option<&[TensorRow]>) -> Json {
    let mut v = json!({
        "file": name,
        "size": size,
        "page_size": whole.page_size,
        "pages": whole.pages,
        "cached_pages": whole.cached,
        "cached_fraction": whole.cached_fraction(),
    });
    if let Some(rows) = tensors {
        v["tensors"] = rows
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "type": t.ggml_type,
                    "offset": t.offset,
                    "size": t.size,
                    "pages": t.residency.pages,
                    "cached_pages": t.residency.cached,
                })
            })
            .collect();
    }
    v
}

fn text(
    out: &mut impl Write,
    name: &str,
    size: u64,
    whole: &Residency,
    tensors: Option<&[TensorRow]>,
) -> io::Result<()> {
    writeln!(out, "{name}")?;
    writeln!(
        out,
        "  {} ({size} bytes), {} pages of {} bytes",
        HumanBytes(size),
        whole.pages,
        whole.page_size
    )?;
    writeln!(
        out,
        "  in page cache: {}/{} pages ({:.1}%), {}",
        whole.cached,
        whole.pages,
        100.0 * whole.cached_fraction(),
        HumanBytes(whole.cached_bytes())
    )?;
    if let Some(rows) = tensors {
        writeln!(
            out,
            "\n  {:>6}  {:>11}  {:<8} tensor",
            "cached", "size", "type"
        )?;
        for t in rows {
            writeln!(
                out,
                "  {:>5.1}%  {:>11}  {:<8} {}",
                100.0 * t.residency.cached_fraction(),
                HumanBytes(t.size).to_string(),
                t.ggml_type,
                t.name
            )?;
        }
    }
    Ok(())
}
