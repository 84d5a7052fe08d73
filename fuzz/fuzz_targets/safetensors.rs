//! Arbitrary bytes as a safetensors file: the reference crate's verdict (but for the documented stricter cases), the same tensors and bytes on success, every prefix of the header asking for more.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzz_safetensors::check_safetensors(data));
