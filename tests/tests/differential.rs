//! Differential test: files written by the official GGUF writer (gguf 0.19.0) parsed by
//! weightmap and by the official reader, compared field by field: header, every key, type and
//! value (floats by bit pattern, every array element), every tensor's name, type, shape,
//! offset, size and a hash of its bytes. weightmap reads each file four ways, through the one
//! read API each time: a `Vec<u8>`, the heap source, the safe mapped source (header read into
//! memory, tensor data mapped), and the unindexed borrowed view.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use weightmap_core::{Backing, Gguf, GgufView, ModelData};
use weightmap_native::{HeapReason, ModelSource, SourceConfig};
use weightmap_tests::{describe, first_difference, reference_python, run_script};

/// The file described through each of the four sources; all four must agree.
fn describe_every_way(path: &Path) -> Json {
    let fail =
        |how: &str, e: &dyn std::fmt::Display| -> ! { panic!("{} ({how}): {e}", path.display()) };
    let bytes = std::fs::read(path).unwrap();
    let from_vec = Gguf::parse(bytes.clone()).unwrap_or_else(|e| fail("Vec", &e));
    let heap = ModelSource::open_with(path, &SourceConfig::no_mmap())
        .unwrap_or_else(|e| fail("heap source", &e));
    assert_eq!(heap.data().heap_reason(), Some(HeapReason::Requested));
    let mapped_config = SourceConfig {
        min_mmap_size: 1,
        ..SourceConfig::default()
    };
    let mapped =
        ModelSource::open_with(path, &mapped_config).unwrap_or_else(|e| fail("mapped source", &e));
    assert_eq!(mapped.data().backing(), Backing::Mmap);
    assert!(!mapped.data().as_mmap().unwrap().is_trusted());
    let borrowed = GgufView::parse(&bytes).unwrap_or_else(|e| fail("borrowed view", &e));

    let ours = describe(from_vec.view());
    for (how, other) in [
        ("heap source", describe(heap.view())),
        ("mapped source", describe(mapped.view())),
        ("borrowed view", describe(borrowed)),
    ] {
        if let Some(diff) = first_difference(&other, &ours, "") {
            panic!("{}: {how} differs from Vec: {diff}", path.display());
        }
    }
    ours
}

#[test]
fn official_writer_fixtures_match_the_official_reader() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let listing = run_script(&python, "gen_fixtures.py", &[dir.path()]);
    let files: Vec<PathBuf> = listing
        .lines()
        .map(|l| PathBuf::from(l.trim()))
        .filter(|p| p.exists())
        .collect();
    assert!(
        files.len() >= 12,
        "expected the full fixture set, got {files:?}"
    );

    let args: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let reference: Json =
        serde_json::from_str(&run_script(&python, "dump_reference.py", &args)).unwrap();
    let reference = reference.as_array().expect("one object per file");
    assert_eq!(reference.len(), files.len());

    let mut kinds = BTreeSet::new();
    let mut value_types = BTreeSet::new();
    for (path, theirs) in files.iter().zip(reference) {
        let mut ours = describe_every_way(path);
        ours["file"] = path.display().to_string().into();
        let gguf = ModelSource::open(path).unwrap();
        if let Some(diff) = first_difference(&ours, theirs, "") {
            panic!("{}: {diff}", path.display());
        }
        for t in gguf.tensors() {
            kinds.insert(t.ggml_type());
        }
        for e in gguf.metadata() {
            value_types.insert(e.value_type().name());
            if let Some(a) = e.value().as_array() {
                value_types.insert(a.element_type().name());
            }
        }
    }
    // Every ggml type the official writer knows, and every value type, appeared somewhere.
    assert_eq!(kinds.len(), 34, "ggml types covered: {kinds:?}");
    assert_eq!(
        value_types.len(),
        13,
        "value types covered: {value_types:?}"
    );
}
