//! `weightmap upload` end to end: without a GPU it says so (exit 1); `--host` runs the same
//! pipeline and reports what `inspect --json` says about the file; usage errors exit 2.

use std::process::{Command, Output};

use serde_json::Value as Json;
use weightmap_gpu::testing::write_model;

fn weightmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Json {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn without_a_gpu_upload_says_so_and_exits_1() {
    if weightmap_gpu::cuda::driver_present() {
        println!("skipped: a CUDA driver is present");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    write_model(&path, 1 << 20, 1).unwrap();
    let out = weightmap(&["upload", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no CUDA driver"), "{err}");
    assert!(err.contains("NVIDIA"), "{err}");
}

#[test]
fn host_upload_reports_every_tensor_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    write_model(&path, 24 << 20, 2).unwrap();
    let file = path.to_str().unwrap();
    let inspected = json(&weightmap(&["inspect", "--json", file]));
    let tensors = inspected["tensors"].as_array().unwrap();
    let bytes: u64 = tensors.iter().map(|t| t["size"].as_u64().unwrap()).sum();

    for fill in ["mmap", "pread", "direct"] {
        let out = weightmap(&[
            "upload",
            file,
            "--host",
            "--verify",
            "--json",
            "--chunk-mib",
            "2",
            "--buffers",
            "3",
            "--fill",
            fill,
        ]);
        if fill == "direct" && !out.status.success() {
            // tmpfs refuses O_DIRECT; the message must say why.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("Invalid argument"), "{err}");
            continue;
        }
        let v = json(&out);
        assert_eq!(v["tensors"], tensors.len());
        assert_eq!(v["bytes"], bytes);
        assert_eq!(v["verified"], true);
        assert_eq!(v["buffers"], 3);
        assert_eq!(v["chunk_size"], 2 << 20);
        assert_eq!(v["fill"], fill);
        assert!(v["chunks"].as_u64().unwrap() >= 12);
        assert!(v["bytes_per_second"].as_f64().unwrap() > 0.0);
        assert!(v["seconds"]["verify"].as_f64().is_some());
    }

    // Text output names the device and the throughput.
    let out = weightmap(&["upload", file, "--host", "--layers", "0..2"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("host memory"), "{text}");
    assert!(text.contains("GB/s"), "{text}");

    // A subset: blocks 0..2 plus one named tensor.
    let v = json(&weightmap(&[
        "upload",
        file,
        "--host",
        "--json",
        "--layers",
        "0..2",
        "--tensor",
        "output_norm.weight",
    ]));
    let expected = tensors
        .iter()
        .filter(|t| {
            let name = t["name"].as_str().unwrap();
            name.starts_with("blk.0.") || name.starts_with("blk.1.") || name == "output_norm.weight"
        })
        .count();
    assert_eq!(v["tensors"], expected);
}

#[test]
fn bad_files_exit_1_and_bad_options_exit_2() {
    let out = weightmap(&["upload", "/nonexistent/m.gguf", "--host"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/m.gguf"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.gguf");
    std::fs::write(&path, b"GGUF\x03\0\0\0garbage").unwrap();
    let out = weightmap(&["upload", path.to_str().unwrap(), "--host"]);
    assert_eq!(out.status.code(), Some(1));

    for args in [
        &["--chunk-mib", "0"][..],
        &["--chunk-mib", "5000"],
        &["--layers", "3..1"],
        &["--layers", "x"],
        &["--fill", "telepathy"],
        &["--buffers", "0"],
        &["--buffers", "1024", "--chunk-mib", "1024"],
    ] {
        let mut all = vec!["upload", "m.gguf", "--host"];
        all.extend_from_slice(args);
        let out = weightmap(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", out);
    }
}
