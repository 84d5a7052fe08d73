//! The hostile-file corpus (`tests/hostile/`): crafted GGUF files modelled on the bugs GGUF
//! readers have shipped (wrapped counts and sizes, lengths past the end, offsets that wrap),
//! each with the error it must give. `tests/tests/hostile.rs` checks the committed files against
//! this generator and parses each under a 1 GiB address-space limit.

use weightmap_core::testing::{Builder, RawTensor};
use weightmap_core::Endian;

/// One crafted file and what parsing it must give: an error variant's name, or `Ok`.
pub struct Hostile {
    /// File name stem (`tests/hostile/NAME.gguf`).
    pub name: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// `Ok`, or the `weightmap_core::Error` variant expected.
    pub expected: &'static str,
    /// What the file probes.
    pub why: &'static str,
}

const F32: u32 = 0;
const Q4_0: u32 = 2;

fn f32s(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

/// A valid base: two keys and two tensors.
fn base() -> Builder {
    base_in(Endian::Little)
}

fn base_in(endian: Endian) -> Builder {
    Builder {
        endian,
        ..Builder::default()
    }
    .kv_str("general.architecture", "llama")
    .kv_u32("llama.block_count", 1)
    .tensor("a.weight", &[4, 2], F32, &f32s(8))
    .tensor("b.weight", &[32], Q4_0, &[7; 18])
}

fn with_value(type_id: u32, value: Vec<u8>) -> Vec<u8> {
    base().kv_raw(b"hostile.value", type_id, value).build()
}

/// An array header (element type, count) followed by `body`.
fn array(elem: u32, count: u64, body: &[u8]) -> Vec<u8> {
    let b = Builder::default();
    let mut out = b.u32(elem).to_vec();
    out.extend_from_slice(&b.u64(count));
    out.extend_from_slice(body);
    out
}

fn with_tensor(edit: impl FnOnce(&mut RawTensor)) -> Vec<u8> {
    let mut b = base();
    if let Some(t) = b.tensors.last_mut() {
        edit(t);
    }
    b.build()
}

/// A file with one tensor `t.weight` of the given type and dims, and `data_len` data bytes.
fn one_tensor(type_id: u32, dims: &[u64], data_len: usize) -> Vec<u8> {
    let mut b = Builder::default().kv_str("general.architecture", "llama");
    b.tensors.push(RawTensor {
        name: b"t.weight".to_vec(),
        dims: dims.to_vec(),
        n_dims: dims.len() as u32,
        type_id,
        offset: 0,
    });
    b.data = vec![0; data_len];
    b.build()
}

fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&n_tensors.to_le_bytes());
    out.extend_from_slice(&n_kv.to_le_bytes());
    out
}

fn alignment(type_id: u32, value: Vec<u8>) -> Vec<u8> {
    base().kv_raw(b"general.alignment", type_id, value).build()
}

fn nested(depth: usize) -> Vec<u8> {
    // depth arrays, each holding one array, the innermost one u8 element.
    let b = Builder::default();
    let mut body = array(0, 1, &[1]);
    for _ in 1..depth {
        let mut outer = b.u32(9).to_vec();
        outer.extend_from_slice(&b.u64(1));
        outer.extend_from_slice(&body);
        body = outer;
    }
    with_value(9, body)
}

/// Where the data section of a valid file starts.
fn data_offset(file: &[u8]) -> u64 {
    weightmap_core::Gguf::parse_header(file).map_or(0, |g| g.data_offset())
}

macro_rules! hostile {
    ($($name:literal, $expected:literal, $why:literal => $bytes:expr;)*) => {
        vec![$(Hostile { name: $name, bytes: $bytes, expected: $expected, why: $why }),*]
    };
}

