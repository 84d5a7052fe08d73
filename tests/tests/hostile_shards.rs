//! Hostile shard sets: sharded safetensors models and GGUF split sets whose files do not make
//! one model, each opened every way (safe, heap, zero-copy), each giving its typed error
//! naming the file it concerns: never a panic, never a file outside the model's folder.

use std::path::{Path, PathBuf};

use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_native::{Error, SourceConfig};

/// One shard of a safetensors set: its file name and tensors.
fn shard(dir: &Path, name: &str, tensors: &[&str]) {
    let mut b = SafetensorsBuilder::default().meta("format", "pt");
    for t in tensors {
        b = b.tensor(t, "F16", &[2, 3], &[0x3c; 12]);
    }
    std::fs::write(dir.join(name), b.build()).unwrap();
}

fn index(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("model.safetensors.index.json");
    std::fs::write(&path, json).unwrap();
    path
}

/// A GGUF split file with raw split keys.
fn split(dir: &Path, name: &str, keys: &[(&str, u32, Vec<u8>)], tensors: &[&str]) {
    let mut b = Builder::default();
    for (key, ty, value) in keys {
        b = b.kv_raw(key.as_bytes(), *ty, value.clone());
    }
    for t in tensors {
        b = b.tensor(t, &[8], 0, &[0; 32]);
    }
    std::fs::write(dir.join(name), b.build()).unwrap();
}

fn keys(no: u16, count: u16, total: i32) -> Vec<(&'static str, u32, Vec<u8>)> {
    vec![
        ("split.no", 2, no.to_le_bytes().to_vec()),
        ("split.count", 2, count.to_le_bytes().to_vec()),
        ("split.tensors.count", 5, total.to_le_bytes().to_vec()),
    ]
}

/// One hostile set: writes its files into a folder, returns the path to open, the variant
/// of the error expected (a `weightmap_native::Error` variant, or `Parse:` and the parser's),
/// and the file name the error must name.
type Case = (
    &'static str,
    fn(&Path) -> PathBuf,
    &'static str,
    &'static str,
);

