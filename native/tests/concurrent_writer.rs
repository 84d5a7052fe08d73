//! The safe open against a hostile neighbour: another process rewrites random bytes of a model
//! file's header (and puts them back) while this one opens it through `ModelSource::open`,
//! looks up every tensor and walks every string, for 20 s (`WEIGHTMAP_WRITER_SECONDS`
//! overrides). Zero panics are allowed, every `&str` must still be valid UTF-8 when the
//! iteration ends, and every tensor listed must be found by its own name.
//!
//! Before the header was parsed from a private copy, the same scribbling over a mapping made
//! `Array::strings` and the name sort panic and handed out strings that later held invalid
//! UTF-8 (issue "One read API over borrowed bytes…").
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use weightmap_core::testing::Builder;
use weightmap_core::{ModelData, Value};
use weightmap_native::ModelSource;

const WRITER: &str = "WEIGHTMAP_WRITER_TARGET";
const TEST: &str = "a_writer_rewriting_the_header_cannot_make_the_safe_open_panic";

/// A model with a vocabulary of mixed ASCII and multi-byte tokens, scores, and 64 tensors.
fn model(path: &Path) -> u64 {
    let mut tokens = Vec::new();
    tokens.extend_from_slice(&8u32.to_le_bytes());
    tokens.extend_from_slice(&20_000u64.to_le_bytes());
    for i in 0..20_000 {
        let t = if i % 3 == 0 {
            format!("▁tok{i}")
        } else {
            format!("t{i}é")
        };
        tokens.extend_from_slice(&(t.len() as u64).to_le_bytes());
        tokens.extend_from_slice(t.as_bytes());
    }
    let mut b = Builder::default()
        .kv_str("general.architecture", "llama")
        .kv_str("general.name", "a model being scribbled on")
        .kv_raw(b"tokenizer.ggml.tokens", 9, tokens);
    for i in 0..64 {
        b = b.tensor(&format!("blk.{i}.weight"), &[256], 0, &[0x3C; 1024]);
    }
    std::fs::write(path, b.build()).unwrap();
    weightmap_core::Gguf::parse_header(std::fs::read(path).unwrap())
        .unwrap()
        .layout()
        .tensor_info_end
}

/// The writer: until killed, overwrite a few random header bytes, then put them back, so
/// readers see the file valid most of the time and corrupted in a different place each time.
fn scribble(path: &Path, header_len: u64) -> ! {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(path)
        .unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    loop {
        let at = next() % header_len;
        let len = (1 + next() % 16).min(header_len - at) as usize;
        let mut original = vec![0u8; len];
        file.read_exact_at(&mut original, at).unwrap();
        let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        file.write_all_at(&noise, at).unwrap();
        std::thread::sleep(Duration::from_micros(next() % 50));
        file.write_all_at(&original, at).unwrap();
        std::thread::sleep(Duration::from_micros(next() % 200));
    }
}

/// One round: open, look every tensor up by name, walk every string. Returns whether the
/// open succeeded.
fn round(path: &Path) -> bool {
    let Ok(gguf) = ModelSource::open(path) else {
        return false;
    };
    let header = gguf.data().header().unwrap().to_vec();
    let mut strings: Vec<&str> = Vec::new();
    for entry in gguf.metadata() {
        strings.push(entry.key());
        match entry.value() {
            Value::String(s) => strings.extend(s.to_str().ok()),
            Value::Array(a) => {
                if let Some(items) = a.strings() {
                    strings.extend(items.map_while(Result::ok));
                }
                a.iter().for_each(drop);
            }
            _ => {}
        }
    }
    for info in gguf.tensors() {
        strings.push(info.name());
        let found = gguf
            .tensor(info.name())
            .unwrap_or_else(|e| panic!("tensor {:?} listed but not found: {e}", info.name()));
        assert_eq!(found.bytes().len() as u64, info.size());
    }
    // Whatever the writer did meanwhile, what was handed out is unchanged and valid.
    for s in &strings {
        assert!(std::str::from_utf8(s.as_bytes()).is_ok());
    }
    assert_eq!(gguf.data().header().unwrap(), &header[..]);
    true
}

#[test]
fn a_writer_rewriting_the_header_cannot_make_the_safe_open_panic() {
    if let Ok(target) = std::env::var(WRITER) {
        let (len, path) = target.split_once(':').unwrap();
        scribble(Path::new(path), len.parse().unwrap());
    }
    let dir = common::scratch();
    let path = dir.path().join("scribbled.gguf");
    let header_len = model(&path);
    assert!(std::fs::metadata(&path).unwrap().len() > weightmap_native::MIN_MMAP_SIZE);
    let seconds = std::env::var("WEIGHTMAP_WRITER_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(WRITER, format!("{header_len}:{}", path.display()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut opened, mut refused, mut panics) = (0u64, 0u64, Vec::new());
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        match catch_unwind(AssertUnwindSafe(|| round(&path))) {
            Ok(true) => opened += 1,
            Ok(false) => refused += 1,
            Err(p) => panics.push(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            ),
        }
    }
    let _ = writer.kill();
    let _ = writer.wait();
    println!(
        "{opened} opens succeeded, {refused} refused as invalid, {} panics",
        panics.len()
    );
    assert!(
        panics.is_empty(),
        "{} panics, first: {}",
        panics.len(),
        panics[0]
    );
    assert!(
        opened > 0 && refused > 0,
        "the writer changed nothing visible"
    );
}
