//! Malformed files, one per validation rule, each rejected with the expected error; and every
//! truncation of a small file's header answered with the number of bytes needed.

use weightmap_core::testing::{Builder, RawTensor};
use weightmap_core::{Endian, Error, Gguf, GgufView, Name, Section};

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

fn valid() -> Builder {
    Builder::default()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 2)
        .tensor("a.weight", &[4, 2], 0, &f32_bytes(8))
        .tensor("b.weight", &[32], 8, &[1; 34])
}

fn parse(bytes: &[u8]) -> Result<Gguf<&[u8]>, Error> {
    let indexed = Gguf::parse(bytes);
    // The unindexed view agrees on every file it can judge alone (it has no duplicate or
    // overlap detection).
    let borrowed = GgufView::parse(bytes);
    match &indexed {
        Ok(_) => assert!(
            borrowed.is_ok(),
            "borrowed rejected a valid file: {borrowed:?}"
        ),
        Err(
            Error::DuplicateKey { .. }
            | Error::DuplicateTensor { .. }
            | Error::OverlappingTensors { .. },
        ) => {}
        Err(e) => assert_eq!(borrowed.err().as_ref(), Some(e)),
    }
    indexed
}

/// A copy of `bytes` at an 8-byte-aligned address, for typed views (a `Vec<u8>` may sit at any
/// address, and under Miri it does).
fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

fn error_of(b: &Builder) -> Error {
    parse(&b.build()).expect_err("file should be rejected")
}

#[test]
fn the_valid_base_file_parses() {
    let file = valid().build();
    let words = aligned(&file);
    let g = parse(&bytemuck::cast_slice(&words)[..file.len()]).unwrap();
    assert_eq!(g.tensor_count(), 2);
    assert_eq!(g.tensor("a.weight").unwrap().as_f32().unwrap()[7], 7.0);
}

#[test]
fn every_truncation_reports_bytes_needed() {
    let file = valid().build();
    let header_end = Gguf::parse(&file[..]).unwrap().layout().tensor_info_end as usize;
    for len in 0..header_end {
        match Gguf::parse_header(&file[..len]) {
            Err(Error::Truncated { needed, have, .. }) => {
                assert_eq!(have, len as u64);
                assert!(
                    needed > len as u64 && needed as usize <= header_end,
                    "len {len}: needed {needed}"
                );
                // Reading the prefix it asks for always gets further.
                let next = Gguf::parse_header(&file[..needed as usize]);
                assert!(!matches!(next, Err(Error::Truncated { needed: n, .. }) if n <= needed));
            }
            other => panic!("prefix of {len} bytes: expected Truncated, got {other:?}"),
        }
    }
    let g = Gguf::parse_header(&file[..header_end]).unwrap();
    assert_eq!(g.required_len(), file.len() as u64);
    // The header parsed, but tensor data beyond the prefix is reported, not read.
    assert!(matches!(
        g.tensor("b.weight"),
        Err(Error::TensorOutOfBounds { .. })
    ));
    assert!(matches!(
        Gguf::parse(&file[..file.len() - 1]),
        Err(Error::TensorOutOfBounds { .. })
    ));
}

#[test]
fn magic_and_version() {
    assert!(matches!(
        parse(b"GGUF"),
        Err(Error::Truncated {
            needed: 24,
            have: 4,
            ..
        })
    ));
    assert!(matches!(
        parse(b"GGML\0\0\0\0"),
        Err(Error::BadMagic {
            found: [b'G', b'G', b'M', b'L']
        })
    ));
    for version in [0u32, 1, 4, 0xFFFF] {
        let b = Builder { version, ..valid() };
        assert_eq!(
            error_of(&b),
            Error::UnsupportedVersion { version },
            "version {version}"
        );
    }
    let v2 = Builder {
        version: 2,
        ..valid()
    };
    assert_eq!(parse(&v2.build()).unwrap().version(), 2);
}

