use alloc::string::ToString;
use alloc::vec;
use proptest::prelude::*;

use super::*;

fn f16_bytes(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_le_bytes()
}

/// Every type with a decoder.
fn decoded_types() -> impl Iterator<Item = TensorType> {
    let ggml = crate::GgmlType::ALL.iter().map(|&g| TensorType::from(g));
    let others = [
        TensorType::U8,
        TensorType::U16,
        TensorType::U32,
        TensorType::U64,
        TensorType::BOOL,
        TensorType::F8_E4M3,
    ];
    ggml.chain(others).filter(|&t| supports(t))
}

#[test]
fn legacy_blocks_decode_as_ggml_lays_them_out() {
    // Q4_0: d = 2, byte j holds element j (low nibble) and j + 16 (high nibble), minus 8.
    let mut block = f16_bytes(2.0).to_vec();
    block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let mut out = [0f32; 32];
    dequantize(TensorType::Q4_0, &block, &mut out).unwrap();
    for j in 0..16 {
        assert_eq!(out[j], 2.0 * (j as f32 - 8.0));
        assert_eq!(out[j + 16], 2.0 * (7.0 - j as f32));
    }
    // Q5_1: d = 0.5, m = -1, every fifth bit set: q = 16 + nibble.
    let mut block = f16_bytes(0.5).to_vec();
    block.extend(f16_bytes(-1.0));
    block.extend(u32::MAX.to_le_bytes());
    block.extend([0x21u8; 16]);
    dequantize(TensorType::Q5_1, &block, &mut out).unwrap();
    assert_eq!(out[0], 0.5 * 17.0 - 1.0);
    assert_eq!(out[16], 0.5 * 18.0 - 1.0);
}

#[test]
fn k_quant_scales_unpack_as_ggml_packs_them() {
    // Q4_K with d = 1, dmin = 0.5, sub-block j's scale j + 1 and minimum 2j, quants 3.
    let mut block = f16_bytes(1.0).to_vec();
    block.extend(f16_bytes(0.5));
    let (sc, m): ([u8; 8], [u8; 8]) = (
        core::array::from_fn(|j| j as u8 + 1 + 40),
        core::array::from_fn(|j| 2 * j as u8 + 20),
    );
    let mut packed = [0u8; 12];
    for j in 0..4 {
        packed[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
        packed[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
        packed[j + 8] = (sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4);
    }
    block.extend(packed);
    block.extend([0x33u8; 128]);
    let mut out = [0f32; 256];
    dequantize(TensorType::Q4_K, &block, &mut out).unwrap();
    for (e, &value) in out.iter().enumerate() {
        let j = e / 32;
        assert_eq!(value, f32::from(sc[j]) * 3.0 - 0.5 * f32::from(m[j]), "{e}");
    }
}

#[test]
fn plain_types_keep_their_values() {
    let mut out = [0f32; 2];
    dequantize(TensorType::I16, &[0xff, 0xff, 0x02, 0x00], &mut out).unwrap();
    assert_eq!(out, [-1.0, 2.0]);
    dequantize(TensorType::BF16, &[0x80, 0x3f, 0x00, 0xc0], &mut out).unwrap();
    assert_eq!(out, [1.0, -2.0]);
    let mut one = [0f32; 1];
    dequantize(TensorType::U64, &u64::MAX.to_le_bytes(), &mut one).unwrap();
    assert_eq!(one[0], u64::MAX as f32);
}

#[test]
fn sub_byte_floats_unpack_low_bits_first() {
    // F4 (E2M1): 0x21 holds 0.5 (low nibble 1) then 1.0 (2); 0xF8 holds -0.0 then -6.0.
    let mut out = [0f32; 4];
    dequantize(TensorType::F4, &[0x21, 0xF8], &mut out).unwrap();
    assert_eq!(
        out.map(f32::to_bits),
        [0.5f32, 1.0, -0.0, -6.0].map(f32::to_bits)
    );
    // F6_E2M3: codes 1, 8, 0x28, 0x3F (0.125, 1.0, -1.0, -7.5) at bits 0, 6, 12, 18.
    let word: u32 = 1 | (8 << 6) | (0x28 << 12) | (0x3F << 18);
    let mut out = [0f32; 4];
    dequantize(TensorType::F6_E2M3, &word.to_le_bytes()[..3], &mut out).unwrap();
    assert_eq!(out, [0.125, 1.0, -1.0, -7.5]);
    // F8: the E5M2 infinities, E4M3's NaN, FNUZ's negative-zero pattern as NaN, E8M0's 2^0.
    let mut one = [0f32; 1];
    for (ty, byte, want) in [
        (TensorType::F8_E5M2, 0x7C, f32::INFINITY),
        (TensorType::F8_E5M2, 0xFC, f32::NEG_INFINITY),
        (TensorType::F8_E4M3, 0x7E, 448.0),
        (TensorType::F8_E8M0, 127, 1.0),
    ] {
        dequantize(ty, &[byte], &mut one).unwrap();
        assert_eq!(one[0], want, "{ty:?} {byte:#x}");
    }
    for (ty, byte) in [
        (TensorType::F8_E4M3, 0x7F),
        (TensorType::F8_E4M3FNUZ, 0x80),
        (TensorType::F8_E5M2FNUZ, 0x80),
        (TensorType::F8_E8M0, 0xFF),
    ] {
        dequantize(ty, &[byte], &mut one).unwrap();
        assert!(one[0].is_nan(), "{ty:?} {byte:#x}");
    }
}

#[test]
fn wrong_lengths_and_missing_decoders_are_errors() {
    let mut out = [0f32; 32];
    for (bytes, elements) in [(33, 32), (34, 31), (0, 32), (68, 32)] {
        let err = dequantize(
            TensorType::Q8_0,
            &vec![0u8; bytes],
            &mut out[..elements.min(32)],
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::DecodeLength { .. }),
            "{bytes} {elements}: {err}"
        );
    }
    assert!(dequantize(TensorType::Q8_0, &[], &mut []).is_ok());
    // ggml's intermediate type of activations: not a stored weight, no reference decoder.
    let err = dequantize(TensorType::Q8_K, &[0u8; 292], &mut [0f32; 256]).unwrap_err();
    assert_eq!(
        err,
        Error::NoDecoder {
            ty: TensorType::Q8_K
        }
    );
    assert!(err.to_string().contains("Q8_K"));
    assert!(!supports(TensorType::C64));
}

proptest! {
    /// Any run of blocks decodes alone exactly as inside the whole (bit for bit), for every
    /// type with a decoder, on arbitrary bytes (NaN and infinite scales included).
    #[test]
    fn a_block_range_decodes_alone_as_in_the_whole(
        // Under Miri (about 1000x slower) a few blocks of the largest type are enough.
        seed in proptest::collection::vec(any::<u8>(), 1..if cfg!(miri) { 420 } else { 4096 }),
        type_index in 0usize..64,
        cut in 0usize..64,
    ) {
        let types: alloc::vec::Vec<_> = decoded_types().collect();
        let ty = types[type_index % types.len()];
        let (block, size) = (ty.block_size() as usize, ty.type_size() as usize);
        let blocks = (seed.len() / size).max(1);
        let bytes: alloc::vec::Vec<u8> = seed.iter().copied().cycle().take(blocks * size).collect();
        let mut whole = alloc::vec![0f32; blocks * block];
        dequantize(ty, &bytes, &mut whole).unwrap();
        let cut = cut % (blocks + 1);
        let mut parts = alloc::vec![0f32; blocks * block];
        let (a, b) = parts.split_at_mut(cut * block);
        dequantize(ty, &bytes[..cut * size], a).unwrap();
        dequantize(ty, &bytes[cut * size..], b).unwrap();
        // NaN matches NaN: Rust leaves the bits of a NaN produced by arithmetic open (Miri
        // picks them at random), so only other values must agree bit for bit.
        let bits = |v: &[f32]| {
            v.iter()
                .map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() })
                .collect::<alloc::vec::Vec<_>>()
        };
        prop_assert_eq!(bits(&whole), bits(&parts));
    }
}

