//! The properties the safetensors fuzz targets check (`fuzz/fuzz_targets/safetensors.rs`,
//! `fuzz/fuzz_targets/shard_index.rs`), also replayed on stable over their regressions and
//! run over the hostile corpus.
//!
//! - [`check_safetensors`]: any bytes parse to `Ok` or a typed error, never a panic; the
//!   verdict is the reference's (the `safetensors` 0.8.0 crate) except where weightmap is
//!   stricter on purpose (duplicate names, entries and dtypes spelled as serde's other forms,
//!   more than 8 dimensions), and on success both see the same tensors, bytes included; every
//!   tensor, typed copy and metadata entry can be visited; every prefix of the header asks for
//!   more bytes, and a header-only parse agrees with the whole one.
//! - [`check_shard_index`]: any bytes give a shard index or a typed error; a parsed index
//!   names only plain file names, lists each tensor once, and agrees with serde_json's reading
//!   of the same text.

use std::collections::BTreeMap;

use weightmap_core::safetensors::{Safetensors, SafetensorsIndex, ShardIndex};
use weightmap_core::{Error, JsonProblem, Model, TensorType};

/// The errors by which weightmap refuses on purpose what the reference accepts.
fn stricter(e: &Error) -> bool {
    matches!(
        e,
        Error::DuplicateTensor { .. }
            | Error::DuplicateKey { .. }
            | Error::RankTooHigh { .. }
            | Error::InvalidJson {
                problem: JsonProblem::ExpectedObject | JsonProblem::ExpectedString,
                ..
            }
    )
}

/// Checks the properties of [`check_safetensors`](self) on `data`.
pub fn check_safetensors(data: &[u8]) {
    // The safetensors parser itself, whatever the first bytes look like (GGUF is the other
    // targets'): the reference reads every input as safetensors too.
    let ours = Safetensors::parse(data).map(Model::from_safetensors);
    let theirs = safetensors::SafeTensors::deserialize(data);
    match (&ours, &theirs) {
        (Ok(model), Ok(reference)) => {
            assert_eq!(model.tensor_count(), reference.len());
            for t in model.tensors() {
                let view = model
                    .tensor_view(&t)
                    .expect("a parsed tensor's bytes are at hand");
                let r = reference
                    .tensor(t.name())
                    .expect("the reference has the tensor");
                assert_eq!(view.bytes(), r.data(), "{}", t.name());
                assert_eq!(t.dtype().name(), r.dtype().to_string());
                let shape: Vec<u64> = r.shape().iter().map(|&d| d as u64).collect();
                assert_eq!(t.dims(), shape.as_slice());
            }
            visit(model);
        }
        (Err(e), Ok(_)) => assert!(
            stricter(e),
            "the reference accepts what weightmap refuses: {e}"
        ),
        (Ok(_), Err(e)) => panic!("weightmap accepts what the reference refuses: {e}"),
        (Err(e), Err(_)) => assert!(!e.to_string().is_empty()),
    }
    check_header_prefixes(data);
}

/// Visits every tensor and metadata entry of a parsed model, through every accessor.
fn visit(model: &Model<&[u8]>) {
    for e in model.metadata() {
        let _ = (e.key().len(), e.value().as_str().map(str::len), e.offset());
    }
    for t in model.tensors() {
        let found = model.tensor_info(t.name()).expect("found by name");
        assert_eq!(found, t);
        let view = model.tensor(t.name()).unwrap();
        assert_eq!(view.bytes().len() as u64, t.size());
        assert_eq!(t.dtype().byte_size(t.n_elements()), Some(t.size()));
        assert!(t.file_range().end <= model.first().map_or(0, |f| f.required_len()));
        // Typed copies read any tensor of their type; small ones only (the budget).
        if t.size() <= 1 << 16 {
            match t.dtype() {
                TensorType::F32 => {
                    assert_eq!(view.to_vec::<f32>().unwrap().len() as u64, t.n_elements())
                }
                TensorType::U8 => assert_eq!(view.to_vec::<u8>().unwrap(), view.bytes()),
                TensorType::I64 => {
                    assert_eq!(view.to_vec::<i64>().unwrap().len() as u64, t.n_elements())
                }
                _ => {}
            }
        }
    }
}

/// Every prefix shorter than the header asks for more; the header alone parses as the file's.
fn check_header_prefixes(data: &[u8]) {
    let whole = SafetensorsIndex::parse_header(data);
    let header_end = match &whole {
        Ok(index) => index.data_offset() as usize,
        Err(Error::Truncated { .. }) => return,
        Err(_) => {
            let end = data
                .first_chunk::<8>()
                .map_or(0, |n| u64::from_le_bytes(*n).saturating_add(8));
            usize::try_from(end).unwrap_or(usize::MAX).min(data.len())
        }
    };
    // A few prefixes, not every one: the fuzzer's budget goes to inputs, not to this loop.
    let step = (header_end / 16).max(1);
    for n in (0..header_end).step_by(step) {
        match SafetensorsIndex::parse_header(&data[..n]) {
            Err(Error::Truncated { needed, .. }) => assert!(needed as usize > n),
            Err(Error::JsonHeaderTooLarge { .. }) => {}
            other => panic!("a prefix of {n} bytes of a {header_end}-byte header: {other:?}"),
        }
    }
    if let Ok(index) = whole {
        let header = &data[..header_end];
        let again = SafetensorsIndex::parse_header(header).expect("the header alone parses");
        assert_eq!(again.tensor_count(), index.tensor_count());
        assert_eq!(again.required_len(), index.required_len());
    }
}

/// Checks the properties of [`check_shard_index`](self) on `data`.
pub fn check_shard_index(data: &[u8]) {
    let Ok(index) = ShardIndex::parse(data) else {
        return;
    };
    let json: serde_json::Value =
        serde_json::from_slice(data).expect("serde_json reads a parsed index");
    let map = json["weight_map"].as_object().expect("a weight map");
    let listed: BTreeMap<&str, &str> = map
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    // serde_json keeps the last of two equal keys; a parsed index has none.
    assert_eq!(listed.len(), index.len());
    for (name, shard) in index.entries() {
        let file = &index.shards()[shard];
        assert_eq!(listed.get(name), Some(&file.as_str()));
        assert_eq!(index.shard_of(name), Some(shard));
        assert!(!file.is_empty() && !file.contains(['/', '\\', '\0']) && file != "..");
    }
    if let Some(total) = index.total_size() {
        assert_eq!(json["metadata"]["total_size"].as_u64(), Some(total));
    }
}
