//! Residency, page faults, release, prefetch and page-cache sharing, measured on real files
//! through the real kernel.
// One-range slices are how the API is called.
#![allow(clippy::single_range_in_vec_init)]
// These tests read /proc and use Linux semantics of mmap, mincore and madvise.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;

use weightmap_native::{resident_set_size, MmapConfig, MmapFile, PageFaults};

use common::{pattern_byte, rerun_as_child, scratch, write_patterned};

fn page() -> usize {
    weightmap_native::page_size()
}

/// A file whose pages are on disk but not in the page cache.
fn cold_file(dir: &std::path::Path, name: &str, len: usize, config: &MmapConfig) -> MmapFile {
    let path = write_patterned(dir, name, len);
    MmapFile::open_untrusted(&path)
        .unwrap()
        .evict_page_cache()
        .unwrap();
    let file = MmapFile::open_untrusted_with(&path, config).unwrap();
    let r = file.residency().unwrap();
    assert_eq!(
        (r.cached, r.mapped),
        (0, Some(0)),
        "eviction left pages behind: {r:?}"
    );
    file
}

#[test]
fn residency_grows_only_for_the_pages_touched() {
    let _serial = common::serial();
    let dir = scratch();
    // MADV_RANDOM: no read-ahead, so exactly the touched pages are read.
    let file = cold_file(dir.path(), "cold.bin", 256 * page(), &MmapConfig::random());
    let touched = [3usize, 17, 18, 200];
    let (_, faults) = PageFaults::measure(|| {
        for p in touched {
            assert_eq!(
                file.as_slice()[p * page() + 7],
                pattern_byte(p * page() + 7)
            );
        }
    });
    let r = file.residency().unwrap();
    assert_eq!(r.cached, 4, "{r:?}");
    assert_eq!(r.mapped, Some(4), "{r:?}");
    assert!(faults.major >= 4, "{faults:?}");
    // Per range, like per tensor.
    assert_eq!(
        file.residency_of(17 * page()..19 * page()).unwrap().cached,
        2
    );
    assert_eq!(
        file.residency_of(100 * page()..150 * page())
            .unwrap()
            .cached,
        0
    );
    let tensor = file
        .residency_of(3 * page() + 100..4 * page() + 100)
        .unwrap();
    assert_eq!((tensor.pages, tensor.cached), (2, 1));
    assert_eq!(tensor.cached_bytes(), page() as u64);
    assert!((tensor.cached_fraction() - 0.5).abs() < 1e-9);
}

#[test]
fn release_drops_the_process_pages_and_rss_but_keeps_the_page_cache() {
    let _serial = common::serial();
    let dir = scratch();
    let len = 64 << 20;
    let path = write_patterned(dir.path(), "release.bin", len);
    let file = MmapFile::open_untrusted(&path).unwrap();
    let rss_before = resident_set_size().unwrap();
    let report = file.touch(&[0..len], |_, _| {}).unwrap();
    assert_eq!(report.bytes, len as u64);
    let rss_touched = resident_set_size().unwrap();
    assert!(
        rss_touched >= rss_before + (len as u64) * 9 / 10,
        "{rss_before} -> {rss_touched}"
    );
    assert_eq!(
        file.residency().unwrap().mapped,
        Some((len / page()) as u64)
    );

    file.release_cpu_pages().unwrap();
    let rss_released = resident_set_size().unwrap();
    let r = file.residency().unwrap();
    assert_eq!(r.mapped, Some(0), "{r:?}");
    assert_eq!(
        r.cached, r.pages,
        "release must not evict the page cache: {r:?}"
    );
    // Other threads of the test harness allocate too; allow them 4 MiB.
    assert!(
        rss_released <= rss_before + (4 << 20),
        "{rss_before} -> {rss_released}"
    );

    // Re-reading is a minor fault each (page cache), not a disk read.
    let (_, faults) = PageFaults::measure(|| file.touch(&[0..len], |_, _| {}).unwrap());
    assert_eq!(faults.major, 0, "{faults:?}");
    assert!(faults.minor > 0);
}

