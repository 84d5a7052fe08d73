//! Property test: files generated from random descriptions (every scalar type, strings,
//! arrays, tensors of several types and shapes, both byte orders, v2 and v3, several
//! alignments) parse back to exactly the description, through both the indexed and the
//! borrowed forms, and every proper prefix of the header asks for more bytes.

use proptest::prelude::*;
use weightmap_core::testing::Builder;
use weightmap_core::{Endian, Error, GgmlType, Gguf, GgufView, IndexBuilder, Value};

#[derive(Debug, Clone)]
enum Scalar {
    U8(u8),
    I16(i16),
    U32(u32),
    I64(i64),
    F32(u32),
    F64(u64),
    Bool(bool),
    Str(String),
    U32s(Vec<u32>),
    Strs(Vec<String>),
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<u8>().prop_map(Scalar::U8),
        any::<i16>().prop_map(Scalar::I16),
        any::<u32>().prop_map(Scalar::U32),
        any::<i64>().prop_map(Scalar::I64),
        any::<u32>().prop_map(Scalar::F32),
        any::<u64>().prop_map(Scalar::F64),
        any::<bool>().prop_map(Scalar::Bool),
        ".{0,20}".prop_map(Scalar::Str),
        proptest::collection::vec(any::<u32>(), 0..20).prop_map(Scalar::U32s),
        proptest::collection::vec(".{0,8}", 0..20).prop_map(Scalar::Strs),
    ]
}

fn encode(b: &Builder, s: &Scalar) -> (u32, Vec<u8>) {
    let array = |elem: u32, n: usize, body: Vec<u8>| {
        let mut v = b.u32(elem).to_vec();
        v.extend_from_slice(&b.u64(n as u64));
        v.extend(body);
        v
    };
    match s {
        Scalar::U8(v) => (0, vec![*v]),
        Scalar::I16(v) => (
            3,
            match b.endian {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            }
            .to_vec(),
        ),
        Scalar::U32(v) => (4, b.u32(*v).to_vec()),
        Scalar::I64(v) => (11, b.u64(*v as u64).to_vec()),
        Scalar::F32(bits) => (6, b.u32(*bits).to_vec()),
        Scalar::F64(bits) => (12, b.u64(*bits).to_vec()),
        Scalar::Bool(v) => (7, vec![u8::from(*v)]),
        Scalar::Str(v) => (8, b.string(v.as_bytes())),
        Scalar::U32s(v) => (
            9,
            array(4, v.len(), v.iter().flat_map(|x| b.u32(*x)).collect()),
        ),
        Scalar::Strs(v) => (
            9,
            array(
                8,
                v.len(),
                v.iter().flat_map(|x| b.string(x.as_bytes())).collect(),
            ),
        ),
    }
}

