//! Differential test: files written by the official GGUF writer (gguf 0.19.0) parsed by
//! weightmap over a memory map and by the official reader, compared field by field: header,
//! every key, type and value (floats by bit pattern, every array element), every tensor's name,
//! type, shape, offset, size and a hash of its bytes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value as Json;
use weightmap_core::Gguf;
use weightmap_native::MmapFile;
use weightmap_tests::{describe, first_difference, reference_python, run_script};

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
        let gguf = Gguf::parse(MmapFile::open(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut ours = describe(&gguf);
        ours["file"] = path.display().to_string().into();
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
