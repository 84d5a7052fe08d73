//! The hostile safetensors corpus (`tests/hostile-safetensors/`): crafted files, each with the
//! error weightmap must give and the verdict of the reference (`safetensors` 0.8.0), which
//! `tests/tests/hostile_safetensors.rs` checks against the Python package. Where the two
//! verdicts differ, weightmap is stricter on purpose, and the case says why.

use weightmap_core::testing::SafetensorsBuilder;

/// One crafted file.
pub struct HostileSafetensors {
    /// File name stem (`tests/hostile-safetensors/NAME.safetensors`).
    pub name: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `Ok`, or the `weightmap_core::Error` variant expected.
    pub expected: &'static str,
    /// Whether the reference accepts the file.
    pub reference_accepts: bool,
    /// What the file probes (and, where the verdicts differ, why weightmap refuses it).
    pub why: &'static str,
}

/// A file of exactly this JSON header and data.
fn raw(json: &str, data: &[u8]) -> Vec<u8> {
    SafetensorsBuilder::raw(json, data)
}

/// A header of one tensor entry `entry` (the JSON of its value) named `w`, and `data`.
fn one(entry: &str, data: &[u8]) -> Vec<u8> {
    raw(&format!(r#"{{"w":{entry}}}"#), data)
}

fn f32_entry(shape: &str, begin: u64, end: u64) -> String {
    format!(r#"{{"dtype":"F32","shape":{shape},"data_offsets":[{begin},{end}]}}"#)
}

/// A length prefix claiming `n` bytes, then `rest`.
fn claims(n: u64, rest: &[u8]) -> Vec<u8> {
    let mut out = n.to_le_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

macro_rules! cases {
    ($($name:literal => $bytes:expr, $expected:literal, $ok:literal, $why:literal;)*) => {
        vec![$(HostileSafetensors {
            name: $name,
            bytes: $bytes,
            expected: $expected,
            reference_accepts: $ok,
            why: $why,
        }),*]
    };
}

/// Every case, in a fixed order.
pub fn corpus() -> Vec<HostileSafetensors> {
    let valid = SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("a", "F32", &[2], &[0; 8])
        .tensor("b", "U8", &[3], &[1, 2, 3])
        .build();
    let deep = |levels: usize| {
        format!(
            r#"{{"w":{{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{}{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    cases! {
        "valid" => valid.clone(), "Ok", true, "a valid base: metadata, an F32 and a U8 tensor";
        "empty" => Vec::new(), "Truncated", false, "a 0-byte file: the 8-byte length is missing";
        "length-7-bytes" => vec![0; 7], "Truncated", false, "7 bytes: the length is cut";
        "header-empty" => claims(0, b""), "Truncated", false, "N = 0: no JSON at all, nothing after the length";
        "header-length-past-end" => claims(1000, b"{}"), "Truncated", false, "N = 1000 with 2 bytes after it";
        "header-length-2-pow-63" => claims(1 << 63, b"{}"), "JsonHeaderTooLarge", false, "N = 2^63";
        "header-length-max" => claims(u64::MAX, b"{}"), "JsonHeaderTooLarge", false, "N = 2^64 - 1: 8 + N wraps";
        "header-length-over-cap" => claims(100_000_001, b"{}"), "JsonHeaderTooLarge", false, "N one past the 100,000,000 cap";
        "json-array" => raw("[]", b""), "InvalidJson", false, "the header is an array, not an object";
        "json-string" => raw(r#""w""#, b""), "InvalidJson", false, "the header is a string";
        "json-not-utf8" => claims(7, b"{\"\xff\":1}"), "JsonNotUtf8", false, "invalid UTF-8 inside a key";
        "json-syntax" => raw(r#"{"w":{"dtype":"U8",]}"#, b""), "InvalidJson", false, "a syntax error";
        "json-bom" => raw("\u{feff}{}", b""), "InvalidJson", false, "a byte-order mark before the object";
        "json-trailing-garbage" => raw("{} x", b""), "InvalidJson", false, "non-whitespace after the object";
        "json-nul-padding" => raw("{}\0\0\0\0\0\0", b""), "InvalidJson", false, "NUL padding, which is not JSON whitespace";
        "json-whitespace-padding" => raw(" \n\t{} \r\n    ", b""), "Ok", true, "JSON whitespace before and after the object";
        "json-nested-200" => raw(&deep(200), &[7]), "InvalidJson", false, "arrays 200 deep in an ignored field: past serde_json's 128";
        "json-nested-100" => raw(&deep(100), &[7]), "Ok", true, "arrays 100 deep in an ignored field: within the limit";
        "json-control-character" => raw("{\"a\nb\":{}}", b""), "InvalidJson", false, "a raw newline inside a string";
        "json-lone-surrogate" => raw(r#"{"\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, &[1]), "InvalidJson", false, "a lone UTF-16 surrogate escape in a name";
        "offsets-reversed" => one(&f32_entry("[0]", 4, 0), &[0; 4]), "ReversedOffsets", false, "data_offsets end before they start";
        "offsets-overlapping" => raw(&format!(r#"{{"a":{},"b":{}}}"#, f32_entry("[2]", 0, 8), f32_entry("[2]", 4, 12)), &[0; 12]), "OffsetsNotTiled", false, "two tensors share bytes";
        "offsets-gap" => raw(&format!(r#"{{"a":{},"b":{}}}"#, f32_entry("[1]", 0, 4), f32_entry("[1]", 8, 12)), &[0; 12]), "OffsetsNotTiled", false, "4 unused bytes between two tensors";
        "offsets-not-from-zero" => one(&f32_entry("[1]", 4, 8), &[0; 8]), "OffsetsNotTiled", false, "the data does not start at 0";
        "offsets-past-end" => one(&f32_entry("[4]", 0, 16), &[0; 8]), "TensorOutOfBounds", false, "the tensor ends past the file";
        "offsets-2-pow-64" => one(r#"{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}"#, &[0]), "InvalidJson", false, "an offset of 2^64";
        "offsets-three" => one(r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}"#, &[0]), "InvalidJson", false, "three data_offsets";
        "offsets-one" => one(r#"{"dtype":"U8","shape":[1],"data_offsets":[0]}"#, &[0]), "InvalidJson", false, "one data_offset";
        "trailing-bytes" => [valid.as_slice(), &[0]].concat(), "TrailingBytes", false, "one byte after the last tensor";
        "shape-overflow" => one(&f32_entry("[4294967296,4294967296]", 0, 0), b""), "TensorTooLarge", false, "a shape whose element count overflows 64 bits";
        "shape-bytes-overflow" => one(r#"{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}"#, b""), "TensorTooLarge", false, "2^62 F64 elements: the byte size overflows";
        "shape-negative" => one(&f32_entry("[-1]", 0, 0), b""), "InvalidJson", false, "a negative dimension";
        "shape-float" => one(&f32_entry("[1.0]", 0, 4), &[0; 4]), "InvalidJson", false, "a fractional dimension";
        "shape-negative-zero" => one(&f32_entry("[-0]", 0, 0), b""), "InvalidJson", false, "-0, which JSON parsers read as a float";
        "shape-string" => one(&f32_entry(r#""2""#, 0, 8), &[0; 8]), "InvalidJson", false, "a shape that is a string";
        "shape-rank-9" => one(&f32_entry("[1,1,1,1,1,1,1,1,1]", 0, 4), &[0; 4]), "RankTooHigh", true, "stricter: 9 dimensions (a TensorView holds 8 inline; no checkpoint has more)";
        "size-mismatch" => one(&f32_entry("[2]", 0, 4), &[0; 4]), "TensorSizeMismatch", false, "2 F32 elements in 4 bytes";
        "dtype-unknown" => one(r#"{"dtype":"F128","shape":[1],"data_offsets":[0,16]}"#, &[0; 16]), "UnknownDtype", false, "a dtype no version defines";
        "dtype-lowercase" => one(r#"{"dtype":"f32","shape":[1],"data_offsets":[0,4]}"#, &[0; 4]), "UnknownDtype", false, "dtype names are case-sensitive";
        "dtype-number" => one(r#"{"dtype":7,"shape":[1],"data_offsets":[0,1]}"#, &[0]), "InvalidJson", false, "a dtype that is a number";
        "dtype-as-map" => one(r#"{"dtype":{"U8":null},"shape":[1],"data_offsets":[0,1]}"#, &[0]), "InvalidJson", true, "stricter: a dtype spelled as serde's externally tagged map, which no writer makes";
        "f4-odd" => one(r#"{"dtype":"F4","shape":[3],"data_offsets":[0,2]}"#, &[0; 2]), "PartialByte", false, "3 F4 elements do not fill whole bytes";
        "f6-three" => one(r#"{"dtype":"F6_E2M3","shape":[3],"data_offsets":[0,3]}"#, &[0; 3]), "PartialByte", false, "3 six-bit elements do not fill whole bytes";
        "duplicate-names" => raw(&format!(r#"{{"a":{},"a":{}}}"#, f32_entry("[1]", 0, 4), f32_entry("[2]", 0, 8)), &[0; 8]), "DuplicateTensor", true, "stricter: one name twice (the reference keeps the last)";
        "duplicate-names-escaped" => raw(&format!(r#"{{"a":{},"\u0061":{}}}"#, f32_entry("[1]", 0, 4), f32_entry("[2]", 0, 8)), &[0; 8]), "DuplicateTensor", true, "stricter: one name twice, once spelled with an escape";
        "duplicate-field" => one(r#"{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}"#, &[0]), "InvalidJson", false, "dtype given twice";
        "duplicate-metadata" => raw(r#"{"__metadata__":{},"__metadata__":{}}"#, b""), "DuplicateKey", false, "two __metadata__ objects";
        "duplicate-metadata-key" => raw(r#"{"__metadata__":{"k":"1","k":"2"}}"#, b""), "DuplicateKey", true, "stricter: one metadata key twice (the reference keeps the last)";
        "metadata-nested" => raw(r#"{"__metadata__":{"k":{"a":"b"}}}"#, b""), "InvalidJson", false, "a metadata value that is an object";
        "metadata-number" => raw(r#"{"__metadata__":{"k":1}}"#, b""), "InvalidJson", false, "a metadata value that is a number";
        "metadata-array" => raw(r#"{"__metadata__":["k"]}"#, b""), "InvalidJson", false, "__metadata__ that is an array";
        "metadata-null" => raw(r#"{"__metadata__":null}"#, b""), "Ok", true, "__metadata__ null: no metadata";
        "missing-dtype" => one(r#"{"shape":[1],"data_offsets":[0,1]}"#, &[0]), "InvalidJson", false, "no dtype";
        "missing-offsets" => one(r#"{"dtype":"U8","shape":[1]}"#, &[0]), "InvalidJson", false, "no data_offsets";
        "entry-null" => one("null", b""), "InvalidJson", false, "a tensor entry that is null";
        "entry-as-array" => one(r#"["U8",[1],[0,1]]"#, &[0]), "InvalidJson", true, "stricter: an entry spelled as an array, which serde's derive takes and no writer makes";
        "empty-object" => raw("{}", b""), "Ok", true, "no tensors, no data";
        "empty-name" => raw(r#"{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, &[5]), "Ok", true, "a tensor named with the empty string";
        "empty-tensors-stacked" => raw(&format!(r#"{{"a":{},"b":{},"c":{}}}"#, f32_entry("[0]", 0, 0), f32_entry("[1]", 0, 4), f32_entry("[0,9]", 4, 4)), &[0; 4]), "Ok", true, "empty tensors at the same offsets as others";
        "extra-fields" => one(r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1],"quant":{"scale":[1,2]},"note":"x"}"#, &[0]), "Ok", true, "fields the format does not define are ignored";
    }
}
