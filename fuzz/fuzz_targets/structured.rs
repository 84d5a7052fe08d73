//! A GGUF description drawn with arbitrary, serialised and mutated, reaching tensor tables and data.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzzing::check_structured(data));
