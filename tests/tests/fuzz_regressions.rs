//! Replays the committed fuzz regressions (`fuzz/regressions/TARGET/*`) through the same
//! properties the fuzz targets check, on stable, in every `cargo test`; and checks the prefix
//! property at every length of the committed sample.

use std::path::Path;

use weightmap_tests::fuzz_safetensors::{check_safetensors, check_shard_index};
use weightmap_tests::fuzzing::{
    check_dequant, check_every_prefix, check_parse, check_prefix, check_ranges, check_structured,
};

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| {
            check(&bytes);
            // Any input is also input to the plain parser.
            check_parse(&bytes);
        });
        assert!(result.is_ok(), "{target}: {} fails again", path.display());
        n += 1;
    }
    n
}

#[test]
fn committed_regressions_pass_every_property() {
    for (target, check) in [
        ("parse", check_parse as fn(&[u8])),
        ("prefix", check_prefix),
        ("ranges", check_ranges),
        ("structured", check_structured),
        ("safetensors", check_safetensors),
        ("shard_index", check_shard_index),
        ("dequant", check_dequant),
    ] {
        let n = replay(target, check);
        assert!(n > 0, "no regressions committed for {target}");
        println!("{target}: {n} inputs replayed");
    }
}

#[test]
fn every_prefix_of_the_samples_answers_correctly() {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../samples/tiny-llama.gguf"
    ))
    .unwrap();
    check_every_prefix(&sample);
    check_every_prefix(&weightmap_core::testing::sample_file());
    check_parse(&sample);
}
