//! The command under fault: endless streams, FIFOs, huge names and values, refused files, and
//! every output mode over the hostile corpus. Exit status 0 or 1, never a panic (101).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn weightmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(args)
        .output()
        .expect("run weightmap")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `weightmap inspect FILE` with at most 48 MiB of address space (the debug binary's own
/// mappings take about 20 since it links the remote crate's TLS and HTTP stack; an endless
/// read would grow to the 1 GiB header limit), so that its resident
/// memory stays below that too.
fn inspect_in_little_memory(file: &str) -> Output {
    let script = format!(
        "ulimit -v 49152 && exec '{}' inspect {file}",
        env!("CARGO_BIN_EXE_weightmap")
    );
    Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run sh")
}

#[test]
fn endless_devices_fail_on_their_first_bytes_in_little_memory() {
    for device in ["/dev/zero", "/dev/urandom"] {
        if !Path::new(device).exists() {
            println!("skipped: no {device}");
            continue;
        }
        let out = inspect_in_little_memory(device);
        assert_eq!(out.status.code(), Some(1), "{device}: {out:?}");
        let err = stderr(&out);
        // Random bytes may, rarely, look like a safetensors length past its cap.
        assert!(
            err.contains("not a GGUF or safetensors file: the first bytes are 0x")
                || err.contains("-byte limit"),
            "{err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_fed_a_valid_model_parses_as_the_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("model.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        println!("skipped: mkfifo failed");
        return;
    }
    let sample = workspace().join("samples/tiny-llama.gguf");
    let bytes = std::fs::read(&sample).unwrap();
    let writer_path = fifo.clone();
    // The reader may stop after the header: a closed pipe is the writer's normal end.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&writer_path)
            .unwrap();
        let _ = f.write_all(&bytes);
    });
    let from_fifo = weightmap(&["inspect", "--json", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(from_fifo.status.code(), Some(0), "{from_fifo:?}");
    let from_file = weightmap(&["inspect", "--json", sample.to_str().unwrap()]);
    assert_eq!(stdout(&from_fifo), stdout(&from_file));
}

/// A valid file whose one key, string value and tensor name are each `n` bytes long.
fn file_with_long_text(n: usize) -> Vec<u8> {
    use weightmap_core::testing::Builder;
    let long = "k".repeat(n);
    let template = "{% for m in messages %}".repeat(n / 23 + 1);
    Builder::default()
        .kv_str(&long, "short value")
        .kv_str("tokenizer.chat_template", &template)
        .tensor(&"t".repeat(n), &[4], 0, &[0; 16])
        .build()
}

#[test]
fn long_keys_names_and_values_are_shortened_unless_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.gguf");
    std::fs::write(&path, file_with_long_text(70_000)).unwrap();
    let file = path.to_str().unwrap();
    for args in [
        vec!["inspect", file],
        vec!["inspect", "--tensors", file],
        vec!["inspect", "--no-mmap", "--tensors", file],
    ] {
        let out = weightmap(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.lines().all(|l| l.chars().count() < 400), "{args:?}");
        assert!(text.contains("… (69936 more characters)"), "{args:?}");
    }
    let full = weightmap(&["inspect", "--tensors", "--full", file]);
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));
    let text = stdout(&full);
    assert!(text.contains(&"k".repeat(70_000)) && text.contains(&"t".repeat(70_000)));
    assert!(!text.contains("more characters"));
    let json = weightmap(&["inspect", "--json", file]);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["metadata"][0]["key"].as_str().map(str::len), Some(70_000));
    assert_eq!(v["tensors"][0]["name"].as_str().map(str::len), Some(70_000));
}

