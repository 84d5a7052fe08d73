//! The checked offset helpers against 128-bit arithmetic, and MmapFile::multi_range against slicing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weightmap_tests::fuzzing::check_ranges(data));
