//! `MmapFile` on real files: the mapping in /proc/self/maps, ranges and their errors, files past
//! 4 GiB and past RAM (sparse), the configuration, and the tracing events.
// Reversed ranges are hostile input here; one-range slices are how the API is called.
#![allow(clippy::reversed_empty_ranges, clippy::single_range_in_vec_init)]
// These tests read /proc and use Linux semantics of mmap, mincore and madvise.
#![cfg(target_os = "linux")]

mod common;

use weightmap_native::{
    Advice, Backing, Error, FileKind, HugePages, MmapConfig, MmapFile, ModelData, Rounding,
};

use common::{maps_lines, pattern_byte, scratch, write_patterned};

#[test]
fn mapping_appears_in_proc_maps_while_open_and_not_after_drop() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "mapped.bin", 3 * 4096 + 17);
    assert!(maps_lines(&path).is_empty());
    let file = MmapFile::open_untrusted(&path).unwrap();
    let lines = maps_lines(&path);
    assert_eq!(lines.len(), 1, "{lines:?}");
    // Read-only and private: "r--p".
    assert!(
        lines[0].split_whitespace().nth(1) == Some("r--p"),
        "{}",
        lines[0]
    );
    let start = usize::from_str_radix(lines[0].split('-').next().unwrap(), 16).unwrap();
    assert_eq!(start, file.as_slice().as_ptr() as usize);
    drop(file);
    assert!(maps_lines(&path).is_empty());
}

#[test]
fn bytes_and_ranges_match_the_file() {
    let dir = scratch();
    let len = 100_000;
    let path = write_patterned(dir.path(), "r.bin", len);
    let file = MmapFile::open_untrusted(&path).unwrap();
    assert_eq!(file.size(), len);
    assert_eq!(ModelData::len(&file), len);
    assert!(!file.is_empty());
    assert_eq!(file.backing(), Backing::Mmap);
    assert!(file
        .bytes()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i)));
    let r = file.range(4095..4100).unwrap();
    assert_eq!(r, &(4095..4100).map(pattern_byte).collect::<Vec<_>>()[..]);
    assert_eq!(file.range(len..len).unwrap(), b"");
    assert_eq!(
        file.get_tensor_data(10, 5).unwrap(),
        file.range(10..15).unwrap()
    );
    let parts = file.multi_range(&[50_000..50_002, 0..1, 7..7]).unwrap();
    assert_eq!(
        parts,
        [
            file.range(50_000..50_002).unwrap(),
            &[pattern_byte(0)][..],
            b""
        ]
    );
}

#[test]
fn invalid_ranges_name_the_range_the_size_and_the_path() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "small.bin", 1000);
    let file = MmapFile::open_untrusted(&path).unwrap();
    for (range, shown) in [
        (999..1001, "999..1001"),
        (5..4, "5..4"),
        (1001..1001, "1001..1001"),
        (0..usize::MAX, "0..18446744073709551615"),
    ] {
        let e = file.range(range.clone()).unwrap_err();
        assert!(matches!(e, Error::InvalidRange { size: 1000, .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(shown) && msg.contains("1000 bytes") && msg.contains("small.bin"),
            "{msg}"
        );
    }
    let e = file.get_tensor_data(u64::MAX, 2).unwrap_err();
    assert!(matches!(e, Error::InvalidRange { .. }), "{e:?}");
    assert!(e.to_string().contains(&u64::MAX.to_string()), "{e}");
    let e = file.multi_range(&[0..10, 990..1010]).unwrap_err();
    assert!(e.to_string().contains("990..1010"), "{e}");
    for e in [
        file.try_advise(0..2000, Advice::Random).unwrap_err(),
        file.try_release(3..2).unwrap_err(),
        file.residency_of(0..1001).unwrap_err(),
        file.touch(&[0..1, 0..1001], |_, _| {}).unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidRange { .. }), "{e:?}");
    }
}

#[test]
fn missing_directory_and_special_files_get_their_error_kinds() {
    let dir = scratch();
    let missing = dir.path().join("nope.gguf");
    let e = MmapFile::open_untrusted(&missing).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e:?}");
    assert_eq!(e.path(), missing);
    assert!(e.to_string().contains("nope.gguf: file not found"), "{e}");

    let e = MmapFile::open_untrusted(dir.path()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotAFile {
                kind: FileKind::Directory,
                ..
            }
        ),
        "{e:?}"
    );

    #[cfg(unix)]
    {
        let e = MmapFile::open_untrusted("/dev/null").unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotAFile {
                    kind: FileKind::CharDevice,
                    ..
                }
            ),
            "{e:?}"
        );
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Must not block waiting for a writer.
        let e = MmapFile::open_untrusted(&fifo).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotAFile {
                    kind: FileKind::Fifo,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .ends_with("/fifo: not a regular file (a FIFO)"),
            "{e}"
        );
    }
}

