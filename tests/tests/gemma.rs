//! The real model: Gemma 3 270M Q4_K_M as written by llama.cpp's converter (253 MB, 262,144
//! tokens, 236 tensors), opened the safe way (header read into memory, tensor data mapped) and
//! compared with the official reader.

use serde_json::Value as Json;
use weightmap_core::{GgmlType, ModelData};
use weightmap_native::ModelSource;
use weightmap_tests::{describe, first_difference, gemma_model, run_script};

#[test]
fn gemma_matches_the_official_reader_and_reads_typed_tensors() {
    let Some((python, path)) = gemma_model() else {
        return;
    };
    let gguf = ModelSource::open(&path).unwrap();
    assert!(gguf.data().is_mmap());
    assert_eq!(gguf.tensor_count(), 236);
    assert_eq!(gguf.architecture(), Some("gemma3"));

    let theirs: Json =
        serde_json::from_str(&run_script(&python, "dump_reference.py", &[&path])).unwrap();
    let mut ours = describe(gguf.view());
    ours["file"] = path.display().to_string().into();
    if let Some(diff) = first_difference(&ours, &theirs, "") {
        panic!("gemma: {diff}");
    }

    // The vocabulary: every token valid UTF-8, read lazily through the iterator.
    let tokens = gguf
        .get("tokenizer.ggml.tokens")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(tokens.len(), 262_144);
    let mut count = 0;
    for token in tokens.strings().unwrap() {
        token.unwrap();
        count += 1;
    }
    assert_eq!(count, 262_144);

    // Every F32 tensor as a typed slice, without copying: right length, finite values.
    let mut f32_tensors = 0;
    for info in gguf.tensors().filter(|t| t.ggml_type() == GgmlType::F32) {
        let view = gguf.tensor_view(&info).unwrap();
        let values = view.as_f32().unwrap();
        assert_eq!(values.len() as u64, info.n_elements(), "{}", info.name());
        assert!(values.iter().all(|v| v.is_finite()), "{}", info.name());
        assert_eq!(
            values.as_ptr() as *const u8,
            view.bytes().as_ptr(),
            "a view, not a copy"
        );
        f32_tensors += 1;
    }
    assert_eq!(f32_tensors, 109);
    let norm = gguf.tensor("output_norm.weight").unwrap().as_f32().unwrap();
    assert_eq!(norm.len(), 640);
    // Quantized tensors: blocks of the type's size, exactly covering the bytes.
    let q = gguf
        .tensors()
        .find(|t| t.ggml_type() == GgmlType::Q4_K)
        .unwrap();
    let view = gguf.tensor_view(&q).unwrap();
    assert_eq!(view.blocks().len() as u64 * 144, q.size());
}

/// The native layer on the real model: mapped through `ModelSource`, parsed, the largest tensor
/// read, its pages counted, then released, and the same bytes read again.
#[test]
fn gemma_mapped_parsed_read_and_released() {
    let Some((_, path)) = gemma_model() else {
        return;
    };
    let gguf = ModelSource::open(&path).unwrap();
    let mmap = gguf.data().as_mmap().unwrap();
    // Only the tensor data is mapped: from the page holding the data section.
    assert_eq!(mmap.offset(), gguf.data_offset() / 4096 * 4096);
    assert_eq!(gguf.data().offset(), mmap.offset());
    assert!(!mmap.is_trusted());
    let largest = gguf.tensors().max_by_key(|t| t.size()).unwrap();
    let range = gguf.tensor_range(&largest).unwrap();
    assert_eq!(largest.name(), "token_embd.weight");
    let checksum = |bytes: &[u8]| {
        bytes
            .iter()
            .fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b))
    };
    let before = checksum(gguf.tensor_view(&largest).unwrap().bytes());
    let r = mmap.residency_of(range.clone()).unwrap();
    assert_eq!(
        r.mapped,
        Some(r.pages),
        "every page of the tensor was read: {r:?}"
    );
    assert_eq!(r.cached, r.pages);

    gguf.data().release_cpu_pages().unwrap();
    let r = mmap.residency().unwrap();
    assert_eq!(r.mapped, Some(0), "{r:?}");
    assert!(!mmap.is_stale());
    assert_eq!(
        checksum(gguf.tensor_view(&largest).unwrap().bytes()),
        before
    );
}

/// Owned tensor handles from the safe open: they keep the mapping alive after the parser is
/// gone, cross threads, and become `bytes::Bytes` without a copy.
#[test]
fn gemma_tensor_handles_outlive_the_parser() {
    let Some((_, path)) = gemma_model() else {
        return;
    };
    let gguf = ModelSource::open(&path).unwrap().into_shared();
    let expected: Vec<(String, u64)> = gguf
        .tensors()
        .map(|t| {
            let bytes = gguf.tensor_view(&t).unwrap().bytes();
            (
                t.name().to_owned(),
                bytes.iter().map(|&b| u64::from(b)).sum(),
            )
        })
        .collect();
    let handles: Vec<_> = gguf
        .tensors()
        .map(|t| gguf.handle_of(&t).unwrap())
        .collect();
    let embd = gguf.tensor_handle("token_embd.weight").unwrap();
    let mapping = gguf.data().as_slice().as_ptr_range();
    assert!(
        mapping.contains(&embd.as_ptr()),
        "a handle points into the mapping"
    );
    assert_eq!(embd.dtype(), GgmlType::Q8_0);
    assert_eq!(
        embd.dims(),
        &[262_144, 640],
        "row-major: vocabulary, then embedding"
    );
    drop(gguf);

    // On another thread, after the parser is dropped: the same bytes.
    let sums = std::thread::spawn(move || {
        handles
            .into_iter()
            .map(|h| {
                let body = bytes::Bytes::from(h.clone());
                assert_eq!(body.as_ptr(), h.as_ptr(), "no copy into Bytes");
                (
                    h.name().to_owned(),
                    body.iter().map(|&b| u64::from(b)).sum::<u64>(),
                )
            })
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(sums, expected);
    embd.release();
    assert_eq!(embd.len(), 640 * 262_144 / 32 * 34);
}