#[test]
fn evict_page_cache_makes_the_next_read_come_from_disk() {
    let _serial = common::serial();
    let dir = scratch();
    let file = cold_file(dir.path(), "evict.bin", 4 << 20, &MmapConfig::default());
    // Plain reads, without the read-ahead advice `touch` gives, wait for the disk.
    let read_all = || {
        let sum: u64 = file
            .as_slice()
            .iter()
            .step_by(page())
            .map(|&b| u64::from(b))
            .sum();
        std::hint::black_box(sum)
    };
    let (_, faults) = PageFaults::measure(read_all);
    assert!(faults.major > 0, "{faults:?}");
    assert_eq!(file.residency().unwrap().cached, 1024);
    file.evict_page_cache().unwrap();
    assert_eq!(file.residency().unwrap().cached, 0);
    let (_, faults) = PageFaults::measure(read_all);
    assert!(faults.major > 0, "{faults:?}");
}

#[test]
fn touch_reports_progress_and_prefetch_runs_in_the_background() {
    let _serial = common::serial();
    let dir = scratch();
    let len = 24 << 20;
    let path = write_patterned(dir.path(), "prefetch.bin", len);
    let file = Arc::new(MmapFile::open_untrusted(&path).unwrap());
    file.evict_page_cache().unwrap();
    let mut seen = Vec::new();
    let report = file
        .touch(&[0..page() + 1, 8 << 20..len], |done, total| {
            seen.push((done, total))
        })
        .unwrap();
    let total = (2 * page() + (16 << 20)) as u64;
    assert_eq!(report.bytes, total);
    assert_eq!(report.pages, total / page() as u64);
    assert!(!report.cancelled);
    assert_eq!(seen.last(), Some(&(total, total)));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert_eq!(
        file.residency_of(8 << 20..len).unwrap().cached,
        (16 << 20) as u64 / page() as u64
    );

    file.release_cpu_pages().unwrap();
    file.evict_page_cache().unwrap();
    let warming = file.prefetch(&[0..len]).unwrap();
    let report = warming.wait();
    assert_eq!(report.bytes, len as u64);
    let r = file.residency().unwrap();
    assert_eq!(r.cached, r.pages, "{r:?}");

    // Cancelled before it starts: stops at the first step.
    let warming = file.prefetch(&[0..len]).unwrap();
    warming.cancel();
    let (done, total) = warming.progress();
    assert!(done <= total && total == len as u64);
    let report = warming.wait();
    assert!(report.bytes < len as u64 || !report.cancelled);
    assert!(file.prefetch(&[0..len + 1]).is_err());
}

#[test]
fn two_processes_mapping_one_file_share_its_page_cache_pages() {
    let _serial = common::serial();
    const CHILD: &str = "WEIGHTMAP_SHARED_CHILD";
    if let Ok(path) = std::env::var(CHILD) {
        // Child: map the file the parent has mapped and touched; count disk reads and the pages
        // the kernel reports as shared with another process.
        let file = MmapFile::open_untrusted(&path).unwrap();
        let (report, faults) = PageFaults::measure(|| file.touch(&[0..file.size()], |_, _| {}));
        report.unwrap();
        let addr = format!("{:x}-", file.as_slice().as_ptr() as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let block = smaps.split_once(&addr).unwrap().1;
        let shared_kb: u64 = block
            .lines()
            .find_map(|l| l.strip_prefix("Shared_Clean:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        println!("child: major={} shared_kb={shared_kb}", faults.major);
        return;
    }
    let dir = scratch();
    let len = 16 << 20;
    let path = write_patterned(dir.path(), "shared.bin", len);
    let file = MmapFile::open_untrusted(&path).unwrap();
    file.touch(&[0..len], |_, _| {}).unwrap();
    let (status, out) = rerun_as_child(
        "two_processes_mapping_one_file_share_its_page_cache_pages",
        &[(CHILD, path.to_str().unwrap())],
        |_| {},
    )
    .unwrap();
    assert!(status.success(), "{out}");
    let line = out
        .lines()
        .find_map(|l| l.split_once("child: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("{out}"));
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    assert_eq!(field("major="), 0, "the child read from disk: {line}");
    // Every page the child mapped is also mapped here.
    assert!(
        field("shared_kb=") >= (len as u64 / 1024) * 9 / 10,
        "{line}"
    );
    drop(file);
}
