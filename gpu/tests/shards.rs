//! safetensors files, sharded safetensors models and GGUF split sets through the same upload
//! pipeline (into host memory): every tensor read back from the arena and compared with what
//! the parser maps, for each fill mode, each file's chunks from that file.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_core::TensorType;
use weightmap_gpu::testing::verified_upload;
use weightmap_gpu::{
    upload, upload_file, Error, Fill, HostTarget, MappedSource, Plan, PlanOptions,
};

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Two safetensors shards (odd header lengths: misaligned data) and their index.
fn sharded_safetensors(dir: &Path) -> PathBuf {
    let one = SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("model.embed", "BF16", &[300, 128], &bytes(1, 300 * 128 * 2))
        .tensor("model.norm", "F32", &[128], &bytes(2, 512))
        .build();
    let two = SafetensorsBuilder::default()
        .tensor("lm_head.weight", "F16", &[700, 64], &bytes(3, 700 * 64 * 2))
        .tensor("scale", "F8_E4M3", &[33], &bytes(4, 33))
        .build();
    std::fs::write(dir.join("m-00001-of-00002.safetensors"), one).unwrap();
    std::fs::write(dir.join("m-00002-of-00002.safetensors"), two).unwrap();
    let index = dir.join("m.safetensors.index.json");
    let map = [
        ("model.embed", 1),
        ("model.norm", 1),
        ("lm_head.weight", 2),
        ("scale", 2),
    ];
    let entries: Vec<String> = map
        .iter()
        .map(|(t, n)| format!("{t:?}: \"m-0000{n}-of-00002.safetensors\""))
        .collect();
    let json = format!("{{\"weight_map\": {{{}}}}}", entries.join(", "));
    std::fs::write(&index, json).unwrap();
    index
}

fn gguf_splits(dir: &Path) -> PathBuf {
    for no in 0..3u16 {
        let mut b = Builder::default()
            .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
            .kv_raw(b"split.count", 2, 3u16.to_le_bytes().to_vec())
            .kv_raw(b"split.tensors.count", 5, 6i32.to_le_bytes().to_vec());
        for i in 0..2u8 {
            let name = format!("blk.{no}.t{i}.weight");
            b = b.tensor(&name, &[64, 100], 8, &bytes(no as u8 * 2 + i, 34 * 2 * 100));
        }
        std::fs::write(
            dir.join(format!("g-{:05}-of-00003.gguf", no + 1)),
            b.build(),
        )
        .unwrap();
    }
    dir.join("g-00001-of-00003.gguf")
}

#[test]
fn every_format_and_shard_layout_uploads_intact() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("one.safetensors");
    std::fs::write(
        &single,
        SafetensorsBuilder::default()
            .tensor("w", "F32", &[100_000], &bytes(9, 400_000))
            .build(),
    )
    .unwrap();
    for (path, tensors, files) in [
        (single, 1, 1),
        (sharded_safetensors(dir.path()), 4, 2),
        (gguf_splits(dir.path()), 6, 3),
    ] {
        let parsed = weightmap_native::open(&path).unwrap();
        assert_eq!(parsed.shards().len(), files);
        for fill in [Fill::Pread, Fill::Mmap] {
            let mut options = verified_upload(fill);
            options.plan.chunk_size = 64 << 10;
            let model = upload_file(&path, &mut HostTarget::new(), &options, |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
            assert_eq!(model.tensor_count(), tensors, "{}", path.display());
            for t in parsed.tensors() {
                let uploaded = model.tensor(t.name()).unwrap();
                assert_eq!(uploaded.dtype(), t.dtype());
                assert_eq!(uploaded.dims(), t.dims());
                assert_eq!(uploaded.shard(), t.shard());
                assert_eq!(uploaded.arena_range().start % 256, 0);
                assert!(uploaded.bytes() == parsed.tensor(t.name()).unwrap().bytes());
            }
            assert_eq!(model.report().bytes, parsed.tensor_bytes());
        }
    }
    let parsed = weightmap_native::open(sharded_safetensors(dir.path())).unwrap();
    assert_eq!(
        parsed.tensor_info("scale").unwrap().dtype(),
        TensorType::F8_E4M3
    );
}

#[test]
fn a_plan_of_several_files_needs_a_source_for_each() {
    let dir = tempfile::tempdir().unwrap();
    let model = weightmap_native::open(gguf_splits(dir.path())).unwrap();
    let plan = Plan::of_model(&model, &PlanOptions::default(), |_| true).unwrap();
    assert_eq!(plan.shard_count(), 3);
    let first = MappedSource::new(model.shards()[0].file().data());
    let e = upload(
        &plan,
        &first,
        &mut HostTarget::new(),
        &Default::default(),
        |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidOptions(_)), "{e}");
}