#[test]
fn control_characters_in_keys_are_escaped() {
    use weightmap_core::testing::Builder;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("escape.gguf");
    let file = Builder::default()
        .kv_str("evil\u{1b}[2J.key\nnext", "v\u{7}")
        .build();
    std::fs::write(&path, file).unwrap();
    let out = weightmap(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    assert!(text.contains("evil\\u{1b}[2J.key\\nnext"), "{text}");
}

/// Two tensors at one offset, after two keys: refused, yet everything is shown.
fn overlapping_file() -> Vec<u8> {
    use weightmap_core::testing::Builder;
    let mut builder = Builder::default()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 1)
        .tensor("first.weight", &[8], 0, &[0; 32])
        .tensor("second.weight", &[8], 0, &[0; 32])
        .tensor("third.weight", &[8], 0, &[0; 32]);
    builder.tensors[2].offset = 0;
    builder.build()
}

#[test]
fn a_refused_file_shows_what_was_read_then_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overlap.gguf");
    std::fs::write(&path, overlapping_file()).unwrap();
    let file = path.to_str().unwrap();

    let out = weightmap(&["inspect", file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for shown in [
        "llama.block_count",
        "first.weight",
        "second.weight",
        "third.weight",
    ] {
        assert!(text.contains(shown), "{shown} missing from:\n{text}");
    }
    let err = stderr(&out);
    assert!(
        err.contains("third.weight") && err.contains("overlaps"),
        "{err}"
    );

    let out = weightmap(&["inspect", "--json", file]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["metadata"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["tensors"].as_array().map(Vec::len), Some(3));
    assert!(v["error"].as_str().unwrap().contains("third.weight"));

    // Cut inside the second entry: the header and the first entry are shown.
    let cut = dir.path().join("cut.gguf");
    let bytes = overlapping_file();
    let second = bytes
        .windows(17)
        .position(|w| w == b"llama.block_count")
        .unwrap();
    std::fs::write(&cut, &bytes[..second + 4]).unwrap();
    let out = weightmap(&["inspect", "--json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 3);
    assert_eq!(v["metadata"][0]["key"], "general.architecture");
    assert_eq!(v["data_offset"], serde_json::Value::Null);
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));
}

/// Every file of the hostile corpus and the fuzz regressions, in every output mode.
fn corpus() -> Vec<PathBuf> {
    let root = workspace();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/hostile"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for target in std::fs::read_dir(root.join("fuzz/regressions")).unwrap() {
        for file in std::fs::read_dir(target.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
}

#[test]
fn every_mode_over_the_hostile_corpus_exits_0_or_1() {
    let files = corpus();
    assert!(files.len() > 80, "corpus missing: {} files", files.len());
    let modes: [&[&str]; 5] = [
        &["inspect"],
        &["inspect", "--json"],
        &["inspect", "--tensors"],
        &["inspect", "--no-mmap", "--tensors"],
        &["inspect", "--full", "--tensors"],
    ];
    for file in &files {
        for mode in modes {
            let mut args = mode.to_vec();
            args.push(file.to_str().unwrap());
            let out = Command::new(env!("CARGO_BIN_EXE_weightmap"))
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let code = out.status.code();
            assert!(
                matches!(code, Some(0 | 1)),
                "{args:?} exited {code:?}: {}",
                stderr(&out)
            );
            if code == Some(1) {
                assert!(stderr(&out).starts_with("error: "), "{args:?}: {out:?}");
            }
        }
    }
}

/// `touch` over a 2 GiB sparse file that is truncated as soon as it is mapped: the command
/// reports the truncation naming the file (exit 1) instead of dying of `SIGBUS` (exit 135).
#[cfg(unix)]
#[test]
fn touch_survives_the_file_being_truncated_under_it() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("sparse.bin");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(2 << 30).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weightmap"))
        .args(["-v", "touch", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while log.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("mapped") && line.contains("sparse.bin") {
            file.set_len(1 << 20).unwrap();
            break;
        }
        line.clear();
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
    seen.push_str(&rest);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}\n{seen}");
    assert!(
        seen.contains("sparse.bin") && seen.contains("truncated while mapped"),
        "{seen}"
    );
}
