//! `weightmap_native::open`: every format and every shard layout, opened the safe way (header
//! copied, tensor data mapped), on the heap, from a pipe, and the zero-copy way; and the
//! errors of shard sets that do not make one model, each naming the file.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::scratch;
use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_core::{Backing, Error as ParseError, Format, ModelData};
use weightmap_native::{Error, HeapReason, SourceConfig};

/// A safetensors file with a 200 KB tensor (large enough to be mapped) and a small one.
fn safetensors_file(dir: &Path, name: &str, tensors: &[&str]) -> PathBuf {
    let mut b = SafetensorsBuilder::default().meta("format", "pt");
    for (i, t) in tensors.iter().enumerate() {
        let bytes: Vec<u8> = (0..200_000u32).map(|j| (j as u8) ^ (i as u8)).collect();
        b = b.tensor(t, "F32", &[50_000], &bytes);
    }
    let path = dir.join(name);
    std::fs::write(&path, b.build()).unwrap();
    path
}

#[test]
fn safetensors_files_open_with_the_header_copied_and_the_data_mapped() {
    let dir = scratch();
    let path = safetensors_file(dir.path(), "m.safetensors", &["a", "b"]);
    let model = weightmap_native::open(&path).unwrap();
    assert_eq!(model.format(), Format::Safetensors);
    let source = model.shards()[0].file().data();
    assert_eq!(source.backing(), Backing::Mmap);
    assert!(!source.as_mmap().unwrap().is_trusted());
    // The header is a private copy; the mapping starts on the data's page.
    assert_ne!(source.header().unwrap().as_ptr(), source.bytes().as_ptr());
    let b = model.tensor("b").unwrap();
    assert_eq!(b.bytes().len(), 200_000);
    assert_eq!(b.bytes()[7], 7 ^ 1);
    assert_eq!(b.as_f32().unwrap().len(), 50_000);
    assert_eq!(model.get("format").unwrap().as_str(), Some("pt"));

    // The same through the heap, and the zero-copy way.
    let heap = weightmap_native::open_with(&path, &SourceConfig::no_mmap()).unwrap();
    assert_eq!(
        heap.shards()[0].file().data().heap_reason(),
        Some(HeapReason::Requested)
    );
    assert_eq!(heap.tensor("b").unwrap().bytes(), b.bytes());
    // SAFETY: nothing modifies the test's files.
    let trusted = unsafe { weightmap_native::open_trusted(&path) }.unwrap();
    let data = trusted.shards()[0].file().data();
    assert!(data.as_mmap().unwrap().is_trusted());
    let name = trusted.tensor_info("a").unwrap().name();
    assert!(
        data.as_slice().as_ptr_range().contains(&name.as_ptr()),
        "names borrow the mapping"
    );
    assert_eq!(trusted.tensor("b").unwrap().bytes(), b.bytes());
    // Handles of the safe open cross threads.
    let shared = model.into_shared();
    let handle = shared.tensor_handle("a").unwrap();
    drop(shared);
    assert_eq!(
        std::thread::spawn(move || handle.len()).join().unwrap(),
        200_000
    );
}

#[test]
fn small_and_streamed_safetensors_files_are_read_into_the_heap() {
    let dir = scratch();
    let small = dir.path().join("s.safetensors");
    std::fs::write(&small, weightmap_core::testing::safetensors_sample()).unwrap();
    let model = weightmap_native::open(&small).unwrap();
    assert_eq!(
        model.shards()[0].file().data().heap_reason(),
        Some(HeapReason::Small)
    );
    assert_eq!(model.tensor("b").unwrap().bytes(), [7, 8, 9]);

    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let payload = std::fs::read(safetensors_file(dir.path(), "big.safetensors", &["x"])).unwrap();
    let expected = payload.clone();
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        let _ = w.write_all(&payload);
    });
    let model = weightmap_native::open(&fifo).unwrap();
    writer.join().unwrap();
    let data = model.shards()[0].file().data();
    assert_eq!(data.heap_reason(), Some(HeapReason::NotRegular));
    assert_eq!(data.as_slice(), &expected[..]);
    assert_eq!(model.tensor("x").unwrap().bytes().len(), 200_000);
}

