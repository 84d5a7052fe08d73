//! A parsed model as one JSON object: the schema of `weightmap inspect --json` and of the
//! server's `GET /models/{path}`, kept in one place so that both always agree.
//!
//! ```json
//! {"format": "gguf" | "safetensors", "version", "alignment", "data_offset",
//!  "metadata": [{"key", "type", "value"}],
//!  "tensors": [{"name", "type", "shape", "offset", "size"}]}
//! ```
//!
//! `version` and `alignment` are GGUF's (`null` for safetensors); `data_offset` is where the
//! (first) file's data section starts; each tensor's `type` is the format's own name, its
//! `shape` in the file's order (GGUF's `ne[0]` first, safetensors' row-major) and its
//! `offset` relative to the data section of its file. A model of several files adds
//! `"files": [{"file", "size", "data_offset"}]` and each tensor's `"file"`.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let bytes = weightmap_core::testing::Builder::default().kv_str("general.name", "tiny").build();
//! use weightmap_core::Model;
//! use weightmap_native::report;
//!
//! let model = Model::parse(bytes)?;
//! let json = report::json(report::of_model(&model, &[]));
//! assert_eq!(json["format"], "gguf");
//! assert_eq!(json["metadata"][0]["value"], "tiny");
//! # Ok(()) }
//! ```

use serde_json::{json, Map, Number, Value as Json};
use weightmap_core::{
    Array, Format, Header, Layout, Model, ModelData, ModelEntry, ModelTensor, ModelValue, Salvage,
    Value,
};

/// How many elements of an array are shown.
pub const HEAD: usize = 8;

/// One file of a model, as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// Its name (as the split set or shard index names it).
    pub name: String,
    /// Its length, when known (a stream read header-only has none).
    pub len: Option<u64>,
    /// Where its data section starts.
    pub data_offset: u64,
}

/// What a report shows: a parsed model, or what could be read of a refused file.
pub struct Report<M, T> {
    /// The format.
    pub format: Format,
    /// GGUF's fixed header, if it was valid.
    pub header: Option<Header>,
    /// GGUF's alignment and data section, once the whole header was read.
    pub layout: Option<Layout>,
    /// Where the (first) file's data section starts, once known.
    pub data_offset: Option<u64>,
    /// The model's files (one for a model of one file).
    pub files: Vec<FileFacts>,
    /// The metadata entries shown, in file order.
    pub metadata: M,
    /// The tensors shown, in the model's order.
    pub tensors: T,
    /// Why the file is refused, for a partial report.
    pub error: Option<String>,
}

impl<M, T> Report<M, T> {
    /// The length of the first (or only) file, when known.
    pub fn file_len(&self) -> Option<u64> {
        self.files.first().and_then(|f| f.len)
    }
}

/// The report of a parsed model. `lens` gives each file's length when the caller knows it
/// (missing entries are taken from the data: the end of a mapping or of bytes read whole).
pub fn of_model<'m, D: ModelData>(
    model: &'m Model<D>,
    lens: &[Option<u64>],
) -> Report<
    impl Iterator<Item = ModelEntry<'m>> + Clone,
    impl Iterator<Item = ModelTensor<'m>> + Clone,
> {
    let files = model
        .shards()
        .iter()
        .enumerate()
        .map(|(i, shard)| {
            let file = shard.file();
            let data = file.data();
            let len = lens.get(i).copied().flatten().or_else(|| {
                (data.offset() + data.len() as u64 >= file.required_len())
                    .then(|| data.offset() + data.len() as u64)
            });
            FileFacts {
                name: shard.name().to_owned(),
                len,
                data_offset: file.data_offset(),
            }
        })
        .collect();
    let gguf = model.as_gguf().map(|g| *g.layout());
    Report {
        format: model.format(),
        header: gguf.map(|l| l.header),
        layout: gguf,
        data_offset: model.first().map(|f| f.data_offset()),
        files,
        metadata: model.metadata(),
        tensors: model.tensors(),
        error: None,
    }
}

/// The report of what could be read of a refused GGUF file.
pub fn of_salvage<'s, 'a>(
    salvage: &'s Salvage<'a>,
    file_len: Option<u64>,
    error: String,
) -> Report<
    impl Iterator<Item = ModelEntry<'a>> + Clone + 's,
    impl Iterator<Item = ModelTensor<'a>> + Clone + 's,
> {
    let data_offset = salvage.layout.map(|l| l.data_offset);
    Report {
        format: Format::Gguf,
        header: salvage.header,
        layout: salvage.layout,
        data_offset,
        files: vec![FileFacts {
            name: String::new(),
            len: file_len,
            data_offset: data_offset.unwrap_or(0),
        }],
        metadata: salvage.metadata.iter().cloned().map(ModelEntry::from),
        tensors: salvage
            .tensors
            .iter()
            .map(move |t| ModelTensor::of_gguf(t, data_offset.unwrap_or(0))),
        error: Some(error),
    }
}

/// The report as one JSON object, entries and tensors in file order; a partial report has
/// `null` for what was not reached and an `"error"`.
pub fn json<'a, M, T>(report: Report<M, T>) -> Json
where
    M: Iterator<Item = ModelEntry<'a>>,
    T: Iterator<Item = ModelTensor<'a>>,
{
    let sharded = report.files.len() > 1;
    let metadata: Vec<Json> = report
        .metadata
        .map(|e| {
            let value = e.value();
            json!({"key": e.key(), "type": value.type_name(), "value": model_value_json(&value)})
        })
        .collect();
    let files = &report.files;
    let tensors: Vec<Json> = report
        .tensors
        .map(|t| {
            let mut obj = json!({
                "name": t.name(),
                "type": t.dtype().name(),
                "shape": t.file_shape().collect::<Vec<_>>(),
                "offset": t.offset(),
                "size": t.size(),
            });
            if let (true, Json::Object(map)) = (sharded, &mut obj) {
                let file = files.get(t.shard()).map(|f| f.name.as_str());
                map.insert("file".into(), file.into());
            }
            obj
        })
        .collect();
    let mut obj = json!({
        "format": report.format.name(),
        "version": report.header.map(|h| h.version),
        "alignment": report.layout.map(|l| l.alignment),
        "data_offset": report.data_offset,
        "metadata": metadata,
        "tensors": tensors,
    });
    if let Json::Object(map) = &mut obj {
        if sharded {
            let files: Vec<Json> = report
                .files
                .iter()
                .map(|f| json!({"file": f.name, "size": f.len, "data_offset": f.data_offset}))
                .collect();
            map.insert("files".into(), files.into());
        }
        if let Some(error) = report.error {
            map.insert("error".into(), error.into());
        }
    }
    obj
}

/// A metadata value as JSON: a GGUF value as [`value_json`] shows it, a safetensors string as
/// itself.
pub fn model_value_json(value: &ModelValue<'_>) -> Json {
    match value {
        ModelValue::Str(s) => (*s).into(),
        ModelValue::Gguf(v) => value_json(v),
        _ => Json::Null,
    }
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
