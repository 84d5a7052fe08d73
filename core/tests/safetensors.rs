//! safetensors through the public API: whole files and prefixes, every dtype, misaligned
//! data, trailing and missing bytes, handles; and a property test that generated files read
//! back exactly and corrupted ones never panic.

use proptest::prelude::*;
use weightmap_core::safetensors::{Safetensors, SafetensorsIndex};
use weightmap_core::testing::SafetensorsBuilder;
use weightmap_core::{Error, Model, TensorType};

#[test]
fn every_dtype_reads_with_its_size() {
    let names: [(&str, usize, usize); 22] = [
        ("BOOL", 1, 8),
        ("U8", 1, 8),
        ("I8", 1, 8),
        ("U16", 1, 16),
        ("I16", 1, 16),
        ("U32", 1, 32),
        ("I32", 1, 32),
        ("U64", 1, 64),
        ("I64", 1, 64),
        ("F16", 1, 16),
        ("BF16", 1, 16),
        ("F32", 1, 32),
        ("F64", 1, 64),
        ("C64", 1, 64),
        ("F8_E5M2", 1, 8),
        ("F8_E4M3", 1, 8),
        ("F8_E8M0", 1, 8),
        ("F8_E4M3FNUZ", 1, 8),
        ("F8_E5M2FNUZ", 1, 8),
        ("F4", 2, 4),
        ("F6_E2M3", 4, 6),
        ("F6_E3M2", 4, 6),
    ];
    let mut b = SafetensorsBuilder::default();
    for (name, block, bits) in names {
        let n = block * 3;
        b = b.tensor(name, name, &[3, block as u64], &vec![0xA5; n * bits / 8]);
    }
    let file = b.build();
    let st = Safetensors::parse(file.as_slice()).unwrap();
    assert_eq!(st.tensor_count(), 22);
    for (name, block, bits) in names {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype().name(), name);
        assert_eq!(t.dims(), &[3, block as u64]);
        assert_eq!(t.bytes().len(), block * 3 * bits / 8);
        assert_eq!(t.n_elements(), 3 * block as u64);
    }
    assert_eq!(st.tensor("C64").unwrap().dtype(), TensorType::C64);
}

#[test]
fn empty_and_scalar_tensors_and_metadata() {
    let file = SafetensorsBuilder::default()
        .meta("format", "pt")
        .meta("note", "a \"quoted\" ✓")
        .tensor("empty", "F32", &[0, 4], &[])
        .tensor("scalar", "I64", &[], &7i64.to_le_bytes())
        .build();
    let st = Safetensors::parse(file.clone()).unwrap();
    let scalar = st.tensor("scalar").unwrap();
    assert_eq!((scalar.dims(), scalar.n_elements()), (&[][..], 1));
    assert_eq!(scalar.to_vec::<i64>().unwrap(), [7]);
    let empty = st.tensor("empty").unwrap();
    assert_eq!((empty.n_elements(), empty.bytes().len()), (0, 0));
    assert_eq!(st.get("note"), Some("a \"quoted\" ✓"));
    let entries: Vec<_> = st.metadata().map(|e| (e.key(), e.value())).collect();
    assert_eq!(entries, [("format", "pt"), ("note", "a \"quoted\" ✓")]);
    // Through the neutral model too.
    let model = Model::parse(file).unwrap();
    assert_eq!(model.metadata_len(), 2);
    assert_eq!(model.tensor_count(), 2);
}

#[test]
fn misaligned_tensors_refuse_views_and_copy() {
    // A header of odd length puts the data at an odd offset.
    let json = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut words = vec![0u64; 16];
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
    let file = SafetensorsBuilder::raw(json, &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    let start = if (8 + json.len()) % 4 == 0 { 1 } else { 0 };
    buf[start..start + file.len()].copy_from_slice(&file);
    let bytes = &buf[start..start + file.len()];
    let st = Safetensors::parse(bytes).unwrap();
    let w = st.tensor("w").unwrap();
    assert!(matches!(
        w.as_f32(),
        Err(Error::MisalignedData { align: 4, .. })
    ));
    let message = w.as_f32().unwrap_err().to_string();
    assert!(message.contains("aligned to 4"), "{message}");
    assert_eq!(w.to_vec::<f32>().unwrap(), [1.0, 2.0]);
    let mut out = [0f32; 2];
    w.copy_to(&mut out).unwrap();
    assert_eq!(out, [1.0, 2.0]);
    assert!(matches!(
        w.copy_to(&mut [0f32; 3]),
        Err(Error::InvalidRange { .. })
    ));
    assert!(matches!(
        w.to_vec::<f64>(),
        Err(Error::WrongTensorType { .. })
    ));
}

#[test]
fn the_file_ends_where_the_last_tensor_does() {
    let file = weightmap_core::testing::safetensors_sample();
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(
        Safetensors::parse(longer),
        Err(Error::TrailingBytes { .. })
    ));
    let shorter = &file[..file.len() - 1];
    assert!(matches!(
        Safetensors::parse(shorter),
        Err(Error::TensorOutOfBounds { .. })
    ));
    // A prefix holding only the header parses header-only.
    let index = SafetensorsIndex::parse_header(&file).unwrap();
    let header = &file[..index.data_offset() as usize];
    let st = Safetensors::parse_header(header).unwrap();
    assert_eq!(st.required_len(), file.len() as u64);
    assert!(matches!(
        st.tensor("w"),
        Err(Error::TensorOutOfBounds { .. })
    ));
    assert_eq!(st.tensor_info("w").unwrap().size(), 16);
}

