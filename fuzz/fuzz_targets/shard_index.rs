//! Arbitrary bytes as a model.safetensors.index.json: a typed error, or an index of plain file names that agrees with serde_json.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzz_safetensors::check_shard_index(data));
