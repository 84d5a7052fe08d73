//! What `inspect` prints: the JSON object for scripts and the text report for people.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Map, Number, Value as Json};
use weightmap_core::{
    Array, Endian, Entries, GgmlType, Gguf, Header, Layout, MetadataEntry, ModelData, Salvage,
    TensorInfo, Tensors, Value,
};

use crate::display::{column_width, Fit};

/// How many elements of an array are shown.
const HEAD: usize = 8;

/// What a report shows: a parsed file, or what could be read of a refused one.
pub struct Model<M, T> {
    /// The fixed header, if it was valid.
    pub header: Option<Header>,
    /// Alignment and data section, once the whole header was read.
    pub layout: Option<Layout>,
    /// The file's length, when known (a stream read header-only has none).
    pub file_len: Option<u64>,
    /// The metadata entries shown, in file order.
    pub metadata: M,
    /// The tensor infos shown, in file order.
    pub tensors: T,
    /// Why the file is refused, for a partial report.
    pub error: Option<String>,
}

/// The report of a parsed file.
pub fn of_gguf<D: ModelData>(
    gguf: &Gguf<D>,
    file_len: Option<u64>,
) -> Model<Entries<'_>, Tensors<'_>> {
    let layout = *gguf.view().layout();
    Model {
        header: Some(layout.header),
        layout: Some(layout),
        file_len,
        metadata: gguf.metadata(),
        tensors: gguf.tensors(),
        error: None,
    }
}

/// The report of what could be read of a refused file.
pub fn of_salvage<'s, 'a>(
    salvage: &'s Salvage<'a>,
    file_len: Option<u64>,
    error: String,
) -> Model<
    std::iter::Cloned<std::slice::Iter<'s, MetadataEntry<'a>>>,
    std::iter::Copied<std::slice::Iter<'s, TensorInfo<'a>>>,
> {
    Model {
        header: salvage.header,
        layout: salvage.layout,
        file_len,
        metadata: salvage.metadata.iter().cloned(),
        tensors: salvage.tensors.iter().copied(),
        error: Some(error),
    }
}

/// The report as one JSON object, entries and tensors in file order; a partial report has
/// `null` for what was not reached and an `"error"`.
pub fn json<'a, M, T>(model: Model<M, T>) -> Json
where
    M: Iterator<Item = MetadataEntry<'a>>,
    T: Iterator<Item = TensorInfo<'a>>,
{
    let metadata: Vec<Json> = model
        .metadata
        .map(|e| json!({"key": e.key(), "type": e.value_type().name(), "value": value_json(&e.value())}))
        .collect();
    let tensors: Vec<Json> = model
        .tensors
        .map(|t| {
            json!({
                "name": t.name(),
                "type": t.ggml_type().name(),
                "shape": t.shape(),
                "offset": t.offset(),
                "size": t.size(),
            })
        })
        .collect();
    let mut obj = json!({
        "version": model.header.map(|h| h.version),
        "alignment": model.layout.map(|l| l.alignment),
        "data_offset": model.layout.map(|l| l.data_offset),
        "metadata": metadata,
        "tensors": tensors,
    });
    if let (Some(error), Json::Object(map)) = (model.error, &mut obj) {
        map.insert("error".into(), error.into());
    }
    obj
}

/// A value as JSON: numbers, booleans and strings as themselves (non-finite floats as the
/// strings "nan", "inf", "-inf"), arrays as {"type", "len", "head": first elements}.
pub fn value_json(value: &Value<'_>) -> Json {
    if let Some(n) = value.to_u64() {
        return n.into();
    }
    if let Some(n) = value.to_i64() {
        return n.into();
    }
    match *value {
        Value::Bool(v) => v.into(),
        // Shortest decimal that reads back as the same f32, not the f64 widening's digits.
        Value::Float32(v) => float_json(v.into(), &v.to_string()),
        Value::Float64(v) => float_json(v, &v.to_string()),
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned().into(),
        Value::Array(a) => array_json(&a),
        _ => Json::Null, // integers returned above
    }
}

fn float_json(v: f64, shortest: &str) -> Json {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let v = shortest.parse::<f64>().unwrap_or(v);
    Number::from_f64(v).map_or(Json::Null, Json::Number)
}

fn array_json(a: &Array<'_>) -> Json {
    let head: Vec<Json> = a
        .iter()
        .take(HEAD)
        .map_while(Result::ok)
        .map(|v| value_json(&v))
        .collect();
    let mut obj = Map::new();
    obj.insert("type".into(), a.element_type().name().into());
    obj.insert("len".into(), a.len().into());
    obj.insert("head".into(), head.into());
    Json::Object(obj)
}

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
