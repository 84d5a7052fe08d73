//! The model layer: one API over GGUF and safetensors files, GGUF split sets and sharded
//! safetensors models, with every check that makes a set of files one model.

use weightmap_core::safetensors::{Safetensors, ShardIndex};
use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_core::{Error, Format, Gguf, Model, TensorType};

/// A GGUF split file: `split.no`, `split.count`, `split.tensors.count`, and tensors.
fn split(no: u16, count: u16, total: i32, tensors: &[&str]) -> Gguf<Vec<u8>> {
    let mut b = Builder::default()
        .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
        .kv_raw(b"split.count", 2, count.to_le_bytes().to_vec())
        .kv_raw(b"split.tensors.count", 5, total.to_le_bytes().to_vec());
    if no == 0 {
        b = b.kv_str("general.architecture", "test");
    }
    for name in tensors {
        b = b.tensor(name, &[4], 0, &[1; 16]);
    }
    Gguf::parse(b.build()).unwrap()
}

fn named(files: Vec<Gguf<Vec<u8>>>) -> Vec<(String, Gguf<Vec<u8>>)> {
    let n = files.len();
    files
        .into_iter()
        .enumerate()
        .map(|(i, g)| (format!("m-{:05}-of-{n:05}.gguf", i + 1), g))
        .collect()
}

