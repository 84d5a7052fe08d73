//! The page-cache helpers behind compare-parse's "page cache" lines and the `cache_state`
//! example: every page of the range is counted once, folios never outnumber pages, and a file
//! evicted and read back is still read correctly.
#![cfg(target_os = "linux")]

use std::io::Write;

use weightmap_tests::page_cache::{evict, folios, reread, Reread};

#[test]
fn folios_cover_every_page_whichever_way_the_file_is_read_back() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("eight-mib.bin");
    let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_all().unwrap();

    // A range ending inside a page counts that page.
    let len = (6 << 20) + 100;
    for how in [None, Some(Reread::Mapped(len)), Some(Reread::Read)] {
        if let Some(how) = how {
            reread(&path, how).unwrap();
        }
        let f = match folios(&path, len) {
            Ok(f) => f,
            Err(e) => {
                println!("skipped: {e}");
                return;
            }
        };
        assert_eq!(f.pages, 1537, "{how:?}: {f}");
        assert!(f.folios >= 1 && f.folios <= f.pages, "{how:?}: {f}");
        assert!(
            f.largest >= 1 && f.largest * f.folios >= f.pages,
            "{how:?}: {f}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{how:?}");
    }
    evict(&path).unwrap();
    assert!(evict(&dir.path().join("missing")).is_err());
}
