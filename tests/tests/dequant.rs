//! weightmap's f32 decoders against the official `gguf` package's `gguf.quants.dequantize`
//! (which its own tests check bit for bit against ggml's C): random blocks (every bit
//! pattern, NaN, infinite and subnormal scales) and blocks from `gguf.quants.quantize`, for
//! each of the package's 26 types. Equal bit for bit; NaN matches NaN.

use sha2::{Digest, Sha256};
use weightmap_core::{dequant, GgmlType, TensorType};
use weightmap_tests::{reference_python, run_script};

/// The types `gguf.quants.dequantize` decodes.
const REFERENCE_TYPES: [&str; 26] = [
    "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
    "Q6_K", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_NL", "IQ4_XS",
    "TQ1_0", "TQ2_0", "MXFP4", "NVFP4",
];

fn ggml(name: &str) -> TensorType {
    let g = GgmlType::ALL
        .iter()
        .find(|g| g.name() == name)
        .unwrap_or_else(|| panic!("{name} is a ggml type"));
    TensorType::from(*g)
}

#[test]
fn every_decoded_type_matches_the_official_dequantize_bit_for_bit() {
    let Some(python) = reference_python() else {
        return;
    };
    let missing: Vec<&str> = REFERENCE_TYPES
        .into_iter()
        .filter(|&n| !dequant::supports(ggml(n)))
        .collect();
    assert!(missing.is_empty(), "no decoder for {missing:?}");
    let decoded = REFERENCE_TYPES;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![dir.path()];
    let names: Vec<std::path::PathBuf> = decoded.iter().map(std::path::PathBuf::from).collect();
    args.extend(names.iter().map(|p| p.as_path()));
    run_script(&python, "dequant_reference.py", &args);
    let mut compared = 0;
    for name in &decoded {
        let ty = ggml(name);
        for kind in ["random", "quantized"] {
            let file = |ext: &str| dir.path().join(format!("{name}.{kind}.{ext}"));
            let Ok(bytes) = std::fs::read(file("bin")) else {
                assert_eq!(kind, "quantized", "{name}: no random blocks written");
                continue;
            };
            let want: Vec<f32> = std::fs::read(file("f32"))
                .unwrap()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let mut got = vec![0f32; want.len()];
            dequant::dequantize(ty, &bytes, &mut got).unwrap_or_else(|e| panic!("{name}: {e}"));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                assert!(
                    same,
                    "{name} {kind}: element {i}: {g:e} ({:#x}), reference {w:e} ({:#x})",
                    g.to_bits(),
                    w.to_bits()
                );
            }
            compared += want.len();
        }
    }
    println!(
        "{compared} values of {} types equal the official dequantize",
        decoded.len()
    );
}

#[test]
fn every_tensor_of_gemma_decodes_whole_as_the_official_dequantize_does() {
    let Some((python, gemma)) = weightmap_tests::gemma_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let digests = dir.path().join("gemma.json");
    run_script(&python, "dequant_gemma.py", &[&gemma, &digests]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&digests).unwrap()).unwrap();
    let model = weightmap_native::open(&gemma).unwrap();
    let mut types = std::collections::BTreeSet::new();
    // Decoded through a small buffer, 4096 blocks at a time, as a caller streams a tensor.
    let mut buffer = vec![0f32; 4096 * 256];
    let (mut bytes, mut elements) = (Vec::new(), 0u64);
    for entry in index.as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let tensor = model.tensor(name).unwrap();
        let ty = tensor.dtype();
        assert_eq!(ty.name(), entry["type"].as_str().unwrap(), "{name}");
        assert_eq!(
            Some(tensor.n_elements()),
            entry["elements"].as_u64(),
            "{name}"
        );
        let (blocks, per_block) = (tensor.blocks().len() as u64, ty.block_size());
        let mut digest = Sha256::new();
        for start in (0..blocks).step_by(4096) {
            let end = (start + 4096).min(blocks);
            let out = &mut buffer[..((end - start) * per_block) as usize];
            tensor
                .decode_f32(start..end, out)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            bytes.clear();
            bytes.extend(out.iter().flat_map(|v| v.to_le_bytes()));
            digest.update(&bytes);
        }
        let got: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            got,
            entry["sha256"].as_str().unwrap(),
            "{name} ({})",
            ty.name()
        );
        types.insert(ty.name());
        elements += tensor.n_elements();
    }
    assert!(types.len() >= 5, "{types:?}");
    println!(
        "{} tensors ({elements} values) of types {types:?} equal the official dequantize",
        index.as_array().unwrap().len()
    );
}

/// Packs `codes` of `width` bits as a little-endian bit stream (element `i` in bits
/// `[width * i, width * (i + 1))`), the layout weightmap reads sub-byte safetensors types in.
fn pack(codes: &[u32], width: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; (codes.len() * width).div_ceil(8)];
    for (i, &code) in codes.iter().enumerate() {
        for bit in 0..width {
            if (code >> bit) & 1 == 1 {
                let at = i * width + bit;
                bytes[at / 8] |= 1 << (at % 8);
            }
        }
    }
    bytes
}

#[test]
fn every_small_float_value_matches_ml_dtypes() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("minifloats.json");
    run_script(&python, "minifloat_reference.py", &[&json]);
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let reference = reference.as_object().unwrap();
    assert_eq!(reference.len(), 8);
    for (name, want) in reference {
        let ty = TensorType::from_safetensors_name(name).unwrap();
        let want: Vec<u32> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let width = want.len().trailing_zeros() as usize;
        // Every code, twice over in reverse, so each sits at every position of a block.
        let codes: Vec<u32> = (0..want.len() as u32)
            .chain((0..want.len() as u32).rev())
            .collect();
        let bytes = pack(&codes, width);
        let mut got = vec![0f32; codes.len()];
        dequant::dequantize(ty, &bytes, &mut got).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (&code, g) in codes.iter().zip(&got) {
            let w = f32::from_bits(want[code as usize]);
            let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
            assert!(
                same,
                "{name} code {code:#x}: {g:e} ({:#x}), ml_dtypes {w:e}",
                g.to_bits()
            );
        }
    }
}
