//! What `inspect` prints: the JSON object for scripts and the text report for people.

use std::collections::BTreeMap;
use std::io::{self, Write};

use weightmap_core::{Endian, Format, ModelEntry, ModelTensor, ModelValue, TensorType, Value};
pub use weightmap_native::report::{json, of_model, of_salvage, Report};
use weightmap_native::report::{value_json, HEAD};

use crate::display::{column_width, Fit};

/// The text report. A partial one stops where the file stopped being readable.
pub fn text<'a, M, T>(
    out: &mut impl Write,
    report: Report<M, T>,
    name: &str,
    list_tensors: bool,
    fit: Fit,
) -> io::Result<()>
where
    M: Iterator<Item = ModelEntry<'a>> + Clone,
    T: Iterator<Item = ModelTensor<'a>> + Clone,
{
    writeln!(out, "{name}")?;
    let size = |len: Option<u64>| {
        len.map_or(
            "size unknown (a stream, read as far as its header)".into(),
            |n| format!("{n} bytes"),
        )
    };
    let partial = report.error.is_some();
    let declared = match report.format {
        Format::Safetensors => {
            let data = report.data_offset.unwrap_or(0);
            writeln!(
                out,
                "  safetensors, {}, JSON header of {} bytes, data section at byte {data}",
                size(report.file_len()),
                data.saturating_sub(8)
            )?;
            None
        }
        _ => {
            let Some(header) = report.header else {
                writeln!(out, "  no valid GGUF header")?;
                return Ok(());
            };
            let endian = match header.endian {
                Endian::Little => "little-endian",
                Endian::Big => "big-endian",
            };
            let layout = report
                .layout
                .map_or("header not read to its end".into(), |l| {
                    format!(
                        "alignment {}, data section at byte {}",
                        l.alignment, l.data_offset
                    )
                });
            writeln!(
                out,
                "  GGUF v{}, {endian}, {}, {layout}",
                header.version,
                size(report.file_len())
            )?;
            Some(header)
        }
    };
    let sharded = report.files.len() > 1;
    if sharded {
        writeln!(out, "\nfiles ({}):", report.files.len())?;
        for (i, f) in report.files.iter().enumerate() {
            let tensors = report.tensors.clone().filter(|t| t.shard() == i).count();
            writeln!(
                out,
                "  {:>3}  {}  {}, data section at byte {}, {tensors} tensors",
                i,
                fit.name(&f.name),
                size(f.len),
                f.data_offset
            )?;
        }
    }
    let read = |shown: usize, declared: Option<u64>| match declared {
        Some(declared) if partial && shown as u64 != declared => {
            format!("{shown} of {declared} read")
        }
        _ => shown.to_string(),
    };
    let entries = report.metadata.clone().count();
    writeln!(
        out,
        "\nmetadata ({} entries):",
        read(entries, declared.map(|h| h.n_kv))
    )?;
    let width = column_width(report.metadata.clone().map(|e| e.key()));
    for e in report.metadata {
        let value = e.value();
        let ty = match value.as_gguf().as_ref().and_then(Value::as_array) {
            Some(a) => format!("{}[{}]", a.element_type(), a.len()),
            None => value.type_name().to_string(),
        };
        writeln!(
            out,
            "  {:width$}  {:16}  {}",
            fit.name(e.key()),
            ty,
            model_value_text(&value, fit)
        )?;
    }
    let tensors = report.tensors.clone().count();
    let n_tensors = declared.map(|h| h.n_tensors);
    if partial && tensors == 0 && n_tensors.is_some_and(|n| n > 0) {
        return Ok(());
    }
    writeln!(out, "\ntensors ({}):", read(tensors, n_tensors))?;
    if list_tensors || partial {
        tensor_table(out, report.tensors.clone(), sharded, fit)?;
    }
    totals(out, report.tensors)?;
    if !list_tensors && !partial && tensors > 0 {
        writeln!(out, "  (--tensors lists each tensor)")?;
    }
    Ok(())
}

fn tensor_table<'a>(
    out: &mut impl Write,
    tensors: impl Iterator<Item = ModelTensor<'a>> + Clone,
    sharded: bool,
    fit: Fit,
) -> io::Result<()> {
    let width = column_width(tensors.clone().map(|t| t.name()));
    let file = if sharded { "  file" } else { "" };
    writeln!(
        out,
        "  {:width$}  {:11}  {:24}  {:>12}  {:>12}{file}",
        "name", "type", "shape", "offset", "bytes"
    )?;
    for t in tensors {
        let shape = format!("{:?}", t.file_shape().collect::<Vec<_>>());
        let file = if sharded {
            format!("  {:>4}", t.shard())
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {:width$}  {:11}  {:24}  {:>12}  {:>12}{file}",
            fit.name(t.name()),
            t.dtype().name(),
            shape,
            t.offset(),
            t.size()
        )?;
    }
    Ok(())
}

fn totals<'a>(
    out: &mut impl Write,
    tensors: impl Iterator<Item = ModelTensor<'a>>,
) -> io::Result<()> {
    let mut totals: BTreeMap<TensorType, (u64, u64, u64)> = BTreeMap::new();
    for t in tensors {
        let entry = totals.entry(t.dtype()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(t.n_elements());
        entry.2 = entry.2.saturating_add(t.size());
    }
    writeln!(
        out,
        "  {:11}  {:>8}  {:>14}  {:>14}",
        "type", "tensors", "elements", "bytes"
    )?;
    for (ty, (count, elements, bytes)) in &totals {
        writeln!(
            out,
            "  {:11}  {count:>8}  {elements:>14}  {bytes:>14}",
            ty.name()
        )?;
    }
    let (count, elements, bytes) = totals.values().fold((0, 0u64, 0u64), |acc, v| {
        (
            acc.0 + v.0,
            acc.1.saturating_add(v.1),
            acc.2.saturating_add(v.2),
        )
    });
    writeln!(
        out,
        "  {:11}  {count:>8}  {elements:>14}  {bytes:>14}",
        "total"
    )
}

fn model_value_text(value: &ModelValue<'_>, fit: Fit) -> String {
    match value {
        ModelValue::Gguf(v) => value_text(v, fit),
        other => fit.text(other.as_str().unwrap_or("")),
    }
}

fn value_text(value: &Value<'_>, fit: Fit) -> String {
    match value {
        Value::String(s) => fit.text(&String::from_utf8_lossy(s.as_bytes())),
        Value::Array(a) => {
            let mut items: Vec<String> = a
                .iter()
                .take(HEAD)
                .map_while(Result::ok)
                .map(|v| value_text(&v, fit))
                .collect();
            if a.len() > HEAD as u64 {
                items.push(format!("… {} more", a.len() - HEAD as u64));
            }
            format!("[{}]", items.join(", "))
        }
        other => value_json(other).to_string(),
    }
}