#[test]
fn handles_keep_the_data_alive() {
    let st = Safetensors::parse(weightmap_core::testing::safetensors_sample())
        .unwrap()
        .into_shared();
    let handle = st.tensor_handle("b").unwrap();
    drop(st);
    let bytes = std::thread::spawn(move || handle.to_vec()).join().unwrap();
    assert_eq!(bytes, [7, 8, 9]);
}

#[test]
fn every_prefix_asks_for_more_or_parses() {
    let file = weightmap_core::testing::safetensors_sample();
    let whole = SafetensorsIndex::parse_header(&file).unwrap();
    let mut have = 0;
    let mut steps = 0;
    let index = loop {
        match SafetensorsIndex::parse_header(&file[..have]) {
            Ok(index) => break index,
            Err(Error::Truncated { needed, .. }) => {
                assert!(needed as usize > have);
                have = needed as usize;
                steps += 1;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(steps, 2);
    assert_eq!(index.data_offset(), whole.data_offset());
    for n in 0..whole.data_offset() as usize {
        assert!(matches!(
            SafetensorsIndex::parse_header(&file[..n]),
            Err(Error::Truncated { .. })
        ));
    }
}

fn dtype() -> impl Strategy<Value = (&'static str, usize, usize)> {
    prop::sample::select(vec![
        ("F32", 1, 32),
        ("F16", 1, 16),
        ("BF16", 1, 16),
        ("U8", 1, 8),
        ("I64", 1, 64),
        ("BOOL", 1, 8),
        ("F4", 2, 4),
        ("F6_E3M2", 4, 6),
        ("C64", 1, 64),
    ])
}

proptest! {
    #[test]
    fn generated_files_read_back(tensors in prop::collection::vec(
        (dtype(), prop::collection::vec(0u64..4, 0..4), "[a-z.é\"\\\\]{1,12}"), 0..8),
        meta in prop::collection::vec(("[a-z\"]{1,6}", ".{0,8}"), 0..3)) {
        let mut b = SafetensorsBuilder::default();
        let mut expected = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, ((dtype, block, bits), mut shape, name)) in tensors.into_iter().enumerate() {
            let name = format!("{name}{i}");
            shape.push(block as u64);
            let n: u64 = shape.iter().product();
            let bytes: Vec<u8> = (0..n as usize * bits / 8).map(|j| (i * 31 + j) as u8).collect();
            b = b.tensor(&name, dtype, &shape, &bytes);
            expected.push((name, dtype, shape, bytes));
        }
        let mut meta_expected = Vec::new();
        for (k, v) in meta {
            if seen.insert(k.clone()) {
                b = b.meta(&k, &v);
                meta_expected.push((k, v));
            }
        }
        let file = b.build();
        let st = Safetensors::parse(file.as_slice()).unwrap();
        prop_assert_eq!(st.tensor_count(), expected.len());
        for (name, dtype, shape, bytes) in &expected {
            let t = st.tensor(name).unwrap();
            prop_assert_eq!(t.dtype().name(), *dtype);
            prop_assert_eq!(t.dims(), shape.as_slice());
            prop_assert_eq!(t.bytes(), bytes.as_slice());
        }
        for (k, v) in &meta_expected {
            prop_assert_eq!(st.get(k), Some(v.as_str()));
        }
    }

    #[test]
    fn corrupted_files_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut file = SafetensorsBuilder::default()
            .meta("format", "pt")
            .tensor("a.weight", "F32", &[2, 3], &[1; 24])
            .tensor("b", "F4", &[4], &[2; 2])
            .build();
        for (at, byte) in flips {
            let i = at.index(file.len());
            file[i] = byte;
        }
        if let Ok(model) = Model::parse(file.as_slice()) {
            for t in model.tensors() {
                let view = model.tensor_view(&t).unwrap();
                prop_assert_eq!(view.bytes().len() as u64, t.size());
            }
        }
    }
}