#[test]
fn empty_files_have_no_mapping_and_no_bytes() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "empty", 0);
    let file = MmapFile::open_untrusted_with(
        &path,
        &MmapConfig {
            lock: true,
            ..MmapConfig::populate()
        },
    )
    .unwrap();
    assert!(file.is_empty());
    assert_eq!(file.bytes(), b"");
    assert_eq!(file.range(0..0).unwrap(), b"");
    assert!(file.range(0..1).is_err());
    assert_eq!(file.try_release(0..0).unwrap(), 0..0);
    assert_eq!(file.residency().unwrap().pages, 0);
    assert!(maps_lines(&path).is_empty());
}

/// Sparse files: the size is real, the blocks are not, so opening must not read them.
fn sparse_file_maps_in_constant_time(size: u64) {
    let dir = scratch();
    let path = dir.path().join("sparse.bin");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(size).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"tail", size - 4).unwrap();
    f.write_all_at(b"GGUF", 0).unwrap();
    drop(f);
    let file = MmapFile::open_untrusted(&path).unwrap();
    assert_eq!(file.size() as u64, size);
    assert_eq!(file.range(0..4).unwrap(), b"GGUF");
    let end = size as usize;
    assert_eq!(file.range(end - 4..end).unwrap(), b"tail");
    // A hole in the middle reads as zeros; the offset is past 4 GiB.
    let mid = (size / 2) as usize;
    assert_eq!(file.get_tensor_data(mid as u64, 3).unwrap(), [0, 0, 0]);
    let residency = file.residency().unwrap();
    assert_eq!(residency.pages, size.div_ceil(residency.page_size as u64));
    // Only the few pages touched (plus read-around) are in the process.
    assert!(residency.mapped.unwrap() < 1024, "{residency:?}");
    assert!(file.range(end - 4..end + 1).is_err());
}

#[test]
fn sparse_6_gib_file_maps_past_4_gib() {
    sparse_file_maps_in_constant_time(6 << 30);
}

#[test]
fn sparse_64_gib_file_maps_past_ram() {
    sparse_file_maps_in_constant_time(64 << 30);
}

#[test]
fn populate_faults_every_page_in_at_open() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "pop.bin", 8 << 20);
    let cold = MmapFile::open_untrusted(&path).unwrap();
    cold.evict_page_cache().unwrap();
    let file = MmapFile::open_untrusted_with(&path, &MmapConfig::populate()).unwrap();
    assert!(file.config().populate);
    let r = file.residency().unwrap();
    assert_eq!(r.mapped, Some(r.pages), "{r:?}");
    assert_eq!(r.cached, r.pages, "{r:?}");
}

#[test]
fn lock_pins_pages_and_unlock_releases_them() {
    let _serial = common::serial();
    let dir = scratch();
    let path = write_patterned(dir.path(), "lock.bin", 1 << 20);
    let before = common::status_kb("VmLck");
    let file = MmapFile::open_untrusted_with(
        &path,
        &MmapConfig {
            lock: true,
            ..MmapConfig::default()
        },
    )
    .unwrap();
    assert!(common::status_kb("VmLck") >= before + 1024);
    let r = file.residency().unwrap();
    assert_eq!(r.mapped, Some(r.pages));
    // Releasing part of a locked mapping unlocks and drops just that part.
    let half = file.size() / 2;
    file.try_release(0..half).unwrap();
    assert_eq!(file.residency().unwrap().mapped, Some(r.pages / 2));
    assert!(common::status_kb("VmLck") >= before + 512);
    assert!(common::status_kb("VmLck") < before + 1024);
    file.unlock().unwrap();
    drop(file);
    assert!(common::status_kb("VmLck") <= before);
}

#[test]
fn configurations_apply_their_advice() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "cfg.bin", 1 << 20);
    assert_eq!(MmapConfig::sequential().advice, Advice::Sequential);
    assert_eq!(MmapConfig::random().advice, Advice::Random);
    for config in [
        MmapConfig::sequential(),
        MmapConfig::random(),
        MmapConfig {
            will_need: true,
            ..MmapConfig::default()
        },
    ] {
        let file = MmapFile::open_untrusted_with(&path, &config).unwrap();
        assert_eq!(file.config(), &config);
        assert_eq!(file.huge_pages(), &HugePages::NotRequested);
        // /proc/self/smaps lists the advice as VmFlags: sr (sequential read), rr (random read).
        let flag = match config.advice {
            Advice::Sequential => Some("sr"),
            Advice::Random => Some("rr"),
            _ => None,
        };
        if let Some(flag) = flag {
            assert!(
                vm_flags(&file).contains(&flag.to_string()),
                "{:?}",
                vm_flags(&file)
            );
        }
    }
    let file = MmapFile::open_untrusted_with(&path, &MmapConfig::hugepages()).unwrap();
    match file.huge_pages() {
        HugePages::Advised => assert!(vm_flags(&file).contains(&"hg".to_string())),
        HugePages::Refused { reason } => assert!(!reason.is_empty()),
        HugePages::NotRequested => panic!("huge pages were requested"),
    }
}

