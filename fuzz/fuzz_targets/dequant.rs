//! The f32 decoders on arbitrary bytes as every tensor type: no panic, no out-of-bounds
//! read, block splits decode the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzzing::check_dequant(data));
