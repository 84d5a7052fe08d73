//! `weightmap tensor`: statistics of Gemma's tensors of every type it holds (F32, Q8_0, Q5_0,
//! Q4_K, Q6_K) against numpy's over the official reader's dequantize; `--f32` and `--raw`
//! output byte for byte; bad names, types and options exit 1 or 2.

use std::process::{Command, Output};

use serde_json::Value as Json;

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

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-30)
}

#[test]
fn gemma_statistics_equal_numpys_over_the_official_dequantize() {
    let Some((python, gemma)) = weightmap_tests::gemma_model() else {
        return;
    };
    let file = gemma.to_str().unwrap();
    let names = [
        "output_norm.weight",
        "blk.0.attn_v.weight",
        "blk.0.attn_q.weight",
        "blk.0.attn_output.weight",
        "blk.0.ffn_down.weight",
    ];
    let mut args: Vec<&std::path::Path> = vec![gemma.as_path()];
    args.extend(names.iter().map(std::path::Path::new));
    let reference: Json = serde_json::from_str(&weightmap_tests::run_script(
        &python,
        "tensor_stats.py",
        &args,
    ))
    .unwrap();
    let mut types = std::collections::BTreeSet::new();
    for name in names {
        let got = json(&["tensor", file, name, "--json"]);
        let want = &reference[name];
        assert_eq!(got["count"], want["count"], "{name}");
        assert_eq!(got["finite"], want["finite"], "{name}");
        assert_eq!(got["nan"], want["nan"], "{name}");
        for key in ["min", "max"] {
            assert_eq!(got[key].as_f64(), want[key].as_f64(), "{name} {key}");
        }
        for key in ["mean", "std"] {
            let (g, w) = (got[key].as_f64().unwrap(), want[key].as_f64().unwrap());
            assert!(close(g, w), "{name} {key}: {g} against numpy's {w}");
        }
        let counts: u64 = got["histogram"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(counts, got["finite"].as_u64().unwrap(), "{name}");
        types.insert(got["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(types.len(), 5, "{types:?}");
}

#[test]
fn values_and_bytes_are_written_and_bad_input_exits_1_or_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    // Q8_0 [32, 2] with scales 1 and 0.5, and an F32 vector.
    let mut q8 = Vec::new();
    for scale in [0x3c00u16, 0x3800] {
        q8.extend(scale.to_le_bytes());
        q8.extend((0..32).map(|i| (i as i8 - 16) as u8));
    }
    let file = weightmap_core::testing::Builder::default()
        .tensor("q", &[32, 2], 8, &q8)
        .tensor(
            "v",
            &[3],
            0,
            &[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0xc0, 0x7f],
        )
        .build();
    std::fs::write(&path, file).unwrap();
    let m = path.to_str().unwrap();
    let out = dir.path().join("q.f32");
    let o = out.to_str().unwrap();
    let stats = json(&["tensor", m, "q", "--f32", "-o", o, "--json"]);
    assert_eq!(stats["count"], 64);
    assert_eq!(stats["shape"], serde_json::json!([32, 2]));
    assert_eq!(stats["dims"], serde_json::json!([2, 32]));
    let values: Vec<f32> = std::fs::read(&out)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let want: Vec<f32> = (0..64)
        .map(|i| (i % 32 - 16) as f32 * if i < 32 { 1.0 } else { 0.5 })
        .collect();
    assert_eq!(values, want);
    assert_eq!(stats["min"], -16.0);
    assert_eq!(stats["max"], 15.0);
    // NaN counted apart; statistics over the finite values.
    let v = json(&["tensor", m, "v", "--json"]);
    assert_eq!(
        (v["nan"].as_u64(), v["finite"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        (v["min"].as_f64(), v["max"].as_f64()),
        (Some(-2.0), Some(1.0))
    );
    // --raw writes the stored bytes.
    let raw = dir.path().join("q.raw");
    json(&[
        "tensor",
        m,
        "q",
        "--raw",
        "-o",
        raw.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(std::fs::read(&raw).unwrap(), q8);
    // Text output draws the histogram.
    let text = weightmap(&["tensor", m, "q"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains('█'));
    // A missing tensor (2), a missing file (1), -o without --f32 or --raw (2).
    assert_eq!(weightmap(&["tensor", m, "absent"]).status.code(), Some(2));
    assert_eq!(
        weightmap(&["tensor", "/nonexistent.gguf", "q"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        weightmap(&["tensor", m, "q", "-o", o]).status.code(),
        Some(2)
    );
    assert_eq!(
        weightmap(&["tensor", m, "q", "--f32"]).status.code(),
        Some(2)
    );
}

#[test]
fn a_type_without_a_decoder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    // One Q8_K block (type 15: activations, no decoder; 256 elements in 292 bytes).
    let file = weightmap_core::testing::Builder::default()
        .tensor("iq", &[256], 15, &[0u8; 292])
        .build();
    std::fs::write(&path, file).unwrap();
    let out = weightmap(&["tensor", path.to_str().unwrap(), "iq"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Q8_K"));
    // Its bytes still come out.
    let raw = dir.path().join("iq.raw");
    let out = weightmap(&[
        "tensor",
        path.to_str().unwrap(),
        "iq",
        "--raw",
        "-o",
        raw.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "the statistics still fail");
    assert_eq!(std::fs::read(&raw).unwrap(), vec![0u8; 292]);
}
