//! Every prefix of the input: the whole file's answer, or Truncated asking for more (never a wrong success).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzzing::check_prefix(data));