#[test]
fn tensor_views_decode_block_ranges_and_refuse_foreign_order() {
    let file = crate::testing::sample_file();
    let gguf = crate::Gguf::parse(file).unwrap();
    let norm = gguf.tensor("norm.weight").unwrap();
    assert_eq!(norm.to_f32().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    let mut two = [0f32; 2];
    norm.decode_f32(1..3, &mut two).unwrap();
    assert_eq!(two, [2.0, 3.0]);
    let reversed = core::ops::Range { start: 3, end: 2 };
    for bad in [3..5, 5..6, u64::MAX..u64::MAX, reversed] {
        let err = norm.decode_f32(bad.clone(), &mut two).unwrap_err();
        assert!(
            matches!(err, Error::InvalidRange { .. } | Error::DecodeLength { .. }),
            "{bad:?}: {err}"
        );
    }
    // A big-endian file: multi-byte types are refused, never read in the wrong order; bytes
    // have no order.
    let file = crate::testing::Builder {
        endian: crate::Endian::Big,
        ..Default::default()
    }
    .tensor("w", &[2], 0, &[0x3f, 0x80, 0, 0, 0x40, 0, 0, 0])
    .tensor("q", &[32], 8, &[0u8; 34])
    .tensor("b", &[4], 24, &[1, 2, 0xff, 0])
    .build();
    let gguf = crate::Gguf::parse(&file[..]).unwrap();
    for name in ["w", "q"] {
        let err = gguf.tensor(name).unwrap().to_f32().unwrap_err();
        assert!(
            matches!(err, Error::ForeignByteOrder { .. }),
            "{name}: {err}"
        );
    }
    assert_eq!(
        gguf.tensor("b").unwrap().to_f32().unwrap(),
        [1.0, 2.0, -1.0, 0.0]
    );
}