#[test]
fn gguf_splits_make_one_model() {
    let model = Model::from_gguf_splits(named(vec![
        split(0, 3, 4, &["a", "b"]),
        split(1, 3, 4, &["c"]),
        split(2, 3, 4, &["d"]),
    ]))
    .unwrap();
    assert_eq!((model.format(), model.tensor_count()), (Format::Gguf, 4));
    assert!(model.is_sharded());
    assert_eq!(
        model.get("general.architecture").unwrap().as_str(),
        Some("test")
    );
    let d = model.tensor_info("d").unwrap();
    assert_eq!((d.shard(), d.position()), (2, 0));
    assert_eq!(model.shards()[2].name(), "m-00003-of-00003.gguf");
    let view = model.tensor("c").unwrap();
    // A copy: a Vec<u8> promises no alignment (Miri places it anywhere).
    assert_eq!(view.to_vec::<f32>().unwrap().len(), 4);
    // The view is the bytes of shard 1's data.
    let shard = model.shards()[1].file().data();
    let range = model
        .tensor_range(&model.tensor_info("c").unwrap())
        .unwrap();
    assert_eq!(view.bytes().as_ptr(), shard[range].as_ptr());
    let names: Vec<_> = model.tensors().map(|t| t.name()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    // Handles cross threads.
    let model = model.into_shared();
    let handle = model.tensor_handle("d").unwrap();
    drop(model);
    assert_eq!(std::thread::spawn(move || handle.len()).join().unwrap(), 16);
}

#[test]
fn gguf_split_sets_that_do_not_add_up_are_refused() {
    let bad = |files: Vec<Gguf<Vec<u8>>>| Model::from_gguf_splits(named(files)).unwrap_err();
    assert!(matches!(
        bad(vec![split(0, 2, 2, &["a"]), split(0, 2, 2, &["b"])]),
        Error::WrongSplit {
            position: 1,
            no: 0,
            ..
        }
    ));
    assert!(matches!(
        bad(vec![split(0, 2, 2, &["a"]), split(1, 3, 2, &["b"])]),
        Error::WrongSplit { count: 3, .. }
    ));
    assert!(matches!(
        bad(vec![split(1, 2, 2, &["a"]), split(0, 2, 2, &["b"])]),
        Error::WrongSplit {
            position: 0,
            no: 1,
            ..
        }
    ));
    assert!(matches!(
        bad(vec![split(0, 3, 2, &["a"]), split(1, 3, 2, &["b"])]),
        Error::SplitFileCount { files: 2, count: 3 }
    ));
    assert!(matches!(
        bad(vec![split(0, 2, 5, &["a"]), split(1, 2, 5, &["b"])]),
        Error::SplitTensorCount {
            declared: 5,
            found: 2
        }
    ));
    let err = bad(vec![split(0, 2, 2, &["a"]), split(1, 2, 2, &["a"])]);
    assert!(
        matches!(
            err,
            Error::TensorInTwoShards {
                shard: 1,
                first: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"a\""), "{err}");
    // One split alone is not the whole model.
    assert!(matches!(
        Model::from_gguf(split(0, 2, 2, &["a"])),
        Err(Error::SplitFileCount { files: 1, count: 2 })
    ));
    // Keys of the wrong type.
    let wrong = Builder::default()
        .kv_u32("split.no", 0)
        .kv_raw(b"split.count", 2, 1u16.to_le_bytes().to_vec())
        .kv_raw(b"split.tensors.count", 5, 0i32.to_le_bytes().to_vec())
        .build();
    assert!(matches!(
        Model::parse(wrong),
        Err(Error::SplitKeyType { .. })
    ));
    // split.count 1 is a whole model.
    assert_eq!(
        Model::from_gguf(split(0, 1, 1, &["a"]))
            .unwrap()
            .tensor_count(),
        1
    );
}

fn shard(tensors: &[&str]) -> Safetensors<Vec<u8>> {
    let mut b = SafetensorsBuilder::default().meta("format", "pt");
    for name in tensors {
        b = b.tensor(name, "BF16", &[2], &[0, 0x3f, 0, 0x40]);
    }
    Safetensors::parse(b.build()).unwrap()
}

fn index(map: &[(&str, &str)]) -> ShardIndex {
    let entries: Vec<String> = map.iter().map(|(t, f)| format!("{t:?}: {f:?}")).collect();
    let json = format!(
        "{{\"metadata\": {{\"total_size\": {}}}, \"weight_map\": {{{}}}}}",
        map.len() * 4,
        entries.join(", ")
    );
    ShardIndex::parse(json.as_bytes()).unwrap()
}

#[test]
fn safetensors_shards_make_one_model() {
    let idx = index(&[("a", "one"), ("b", "two"), ("c", "one")]);
    let model =
        Model::from_safetensors_shards(idx, vec![shard(&["a", "c"]), shard(&["b"])]).unwrap();
    assert_eq!(
        (model.format(), model.tensor_count()),
        (Format::Safetensors, 3)
    );
    assert_eq!(model.shard_index().unwrap().total_size(), Some(12));
    assert_eq!(model.tensor_bytes(), 12);
    let b = model.tensor_info("b").unwrap();
    assert_eq!((b.shard(), b.dtype()), (1, TensorType::BF16));
    assert_eq!(model.shards()[1].name(), "two");
    assert_eq!(model.tensor("b").unwrap().bytes(), [0, 0x3f, 0, 0x40]);
    assert_eq!(b.file_range().end - b.file_range().start, 4);
}

#[test]
fn shard_sets_that_disagree_with_their_index_are_refused() {
    let two = || vec![shard(&["a"]), shard(&["b"])];
    // A shard tensor the index does not list.
    let err = Model::from_safetensors_shards(
        index(&[("a", "one"), ("x", "two")]),
        vec![shard(&["a"]), shard(&["x", "b"])],
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotInIndex { shard: 1, .. }), "{err}");
    // The index puts a tensor in the wrong shard.
    let err = Model::from_safetensors_shards(
        index(&[("a", "one"), ("b", "two"), ("c", "one")]),
        vec![shard(&["a"]), shard(&["b", "c"])],
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::MissingFromShard { shard: 0, .. }),
        "{err}"
    );
    // The index lists a tensor no shard holds.
    let err =
        Model::from_safetensors_shards(index(&[("a", "one"), ("b", "two"), ("z", "two")]), two())
            .unwrap_err();
    assert!(
        matches!(err, Error::MissingFromShard { shard: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"z\""), "{err}");
    // A tensor in two shards.
    let err = Model::from_safetensors_shards(
        index(&[("a", "one"), ("b", "two")]),
        vec![shard(&["a"]), shard(&["a", "b"])],
    )
    .unwrap_err();
    assert!(matches!(err, Error::TensorInTwoShards { .. }), "{err}");
    // Fewer files than the index names.
    let err =
        Model::from_safetensors_shards(index(&[("a", "one"), ("b", "two")]), vec![shard(&["a"])])
            .unwrap_err();
    assert!(
        matches!(err, Error::SplitFileCount { files: 1, count: 2 }),
        "{err}"
    );
}

#[test]
fn one_file_of_either_format() {
    for (bytes, format) in [
        (weightmap_core::testing::sample_file(), Format::Gguf),
        (
            weightmap_core::testing::safetensors_sample(),
            Format::Safetensors,
        ),
    ] {
        let model = Model::parse(bytes).unwrap();
        assert_eq!(model.format(), format);
        assert!(!model.is_sharded());
        for t in model.tensors() {
            let info = model.tensor_info(t.name()).unwrap();
            assert_eq!(info, t);
            assert_eq!(
                model.tensor_view(&t).unwrap().bytes().len() as u64,
                t.size()
            );
        }
        assert!(matches!(
            model.tensor("nope"),
            Err(Error::TensorNotFound { .. })
        ));
    }
    let gguf = Model::parse(weightmap_core::testing::sample_file()).unwrap();
    let norm = gguf.tensor_info("norm.weight").unwrap();
    assert_eq!(norm.file_shape().collect::<Vec<_>>(), [4]);
    assert!(matches!(
        Model::parse(b"not a model at all".to_vec()),
        Err(Error::UnknownFormat { .. })
    ));
}