#[test]
fn big_endian_files_parse_and_refuse_typed_views() {
    let mut b = Builder {
        endian: Endian::Big,
        ..Builder::default()
    };
    b = b
        .kv_u32("general.alignment", 32)
        .kv_str("general.architecture", "be");
    let data: Vec<u8> = (0..4).flat_map(|i| (i as f32).to_be_bytes()).collect();
    b = b.tensor("t", &[4], 0, &data);
    let file = b.build();
    let g = parse(&file).unwrap();
    assert_eq!(g.endian(), Endian::Big);
    assert_eq!(g.architecture(), Some("be"));
    let t = g.tensor("t").unwrap();
    assert_eq!(t.dims(), &[4][..]);
    assert!(matches!(t.as_f32(), Err(Error::ForeignByteOrder { .. })));
    assert_eq!(t.bytes(), &data[..]);
}

#[test]
fn counts_that_cannot_fit() {
    let b = Builder {
        n_kv: Some(500_000_000),
        ..Builder::default()
    };
    assert!(matches!(
        error_of(&b),
        Error::Truncated {
            section: Section::Metadata,
            needed: 6_000_000_024,
            ..
        }
    ));
    let b = Builder {
        n_tensors: Some(500_000_000),
        ..Builder::default()
    };
    assert!(matches!(
        error_of(&b),
        Error::Truncated {
            section: Section::TensorInfo,
            ..
        }
    ));
    let b = Builder {
        n_kv: Some(u64::MAX),
        ..Builder::default()
    };
    assert!(matches!(error_of(&b), Error::LengthOverflow { .. }));
    let b = Builder {
        n_kv: Some(3),
        ..valid()
    };
    assert!(matches!(
        error_of(&b),
        Error::Truncated { .. } | Error::UnknownValueType { .. } | Error::EmptyKey { .. }
    ));
}

