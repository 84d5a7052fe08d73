//! Arbitrary bytes: parse, compare the two parsers, walk every key, value, element, tensor and view.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzzing::check_parse(data));
