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
    let mut expected = inspect_json(file);
    // inspect names a shard by its path beside the one given; the server by its name too.
    if let Some(files) = expected.get_mut("files").and_then(|f| f.as_array_mut()) {
        for f in files {
            let path = PathBuf::from(f["file"].as_str().unwrap());
            f["file"] = path.file_name().unwrap().to_str().unwrap().into();
        }
    }
    assert_eq!(json, expected, "the schema of inspect --json");
    // The file and data section of each tensor: the model's own, or its shard's.
    let file_of = |t: &serde_json::Value| -> (Vec<u8>, usize) {
        match t["file"].as_str() {
            Some(name) => {
                let f = json["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["file"] == name)
                    .unwrap();
                let bytes = std::fs::read(file.with_file_name(name)).unwrap();
                (bytes, f["data_offset"].as_u64().unwrap() as usize)
            }
            None => (
                std::fs::read(file).unwrap(),
                json["data_offset"].as_u64().unwrap() as usize,
            ),
        }
    };
    for t in json["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let (offset, size) = (
            t["offset"].as_u64().unwrap() as usize,
            t["size"].as_u64().unwrap() as usize,
        );
        let (bytes, data_offset) = file_of(t);
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
fn safetensors_files_shard_indexes_and_gguf_splits() {
    let server = Server::start(&[]);
    for (model, format, tensors, files) in [
        ("st/one.safetensors", "safetensors", 3, 1),
        ("st/model.safetensors.index.json", "safetensors", 5, 2),
        ("splits/m-00001-of-00003.gguf", "gguf", 3, 3),
    ] {
        let path = server.root().join(model);
        check_tensors(&server, model, &path);
        let index = get(&server.url(&format!("/models/{model}")), &[]);
        let json: serde_json::Value = serde_json::from_slice(&index.body).unwrap();
        assert_eq!(json["format"], format, "{model}");
        assert_eq!(
            json["tensors"].as_array().unwrap().len(),
            tensors,
            "{model}"
        );
        let listed = json["files"].as_array().map_or(1, Vec::len);
        assert_eq!(listed, files, "{model}");
    }
    // safetensors shapes are row-major, as the file has them.
    let embed = get(&server.url("/models/st/one.safetensors/tensors/embed"), &[]);
    assert_eq!(embed.header("x-tensor-shape"), "[16,8]");
    assert_eq!(embed.header("x-tensor-type"), "BF16");
    // A later split says where the first is; a shard replaced is picked up.
    let later = get(&server.url("/models/splits/m-00002-of-00003.gguf"), &[]);
    assert_eq!(later.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = String::from_utf8_lossy(&later.body).into_owned();
    assert!(error.contains("m-00001-of-00003.gguf"), "{error}");
    let shard = server.root().join("st/model-00002-of-00002.safetensors");
    let replaced = weightmap_core::testing::SafetensorsBuilder::default()
        .tensor("head", "F16", &[4, 8], &crate::pattern(64, 9))
        .tensor("f4", "F4", &[2, 6], &crate::pattern(6, 5))
        .build();
    let tmp = shard.with_extension("tmp");
    std::fs::write(&tmp, &replaced).unwrap();
    std::fs::rename(&tmp, &shard).unwrap();
    let head = get(
        &server.url("/models/st/model.safetensors.index.json/tensors/head"),
        &[],
    );
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.body, crate::pattern(64, 9));
    // A shard missing: 422 naming it.
    std::fs::remove_file(&shard).unwrap();
    let gone = get(&server.url("/models/st/model.safetensors.index.json"), &[]);
    assert_eq!(gone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&gone.body).contains("model-00002-of-00002"));
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