fn cases() -> Vec<Case> {
    vec![
        (
            "index-missing-shard",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                index(
                    d,
                    r#"{"weight_map":{"x":"a.safetensors","y":"b.safetensors"}}"#,
                )
            },
            "FileNotFound",
            "b.safetensors",
        ),
        (
            "index-parent-dir",
            |d| index(d, r#"{"weight_map":{"x":"../a.safetensors"}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-absolute",
            |d| index(d, r#"{"weight_map":{"x":"/etc/passwd"}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-subdir",
            |d| index(d, r#"{"weight_map":{"x":"sub/a.safetensors"}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-backslash",
            |d| index(d, r#"{"weight_map":{"x":"..\\a.safetensors"}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-dot-dot",
            |d| index(d, r#"{"weight_map":{"x":".."}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-empty-name",
            |d| index(d, r#"{"weight_map":{"x":""}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-nul",
            |d| index(d, r#"{"weight_map":{"x":"a\u0000.safetensors"}}"#),
            "Parse:ShardPath",
            "model.safetensors.index.json",
        ),
        (
            "index-tensor-twice",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                index(
                    d,
                    r#"{"weight_map":{"x":"a.safetensors","x":"a.safetensors"}}"#,
                )
            },
            "Parse:DuplicateTensor",
            "model.safetensors.index.json",
        ),
        (
            "index-metadata-twice",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                index(
                    d,
                    r#"{"metadata":{"total_size":12},"metadata":{},"weight_map":{"x":"a.safetensors"}}"#,
                )
            },
            "Parse:DuplicateKey",
            "model.safetensors.index.json",
        ),
        (
            "index-not-json",
            |d| index(d, "{ not json"),
            "Parse:InvalidJson",
            "model.safetensors.index.json",
        ),
        (
            "index-no-weight-map",
            |d| index(d, r#"{"metadata":{"total_size":1}}"#),
            "Parse:InvalidJson",
            "model.safetensors.index.json",
        ),
        (
            "index-weight-map-array",
            |d| index(d, r#"{"weight_map":["a.safetensors"]}"#),
            "Parse:InvalidJson",
            "model.safetensors.index.json",
        ),
        (
            "index-value-number",
            |d| index(d, r#"{"weight_map":{"x":1}}"#),
            "Parse:InvalidJson",
            "model.safetensors.index.json",
        ),
        (
            "index-total-size-string",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                index(
                    d,
                    r#"{"metadata":{"total_size":"12"},"weight_map":{"x":"a.safetensors"}}"#,
                )
            },
            "Parse:InvalidJson",
            "model.safetensors.index.json",
        ),
        (
            "shard-tensor-not-listed",
            |d| {
                shard(d, "a.safetensors", &["x", "extra"]);
                index(d, r#"{"weight_map":{"x":"a.safetensors"}}"#)
            },
            "Parse:NotInIndex",
            "a.safetensors",
        ),
        (
            "listed-tensor-nowhere",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                index(
                    d,
                    r#"{"weight_map":{"x":"a.safetensors","ghost":"a.safetensors"}}"#,
                )
            },
            "Parse:MissingFromShard",
            "a.safetensors",
        ),
        (
            "listed-in-the-wrong-shard",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                shard(d, "b.safetensors", &["y", "z"]);
                index(
                    d,
                    r#"{"weight_map":{"x":"a.safetensors","y":"b.safetensors","z":"a.safetensors"}}"#,
                )
            },
            "Parse:MissingFromShard",
            "a.safetensors",
        ),
        (
            "tensor-in-two-shards",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                shard(d, "b.safetensors", &["x", "y"]);
                index(
                    d,
                    r#"{"weight_map":{"x":"a.safetensors","y":"b.safetensors"}}"#,
                )
            },
            "Parse:TensorInTwoShards",
            "b.safetensors",
        ),
        (
            "shard-is-gguf",
            |d| {
                std::fs::write(
                    d.join("a.safetensors"),
                    weightmap_core::testing::sample_file(),
                )
                .unwrap();
                index(d, r#"{"weight_map":{"norm.weight":"a.safetensors"}}"#)
            },
            "Parse:UnknownFormat",
            "a.safetensors",
        ),
        (
            "shard-truncated",
            |d| {
                shard(d, "a.safetensors", &["x"]);
                let bytes = std::fs::read(d.join("a.safetensors")).unwrap();
                std::fs::write(d.join("a.safetensors"), &bytes[..bytes.len() - 3]).unwrap();
                index(d, r#"{"weight_map":{"x":"a.safetensors"}}"#)
            },
            "Parse:TensorOutOfBounds",
            "a.safetensors",
        ),
        (
            "shard-is-the-index",
            |d| index(d, r#"{"weight_map":{"x":"model.safetensors.index.json"}}"#),
            "Parse:UnknownFormat",
            "model.safetensors.index.json",
        ),
        (
            "shard-is-a-folder",
            |d| {
                std::fs::create_dir(d.join("a.safetensors")).unwrap();
                index(d, r#"{"weight_map":{"x":"a.safetensors"}}"#)
            },
            "NotAFile",
            "a.safetensors",
        ),
        (
            "split-missing-file",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                d.join("m-00001-of-00002.gguf")
            },
            "FileNotFound",
            "m-00002-of-00002.gguf",
        ),
        (
            "split-numbers-out-of-order",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                split(d, "m-00002-of-00002.gguf", &keys(0, 2, 2), &["b"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:WrongSplit",
            "m-00002-of-00002.gguf",
        ),
        (
            "split-counts-differ",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                split(d, "m-00002-of-00002.gguf", &keys(1, 3, 2), &["b"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:WrongSplit",
            "m-00002-of-00002.gguf",
        ),
        (
            "split-tensor-count",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 7), &["a"]);
                split(d, "m-00002-of-00002.gguf", &keys(1, 2, 7), &["b"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:SplitTensorCount",
            "m-00001-of-00002.gguf",
        ),
        (
            "split-duplicate-tensor",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                split(d, "m-00002-of-00002.gguf", &keys(1, 2, 2), &["a"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:TensorInTwoShards",
            "m-00002-of-00002.gguf",
        ),
        (
            "split-later-file-has-no-keys",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                split(d, "m-00002-of-00002.gguf", &[], &["b"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:SplitKeyMissing",
            "m-00002-of-00002.gguf",
        ),
        (
            "split-key-wrong-type",
            |d| {
                let mut k = keys(0, 2, 2);
                k[1] = ("split.count", 4, 2u32.to_le_bytes().to_vec());
                split(d, "m-00001-of-00002.gguf", &k, &["a"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:SplitKeyType",
            "m-00001-of-00002.gguf",
        ),
        (
            "split-count-zero",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 0, 1), &["a"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:InvalidSplit",
            "m-00001-of-00002.gguf",
        ),
        (
            "split-number-past-count",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(5, 2, 1), &["a"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:InvalidSplit",
            "m-00001-of-00002.gguf",
        ),
        (
            "split-negative-tensor-count",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, -1), &["a"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:InvalidSplit",
            "m-00001-of-00002.gguf",
        ),
        (
            "split-opened-from-the-second",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                split(d, "m-00002-of-00002.gguf", &keys(1, 2, 2), &["b"]);
                d.join("m-00002-of-00002.gguf")
            },
            "NotFirstSplit",
            "m-00002-of-00002.gguf",
        ),
        (
            "split-renamed",
            |d| {
                split(d, "model.gguf", &keys(0, 2, 2), &["a"]);
                d.join("model.gguf")
            },
            "SplitName",
            "model.gguf",
        ),
        (
            "split-later-file-is-safetensors",
            |d| {
                split(d, "m-00001-of-00002.gguf", &keys(0, 2, 2), &["a"]);
                shard(d, "m-00002-of-00002.gguf", &["b"]);
                d.join("m-00001-of-00002.gguf")
            },
            "Parse:BadMagic",
            "m-00002-of-00002.gguf",
        ),
    ]
}

/// `Variant` or `Parse:Variant` of an open error.
fn kind(e: &Error) -> String {
    let first = |debug: String| {
        debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    match e {
        Error::Parse { source, .. } => format!("Parse:{}", first(format!("{source:?}"))),
        other => first(format!("{other:?}")),
    }
}

#[test]
fn hostile_shard_sets_give_their_errors_naming_the_file() {
    let cases = cases();
    assert!(cases.len() >= 30, "{}", cases.len());
    let mut wrong = Vec::new();
    for (name, make, expected, file) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = make(dir.path());
        let ways: [(&str, Result<_, _>); 3] = [
            ("safe", weightmap_native::open(&path)),
            (
                "heap",
                weightmap_native::open_with(&path, &SourceConfig::no_mmap()),
            ),
            // SAFETY: nothing modifies the test's files.
            ("trusted", unsafe { weightmap_native::open_trusted(&path) }),
        ];
        for (how, result) in ways {
            let e = match result {
                Ok(_) => {
                    wrong.push(format!("{name} ({how}): opened"));
                    continue;
                }
                Err(e) => e,
            };
            if kind(&e) != expected {
                wrong.push(format!("{name} ({how}): expected {expected}, got {e:?}"));
            }
            let named = e.path().file_name().and_then(|f| f.to_str()).unwrap_or("");
            if named != file {
                wrong.push(format!(
                    "{name} ({how}): names {}, not {file}: {e}",
                    e.path().display()
                ));
            }
            assert!(e.path().starts_with(dir.path()), "{name}: {e}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