#[test]
fn string_lengths_past_the_end() {
    let b = valid().kv_raw(b"big.string", 8, u64::MAX.to_le_bytes().to_vec());
    assert!(matches!(error_of(&b), Error::LengthOverflow { .. }));
    let b = valid().kv_raw(b"big.string", 8, (1u64 << 32).to_le_bytes().to_vec());
    match error_of(&b) {
        Error::Truncated { within: key, .. } => assert_eq!(key.to_string(), "big.string"),
        e => panic!("{e:?}"),
    }
    // A tensor info cut short names its tensor.
    let mut file = valid().build();
    let g = Gguf::parse(&file[..]).unwrap();
    let second = g.tensor_info("b.weight").unwrap().info_offset();
    file.truncate(second as usize + 8 + 8 + 2);
    match Gguf::parse_header(&file[..]) {
        Err(e @ Error::Truncated { within, .. }) if !within.is_empty() => {
            assert!(e.to_string().contains("\"b.weight\""), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_keys() {
    let b = valid().kv_raw(b"", 4, vec![0; 4]);
    assert!(matches!(error_of(&b), Error::EmptyKey { index: 2, .. }));
    let b = valid().kv_raw(b"bad\xff", 4, vec![0; 4]);
    assert!(matches!(error_of(&b), Error::KeyNotUtf8 { index: 2, .. }));
    let b = valid().kv_u32("llama.block_count", 3);
    match error_of(&b) {
        Error::DuplicateKey { key, offset, first } => {
            // Cut to Name::CAPACITY bytes; the offsets say where both occurrences are.
            assert_eq!(key, Name::new(b"llama.block_count"));
            assert!(key.to_string().starts_with("llama.block_c"));
            let file = b.build();
            let at = |o: u64| &file[o as usize + 8..o as usize + 8 + 17];
            assert_eq!(at(offset), b"llama.block_count");
            assert_eq!(at(first), b"llama.block_count");
            assert!(first < offset);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn unknown_value_and_element_types() {
    for t in [13u32, 0xFFFF_FFFF] {
        let b = valid().kv_raw(b"x", t, vec![0; 8]);
        assert!(matches!(error_of(&b), Error::UnknownValueType { type_id, .. } if type_id == t));
        let mut arr = t.to_le_bytes().to_vec();
        arr.extend_from_slice(&1u64.to_le_bytes());
        arr.extend_from_slice(&[0; 8]);
        let b = valid().kv_raw(b"x", 9, arr);
        assert!(matches!(error_of(&b), Error::UnknownValueType { type_id, .. } if type_id == t));
    }
}

#[test]
fn nested_arrays_have_a_depth_cap() {
    let mut value = Vec::new();
    for _ in 0..1000 {
        value.extend_from_slice(&9u32.to_le_bytes());
        value.extend_from_slice(&1u64.to_le_bytes());
    }
    value.extend_from_slice(&0u32.to_le_bytes());
    value.extend_from_slice(&0u64.to_le_bytes());
    let b = valid().kv_raw(b"deep", 9, value[12..].to_vec());
    assert!(matches!(error_of(&b), Error::NestingTooDeep { .. }));
}

#[test]
fn alignment_rules() {
    for value in [0u32, 24, 3] {
        let b = valid().kv_u32("general.alignment", value);
        assert!(matches!(error_of(&b), Error::InvalidAlignment { value: v, .. } if v == value));
    }
    let b = valid().kv_raw(b"general.alignment", 5, 32u32.to_le_bytes().to_vec());
    assert!(matches!(error_of(&b), Error::AlignmentType { .. }));
    let b = valid().kv_str("general.alignment", "32");
    assert!(matches!(error_of(&b), Error::AlignmentType { .. }));
    let b = valid()
        .kv_u32("general.alignment", 32)
        .kv_u32("general.alignment", 32);
    assert!(matches!(error_of(&b), Error::DuplicateKey { .. }));
    let mut b = Builder {
        alignment: 64,
        ..Builder::default()
    }
    .kv_u32("general.alignment", 64);
    b = b
        .tensor("x", &[4], 0, &f32_bytes(4))
        .tensor("y", &[4], 0, &f32_bytes(4));
    let file = b.build();
    let g = parse(&file).unwrap();
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_offset() % 64, 0);
    assert_eq!(g.tensor_info("y").unwrap().offset(), 64);
}

fn with_tensor(t: RawTensor) -> Builder {
    let mut b = valid();
    b.tensors.push(t);
    b
}

fn raw(name: &[u8], dims: &[u64], type_id: u32, offset: u64) -> RawTensor {
    RawTensor {
        name: name.to_vec(),
        dims: dims.to_vec(),
        n_dims: dims.len() as u32,
        type_id,
        offset,
    }
}

#[test]
fn bad_tensor_infos() {
    assert!(matches!(
        error_of(&with_tensor(raw(b"", &[1], 0, 0))),
        Error::EmptyTensorName { index: 2, .. }
    ));
    assert!(matches!(
        error_of(&with_tensor(raw(b"\xc3", &[1], 0, 0))),
        Error::TensorNameNotUtf8 { .. }
    ));
    assert!(matches!(
        error_of(&with_tensor(raw(b"a.weight", &[1], 0, 192))),
        Error::DuplicateTensor { .. }
    ));
    let mut t = raw(b"c", &[1, 1, 1, 1, 1], 0, 192);
    assert!(matches!(
        error_of(&with_tensor(t.clone())),
        Error::TooManyDims { n_dims: 5, .. }
    ));
    t.n_dims = u32::MAX;
    assert!(matches!(
        error_of(&with_tensor(t)),
        Error::TooManyDims { .. }
    ));
    let neg = (-5i64) as u64;
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[4, neg], 0, 0))),
        Error::NegativeDim {
            axis: 1,
            value: -5,
            ..
        }
    ));
    let big = 1u64 << 40;
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[big, big], 0, 0))),
        Error::TensorTooLarge { .. }
    ));
    // 2^62 - 1 F32 elements: the element count fits, the byte size does not.
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[(1 << 62) - 1], 0, 0))),
        Error::TensorTooLarge { .. }
    ));
    for removed in [4u32, 5, 31, 32, 33, 36, 37, 38] {
        assert!(
            matches!(error_of(&with_tensor(raw(b"c", &[32], removed, 0))), Error::RemovedGgmlType { type_id, .. } if type_id == removed)
        );
    }
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[32], 43, 0))),
        Error::UnknownGgmlType { type_id: 43, .. }
    ));
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[33], 8, 0))),
        Error::NotBlockMultiple {
            ne0: 33,
            ggml_type: weightmap_core::GgmlType::Q8_0,
            ..
        }
    ));
}

