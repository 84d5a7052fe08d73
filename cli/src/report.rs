//! What `inspect` prints: the JSON object for scripts and the text report for people.

use std::collections::BTreeMap;
use std::io::{self, Write};

use weightmap_core::{Endian, GgmlType, MetadataEntry, TensorInfo, Value};
pub use weightmap_native::report::{json, of_gguf, of_salvage, Model};
use weightmap_native::report::{value_json, HEAD};

use crate::display::{column_width, Fit};

/// The text report. A partial one stops where the file stopped being readable.
pub fn text<'a, M, T>(
    out: &mut impl Write,
    model: Model<M, T>,
    name: &str,
    list_tensors: bool,
    fit: Fit,
) -> io::Result<()>
where
    M: Iterator<Item = MetadataEntry<'a>> + Clone,
    T: Iterator<Item = TensorInfo<'a>> + Clone,
{
    writeln!(out, "{name}")?;
    let Some(header) = model.header else {
        writeln!(out, "  no valid GGUF header")?;
        return Ok(());
    };
    let endian = match header.endian {
        Endian::Little => "little-endian",
        Endian::Big => "big-endian",
    };
    let size = model.file_len.map_or(
        "size unknown (a stream, read as far as its header)".into(),
        |n| format!("{n} bytes"),
    );
    let layout = model
        .layout
        .map_or("header not read to its end".into(), |l| {
            format!(
                "alignment {}, data section at byte {}",
                l.alignment, l.data_offset
            )
        });
    writeln!(
        out,
        "  GGUF v{}, {endian}, {size}, {layout}",
        header.version
    )?;
    let partial = model.error.is_some();
    let read = |shown: usize, declared: u64| {
        if partial && shown as u64 != declared {
            format!("{shown} of {declared} read")
        } else {
            declared.to_string()
        }
    };
    let entries = model.metadata.clone().count();
    writeln!(out, "\nmetadata ({} entries):", read(entries, header.n_kv))?;
    let width = column_width(model.metadata.clone().map(|e| e.key()));
    for e in model.metadata {
        let value = e.value();
        let ty = match value.as_array() {
            Some(a) => format!("{}[{}]", a.element_type(), a.len()),
            None => e.value_type().to_string(),
        };
        writeln!(
            out,
            "  {:width$}  {:16}  {}",
            fit.name(e.key()),
            ty,
            value_text(&value, fit)
        )?;
    }
    let tensors = model.tensors.clone().count();
    if partial && tensors == 0 && header.n_tensors > 0 {
        return Ok(());
    }
    writeln!(out, "\ntensors ({}):", read(tensors, header.n_tensors))?;
    if list_tensors || partial {
        tensor_table(out, model.tensors.clone(), fit)?;
    }
    totals(out, model.tensors)?;
    if !list_tensors && !partial && header.n_tensors > 0 {
        writeln!(out, "  (--tensors lists each tensor)")?;
    }
    Ok(())
}

fn tensor_table<'a>(
    out: &mut impl Write,
    tensors: impl Iterator<Item = TensorInfo<'a>> + Clone,
    fit: Fit,
) -> io::Result<()> {
    let width = column_width(tensors.clone().map(|t| t.name()));
    writeln!(
        out,
        "  {:width$}  {:8}  {:24}  {:>12}  {:>12}",
        "name", "type", "shape", "offset", "bytes"
    )?;
    for t in tensors {
        let shape = format!("{:?}", t.shape());
        writeln!(
            out,
            "  {:width$}  {:8}  {:24}  {:>12}  {:>12}",
            fit.name(t.name()),
            t.ggml_type().name(),
            shape,
            t.offset(),
            t.size()
        )?;
    }
    Ok(())
}

fn totals<'a>(
    out: &mut impl Write,
    tensors: impl Iterator<Item = TensorInfo<'a>>,
) -> io::Result<()> {
    let mut totals: BTreeMap<GgmlType, (u64, u64, u64)> = BTreeMap::new();
    for t in tensors {
        let entry = totals.entry(t.ggml_type()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(t.n_elements());
        entry.2 = entry.2.saturating_add(t.size());
    }
    writeln!(
        out,
        "  {:8}  {:>8}  {:>14}  {:>14}",
        "type", "tensors", "elements", "bytes"
    )?;
    for (ty, (count, elements, bytes)) in &totals {
        writeln!(
            out,
            "  {:8}  {count:>8}  {elements:>14}  {bytes:>14}",
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
        "  {:8}  {count:>8}  {elements:>14}  {bytes:>14}",
        "total"
    )
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
