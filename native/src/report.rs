//! A parsed model as one JSON object: the schema of `weightmap inspect --json` and of the
//! server's `GET /models/{path}`, kept in one place so that both always agree.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let bytes = weightmap_core::testing::Builder::default().kv_str("general.name", "tiny").build();
//! use weightmap_core::Gguf;
//! use weightmap_native::report;
//!
//! let gguf = Gguf::parse(bytes)?;
//! let json = report::json(report::of_gguf(&gguf, Some(gguf.data().len() as u64)));
//! assert_eq!(json["metadata"][0]["value"], "tiny");
//! # Ok(()) }
//! ```

use serde_json::{json, Map, Number, Value as Json};
use weightmap_core::{
    Array, Entries, Gguf, Header, Layout, MetadataEntry, ModelData, Salvage, TensorInfo, Tensors,
    Value,
};

/// How many elements of an array are shown.
pub const HEAD: usize = 8;

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