/// The VmFlags of the mapping of `file`, from /proc/self/smaps.
fn vm_flags(file: &MmapFile) -> Vec<String> {
    let addr = format!("{:x}-", file.as_slice().as_ptr() as usize);
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let block = smaps.split_once(&addr).unwrap().1;
    let line = block.lines().find(|l| l.starts_with("VmFlags:")).unwrap();
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

#[test]
fn release_rounding_is_visible_in_the_process() {
    let dir = scratch();
    let page = weightmap_native::page_size();
    let path = write_patterned(dir.path(), "round.bin", 64 * page);
    let file = MmapFile::open_untrusted(&path).unwrap();
    file.touch(&[0..file.size()], |_, _| {}).unwrap();
    let all = file.residency().unwrap();
    assert_eq!(all.mapped, Some(64));
    // Inward: bytes 1..(10 pages + 1) hold 9 whole pages (1..10).
    let released = file.try_release(1..10 * page + 1).unwrap();
    assert_eq!(released, page..10 * page);
    assert_eq!(file.residency().unwrap().mapped, Some(55));
    assert_eq!(file.residency_of(0..page).unwrap().mapped, Some(1));
    assert_eq!(
        file.residency_of(10 * page..11 * page).unwrap().mapped,
        Some(1)
    );
    // Outward drops the partial pages too.
    let released = file
        .try_release_rounded(20 * page + 5..21 * page + 5, Rounding::Outward)
        .unwrap();
    assert_eq!(released, 20 * page..22 * page);
    assert_eq!(file.residency().unwrap().mapped, Some(53));
    // The bytes are still there, read back from the page cache.
    assert!(file
        .bytes()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i)));
}

/// Runs in a child process of its own: tracing caches per-callsite interest globally, and
/// other tests mapping files on parallel threads race with a thread-local subscriber.
#[test]
fn map_unmap_advise_release_and_lock_are_traced_at_debug() {
    const CHILD: &str = "WEIGHTMAP_TRACING_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let name = "map_unmap_advise_release_and_lock_are_traced_at_debug";
        let (status, out) = common::rerun_as_child(name, &[(CHILD, "1")], |_| {}).unwrap();
        assert!(status.success() && out.contains("checked: traced"), "{out}");
        return;
    }
    let dir = scratch();
    let path = write_patterned(dir.path(), "traced.bin", 1 << 16);
    let (log, addr) = common::Captured::debug_events(|| {
        let file = MmapFile::open_untrusted_with(&path, &MmapConfig::random()).unwrap();
        file.try_release(0..file.size()).unwrap();
        file.lock().unwrap();
        file.as_slice().as_ptr() as usize
    });
    let addr = format!("{addr:#x}");
    for event in [
        "mapped",
        "advise",
        "release (MADV_DONTNEED)",
        "mlock",
        "unmapped",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!(" {event}")))
            .unwrap_or_else(|| panic!("no {event:?} event in:\n{log}"));
        assert!(
            line.contains("DEBUG") && line.contains("traced.bin"),
            "{line}"
        );
        assert!(
            line.contains(&addr),
            "{event} without the address {addr}: {line}"
        );
        assert!(
            line.contains("size=65536") || line.contains("len=65536"),
            "{line}"
        );
    }
    assert!(log.contains("MADV_RANDOM"), "{log}");
    println!("checked: traced");
}

/// With the address space limited (`ulimit -v`), mapping a 64 GiB file fails with the OS error.
#[test]
fn a_refused_mapping_is_map_failed_with_the_os_error() {
    const CHILD: &str = "WEIGHTMAP_MAP_FAILED_FILE";
    if let Ok(path) = std::env::var(CHILD) {
        let e = MmapFile::open_untrusted(&path).unwrap_err();
        assert!(
            matches!(&e, Error::MapFailed { size, .. } if *size == 64 << 30),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("mmap of 68719476736 bytes failed") && msg.contains("os error 12"),
            "{msg}"
        );
        println!("checked: {msg}");
        return;
    }
    let dir = scratch();
    let path = dir.path().join("huge.bin");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let name = "a_refused_mapping_is_map_failed_with_the_os_error";
    // 4 GiB of address space is plenty for the test binary and too little for the mapping.
    let script =
        format!("ulimit -v 4194304 && exec \"$0\" --exact {name} --nocapture --test-threads=1");
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .arg(&exe)
        .env(CHILD, &path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("checked: "), "{text}");
}

#[test]
fn map_whole_maps_the_same_file_from_its_first_byte_even_after_a_rename_over_it() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "model.bin", 5 * 4096 + 9);
    let original = std::fs::read(&path).unwrap();
    let config = MmapConfig::guarded();
    let first = MmapFile::open_untrusted_with(&path, &config).unwrap();
    // Another file renamed over the path: the second mapping still shows the first inode.
    let other = dir.path().join("other.bin");
    std::fs::write(&other, b"something else entirely").unwrap();
    std::fs::rename(&other, &path).unwrap();
    let whole = first.map_whole().unwrap();
    assert_eq!(whole.offset(), 0);
    assert_eq!(whole.as_slice(), &original[..]);
    assert!(whole.is_guarded() && !whole.is_trusted());
    assert_eq!(whole.as_slice()[4096], pattern_byte(4096));
}
