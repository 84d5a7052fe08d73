//! The zero-copy open asks for the header's pages in transparent huge pages: a header read
//! from the disk then lands in the page cache in 2 MiB folios, which this and every later
//! mapping of the file maps with huge-page table entries (one fault, one unmap per 2 MiB).
//! The prefaulting helper thread starts only where the header is cached in small pages.
//!
//! Both depend on the kernel and the file system (large folios in the page cache, transparent
//! huge pages not disabled): where a mapping advised by hand shows no huge page, the tests
//! say so and skip those checks.
// These tests read /proc/self/smaps and use Linux semantics of madvise and posix_fadvise.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;

use weightmap_native::{MmapConfig, MmapFile, ModelSource, SourceConfig};

use common::{rerun_as_child, scratch, smaps_of, write_model, Captured};

const HUGE_PAGE: u64 = 2 << 20;

/// The bytes of `path`'s mappings that huge-page table entries map.
fn pmd_mapped(path: &Path) -> u64 {
    smaps_of(path).iter().map(|v| v.pmd_mapped).sum()
}

/// Drops the file's pages from the page cache, so that the next open reads it from the disk.
fn evict(path: &Path) {
    MmapFile::open_untrusted(path)
        .unwrap()
        .evict_page_cache()
        .unwrap();
}

/// Reads one byte per page of `bytes[..len]` by plain page faults (`MmapFile::touch` would
/// advise `MADV_WILLNEED` first, which reads ahead in small pages).
fn fault_in(bytes: &[u8], len: usize) {
    let sum = bytes
        .iter()
        .take(len)
        .step_by(4096)
        .fold(0u8, |a, &b| a.wrapping_add(b));
    std::hint::black_box(sum);
}

/// Evicts `path`, maps it advised `MADV_HUGEPAGE` and reads its first 4 MiB: whether this
/// kernel and file system then map the file's first 2 MiB as a huge page (as the zero-copy
/// open expects to).
fn huge_pages_by_hand(path: &Path) -> bool {
    evict(path);
    let file = MmapFile::open_untrusted_with(path, &MmapConfig::hugepages()).unwrap();
    fault_in(file.as_slice(), 4 << 20);
    let huge = first_huge_page_mapped(path);
    drop(file);
    evict(path);
    huge
}

/// Whether the mapping of `path` that starts at the file's start maps its first 2 MiB with a
/// huge-page table entry.
fn first_huge_page_mapped(path: &Path) -> bool {
    smaps_of(path)
        .iter()
        .any(|v| v.offset == 0 && v.pmd_mapped >= HUGE_PAGE)
}

#[test]
fn a_cold_header_is_read_into_huge_pages_and_only_the_header_is_advised() {
    let dir = scratch();
    // A header of about 4.5 MiB, then 24 MiB of tensor data.
    let path = write_model(dir.path(), "cold.gguf", 24 << 20, 130_000);
    let header = ModelSource::open(&path).unwrap().data_offset();
    assert!(header > 4 << 20, "header of {header} bytes");
    let huge = huge_pages_by_hand(&path);

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
        // The advice covers the header, from the file's start, and ends a few MiB past it
        // (as far as the parser and its helper may read ahead): not over the tensor data.
        assert_eq!(advised.first().map(|v| v.offset), Some(0), "{vmas:?}");
        let advised_end = advised.iter().map(|v| v.offset + v.len).max().unwrap();
        assert!(advised_end >= header, "{vmas:?}");
        assert!(advised_end <= header + (6 << 20), "{vmas:?}");
        assert!(vmas.iter().any(|v| !v.huge_advised), "{vmas:?}");
        if !huge {
            println!("skipped (huge pages): this file system or kernel caches no file in them");
            continue;
        }
        // The header came from the disk in huge pages and is mapped as such, and a second
        // open of the now cached header maps them so too.
        assert!(first_huge_page_mapped(&path), "{vmas:?}");
        drop(gguf);
        // SAFETY: as above.
        let again = unsafe { ModelSource::open_trusted_with(&path, &config) }.unwrap();
        assert!(first_huge_page_mapped(&path), "{:?}", smaps_of(&path));
        assert_eq!(again.data_offset(), header);
    }
}

/// Runs in a child process of its own: tracing caches per-callsite interest globally, and
/// the other test's opens on a parallel thread would race with a thread-local subscriber.
#[test]
fn the_prefault_helper_runs_only_for_a_header_cached_in_small_pages() {
    const CHILD: &str = "WEIGHTMAP_HELPER_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let name = "the_prefault_helper_runs_only_for_a_header_cached_in_small_pages";
        let (status, out) = rerun_as_child(name, &[(CHILD, "1")], |_| {}).unwrap();
        assert!(status.success() && out.contains("checked: helper"), "{out}");
        return;
    }
    let dir = scratch();
    let path = write_model(dir.path(), "helper.gguf", 1 << 20, 130_000);
    // Whether the open started its helper thread.
    let helper = || {
        let (events, ()) = Captured::debug_events(|| {
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
    fault_in(plain.as_slice(), 5 << 20);
    let small = pmd_mapped(&path) == 0;
    drop(plain);
    if small {
        assert!(
            helper(),
            "4 KiB pages: the helper takes faults off the parser"
        );
    } else {
        println!("skipped (small pages): the page cache did not hold the file in small pages");
    }

    // Huge pages, where the platform has them: read cold by the zero-copy open itself.
    evict(&path);
    // SAFETY: as above.
    drop(unsafe { ModelSource::open_trusted(&path) }.unwrap());
    // SAFETY: as above.
    let cached = unsafe { ModelSource::open_trusted(&path) }.unwrap();
    let huge = first_huge_page_mapped(&path);
    drop(cached);
    if huge {
        assert!(!helper(), "2 MiB folios: the parser faults them in alone");
    } else {
        println!("skipped (huge pages): this file system or kernel caches no file in them");
    }
    println!("checked: helper");
}
