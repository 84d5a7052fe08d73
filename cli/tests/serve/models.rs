//! The model routes: the index as `inspect --json` prints it, and tensors by name.

use std::path::{Path, PathBuf};
use std::process::Command;

use hyper::StatusCode;

use crate::client::get;
use crate::{fixtures, Server};

fn inspect_json(file: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(["inspect", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every tensor served by name equals its bytes in the file, with its type and shape.
fn check_tensors(server: &Server, model: &str, file: &Path) {
    let index = get(&server.url(&format!("/models/{model}")), &[]);
    assert_eq!(
        index.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&index.body)
    );
    let json: serde_json::Value = serde_json::from_slice(&index.body).unwrap();
    assert_eq!(json, inspect_json(file), "the schema of inspect --json");
    let bytes = std::fs::read(file).unwrap();
    let data_offset = json["data_offset"].as_u64().unwrap() as usize;
    for t in json["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let (offset, size) = (
            t["offset"].as_u64().unwrap() as usize,
            t["size"].as_u64().unwrap() as usize,
        );
        let want = &bytes[data_offset + offset..data_offset + offset + size];
        let reply = get(&server.url(&format!("/models/{model}/tensors/{name}")), &[]);
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.body, want, "{name}");
        assert_eq!(reply.header("x-tensor-type"), t["type"].as_str().unwrap());
        let shape: Vec<u64> = serde_json::from_str(reply.header("x-tensor-shape")).unwrap();
        assert_eq!(serde_json::json!(shape), t["shape"], "{name}");
        // Ranges count within the tensor.
        if size > 8 {
            let part = get(
                &server.url(&format!("/models/{model}/tensors/{name}")),
                &[("range", "bytes=2-5")],
            );
            assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
            assert_eq!(part.body, want[2..6]);
            assert_eq!(part.header("content-range"), format!("bytes 2-5/{size}"));
        }
    }
}

#[test]
fn the_index_and_every_tensor_of_a_generated_model() {
    let server = Server::start(&[]);
    check_tensors(
        &server,
        "sub/model.gguf",
        &server.root().join("sub/model.gguf"),
    );
    let missing = get(&server.url("/models/sub/model.gguf/tensors/nope"), &[]);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Not a model: 422 with the parser's error; not a file: 404.
    let blob = get(&server.url("/models/blob.bin"), &[]);
    assert_eq!(blob.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: serde_json::Value = serde_json::from_slice(&blob.body).unwrap();
    assert!(error["error"].as_str().unwrap().contains("GGUF"), "{error}");
    assert_eq!(
        get(&server.url("/models/none.gguf"), &[]).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn the_real_gemma_model() {
    let gemma = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fixtures/gemma-3-270m-q4_k_m.gguf");
    if !gemma.exists() {
        println!("skipped: no Gemma fixture (./test.sh assembles it)");
        return;
    }
    // A hard link keeps the 253 MB file out of a copy when the root is on the same disk.
    let dir = tempfile::tempdir_in(gemma.parent().unwrap()).unwrap();
    fixtures(dir.path());
    let linked = dir.path().join("root/gemma.gguf");
    if std::fs::hard_link(&gemma, &linked).is_err() {
        std::fs::copy(&gemma, &linked).unwrap();
    }
    let server = Server::start_in(dir, &[]);
    check_tensors(&server, "gemma.gguf", &linked);
}
