//! The page-cache helpers behind compare-parse's "page cache" lines and the `cache_state`
//! example: a file evicted and read back each way reads the same bytes, and (as root, where
//! `/proc/kpageflags` can be read) every page of a range is counted once, in no more folios
//! than pages.
#![cfg(target_os = "linux")]

use std::io::Write;

use weightmap_tests::page_cache::{evict, folios, reread, Reread};

#[test]
fn files_read_back_every_way_keep_their_bytes_and_their_folios_are_counted() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("eight-mib.bin");
    let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_all().unwrap();

    // A range ending inside a page counts that page.
    let len: usize = (6 << 20) + 100;
    let pages = len.div_ceil(weightmap_native::page_size()) as u64;
    let mut counted = 0;
    for how in [
        None,
        Some(Reread::Mapped(len)),
        Some(Reread::Read),
        Some(Reread::Mapped(len)),
    ] {
        if let Some(how) = how {
            reread(&path, how).unwrap();
        }
        match folios(&path, len) {
            Ok(f) => {
                assert_eq!(f.pages, pages, "{how:?}: {f}");
                assert!(f.folios >= 1 && f.folios <= f.pages, "{how:?}: {f}");
                assert!(f.largest >= 1 && f.largest <= f.pages, "{how:?}: {f}");
                counted += 1;
            }
            Err(e) => println!("folios not counted: {e}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{how:?}");
    }
    println!("counted folios {counted} times of 4");
    evict(&path).unwrap();
    assert!(evict(&dir.path().join("missing")).is_err());
}
