//! `inspect URL` and `get URL` against nginx on loopback (and file:// URLs): the same report
//! as the local file's, downloads byte-identical, resumes and refusals.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_tests::servers::Nginx;

fn weightmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Json {
    let out = weightmap(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ seed)
        .collect()
}

/// A safetensors file, a sharded safetensors model and a GGUF split set in `dir`.
fn fixtures(dir: &Path) -> [&'static str; 3] {
    let one = SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("embed", "BF16", &[512, 1024], &bytes(1 << 20, 1))
        .build();
    std::fs::write(dir.join("one.safetensors"), &one).unwrap();
    std::fs::write(dir.join("m-00001-of-00002.safetensors"), &one).unwrap();
    let two = SafetensorsBuilder::default()
        .tensor("head", "F32", &[10, 100], &bytes(4000, 2))
        .build();
    std::fs::write(dir.join("m-00002-of-00002.safetensors"), two).unwrap();
    std::fs::write(
        dir.join("m.safetensors.index.json"),
        r#"{"weight_map": {"embed": "m-00001-of-00002.safetensors", "head": "m-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    for no in 0..2u16 {
        let file = Builder::default()
            .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
            .kv_raw(b"split.count", 2, 2u16.to_le_bytes().to_vec())
            .kv_raw(b"split.tensors.count", 5, 2i32.to_le_bytes().to_vec())
            .tensor(
                &format!("blk.{no}.w"),
                &[64, 64],
                0,
                &bytes(64 * 64 * 4, no as u8),
            )
            .build();
        std::fs::write(dir.join(format!("g-{:05}-of-00002.gguf", no + 1)), file).unwrap();
    }
    [
        "one.safetensors",
        "m.safetensors.index.json",
        "g-00001-of-00002.gguf",
    ]
}

#[test]
fn inspect_url_matches_the_local_report() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    for name in names {
        let local = json(&["inspect", "--json", dir.path().join(name).to_str().unwrap()]);
        for url in [
            nginx.url(name),
            format!("file://{}", dir.path().join(name).display()),
        ] {
            let mut remote = json(&["inspect", "--json", &url]);
            let stats = remote.as_object_mut().unwrap().remove("remote").unwrap();
            assert_eq!(remote, local, "{url}");
            let files = local["files"].as_array().map_or(1, Vec::len) as u64
                + u64::from(name.ends_with(".json"));
            assert!(
                stats["requests"].as_u64().unwrap() <= 2 * files,
                "{url}: {stats}"
            );
        }
        let text = weightmap(&["inspect", &nginx.url(name)]);
        assert!(text.status.success());
        assert!(String::from_utf8_lossy(&text.stdout).contains("read by range"));
    }
    // Errors name the URL; exit status 1.
    let missing = weightmap(&["inspect", &nginx.url("absent.gguf")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.gguf"));
    let ignored = Nginx::start(dir.path(), Some(0));
    let refused = weightmap(&["inspect", &ignored.url("one.safetensors")]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ignores byte ranges"));
}

#[test]
fn get_downloads_every_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("one.safetensors");
    let report = json(&[
        "get",
        &nginx.url(names[0]),
        "-o",
        file.to_str().unwrap(),
        "--part-mib",
        "1",
        "--json",
    ]);
    assert_eq!(report["fetched"], report["bytes"]);
    assert_eq!(sha256(&file), sha256(&dir.path().join(names[0])));
    // There already: refused (1), then replaced with --force.
    let again = weightmap(&["get", &nginx.url(names[0]), "-o", file.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    json(&[
        "get",
        &nginx.url(names[0]),
        "-o",
        file.to_str().unwrap(),
        "--force",
        "--json",
    ]);
    // Sharded models into a folder: every file.
    for (name, files) in [(names[1], 3), (names[2], 2)] {
        let folder = out.path().join(name.replace('.', "_"));
        let folder_arg = folder.to_str().unwrap();
        let report = json(&[
            "get",
            &nginx.url(name),
            "-o",
            folder_arg,
            "--concurrency",
            "3",
            "--json",
        ]);
        let got = report["files"].as_array().unwrap();
        assert_eq!(got.len(), files, "{report}");
        for entry in got {
            let path = Path::new(entry["file"].as_str().unwrap());
            let original = dir.path().join(path.file_name().unwrap());
            assert_eq!(sha256(path), sha256(&original), "{}", path.display());
        }
    }
    let bad = weightmap(&["get", &nginx.url(names[0]), "-o", "x", "--concurrency", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn upload_url_reads_the_model_by_range_into_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    for name in names {
        let local = json(&[
            "upload",
            dir.path().join(name).to_str().unwrap(),
            "--host",
            "--json",
        ]);
        let url = nginx.url(name);
        let remote = json(&[
            "upload",
            &url,
            "--host",
            "--verify",
            "--chunk-mib",
            "1",
            "--part-mib",
            "1",
            "--json",
        ]);
        for key in ["tensors", "bytes", "arena_bytes"] {
            assert_eq!(remote[key], local[key], "{url}: {key}");
        }
        assert_eq!(remote["verified"], true, "{remote}");
        assert_eq!(remote["fill"], "remote", "{remote}");
        assert!(local["remote"].is_null(), "{local}");
        // The header, the tensors and their verification: every tensor byte twice.
        let bytes = remote["bytes"].as_u64().unwrap();
        assert!(
            remote["remote"]["bytes"].as_u64().unwrap() >= 2 * bytes,
            "{remote}"
        );
        assert!(
            remote["remote"]["requests"].as_u64().unwrap() >= 3,
            "{remote}"
        );
    }
    // Text output names the traffic; --layers and --tensor filter as for a file.
    let text = weightmap(&["upload", &nginx.url(names[2]), "--host", "--layers", "1..2"]);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("1 tensors") && text.contains("read by range"),
        "{text}"
    );
    // A missing object (1), a server that ignores ranges (1), bad options (2).
    let missing = weightmap(&["upload", &nginx.url("absent.gguf"), "--host"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.gguf"));
    let ignored = Nginx::start(dir.path(), Some(0));
    let refused = weightmap(&["upload", &ignored.url(names[0]), "--host"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ignores byte ranges"));
    let bad = weightmap(&["upload", &nginx.url(names[0]), "--host", "--part-mib", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}
