//! `ModelSource`: mapped by default, heap for small files, pipes, /proc files and on request;
//! the seed's names; permission errors checked in a dropped-privilege child.
// These tests read /proc and use Linux semantics of mmap, mincore and madvise.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;

use weightmap_core::Gguf;
use weightmap_native::{
    Backing, Error, HeapReason, MmapConfig, MmapFile, ModelData, ModelSource, SourceConfig,
    MIN_MMAP_SIZE,
};

use common::{pattern_byte, rerun_as_child, scratch, write_patterned};

#[test]
fn large_files_are_mapped_and_small_ones_read() {
    let dir = scratch();
    let big = write_patterned(dir.path(), "big.bin", MIN_MMAP_SIZE as usize);
    let source = ModelSource::open(&big).unwrap();
    assert!(source.is_mmap());
    assert_eq!(source.backing(), Backing::Mmap);
    assert_eq!(source.heap_reason(), None);
    assert!(source.as_mmap().is_some());
    assert_eq!(source.path(), Some(big.as_path()));
    assert_eq!(common::maps_lines(&big).len(), 1);

    let small = write_patterned(dir.path(), "small.bin", MIN_MMAP_SIZE as usize - 1);
    let source = ModelSource::open(&small).unwrap();
    assert!(!source.is_mmap());
    assert_eq!(source.backing(), Backing::Memory);
    assert_eq!(source.heap_reason(), Some(HeapReason::Small));
    assert!(common::maps_lines(&small).is_empty());
    assert!(source
        .as_slice()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i)));
    // Hints are no-ops on the heap.
    source.release_cpu_pages().unwrap();
    source.advise_sequential().unwrap();
    ModelData::release(&source, 0..10);
    assert_eq!(source.as_slice()[5], pattern_byte(5));

    let forced = ModelSource::open_with(&big, &SourceConfig::no_mmap()).unwrap();
    assert_eq!(forced.heap_reason(), Some(HeapReason::Requested));
    assert_eq!(forced.as_slice().len(), MIN_MMAP_SIZE as usize);

    let low = SourceConfig {
        min_mmap_size: 0,
        ..SourceConfig::default()
    };
    assert!(ModelSource::open_with(&small, &low).unwrap().is_mmap());
    let seeded = ModelSource::open_mmap(&small).unwrap();
    assert!(seeded.is_mmap());
}

#[test]
fn seed_names_work_on_both_backings() {
    let dir = scratch();
    let bytes = weightmap_core::testing::sample_file();
    let path = dir.path().join("sample.gguf");
    std::fs::write(&path, &bytes).unwrap();
    for source in [
        ModelSource::from_vec(bytes.clone()),
        ModelSource::open_mmap(&path).unwrap(),
        ModelSource::open(&path).unwrap(),
    ] {
        source.advise_sequential().unwrap();
        assert_eq!(source.as_slice(), &bytes[..]);
        let gguf = Gguf::parse(source).unwrap();
        assert!(gguf.tensor_count() > 0);
        gguf.data().release_cpu_pages().unwrap();
        // Still readable after the release.
        let first = gguf.tensors().next().unwrap();
        assert!(gguf.tensor_view(&first).is_ok());
    }
}

#[test]
fn pipes_and_proc_files_are_read_into_the_heap() {
    let dir = scratch();
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer_path = fifo.clone();
    let payload: Vec<u8> = (0..300_000).map(pattern_byte).collect();
    let expected = payload.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        w.write_all(&payload).unwrap();
    });
    let source = ModelSource::open(&fifo).unwrap();
    writer.join().unwrap();
    assert_eq!(source.heap_reason(), Some(HeapReason::NotRegular));
    assert_eq!(source.as_slice(), &expected[..]);

    // /proc files claim size 0 but have contents.
    let source = ModelSource::open("/proc/self/status").unwrap();
    assert_eq!(source.heap_reason(), Some(HeapReason::Small));
    assert!(source.as_slice().starts_with(b"Name:"));

    let e = ModelSource::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotAFile {
                kind: "a directory",
                ..
            }
        ),
        "{e:?}"
    );
    let e = ModelSource::open(dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e:?}");
}

/// As root, permission checks do not apply; run the check again as `nobody`.
#[test]
fn unreadable_files_and_low_memlock_limits_give_their_errors() {
    const CHILD: &str = "WEIGHTMAP_UNPRIVILEGED_DIR";
    let name = "unreadable_files_and_low_memlock_limits_give_their_errors";
    if let Ok(dir) = std::env::var(CHILD) {
        return unprivileged_checks(std::path::Path::new(&dir));
    }
    let dir = scratch();
    let secret = write_patterned(dir.path(), "secret.gguf", 100_000);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Larger than the usual 8 MiB RLIMIT_MEMLOCK of unprivileged users.
    write_patterned(dir.path(), "large.bin", 72 << 20);
    if !common::is_root() {
        return unprivileged_checks(dir.path());
    }
    use std::os::unix::process::CommandExt;
    let run = rerun_as_child(name, &[(CHILD, dir.path().to_str().unwrap())], |cmd| {
        cmd.uid(65534).gid(65534);
    });
    match run {
        Ok((status, out)) => {
            assert!(status.success(), "unprivileged child failed:\n{out}");
            assert!(out.contains("checked: permission denied"), "{out}");
            for line in out
                .lines()
                .filter(|l| l.contains("checked: ") || l.contains("skipped: "))
            {
                println!("child: {line}");
            }
        }
        // The test binary itself may be unreachable for `nobody` (a private home directory).
        Err(e) => println!("skipped: cannot run a child as uid 65534 ({e})"),
    }
}

fn unprivileged_checks(dir: &std::path::Path) {
    let secret = dir.join("secret.gguf");
    for e in [
        MmapFile::open(&secret).unwrap_err(),
        ModelSource::open(&secret).unwrap_err(),
        ModelSource::open_with(&secret, &SourceConfig::no_mmap()).unwrap_err(),
    ] {
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
        assert!(
            e.to_string().contains("secret.gguf: permission denied"),
            "{e}"
        );
    }
    println!("checked: permission denied");
    let large = dir.join("large.bin");
    let limit = read_memlock_limit();
    match limit {
        Some(limit) if limit < 72 << 20 => {
            let config = MmapConfig {
                lock: true,
                ..MmapConfig::default()
            };
            let e = MmapFile::open_with(&large, &config).unwrap_err();
            assert!(
                matches!(e, Error::LockFailed { limit: Some(l), .. } if l == limit),
                "{e:?}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains("RLIMIT_MEMLOCK") && msg.contains("ulimit -l"),
                "{msg}"
            );
            println!("checked: lock failed ({msg})");
        }
        _ => println!("skipped: RLIMIT_MEMLOCK ({limit:?}) is not below 72 MiB here"),
    }
}

fn read_memlock_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