#[test]
fn broken_safetensors_files_are_parse_errors_naming_the_file() {
    let dir = scratch();
    let path = safetensors_file(dir.path(), "m.safetensors", &["a"]);
    let bytes = std::fs::read(&path).unwrap();
    for (name, content) in [
        ("short.safetensors", bytes[..bytes.len() - 1].to_vec()),
        ("long.safetensors", [&bytes[..], &[0]].concat()),
        ("header.safetensors", bytes[..40].to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &content).unwrap();
        for config in [SourceConfig::default(), SourceConfig::no_mmap()] {
            let e = weightmap_native::open_with(&p, &config).unwrap_err();
            assert!(matches!(e, Error::Parse { .. }), "{name}: {e:?}");
            assert_eq!(e.path(), p, "{e}");
        }
    }
    // A header asking for more than the limit is refused before it is read.
    let mut huge = 50_000_000u64.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{");
    huge.resize(60_000_000, b' ');
    let p = dir.path().join("huge.safetensors");
    std::fs::write(&p, &huge).unwrap();
    let config = SourceConfig {
        max_header_size: 1 << 20,
        ..SourceConfig::default()
    };
    let e = weightmap_native::open_with(&p, &config).unwrap_err();
    assert!(
        matches!(
            e,
            Error::HeaderTooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{e:?}"
    );
    // Neither format.
    let p = dir.path().join("zeros.bin");
    std::fs::write(&p, vec![1u8; 100_000]).unwrap();
    let e = weightmap_native::open(&p).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::UnknownFormat { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

/// Writes a GGUF split set `NAME-0000K-of-0000N.gguf` with the tensors given per file.
fn write_splits(dir: &Path, name: &str, files: &[&[&str]], total: Option<i32>) -> Vec<PathBuf> {
    let count = files.len() as u16;
    let total = total.unwrap_or(files.iter().map(|f| f.len() as i32).sum());
    files
        .iter()
        .enumerate()
        .map(|(no, tensors)| {
            let mut b = Builder::default()
                .kv_raw(b"split.no", 2, (no as u16).to_le_bytes().to_vec())
                .kv_raw(b"split.count", 2, count.to_le_bytes().to_vec())
                .kv_raw(b"split.tensors.count", 5, total.to_le_bytes().to_vec());
            if no == 0 {
                b = b.kv_str("general.architecture", "test");
            }
            for t in *tensors {
                b = b.tensor(t, &[30_000], 0, &vec![no as u8; 120_000]);
            }
            let path = dir.join(format!("{name}-{:05}-of-{count:05}.gguf", no + 1));
            std::fs::write(&path, b.build()).unwrap();
            path
        })
        .collect()
}

#[test]
fn gguf_split_sets_open_from_the_first_file() {
    let dir = scratch();
    let paths = write_splits(dir.path(), "m", &[&["a", "b"], &["c"], &["d"]], None);
    for model in [
        weightmap_native::open(&paths[0]).unwrap(),
        // SAFETY: nothing modifies the test's files.
        unsafe { weightmap_native::open_trusted(&paths[0]) }.unwrap(),
    ] {
        assert_eq!((model.format(), model.tensor_count()), (Format::Gguf, 4));
        assert_eq!(model.shards().len(), 3);
        assert_eq!(model.shards()[2].name(), "m-00003-of-00003.gguf");
        let d = model.tensor_info("d").unwrap();
        assert_eq!(d.shard(), 2);
        assert_eq!(model.tensor("d").unwrap().bytes()[0], 2);
        assert_eq!(model.tensor("c").unwrap().bytes()[119_999], 1);
        assert_eq!(
            model.get("general.architecture").unwrap().as_str(),
            Some("test")
        );
        let files = weightmap_native::shard_paths(&paths[0], &model);
        assert_eq!(files, paths);
        assert_eq!(
            model.shards()[1].file().data().path(),
            Some(paths[1].as_path())
        );
    }
    // A later split names the first.
    let e = weightmap_native::open(&paths[1]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFirstSplit {
                no: 1,
                count: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("m-00001-of-00003.gguf"), "{e}");
    // ModelSource::open still opens one GGUF file as it is.
    assert_eq!(
        weightmap_native::ModelSource::open(&paths[1])
            .unwrap()
            .tensor_count(),
        1
    );
}

#[test]
fn gguf_split_sets_that_do_not_make_one_model_are_refused() {
    let dir = scratch();
    // A missing file.
    let paths = write_splits(dir.path(), "gone", &[&["a"], &["b"]], None);
    std::fs::remove_file(&paths[1]).unwrap();
    let e = weightmap_native::open(&paths[0]).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e:?}");
    assert_eq!(e.path(), paths[1]);
    // A duplicate tensor, named with its file.
    let paths = write_splits(dir.path(), "dup", &[&["a"], &["a"]], None);
    let e = weightmap_native::open(&paths[0]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::TensorInTwoShards { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.path(), paths[1]);
    // A tensor count that does not match.
    let paths = write_splits(dir.path(), "count", &[&["a"], &["b"]], Some(3));
    let e = weightmap_native::open(&paths[0]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::SplitTensorCount { .. },
                ..
            }
        ),
        "{e:?}"
    );
    // A file in the wrong place.
    let paths = write_splits(dir.path(), "order", &[&["a"], &["b"]], None);
    let other = write_splits(dir.path(), "other", &[&["x"], &["y"]], None);
    std::fs::copy(&other[0], &paths[1]).unwrap();
    let e = weightmap_native::open(&paths[0]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::WrongSplit {
                    position: 1,
                    no: 0,
                    ..
                },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.path(), paths[1]);
    // A first split whose name does not say where the others are.
    let renamed = dir.path().join("renamed.gguf");
    std::fs::copy(&paths[0], &renamed).unwrap();
    let e = weightmap_native::open(&renamed).unwrap_err();
    assert!(matches!(e, Error::SplitName { count: 2, .. }), "{e:?}");
}

fn write_index(dir: &Path, map: &[(&str, &str)]) -> PathBuf {
    let entries: Vec<String> = map.iter().map(|(t, f)| format!("{t:?}: {f:?}")).collect();
    let json = format!(
        "{{\n  \"metadata\": {{\"total_size\": {}}},\n  \"weight_map\": {{{}}}\n}}\n",
        map.len() * 200_000,
        entries.join(", ")
    );
    let path = dir.join("model.safetensors.index.json");
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn sharded_safetensors_models_open_from_their_index() {
    let dir = scratch();
    let one = "model-00001-of-00002.safetensors";
    let two = "model-00002-of-00002.safetensors";
    safetensors_file(dir.path(), one, &["a", "c"]);
    safetensors_file(dir.path(), two, &["b"]);
    let index = write_index(dir.path(), &[("a", one), ("b", two), ("c", one)]);
    for model in [
        weightmap_native::open(&index).unwrap(),
        weightmap_native::open_with(&index, &SourceConfig::no_mmap()).unwrap(),
        // SAFETY: nothing modifies the test's files.
        unsafe { weightmap_native::open_trusted(&index) }.unwrap(),
    ] {
        assert_eq!(
            (model.format(), model.tensor_count()),
            (Format::Safetensors, 3)
        );
        assert_eq!(model.shard_index().unwrap().total_size(), Some(600_000));
        assert_eq!(model.tensor_bytes(), 600_000);
        let b = model.tensor_info("b").unwrap();
        assert_eq!(b.shard(), 1);
        assert_eq!(model.tensor("b").unwrap().bytes()[3], 3);
        assert_eq!(model.tensor("c").unwrap().bytes()[3], 3 ^ 1);
        assert_eq!(
            weightmap_native::shard_paths(&index, &model),
            [dir.path().join(one), dir.path().join(two)]
        );
    }
}

#[test]
fn shard_indexes_that_do_not_match_their_shards_are_refused() {
    let dir = scratch();
    let one = "m-1.safetensors";
    safetensors_file(dir.path(), one, &["a", "b"]);
    // Not listed.
    let index = write_index(dir.path(), &[("a", one)]);
    let e = weightmap_native::open(&index).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::NotInIndex { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.path(), dir.path().join(one));
    // Listed but nowhere.
    let index = write_index(dir.path(), &[("a", one), ("b", one), ("z", one)]);
    let e = weightmap_native::open(&index).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::MissingFromShard { .. },
                ..
            }
        ),
        "{e:?}"
    );
    // A missing shard file.
    let index = write_index(dir.path(), &[("a", one), ("b", "absent.safetensors")]);
    let e = weightmap_native::open(&index).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e:?}");
    assert_eq!(e.path(), dir.path().join("absent.safetensors"));
    // Names with a path component never reach the file system.
    for bad in [
        "../m-1.safetensors",
        "/etc/passwd",
        "sub/m.safetensors",
        "..",
    ] {
        let index = write_index(dir.path(), &[("a", bad)]);
        let e = weightmap_native::open(&index).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parse {
                    source: ParseError::ShardPath { .. },
                    ..
                }
            ),
            "{bad}: {e:?}"
        );
        assert_eq!(e.path(), index);
    }
    // A shard that is GGUF.
    let gguf = dir.path().join("g.safetensors");
    std::fs::write(&gguf, weightmap_core::testing::sample_file()).unwrap();
    let index = write_index(dir.path(), &[("norm.weight", "g.safetensors")]);
    let e = weightmap_native::open(&index).unwrap_err();
    assert_eq!(e.path(), gguf, "{e}");
    // An index that is not an index.
    let index = dir.path().join("model.safetensors.index.json");
    std::fs::write(&index, "{\"weight_map\": 3}").unwrap();
    let e = weightmap_native::open(&index).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::InvalidJson { .. },
                ..
            }
        ),
        "{e:?}"
    );
}
