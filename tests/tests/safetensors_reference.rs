//! Differential test against the official readers: safetensors files written by the official
//! writer (safetensors 0.8.0, and by hand for the dtypes it lacks), a sharded model with its
//! index, and a GGUF model split by the official gguf writer, read by weightmap every way
//! (a `Vec`, the safe mapped open, the heap, the zero-copy open) and compared with the
//! `safetensors` Rust crate, the `safetensors` Python package, and gguf's `GGUFReader`: names,
//! dtypes, shapes, offsets, sizes and a hash of every tensor's bytes, and the metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use weightmap_core::{Format, Model, ModelData};
use weightmap_native::SourceConfig;
use weightmap_tests::{describe, first_difference, reference_python, run_script};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A model's tensors, by name: {"dtype", "shape", "size", "sha256", "offset", "shard"}, and
/// the first file's metadata.
fn ours<D: ModelData>(model: &Model<D>) -> Json {
    let mut tensors = BTreeMap::new();
    for t in model.tensors() {
        let view = model.tensor_view(&t).expect("tensor bytes in range");
        assert_eq!(view.bytes().len() as u64, t.size());
        tensors.insert(
            t.name().to_owned(),
            json!({
                "dtype": t.dtype().name(),
                "shape": t.file_shape().collect::<Vec<_>>(),
                "size": t.size(),
                "sha256": hex(&Sha256::digest(view.bytes())),
                "offset": t.offset(),
                "shard": t.shard(),
            }),
        );
    }
    let metadata: BTreeMap<&str, Option<&str>> = model
        .metadata()
        .map(|e| (e.key(), e.value().as_str()))
        .collect();
    json!({"tensors": tensors, "metadata": metadata})
}

/// The model at `path`, opened every way; all must agree. Returns one description.
fn every_way(path: &Path) -> Json {
    let safe = weightmap_native::open(path).unwrap_or_else(|e| panic!("{e}"));
    let heap = weightmap_native::open_with(path, &SourceConfig::no_mmap()).unwrap();
    let mapped = weightmap_native::open_with(
        path,
        &SourceConfig {
            min_mmap_size: 1,
            ..SourceConfig::default()
        },
    )
    .unwrap();
    // SAFETY: nothing modifies the test's files.
    let trusted = unsafe { weightmap_native::open_trusted(path) }.unwrap();
    let description = ours(&safe);
    for (how, other) in [("heap", &heap), ("mapped", &mapped), ("trusted", &trusted)] {
        if let Some(diff) = first_difference(&ours(other), &description, "") {
            panic!(
                "{}: {how} differs from the safe open: {diff}",
                path.display()
            );
        }
    }
    if !safe.is_sharded() {
        let from_vec = Model::parse(std::fs::read(path).unwrap()).unwrap();
        assert!(first_difference(&ours(&from_vec), &description, "").is_none());
    }
    description
}

/// What the safetensors Rust crate reads: tensors by name with the same fields, offsets
/// from where each view's bytes sit in the buffer.
fn rust_reference(bytes: &[u8]) -> Json {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (n, metadata) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let data_start = bytes.as_ptr() as usize + 8 + n;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.iter() {
        tensors.insert(
            name.to_owned(),
            json!({
                "dtype": view.dtype().to_string(),
                "shape": view.shape(),
                "size": view.data().len(),
                "sha256": hex(&Sha256::digest(view.data())),
                "offset": view.data().as_ptr() as usize - data_start,
                "shard": 0,
            }),
        );
    }
    let metadata: BTreeMap<String, Option<String>> = metadata
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    json!({"tensors": tensors, "metadata": metadata})
}

/// Keeps the fields of `full` that `reference` has (the Python dump has no offsets).
fn like(full: &Json, reference: &Json) -> Json {
    match (full, reference) {
        (Json::Object(a), Json::Object(b)) => Json::Object(
            b.keys()
                .filter_map(|k| Some((k.clone(), like(a.get(k)?, b.get(k)?))))
                .collect(),
        ),
        _ => full.clone(),
    }
}

fn fixtures(python: &Path, dir: &Path) -> Vec<PathBuf> {
    run_script(python, "gen_safetensors.py", &[dir])
        .lines()
        .map(|l| PathBuf::from(l.trim()))
        .collect()
}

