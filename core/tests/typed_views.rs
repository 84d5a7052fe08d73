//! Typed tensor views for every element type: values read in place (same address, no copy),
//! and misaligned buffers, foreign byte order and wrong types refused. Runs under Miri in the
//! test command, which checks the casts bytemuck does for these views.

use half::{bf16, f16};
use weightmap_core::testing::Builder;
use weightmap_core::{Endian, Error, Gguf};

/// The file's bytes in an 8-byte-aligned buffer (a `Vec<u8>` may sit at any address under
/// Miri), shifted by `shift` bytes.
fn aligned(bytes: &[u8], shift: usize) -> (Vec<u64>, usize) {
    let mut words = vec![0u64; (bytes.len() + shift).div_ceil(8) + 1];
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
    buf[shift..shift + bytes.len()].copy_from_slice(bytes);
    (words, bytes.len())
}

fn file(endian: Endian) -> Vec<u8> {
    let b = Builder {
        endian,
        ..Builder::default()
    };
    let enc = |v: u64, n: usize| -> Vec<u8> {
        match endian {
            Endian::Little => v.to_le_bytes()[..n].to_vec(),
            Endian::Big => v.to_be_bytes()[8 - n..].to_vec(),
        }
    };
    let f32s: Vec<u8> = [1.5f32, -2.0, 3.25]
        .iter()
        .flat_map(|v| enc(u64::from(v.to_bits()), 4))
        .collect();
    let f16s: Vec<u8> = [0.5f32, 2.0]
        .iter()
        .flat_map(|v| enc(u64::from(f16::from_f32(*v).to_bits()), 2))
        .collect();
    let bf16s: Vec<u8> = [4.0f32, -1.0]
        .iter()
        .flat_map(|v| enc(u64::from(bf16::from_f32(*v).to_bits()), 2))
        .collect();
    let f64s: Vec<u8> = [6.5f64].iter().flat_map(|v| enc(v.to_bits(), 8)).collect();
    let i16s: Vec<u8> = [-3i16, 300]
        .iter()
        .flat_map(|v| enc(u64::from(*v as u16), 2))
        .collect();
    let i32s: Vec<u8> = [-70_000i32]
        .iter()
        .flat_map(|v| enc(u64::from(*v as u32), 4))
        .collect();
    let i64s: Vec<u8> = [-(1i64 << 40)]
        .iter()
        .flat_map(|v| enc(*v as u64, 8))
        .collect();
    b.kv_str("general.architecture", "test")
        .tensor("f32", &[3], 0, &f32s)
        .tensor("f16", &[2], 1, &f16s)
        .tensor("bf16", &[2], 30, &bf16s)
        .tensor("f64", &[1], 28, &f64s)
        .tensor("i8", &[3], 24, &[0xFF, 1, 0x80])
        .tensor("i16", &[2], 25, &i16s)
        .tensor("i32", &[1], 26, &i32s)
        .tensor("i64", &[1], 27, &i64s)
        .build()
}

#[test]
fn every_element_type_is_viewed_in_place() {
    let (words, len) = aligned(&file(Endian::HOST), 0);
    let bytes = &bytemuck::cast_slice::<u64, u8>(&words)[..len];
    let g = Gguf::parse(bytes).unwrap();
    let f32s = g.tensor("f32").unwrap().as_f32().unwrap();
    assert_eq!(f32s, &[1.5, -2.0, 3.25]);
    // In place: the slice points into the file's bytes.
    let range = g.tensor_range(&g.tensor_info("f32").unwrap()).unwrap();
    assert_eq!(f32s.as_ptr().cast::<u8>(), bytes[range].as_ptr());
    assert_eq!(
        g.tensor("f16").unwrap().as_f16().unwrap(),
        &[f16::from_f32(0.5), f16::from_f32(2.0)]
    );
    assert_eq!(
        g.tensor("bf16").unwrap().as_bf16().unwrap(),
        &[bf16::from_f32(4.0), bf16::from_f32(-1.0)]
    );
    assert_eq!(g.tensor("f64").unwrap().as_f64().unwrap(), &[6.5]);
    assert_eq!(g.tensor("i8").unwrap().as_i8().unwrap(), &[-1, 1, -128]);
    assert_eq!(g.tensor("i16").unwrap().as_i16().unwrap(), &[-3, 300]);
    assert_eq!(g.tensor("i32").unwrap().as_i32().unwrap(), &[-70_000]);
    assert_eq!(g.tensor("i64").unwrap().as_i64().unwrap(), &[-(1 << 40)]);
    assert!(matches!(
        g.tensor("f32").unwrap().as_i32(),
        Err(Error::WrongTensorType { .. })
    ));
    assert_eq!(g.tensor("f64").unwrap().blocks().count(), 1);
}

#[test]
fn misaligned_buffers_are_refused_not_copied() {
    let (words, len) = aligned(&file(Endian::HOST), 1);
    let bytes = &bytemuck::cast_slice::<u64, u8>(&words)[1..1 + len];
    let g = Gguf::parse(bytes).unwrap();
    for name in ["f32", "f16", "bf16", "f64", "i16", "i32", "i64"] {
        let view = g.tensor(name).unwrap();
        let e = match name {
            "f32" => view.as_f32().err(),
            "f16" => view.as_f16().err(),
            "bf16" => view.as_bf16().err(),
            "f64" => view.as_f64().err(),
            "i16" => view.as_i16().err(),
            "i32" => view.as_i32().err(),
            _ => view.as_i64().err(),
        };
        assert!(
            matches!(e, Some(Error::MisalignedData { .. })),
            "{name}: {e:?}"
        );
    }
    // Bytes have no alignment to miss.
    assert_eq!(g.tensor("i8").unwrap().as_i8().unwrap(), &[-1, 1, -128]);
}

#[test]
fn foreign_byte_order_is_refused_except_for_bytes() {
    let foreign = match Endian::HOST {
        Endian::Little => Endian::Big,
        Endian::Big => Endian::Little,
    };
    let (words, len) = aligned(&file(foreign), 0);
    let bytes = &bytemuck::cast_slice::<u64, u8>(&words)[..len];
    let g = Gguf::parse(bytes).unwrap();
    assert!(matches!(
        g.tensor("f32").unwrap().as_f32(),
        Err(Error::ForeignByteOrder { .. })
    ));
    assert!(matches!(
        g.tensor("i64").unwrap().as_i64(),
        Err(Error::ForeignByteOrder { .. })
    ));
    assert_eq!(g.tensor("i8").unwrap().as_i8().unwrap(), &[-1, 1, -128]);
}