fn check(value: Value<'_>, expected: &Scalar) {
    match (value, expected) {
        (Value::Uint8(a), Scalar::U8(b)) => assert_eq!(a, *b),
        (Value::Int16(a), Scalar::I16(b)) => assert_eq!(a, *b),
        (Value::Uint32(a), Scalar::U32(b)) => assert_eq!(a, *b),
        (Value::Int64(a), Scalar::I64(b)) => assert_eq!(a, *b),
        (Value::Float32(a), Scalar::F32(b)) => assert_eq!(a.to_bits(), *b),
        (Value::Float64(a), Scalar::F64(b)) => assert_eq!(a.to_bits(), *b),
        (Value::Bool(a), Scalar::Bool(b)) => assert_eq!(a, *b),
        (Value::String(a), Scalar::Str(b)) => assert_eq!(a.to_str().unwrap(), b),
        (Value::Array(a), Scalar::U32s(b)) => {
            let got: Vec<u32> = a
                .iter()
                .map(|v| match v.unwrap() {
                    Value::Uint32(x) => x,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(&got, b);
            for (i, x) in b.iter().enumerate() {
                assert_eq!(a.get(i as u64), Some(Value::Uint32(*x)));
            }
        }
        (Value::Array(a), Scalar::Strs(b)) => {
            let got: Vec<&str> = a.strings().unwrap().map(|s| s.unwrap()).collect();
            assert_eq!(got, b.iter().map(String::as_str).collect::<Vec<_>>());
        }
        (v, e) => panic!("value {v:?} does not match {e:?}"),
    }
}

#[derive(Debug, Clone)]
struct TensorSpec {
    ty: GgmlType,
    dims: Vec<u64>,
}

fn tensor() -> impl Strategy<Value = TensorSpec> {
    let ty = prop_oneof![
        Just(GgmlType::F32),
        Just(GgmlType::F16),
        Just(GgmlType::Q8_0),
        Just(GgmlType::Q4_K),
        Just(GgmlType::I8)
    ];
    (ty, proptest::collection::vec(0u64..4, 0..4), 1u64..3).prop_map(|(ty, mut rest, blocks)| {
        let mut dims = vec![blocks * ty.block_size()];
        dims.append(&mut rest);
        TensorSpec { ty, dims }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_files_round_trip(
        values in proptest::collection::vec(scalar(), 0..12),
        tensors in proptest::collection::vec(tensor(), 0..8),
        big in any::<bool>(),
        v2 in any::<bool>(),
        align_shift in prop_oneof![Just(None), (0u32..9).prop_map(Some)],
    ) {
        let endian = if big { Endian::Big } else { Endian::Little };
        let alignment = align_shift.map_or(32, |s| 1u64 << s);
        let mut b = Builder { endian, version: if v2 { 2 } else { 3 }, alignment, ..Builder::default() };
        if let Some(s) = align_shift {
            b = b.kv_u32("general.alignment", 1 << s);
        }
        for (i, s) in values.iter().enumerate() {
            let (ty, bytes) = encode(&b, s);
            b = b.kv_raw(format!("key.{i}").as_bytes(), ty, bytes);
        }
        for (i, t) in tensors.iter().enumerate() {
            let size = t.ty.byte_size(&t.dims).unwrap() as usize;
            let data: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            b = b.tensor(&format!("t.{i}"), &t.dims, t.ty.id(), &data);
        }
        let file = b.build();

        let g = Gguf::parse(&file[..]).unwrap();
        let r = GgufView::parse(&file).unwrap();
        prop_assert_eq!(g.endian(), endian);
        prop_assert_eq!(g.version(), if v2 { 2 } else { 3 });
        prop_assert_eq!(g.alignment() as u64, alignment);
        prop_assert_eq!(g.layout(), r.layout());
        let offset = usize::from(align_shift.is_some());
        prop_assert_eq!(g.metadata_len(), values.len() + offset);
        for (i, s) in values.iter().enumerate() {
            let key = format!("key.{i}");
            check(g.get(&key).unwrap(), s);
            check(r.get(&key).unwrap(), s);
        }
        prop_assert_eq!(g.tensor_count(), tensors.len());
        for ((info, spec), rinfo) in g.tensors().zip(&tensors).zip(r.tensors()) {
            prop_assert_eq!(info, rinfo);
            prop_assert_eq!(info.ggml_type(), spec.ty);
            prop_assert_eq!(info.shape(), &spec.dims[..]);
            prop_assert_eq!(info.offset() % alignment, 0);
            let view = g.tensor(info.name()).unwrap();
            prop_assert_eq!(view.bytes().len() as u64, info.size());
            let i: usize = info.name()[2..].parse().unwrap();
            prop_assert!(view.bytes().iter().enumerate().all(|(j, &x)| x == (i * 31 + j) as u8));
        }

        // Every proper prefix of the header and tables is reported as truncated.
        let header_end = g.layout().tensor_info_end as usize;
        for len in (0..header_end).step_by(7) {
            let truncated = matches!(Gguf::parse_header(&file[..len]), Err(Error::Truncated { .. }));
            prop_assert!(truncated, "prefix {}", len);
        }

        // Growing a prefix as the parser asks, resuming each time, gives the same index.
        let mut builder = IndexBuilder::new();
        let mut have = 0;
        let resumed = loop {
            match builder.parse(&file[..have]) {
                Ok(index) => break index,
                Err(Error::Truncated { needed, .. }) => {
                    prop_assert!(needed as usize > have && needed as usize <= header_end);
                    have = needed as usize;
                }
                Err(e) => panic!("{e}"),
            }
        };
        prop_assert_eq!(resumed.layout(), g.layout());
        let view = resumed.view(&file, &file, 0);
        prop_assert!(view.tensors().eq(g.tensors()));
        let entries = |it: weightmap_core::Entries<'_>| it.map(|e| (e.key().to_owned(), e.value_range())).collect::<Vec<_>>();
        prop_assert_eq!(entries(view.metadata()), entries(g.metadata()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Gguf::parse(&bytes[..]);
        let _ = GgufView::parse(&bytes);
    }

    #[test]
    fn corrupted_valid_files_never_panic(flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..6)) {
        let mut file = weightmap_core::testing::sample_file();
        for (at, byte) in flips {
            if let Some(b) = file.get_mut(at) {
                *b = byte;
            }
        }
        if let Ok(g) = Gguf::parse(&file[..]) {
            for e in g.metadata() {
                if let Some(a) = e.value().as_array() {
                    a.iter().for_each(drop);
                }
            }
            for t in g.tensors() {
                let v = g.tensor_view(&t).unwrap();
                let _ = v.as_f32();
            }
        }
    }
}
