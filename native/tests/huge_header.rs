//! The zero-copy open asks for the header's pages in transparent huge pages: a header read
//! from the disk then lands in the page cache in 2 MiB folios, which this and every later
//! mapping of the file maps with huge-page table entries (one fault, one unmap per 2 MiB).
//! The prefaulting helper thread starts only where the header is cached in small pages.
// These tests read /proc/self/smaps and use Linux semantics of madvise and posix_fadvise.
#![cfg(target_os = "linux")]

mod common;

use weightmap_native::{MmapConfig, MmapFile, ModelSource, SourceConfig};

use common::{scratch, smaps_of, write_model};

/// The bytes of `path`'s mappings that huge-page table entries map.
fn pmd_mapped(path: &std::path::Path) -> u64 {
    smaps_of(path).iter().map(|v| v.pmd_mapped).sum()
}

/// Drops the file's pages from the page cache, so that the next open reads it from the disk.
fn evict(path: &std::path::Path) {
    MmapFile::open_untrusted(path)
        .unwrap()
        .evict_page_cache()
        .unwrap();
}

#[test]
fn a_cold_header_is_read_into_huge_pages_and_only_the_header_is_advised() {
    let dir = scratch();
    // A header of about 4.5 MiB, then 24 MiB of tensor data.
    let path = write_model(dir.path(), "cold.gguf", 24 << 20, 130_000);
    let header = ModelSource::open(&path).unwrap().data_offset();
    assert!(header > 4 << 20, "header of {header} bytes");

    // Whether this kernel and filesystem cache a file in huge pages at all: the same advice,
    // given by hand on a plain mapping.
    evict(&path);
    if !advised_by_hand_is_huge(&path) {
        println!("skipped: this filesystem or kernel caches no file in huge pages");
        return;
    }

    for huge_header in [false, true] {
        evict(&path);
        let config = SourceConfig {
            huge_header,
            ..SourceConfig::default()
        };
        // SAFETY: nothing modifies this test's file while it is mapped.
        let gguf = unsafe { ModelSource::open_trusted_with(&path, &config) }.unwrap();
        assert_eq!(gguf.data_offset(), header);
        let vmas = smaps_of(&path);
        let advised: Vec<_> = vmas.iter().filter(|v| v.huge_advised).collect();
        if !huge_header {
            assert!(advised.is_empty(), "{vmas:?}");
            continue;
        }
        // The header's range is advised, rounded to whole huge pages, and little past it: not
        // the tensor data beyond.
        let advised_end = advised.iter().map(|v| v.offset + v.len).max().unwrap();
        assert!(advised_end >= header, "{vmas:?}");
        assert!(advised_end <= header + (6 << 20), "{vmas:?}");
        assert!(vmas.iter().any(|v| !v.huge_advised), "{vmas:?}");
        // The header's first 4 MiB came from the disk in huge pages and are mapped as such.
        assert!(pmd_mapped(&path) >= 4 << 20, "{vmas:?}");
        // And a second open of the now cached header maps them so too.
        drop(gguf);
        // SAFETY: as above.
        let again = unsafe { ModelSource::open_trusted_with(&path, &config) }.unwrap();
        assert!(pmd_mapped(&path) >= 4 << 20, "{:?}", smaps_of(&path));
        assert_eq!(
            again.data().as_slice().len(),
            std::fs::metadata(&path).unwrap().len() as usize
        );
    }
}

/// Maps `path` plainly, advises `MADV_HUGEPAGE` over its first 4 MiB, reads one byte per page
/// of them, and says whether any of them are mapped as huge pages.
fn advised_by_hand_is_huge(path: &std::path::Path) -> bool {
    let file = std::fs::File::open(path).unwrap();
    // SAFETY: nothing modifies this test's file while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    map.advise_range(memmap2::Advice::HugePage, 0, 4 << 20)
        .unwrap();
    let sum = map
        .iter()
        .take(4 << 20)
        .step_by(4096)
        .fold(0u8, |a, &b| a.wrapping_add(b));
    std::hint::black_box(sum);
    pmd_mapped(path) > 0
}

/// The DEBUG events weightmap emits on this thread while `f` runs, as text.
fn debug_events(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let text = buf.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}

#[test]
fn the_prefault_helper_runs_only_for_a_header_cached_in_small_pages() {
    let dir = scratch();
    let path = write_model(dir.path(), "helper.gguf", 1 << 20, 130_000);
    let open = || {
        let events = debug_events(|| {
            // SAFETY: nothing modifies this test's file while it is mapped.
            drop(unsafe { ModelSource::open_trusted(&path) }.unwrap());
        });
        let line = events
            .lines()
            .find(|l| l.contains("parsing a trusted header in place"))
            .unwrap_or_else(|| panic!("no event in {events}"))
            .to_owned();
        line.contains("helper=true")
    };

    // Small pages: evicted, then read back a page at a time through a mapping advised
    // MADV_RANDOM, which reads no more than the page asked for.
    evict(&path);
    let plain = MmapFile::open_untrusted_with(&path, &MmapConfig::random()).unwrap();
    let header = plain.as_slice().len().min(5 << 20);
    let sum = (0..header)
        .step_by(4096)
        .fold(0u8, |a, i| a.wrapping_add(plain.as_slice()[i]));
    std::hint::black_box(sum);
    drop(plain);
    assert!(
        open(),
        "4 KiB pages: the helper takes faults off the parser"
    );

    // Huge pages, where the platform has them: read cold by the zero-copy open itself.
    evict(&path);
    // SAFETY: as above.
    drop(unsafe { ModelSource::open_trusted(&path) }.unwrap());
    // SAFETY: as above.
    let cached = unsafe { ModelSource::open_trusted(&path) }.unwrap();
    let huge = pmd_mapped(&path) > 0;
    drop(cached);
    if huge {
        assert!(!open(), "2 MiB folios: the parser faults them in alone");
    } else {
        println!("skipped (huge pages): this filesystem or kernel caches no file in huge pages");
    }
}
