//! Every model form through `inspect`, `residency` and `touch`: a safetensors file, a sharded
//! safetensors model by its index, a GGUF split set by its first file, and broken sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;
use weightmap_core::testing::{Builder, SafetensorsBuilder};

fn weightmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Json {
    let out = weightmap(args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

/// `one.safetensors`, `model.safetensors.index.json` with two shards, `g-0000K-of-00002.gguf`.
fn fixtures(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let one = SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("embed", "BF16", &[300, 64], &bytes(300 * 64 * 2, 1))
        .tensor("scale", "F8_E4M3", &[3], &bytes(3, 2))
        .build();
    std::fs::write(dir.join("one.safetensors"), &one).unwrap();
    std::fs::write(dir.join("model-00001-of-00002.safetensors"), &one).unwrap();
    let two = SafetensorsBuilder::default()
        .tensor("head", "F32", &[10, 1000], &bytes(40_000, 3))
        .build();
    std::fs::write(dir.join("model-00002-of-00002.safetensors"), two).unwrap();
    let index = dir.join("model.safetensors.index.json");
    std::fs::write(
        &index,
        r#"{"metadata": {"total_size": 78403}, "weight_map": {
            "embed": "model-00001-of-00002.safetensors",
            "scale": "model-00001-of-00002.safetensors",
            "head": "model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    for no in 0..2u16 {
        let b = Builder::default()
            .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
            .kv_raw(b"split.count", 2, 2u16.to_le_bytes().to_vec())
            .kv_raw(b"split.tensors.count", 5, 2i32.to_le_bytes().to_vec())
            .kv_str("general.architecture", "llama")
            .tensor(
                &format!("blk.{no}.w"),
                &[64, 10],
                8,
                &bytes(34 * 20, no as u8),
            );
        std::fs::write(
            dir.join(format!("g-{:05}-of-00002.gguf", no + 1)),
            b.build(),
        )
        .unwrap();
    }
    (
        dir.join("one.safetensors"),
        index,
        dir.join("g-00001-of-00002.gguf"),
    )
}

#[test]
fn inspect_shows_every_form_with_its_format_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let (one, index, split) = fixtures(dir.path());
    let v = json(&["inspect", "--json", one.to_str().unwrap()]);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "format",
            "version",
            "alignment",
            "data_offset",
            "metadata",
            "tensors"
        ]
    );
    assert_eq!(v["format"], "safetensors");
    assert_eq!(
        (v["version"].clone(), v["alignment"].clone()),
        (Json::Null, Json::Null)
    );
    assert_eq!(
        v["metadata"][0],
        serde_json::json!({"key": "format", "type": "STRING", "value": "pt"})
    );
    let embed = &v["tensors"][0];
    assert_eq!(embed["type"], "BF16");
    assert_eq!(
        embed["shape"],
        serde_json::json!([300, 64]),
        "row-major, as the file has it"
    );
    assert_eq!(
        (embed["offset"].clone(), embed["size"].clone()),
        (0.into(), 38_400.into())
    );
    assert_eq!(v["tensors"][1]["type"], "F8_E4M3");

    let v = json(&["inspect", "--json", index.to_str().unwrap()]);
    assert_eq!(v["format"], "safetensors");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["file"], "model-00002-of-00002.safetensors");
    let head = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "head")
        .unwrap();
    assert_eq!(head["file"], "model-00002-of-00002.safetensors");
    assert_eq!(head["shape"], serde_json::json!([10, 1000]));

    let v = json(&["inspect", "--json", split.to_str().unwrap()]);
    assert_eq!(
        (v["format"].clone(), v["version"].clone()),
        ("gguf".into(), 3.into())
    );
    assert_eq!(v["tensors"][1]["file"], "g-00002-of-00002.gguf");
    assert_eq!(
        v["tensors"][1]["shape"],
        serde_json::json!([64, 10]),
        "GGUF's ne[0] first"
    );

    let text = weightmap(&["inspect", "--tensors", index.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("safetensors, ") && text.contains("files (2):"),
        "{text}"
    );
    assert!(text.contains("F8_E4M3") && text.contains("head"), "{text}");
    let text = String::from_utf8(weightmap(&["inspect", one.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains("JSON header of"), "{text}");
}

#[test]
fn residency_and_touch_cover_every_file_of_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let (_, index, split) = fixtures(dir.path());
    let sizes: u64 = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    .iter()
    .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
    .sum();
    let v = json(&["residency", "--json", "--tensors", index.to_str().unwrap()]);
    assert_eq!(v["size"], sizes);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    let head = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "head")
        .unwrap();
    assert!(head["file"]
        .as_str()
        .unwrap()
        .ends_with("model-00002-of-00002.safetensors"));
    assert_eq!(head["size"], 40_000);
    let v = json(&["touch", "--json", index.to_str().unwrap()]);
    assert_eq!(v["bytes"], sizes);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    let v = json(&["residency", "--json", split.to_str().unwrap()]);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    let text = String::from_utf8(weightmap(&["touch", split.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains("2 files"), "{text}");
}

#[test]
fn broken_sets_exit_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, index, split) = fixtures(dir.path());
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    for command in ["inspect", "residency", "touch"] {
        let out = weightmap(&[command, index.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("model-00002-of-00002.safetensors"),
            "{command}: {err}"
        );
    }
    let second = dir.path().join("g-00002-of-00002.gguf");
    let out = weightmap(&["inspect", second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("open the first split"));
    std::fs::remove_file(&second).unwrap();
    let out = weightmap(&["inspect", "--json", split.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("g-00002-of-00002.gguf"));
    // A broken safetensors file: exit 1 with the parser's error, no GGUF salvage.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(
        &bad,
        SafetensorsBuilder::raw(
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    )
    .unwrap();
    let out = weightmap(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("data_offsets span 4 bytes"));
}
