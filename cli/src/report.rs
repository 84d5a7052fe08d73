//! What `inspect` prints: the JSON object for scripts and the text report for people.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Map, Number, Value as Json};
use weightmap_core::{Array, Endian, GgmlType, Gguf, ModelData, Value};

/// How many elements of an array are shown.
const HEAD: usize = 8;

/// The report as one JSON object, entries and tensors in file order.
pub fn json<D: ModelData>(gguf: &Gguf<D>) -> Json {
    let metadata: Vec<Json> = gguf
        .metadata()
        .map(|e| json!({"key": e.key(), "type": e.value_type().name(), "value": value_json(&e.value())}))
        .collect();
    let tensors: Vec<Json> = gguf
        .tensors()
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
    json!({
        "version": gguf.version(),
        "alignment": gguf.alignment(),
        "data_offset": gguf.data_offset(),
        "metadata": metadata,
        "tensors": tensors,
    })
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

/// The text report.
pub fn text<D: ModelData>(
    out: &mut impl Write,
    gguf: &Gguf<D>,
    name: &str,
    file_len: u64,
    list_tensors: bool,
) -> io::Result<()> {
    let endian = match gguf.endian() {
        Endian::Little => "little-endian",
        Endian::Big => "big-endian",
    };
    writeln!(out, "{name}")?;
    writeln!(
        out,
        "  GGUF v{}, {endian}, {} bytes, alignment {}, data section at byte {}",
        gguf.version(),
        file_len,
        gguf.alignment(),
        gguf.data_offset()
    )?;
    writeln!(out, "\nmetadata ({} entries):", gguf.metadata_len())?;
    let width = gguf.metadata().map(|e| e.key().len()).max().unwrap_or(0);
    for e in gguf.metadata() {
        let value = e.value();
        let ty = match value.as_array() {
            Some(a) => format!("{}[{}]", a.element_type(), a.len()),
            None => e.value_type().to_string(),
        };
        writeln!(
            out,
            "  {:width$}  {:16}  {}",
            e.key(),
            ty,
            value_text(&value)
        )?;
    }
    writeln!(out, "\ntensors ({}):", gguf.tensor_count())?;
    if list_tensors {
        let width = gguf.tensors().map(|t| t.name().len()).max().unwrap_or(0);
        writeln!(
            out,
            "  {:width$}  {:8}  {:24}  {:>12}  {:>12}",
            "name", "type", "shape", "offset", "bytes"
        )?;
        for t in gguf.tensors() {
            let shape = format!("{:?}", t.shape());
            writeln!(
                out,
                "  {:width$}  {:8}  {:24}  {:>12}  {:>12}",
                t.name(),
                t.ggml_type().name(),
                shape,
                t.offset(),
                t.size()
            )?;
        }
    }
    let mut totals: BTreeMap<GgmlType, (u64, u64, u64)> = BTreeMap::new();
    for t in gguf.tensors() {
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
    )?;
    if !list_tensors && gguf.tensor_count() > 0 {
        writeln!(out, "  (--tensors lists each tensor)")?;
    }
    Ok(())
}

fn value_text(value: &Value<'_>) -> String {
    match value {
        Value::String(s) => format!("{:?}", String::from_utf8_lossy(s.as_bytes())),
        Value::Array(a) => {
            let mut items: Vec<String> = a
                .iter()
                .take(HEAD)
                .map_while(Result::ok)
                .map(|v| value_text(&v))
                .collect();
            if a.len() > HEAD as u64 {
                items.push(format!("… {} more", a.len() - HEAD as u64));
            }
            format!("[{}]", items.join(", "))
        }
        other => value_json(other).to_string(),
    }
}