/// Every file of the corpus, in a stable order.
pub fn corpus() -> Vec<Hostile> {
    let le = |v: u32| v.to_le_bytes().to_vec();
    let le64 = |v: u64| v.to_le_bytes().to_vec();
    let string = |s: &[u8]| Builder::default().string(s);
    let valid = base().build();
    hostile! {
        // The header.
        "empty", "Truncated", "a 0-byte file" => Vec::new();
        "magic-only", "Truncated", "the 4-byte file \"GGUF\"" => b"GGUF".to_vec();
        "bad-magic", "BadMagic", "GGML's old magic" => { let mut v = valid.clone(); v[..4].copy_from_slice(b"ggml"); v };
        "version-0", "UnsupportedVersion", "version 0" => header(0, 0, 0);
        "version-1", "UnsupportedVersion", "version 1 (32-bit counts, never supported by llama.cpp since 2023)" => header(1, 0, 0);
        "version-4", "UnsupportedVersion", "a future version" => header(4, 0, 0);
        "version-ffff", "UnsupportedVersion", "version 0xFFFF" => header(0xFFFF, 0, 0);
        "version-byte-swapped", "Ok", "a big-endian file: version 3 byte-swapped is how big-endian is recognised" => base_in(Endian::Big).build();
        "version-byte-swapped-99", "UnsupportedVersion", "version 99 in big-endian order" => { let mut h = header(0, 0, 0); h[4..8].copy_from_slice(&99u32.to_be_bytes()); h };
        "header-23-bytes", "Truncated", "one byte short of a header" => header(3, 0, 0)[..23].to_vec();
        "empty-model", "Ok", "every count 0: the smallest valid file" => header(3, 0, 0);
        // Counts.
        "n-kv-5e8-in-24-bytes", "Truncated", "n_kv of 500 million in a 24-byte file (CVE-2024-21802 class)" => header(3, 0, 500_000_000);
        "n-tensors-5e8-in-24-bytes", "Truncated", "n_tensors of 500 million in a 24-byte file" => header(3, 500_000_000, 0);
        "n-kv-max", "LengthOverflow", "n_kv = u64::MAX" => header(3, 0, u64::MAX);
        "n-kv-max-minus-1", "LengthOverflow", "n_kv = u64::MAX - 1" => header(3, 0, u64::MAX - 1);
        "n-tensors-max", "LengthOverflow", "n_tensors = u64::MAX" => header(3, u64::MAX, 0);
        "n-tensors-2-pow-63", "LengthOverflow", "n_tensors = 2^63 (negative as i64)" => header(3, 1 << 63, 0);
        "n-kv-one-more", "Truncated", "one more key counted than present" => Builder { n_kv: Some(3), ..base() }.build();
        "n-tensors-one-more", "EmptyTensorName", "one more tensor counted than present: the zero padding reads as an empty name" => Builder { n_tensors: Some(3), ..base() }.build();
        "n-kv-one-fewer", "TensorTooLarge", "one key fewer counted: the last key is read as a tensor info" => Builder { n_kv: Some(1), ..base() }.build();
        // Keys.
        "key-empty", "EmptyKey", "a key of length 0" => base().kv_raw(b"", 4, le(1)).build();
        "key-not-utf8", "KeyNotUtf8", "a key with invalid UTF-8" => base().kv_raw(b"bad\xff\xfe", 4, le(1)).build();
        "key-duplicate", "DuplicateKey", "the same key twice" => base().kv_u32("llama.block_count", 2).build();
        "key-70000-bytes", "Ok", "a 70,000-byte key (accepted: GGUF sets no limit; llama.cpp neither)" => base().kv_raw(&vec![b'k'; 70_000], 4, le(1)).build();
        "key-length-max", "Truncated", "a key length of u64::MAX" => { let mut v = header(3, 0, 1); v.extend(le64(u64::MAX)); v.extend(b"key"); v };
        "key-length-2-pow-62", "Truncated", "a key length of 2^62 in a small file" => { let mut v = header(3, 0, 1); v.extend(le64(1 << 62)); v.extend(b"key"); v };
        "key-length-past-end", "Truncated", "a key length one past the end" => { let mut v = header(3, 0, 1); v.extend(le64(4)); v.extend(b"key"); v };
        // Value types.
        "value-type-13", "UnknownValueType", "value type 13, one past the last" => with_value(13, le(0));
        "value-type-max", "UnknownValueType", "value type 0xFFFFFFFF (ggus segfaults here)" => with_value(0xFFFF_FFFF, le(0));
        "element-type-13", "UnknownValueType", "array element type 13" => with_value(9, array(13, 1, &[0; 8]));
        "element-type-max", "UnknownValueType", "array element type 0xFFFFFFFF" => with_value(9, array(0xFFFF_FFFF, 1, &[0; 8]));
        "nested-arrays-1000", "NestingTooDeep", "arrays nested 1,000 deep (stack exhaustion in recursive readers)" => nested(1000);
        "nested-arrays-16", "Ok", "arrays nested 16 deep, the limit" => nested(16);
        "nested-arrays-17", "NestingTooDeep", "arrays nested 17 deep, one past the limit" => nested(17);
        // Array and string lengths.
        "array-u64-2-pow-61", "LengthOverflow", "a 2^61-element u64 array (2^64 bytes: wraps to 0 when multiplied)" => with_value(9, array(10, 1 << 61, &[0; 64]));
        "array-u32-2-pow-62", "LengthOverflow", "a 2^62-element u32 array (2^64 bytes)" => with_value(9, array(4, 1 << 62, &[0; 64]));
        "array-u8-max", "LengthOverflow", "a u8 array of u64::MAX elements" => with_value(9, array(0, u64::MAX, &[0; 64]));
        "array-u8-max-minus-1", "LengthOverflow", "a u8 array of u64::MAX - 1 elements" => with_value(9, array(0, u64::MAX - 1, &[0; 64]));
        "array-strings-5e8", "Truncated", "500 million strings claimed in a small file (CVE-2024-21825 class)" => with_value(9, array(8, 500_000_000, &string(b"tok")));
        "array-strings-length-max", "LengthOverflow", "a string element of length u64::MAX" => with_value(9, array(8, 2, &[le64(1), b"a".to_vec(), le64(u64::MAX)].concat()));
        "array-empty", "Ok", "an array of 0 elements" => with_value(9, array(4, 0, &[]));
        "array-one", "Ok", "an array of 1 element" => with_value(9, array(4, 1, &le(7)));
        "string-4-gib-in-1-kib", "Truncated", "a 4 GiB string claimed in a 1 KiB file" => with_value(8, [le64(4 << 30), vec![b'x'; 1000]].concat());
        "string-length-max", "LengthOverflow", "a string length of u64::MAX" => with_value(8, [le64(u64::MAX), b"abc".to_vec()].concat());
        "string-not-utf8", "Ok", "a string value with invalid UTF-8 (accepted; reading it as &str gives StringNotUtf8)" => with_value(8, string(b"\xc3\x28"));
        "bool-2", "Ok", "a bool of 2 (read as true: any non-zero byte, as in C and the official reader)" => with_value(7, vec![2]);
        "bool-ff", "Ok", "a bool of 0xFF (read as true)" => with_value(7, vec![0xFF]);
        "value-truncated", "Truncated", "a u64 value cut short by the end of the file" => { let mut v = header(3, 0, 1); v.extend(string(b"k")); v.extend(le(10)); v.extend([1, 2, 3]); v };
        // Alignment.
        "alignment-0", "InvalidAlignment", "general.alignment = 0 (division by zero in padding)" => alignment(4, le(0));
        "alignment-24", "InvalidAlignment", "general.alignment = 24, not a power of two" => alignment(4, le(24));
        "alignment-2-pow-31", "TensorOutOfBounds", "general.alignment = 2^31: valid, so the data section is padded to 2 GiB, past the end" => { let mut b = Builder::default().kv_raw(b"general.alignment", 4, le(1 << 31)); b.tensors.push(RawTensor { name: b"t".to_vec(), dims: vec![1], n_dims: 1, type_id: F32, offset: 0 }); b.data = f32s(1); b.build() };
        "alignment-2-pow-31-misaligned", "MisalignedTensor", "general.alignment = 2^31 with a tensor at offset 32" => alignment(4, le(1 << 31));
        "alignment-int32", "AlignmentType", "general.alignment typed INT32" => alignment(5, le(32));
        "alignment-string", "AlignmentType", "general.alignment typed STRING" => alignment(8, string(b"32"));
        "alignment-twice", "DuplicateKey", "general.alignment present twice" => base().kv_raw(b"general.alignment", 4, le(32)).kv_raw(b"general.alignment", 4, le(32)).build();
        "alignment-1", "Ok", "general.alignment = 1" => Builder { alignment: 1, ..Builder::default() }.kv_raw(b"general.alignment", 4, le(1)).tensor("x", &[3], F32, &f32s(3)).build();
        // Tensor names.
        "tensor-name-empty", "EmptyTensorName", "a tensor with an empty name" => with_tensor(|t| t.name.clear());
        "tensor-name-65-bytes", "Ok", "a 65-byte tensor name (accepted; llama.cpp caps names at 64)" => with_tensor(|t| t.name = vec![b'n'; 65]);
        "tensor-name-nul", "Ok", "a tensor name with a NUL byte (accepted; a C reader would see \"a\")" => with_tensor(|t| t.name = b"a\0b".to_vec());
        "tensor-name-not-utf8", "TensorNameNotUtf8", "a tensor name with invalid UTF-8" => with_tensor(|t| t.name = b"\xff".to_vec());
        "tensor-name-duplicate", "DuplicateTensor", "two tensors with one name" => with_tensor(|t| t.name = b"a.weight".to_vec());
        "tensor-name-length-max", "Truncated", "a tensor name length of u64::MAX" => { let mut v = header(3, 1, 0); v.extend(le64(u64::MAX)); v };
        // Dimensions.
        "n-dims-0-f32", "Ok", "an F32 scalar: n_dims 0 has one element" => one_tensor(F32, &[], 4);
        "n-dims-0-q4-0", "NotBlockMultiple", "a Q4_0 scalar: one element is not a 32-element block" => one_tensor(Q4_0, &[], 18);
        "n-dims-5", "TooManyDims", "n_dims 5 (GGML_MAX_DIMS is 4; CVE-2024-21836 class)" => one_tensor(F32, &[1, 1, 1, 1, 1], 4);
        "n-dims-max", "TooManyDims", "n_dims 0xFFFFFFFF" => with_tensor(|t| t.n_dims = u32::MAX);
        "dim-negative", "NegativeDim", "a dimension of -1 as i64" => one_tensor(F32, &[u64::MAX], 4);
        "dim-zero", "Ok", "a dimension of 0: an empty tensor" => one_tensor(F32, &[0, 4], 0);
        "dims-overflow-i64", "TensorTooLarge", "dimensions 2^32 x 2^32: the element count overflows i64" => one_tensor(F32, &[1 << 32, 1 << 32], 4);
        "dims-overflow-usize", "TensorTooLarge", "dimensions 2^40 x 2^24 of F32: 2^66 bytes" => one_tensor(F32, &[1 << 40, 1 << 24], 4);
        "bytes-overflow-f32", "TensorTooLarge", "2^62 - 1 F32 elements: the byte size wraps (llama.cpp's padding wraps to 0)" => one_tensor(F32, &[(1 << 62) - 1], 4);
        "bytes-huge-q4-k", "TensorOutOfBounds", "a Q4_K tensor of 2^62 elements: 2.6e18 bytes computed without wrapping (CVE-2026-33298 class), past the end" => one_tensor(12, &[1 << 62], 144);
        "elements-overflow-q4-k", "TensorTooLarge", "a Q4_K tensor of 2^63 elements: the count overflows i64" => one_tensor(12, &[1 << 62, 2], 144);
        "bytes-2-pow-61-f32", "TensorTooLarge", "2^61 F32 elements: 2^63 bytes, past any address space" => one_tensor(F32, &[1 << 61], 4);
        // ggml types.
        "type-removed-q4-2", "RemovedGgmlType", "type 4 (Q4_2, removed from ggml)" => one_tensor(4, &[32], 18);
        "type-43", "UnknownGgmlType", "type 43, one past the last known" => one_tensor(43, &[32], 32);
        "type-max", "UnknownGgmlType", "type 0xFFFFFFFF" => one_tensor(u32::MAX, &[32], 32);
        "ne0-not-block-multiple", "NotBlockMultiple", "Q4_0 with ne[0] = 33" => one_tensor(Q4_0, &[33], 36);
        "mxfp4-valid", "Ok", "a valid MXFP4 tensor (ggus panics on it)" => one_tensor(39, &[32], 17);
        "tq2-0-valid", "Ok", "a valid TQ2_0 tensor (ggus panics on it)" => one_tensor(35, &[256], 66);
        // Offsets.
        "offset-misaligned", "MisalignedTensor", "a tensor offset not a multiple of the alignment" => with_tensor(|t| t.offset += 1);
        "offset-overlapping", "OverlappingTensors", "two tensors sharing bytes" => with_tensor(|t| t.offset = 0);
        "offset-max", "MisalignedTensor", "offset u64::MAX (CVE-2026-7482 class: offset + size past the end); rejected as misaligned first" => with_tensor(|t| t.offset = u64::MAX);
        "offset-past-end", "TensorOutOfBounds", "a tensor starting past the end of the file" => with_tensor(|t| t.offset = 1 << 20);
        "offset-end-one-past", "TensorOutOfBounds", "a tensor ending one byte past the end" => { let mut v = one_tensor(F32, &[8], 32); v.pop(); v };
        "offset-wraps-into-header", "TensorOutOfBounds", "an offset for which data_offset + offset wraps to byte 0, the header" => with_tensor(|t| t.offset = 0u64.wrapping_sub(data_offset(&valid)));
        "offset-aligned-max", "TensorOutOfBounds", "the largest aligned offset (CVE-2026-7482 class: offset + size wraps)" => with_tensor(|t| t.offset = !31);
    }
}