#[test]
fn safetensors_files_match_both_official_readers() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = fixtures(&python, dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    assert_eq!(files.len(), 6, "{files:?}");
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let python_dump: Json =
        serde_json::from_str(&run_script(&python, "dump_safetensors.py", &args)).unwrap();
    let mut dtypes = std::collections::BTreeSet::new();
    for (path, theirs) in files.iter().zip(python_dump.as_array().unwrap()) {
        let mine = every_way(path);
        let rust = rust_reference(&std::fs::read(path).unwrap());
        if let Some(diff) = first_difference(&mine, &rust, "") {
            panic!("{}: differs from the Rust crate: {diff}", path.display());
        }
        let mut python_side = theirs.clone();
        if python_side["metadata"].is_null() {
            python_side["metadata"] = json!({});
        }
        let mine_like = like(&mine, &python_side);
        if let Some(diff) = first_difference(&mine_like, &python_side, "") {
            panic!(
                "{}: differs from the Python package: {diff}",
                path.display()
            );
        }
        for t in mine["tensors"].as_object().unwrap().values() {
            dtypes.insert(t["dtype"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        dtypes.len(),
        22,
        "every safetensors dtype covered: {dtypes:?}"
    );

    // The 10,000-tensor file, and typed views of the misaligned one.
    let many = weightmap_native::open(dir.path().join("many.safetensors")).unwrap();
    assert_eq!(many.tensor_count(), 10_000);
    let misaligned =
        Model::parse(std::fs::read(dir.path().join("misaligned.safetensors")).unwrap());
    let misaligned = misaligned.unwrap();
    let w = misaligned.tensor("w").unwrap();
    assert_eq!(w.to_vec::<f32>().unwrap(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let i = misaligned.tensor("i").unwrap();
    assert_eq!(i.to_vec::<i64>().unwrap(), [0, 1, 2]);
    assert!(
        w.as_f32().is_err() || i.as_i64().is_err(),
        "the data sits at an odd offset"
    );
}

#[test]
fn a_sharded_model_matches_its_shards_as_the_readers_see_them() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let index = fixtures(&python, dir.path())
        .into_iter()
        .find(|p| p.ends_with("model.safetensors.index.json"))
        .unwrap();
    let model = every_way(&index);
    let opened = weightmap_native::open(&index).unwrap();
    assert_eq!(
        (opened.format(), opened.shards().len()),
        (Format::Safetensors, 3)
    );
    let shard_files = weightmap_native::shard_paths(&index, &opened);
    let args: Vec<&Path> = shard_files.iter().map(PathBuf::as_path).collect();
    let python_dump: Json =
        serde_json::from_str(&run_script(&python, "dump_safetensors.py", &args)).unwrap();
    let listed: Json = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    let weight_map = listed["weight_map"].as_object().unwrap();
    assert_eq!(weight_map.len(), opened.tensor_count());
    let mut total = 0;
    for (name, file) in weight_map {
        let k = shard_files
            .iter()
            .position(|p| p.file_name().unwrap() == file.as_str().unwrap())
            .unwrap();
        let mine = &model["tensors"][name];
        assert_eq!(mine["shard"], k, "{name}");
        let theirs = &python_dump[k]["tensors"][name];
        for field in ["dtype", "shape", "size", "sha256"] {
            assert_eq!(mine[field], theirs[field], "{name}: {field}");
        }
        let rust = rust_reference(&std::fs::read(&shard_files[k]).unwrap());
        assert_eq!(mine["offset"], rust["tensors"][name]["offset"], "{name}");
        total += mine["size"].as_u64().unwrap();
    }
    assert_eq!(opened.shard_index().unwrap().total_size(), Some(total));
}

#[test]
fn a_gguf_model_split_by_the_official_writer_matches_the_official_reader() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = fixtures(&python, dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "gguf"))
        .unwrap();
    let _ = every_way(&first);
    let model = weightmap_native::open(&first).unwrap();
    assert_eq!(
        (model.format(), model.shards().len(), model.tensor_count()),
        (Format::Gguf, 3, 8)
    );
    assert_eq!(
        model.get("general.name").unwrap().as_str(),
        Some("split fixture")
    );
    let files = weightmap_native::shard_paths(&first, &model);
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let reference: Json =
        serde_json::from_str(&run_script(&python, "dump_reference.py", &args)).unwrap();
    for (k, (shard, theirs)) in model
        .shards()
        .iter()
        .zip(reference.as_array().unwrap())
        .enumerate()
    {
        let gguf = shard.file().as_gguf().unwrap();
        let mut mine = describe(gguf.view());
        mine["file"] = theirs["file"].clone();
        if let Some(diff) = first_difference(&mine, theirs, "") {
            panic!("split {k}: {diff}");
        }
    }
}