#[test]
fn bad_tensor_offsets() {
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[1], 0, 4))),
        Error::MisalignedTensor {
            value: 4,
            alignment_shift: 5,
            ..
        }
    ));
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[1], 0, 1 << 20))),
        Error::TensorOutOfBounds { .. }
    ));
    let max_aligned = !31u64;
    assert!(matches!(
        error_of(&with_tensor(raw(b"c", &[1], 0, max_aligned))),
        Error::TensorOutOfBounds { .. }
    ));
    match error_of(&with_tensor(raw(b"c", &[8], 0, 0))) {
        Error::OverlappingTensors {
            name,
            offset,
            other,
        } => {
            assert_eq!(name.to_string(), "c");
            // Both tensors start at the data section (offset 0): the overlapped one is named
            // by where its data starts.
            assert_eq!(offset, other);
            assert_eq!(offset % 32, 0);
        }
        e => panic!("{e:?}"),
    }
    // Zero-sized tensors overlap nothing.
    let g = valid().tensor("empty", &[0, 3], 0, &[]).build();
    assert_eq!(parse(&g).unwrap().tensor("empty").unwrap().bytes().len(), 0);
}

#[test]
fn typed_views_check_type_and_alignment() {
    let file = valid().build();
    let g = Gguf::parse(&file[..]).unwrap();
    let q = g.tensor("b.weight").unwrap();
    assert!(matches!(q.as_f32(), Err(Error::WrongTensorType { .. })));
    assert_eq!(q.blocks().len(), 1);
    assert!(matches!(
        g.tensor("missing"),
        Err(Error::TensorNotFound { .. })
    ));
    // The same file one byte further into a buffer: f32 data is no longer 4-byte aligned.
    let mut shifted = vec![0u8; file.len() + 1];
    shifted[1..].copy_from_slice(&file);
    let g2 = Gguf::parse(&shifted[1..]).unwrap();
    let a = g2.tensor("a.weight").unwrap();
    if a.bytes().as_ptr() as usize % 4 != 0 {
        assert!(matches!(
            a.as_f32(),
            Err(Error::MisalignedData { align: 4, .. })
        ));
    }
}

#[test]
fn zero_sized_tensors_are_still_bounds_checked() {
    // A zero-sized tensor far past the end, or whose offset overflows, is rejected like any other.
    for offset in [1u64 << 40, !31u64] {
        let b = with_tensor(raw(b"z", &[0], 0, offset));
        assert!(
            matches!(error_of(&b), Error::TensorOutOfBounds { .. }),
            "offset {offset}"
        );
    }
}

#[test]
fn block_types_need_a_whole_block_even_without_dimensions() {
    // ggml reads a tensor with no dimensions as ne[0] = 1: not a multiple of Q4_0's 32.
    let b = valid().tensor("q", &[], 2, &[0; 18]);
    assert!(matches!(
        error_of(&b),
        Error::NotBlockMultiple {
            ne0: 1,
            ggml_type: weightmap_core::GgmlType::Q4_0,
            ..
        }
    ));
    // A plain scalar is one element.
    let file = valid().tensor("s", &[], 0, &1.5f32.to_le_bytes()).build();
    let words = aligned(&file);
    let g = parse(&bytemuck::cast_slice(&words)[..file.len()]).unwrap();
    assert_eq!(g.tensor("s").unwrap().as_f32().unwrap(), &[1.5]);
    assert_eq!(g.tensor_info("s").unwrap().n_elements(), 1);
}

#[test]
fn header_only_parses_keep_ranges_beyond_the_prefix() {
    // The tensor table of a file whose data lies far beyond the bytes at hand still parses, and
    // says how long the file must be.
    let mut b = valid();
    b.tensors.push(raw(b"far", &[4], 0, 1 << 33));
    let file = b.build();
    let header_end = {
        let g = Gguf::parse_header(&file[..]).unwrap();
        assert_eq!(g.required_len(), g.data_offset() + (1 << 33) + 16);
        g.layout().tensor_info_end as usize
    };
    assert!(Gguf::parse_header(&file[..header_end]).is_ok());
    assert!(matches!(
        Gguf::parse(&file[..]),
        Err(Error::TensorOutOfBounds { .. })
    ));
}
