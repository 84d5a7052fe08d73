//! The `weightmap` binary end to end: the built-in sample, JSON output, and exit statuses.

use std::process::{Command, Output};

use serde_json::Value as Json;

fn weightmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn inspect_without_a_file_shows_the_sample() {
    let out = weightmap(&["inspect", "--tensors"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GGUF v3, little-endian"), "{text}");
    assert!(text.contains("tokenizer.ggml.tokens"));
    assert!(text.contains("blk.0.ffn_down.weight"));
    assert!(text.contains("Q4_K"));
}

#[test]
fn json_is_one_object_in_file_order() {
    let out = weightmap(&["inspect", "--json"]);
    assert!(out.status.success());
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
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
    assert_eq!(v["version"], 3);
    assert_eq!(v["metadata"][0]["key"], "general.architecture");
    assert_eq!(v["metadata"][0]["type"], "STRING");
    assert_eq!(v["metadata"][0]["value"], "llama");
    let tokens = v["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "tokenizer.ggml.tokens")
        .unwrap();
    assert_eq!(tokens["type"], "ARRAY");
    assert_eq!(tokens["value"]["type"], "STRING");
    assert_eq!(tokens["value"]["len"], 64);
    assert_eq!(tokens["value"]["head"].as_array().unwrap().len(), 8);
    let eps = v["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "llama.attention.layer_norm_rms_epsilon")
        .unwrap();
    // The shortest decimal of the f32, not the widened f64 (9.999999747378752e-6).
    assert_eq!(eps["value"].as_f64(), Some(1e-5));
    let t = &v["tensors"][0];
    assert_eq!(t["name"], "token_embd.weight");
    assert_eq!(t["type"], "Q8_0");
    assert_eq!(t["shape"], serde_json::json!([64, 64]));
    assert_eq!(t["offset"], 0);
    assert_eq!(t["size"], 4352);
}

#[test]
fn bad_files_exit_1_with_the_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let out = weightmap(&["inspect", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file not found"));

    let truncated = dir.path().join("truncated.gguf");
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/tiny-llama.gguf"
    ))
    .unwrap();
    std::fs::write(&truncated, &sample[..100]).unwrap();
    let out = weightmap(&["inspect", "--json", truncated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("truncated metadata"),
        "{out:?}"
    );
    // What was read before the error, with the error, for scripts.
    let partial: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(partial["error"]
        .as_str()
        .is_some_and(|e| e.contains("truncated metadata")));
    assert_eq!(partial["version"], 3);

    let out = weightmap(&["inspect", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file (a directory)"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        weightmap(&["inspect", "--no-such-flag"]).status.code(),
        Some(2)
    );
    assert_eq!(weightmap(&[]).status.code(), Some(2));
    let help = weightmap(&["inspect", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--json"));
}

fn sample_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("sample.gguf");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/tiny-llama.gguf"),
        &path,
    )
    .unwrap();
    path
}

#[test]
fn inspect_no_mmap_reads_into_memory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_copy(dir.path());
    let out = weightmap(&["inspect", "--no-mmap", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(read into memory: --no-mmap)"), "{text}");
    // Same report either way (the sample is under 64 KiB, so it is read even without the flag).
    let mapped = weightmap(&["inspect", "--json", path.to_str().unwrap()]);
    let heap = weightmap(&["inspect", "--json", "--no-mmap", path.to_str().unwrap()]);
    assert_eq!(mapped.stdout, heap.stdout);
}

#[test]
fn residency_reports_pages_in_all_and_per_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_copy(dir.path());
    let size = std::fs::metadata(&path).unwrap().len();
    let out = weightmap(&["residency", "--json", "--tensors", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["size"], size);
    let page = v["page_size"].as_u64().unwrap();
    assert_eq!(v["pages"], size.div_ceil(page));
    // Just written: all of it is in the page cache.
    assert_eq!(v["cached_pages"], v["pages"]);
    let tensors = v["tensors"].as_array().unwrap();
    assert!(!tensors.is_empty());
    for t in tensors {
        assert!(t["cached_pages"].as_u64() <= t["pages"].as_u64(), "{t}");
        assert!(t["name"].is_string() && t["type"].is_string());
    }
    let text = weightmap(&["residency", "--tensors", path.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("in page cache:") && text.contains("blk.0.ffn_down.weight"),
        "{text}"
    );

    // Any file works without --tensors; a non-GGUF file with --tensors is exit 1.
    let plain = dir.path().join("plain.bin");
    std::fs::write(&plain, vec![1u8; 10_000]).unwrap();
    assert!(weightmap(&["residency", plain.to_str().unwrap()])
        .status
        .success());
    let out = weightmap(&["residency", "--tensors", plain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain.bin"));
}

#[test]
fn touch_faults_every_page_in_and_releases_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.bin");
    std::fs::write(&path, vec![3u8; 8 << 20]).unwrap();
    let out = weightmap(&["touch", "--release", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bytes"], 8 << 20);
    assert_eq!(v["pages"], (8 << 20) / 4096);
    let rss = |k: &str| v[k].as_u64().unwrap();
    assert!(rss("rss_touched") >= rss("rss_before") + (7 << 20), "{v}");
    assert!(rss("rss_released") + (7 << 20) <= rss("rss_touched"), "{v}");

    let text = weightmap(&["touch", path.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("touched 8.00 MiB (2048 pages)") && text.contains("page faults:"),
        "{text}"
    );

    let out = weightmap(&["touch", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file not found"));
    assert_eq!(weightmap(&["touch"]).status.code(), Some(2));
}
