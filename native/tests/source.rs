//! `ModelSource`: the safe open (header read into owned memory and parsed there, only tensor
//! data mapped), heap reads for small files, pipes, /proc files and on request, the trusted
//! zero-copy mapping behind `unsafe`, the seed's names, and permission errors checked in a
//! dropped-privilege child.
// These tests read /proc and use Linux semantics of mmap, mincore and madvise.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::ops::Range;

use weightmap_core::{Error as ParseError, Gguf};
use weightmap_native::{
    Backing, Error, FileKind, HeapReason, MmapConfig, MmapFile, ModelData, ModelSource,
    SourceConfig, MIN_MMAP_SIZE,
};

use common::{mapped_offsets, pattern_byte, rerun_as_child, scratch, write_model, write_patterned};

/// Whether `inner` lies inside `outer`, by address.
fn contains(outer: &[u8], inner: &[u8]) -> bool {
    let outer: Range<usize> = outer.as_ptr() as usize..outer.as_ptr() as usize + outer.len();
    outer.contains(&(inner.as_ptr() as usize))
}

#[test]
fn models_are_parsed_from_a_header_copy_and_only_tensor_data_is_mapped() {
    let dir = scratch();
    // A header of a few KiB, then 1 MiB of tensor data.
    let path = write_model(dir.path(), "model.gguf", 1 << 20, 200);
    let gguf = ModelSource::open(&path).unwrap();
    let source = gguf.data();
    assert!(source.is_mmap());
    assert_eq!(source.backing(), Backing::Mmap);
    assert_eq!(source.heap_reason(), None);
    assert_eq!(source.path(), Some(path.as_path()));

    // One mapping, starting at the page that holds the data section; the header is elsewhere.
    let map = source.as_mmap().unwrap();
    let page = weightmap_native::page_size() as u64;
    assert!(!map.is_trusted());
    assert_eq!(map.offset(), gguf.data_offset() / page * page);
    assert!(map.offset() > 0, "a header of several pages");
    assert_eq!(mapped_offsets(&path), vec![map.offset()]);
    let header = source.header().unwrap();
    assert!(header.len() as u64 >= gguf.layout().tensor_info_end);
    assert!(
        !contains(map.as_slice(), header),
        "the header is a private copy"
    );
    let arch = gguf.architecture().unwrap();
    assert!(
        contains(header, arch.as_bytes()),
        "strings come from the copy"
    );
    assert_eq!(gguf.metadata_len(), 201);

    // The tensor's bytes are the mapping's, not a copy.
    let data = gguf.tensor("data").unwrap();
    assert!(contains(map.as_slice(), data.bytes()));
    assert_eq!(data.bytes().len(), 1 << 20);
    assert!(data
        .bytes()
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i)));
    let range = gguf
        .tensor_info("data")
        .map(|t| gguf.tensor_range(&t).unwrap())
        .unwrap();
    assert_eq!(
        map.offset() + range.start as u64,
        gguf.data_offset() + gguf.tensor_info("data").unwrap().offset()
    );
    source.release_cpu_pages().unwrap();
    assert_eq!(data.bytes()[12345], pattern_byte(12345));

    // The untrusted mapping alone cannot be parsed: no parser reads bytes others may change.
    assert_eq!(map.header(), None);
    assert_eq!(Gguf::parse(map).unwrap_err(), ParseError::NoTrustedHeader);
}

#[test]
fn headers_larger_than_the_first_read_are_read_as_the_parser_asks() {
    let dir = scratch();
    // About 3 MiB of header: three reads past the first 1 MiB.
    let path = write_model(dir.path(), "long-header.gguf", 100_000, 90_000);
    let bytes = std::fs::read(&path).unwrap();
    let expected = Gguf::parse(&bytes[..]).unwrap();
    assert!(expected.data_offset() > 2 << 20);
    let gguf = ModelSource::open(&path).unwrap();
    assert!(gguf.data().is_mmap());
    assert!(gguf.metadata().eq(expected.metadata()));
    assert!(gguf.tensors().eq(expected.tensors()));
    assert_eq!(
        gguf.tensor("data").unwrap().bytes(),
        expected.tensor("data").unwrap().bytes()
    );
    // The copy kept is the header, no more: bytes read past it were given back.
    let header = gguf.data().header().unwrap();
    assert_eq!(header.len() as u64, gguf.layout().tensor_info_end);
}

#[test]
fn large_files_read_their_header_straight_into_huge_pages_whatever_its_size() {
    let dir = scratch();
    // 8 MiB of tensor data: the header is read into an anonymous mapping from the start.
    for keys in [3, 90_000] {
        let path = write_model(dir.path(), "big.gguf", 8 << 20, keys);
        let bytes = std::fs::read(&path).unwrap();
        let expected = Gguf::parse(&bytes[..]).unwrap();
        let gguf = ModelSource::open(&path).unwrap();
        let header = gguf.data().header().unwrap();
        assert_eq!(header.len() as u64, gguf.layout().tensor_info_end);
        assert_eq!(header, &bytes[..header.len()]);
        assert!(gguf.metadata().eq(expected.metadata()), "{keys} keys");
        assert!(gguf.tensors().eq(expected.tensors()));
        let data = gguf.tensor("data").unwrap().bytes();
        assert!(data.iter().enumerate().all(|(i, &b)| b == pattern_byte(i)));
    }
}

#[test]
fn invalid_and_truncated_models_are_parse_errors_naming_the_file() {
    let dir = scratch();
    let raw = write_patterned(dir.path(), "raw.bin", 1 << 20);
    let e = ModelSource::open(&raw).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::BadMagic { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("{}: not a GGUF file", raw.display())),
        "{e}"
    );

    // A model cut inside its header: the error says how long the file is.
    let path = write_model(dir.path(), "cut.gguf", 1 << 20, 20_000);
    let header_end = Gguf::parse_header(std::fs::read(&path).unwrap())
        .unwrap()
        .layout()
        .tensor_info_end;
    let len = header_end - 100;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len)
        .unwrap();
    let e = ModelSource::open(&path).unwrap_err();
    assert!(
        matches!(e, Error::Parse { source: ParseError::Truncated { have, .. }, .. } if have == len),
        "{e:?}"
    );
    // Cut inside the tensor data: the tensor is out of bounds.
    let path = write_model(dir.path(), "short.gguf", 1 << 20, 10);
    let full = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(full - 1)
        .unwrap();
    let e = ModelSource::open(&path).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::TensorOutOfBounds { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_header_asking_for_more_than_the_limit_is_refused_before_it_is_read() {
    let dir = scratch();
    // A 4 GiB sparse file whose one entry claims 2^28 strings: the parser asks for 2 GiB of
    // header before reading any of them, more than the default limit of 1 GiB.
    let mut array = 8u32.to_le_bytes().to_vec();
    array.extend_from_slice(&(1u64 << 28).to_le_bytes());
    let bytes = weightmap_core::testing::Builder::default()
        .kv_raw(b"tokenizer.ggml.tokens", 9, array)
        .build();
    let path = dir.path().join("claims-2gib.gguf");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let start = std::time::Instant::now();
    let e = ModelSource::open(&path).unwrap_err();
    assert!(
        matches!(e, Error::HeaderTooLarge { needed, limit, .. } if needed > 1 << 31 && limit == 1 << 30),
        "{e:?}"
    );
    assert!(e.to_string().contains("max_header_size"), "{e}");
    println!("refused in {:?}", start.elapsed());

    // A real header over a lower limit.
    let path = write_model(dir.path(), "long.gguf", 100_000, 90_000);
    let low = SourceConfig {
        max_header_size: 1 << 20,
        ..SourceConfig::default()
    };
    let e = ModelSource::open_with(&path, &low).unwrap_err();
    assert!(
        matches!(e, Error::HeaderTooLarge { limit: 1048576, .. }),
        "{e:?}"
    );
}

#[test]
fn small_files_and_no_mmap_read_into_the_heap() {
    let dir = scratch();
    let small = write_model(dir.path(), "small.gguf", 1000, 0);
    assert!(std::fs::metadata(&small).unwrap().len() < MIN_MMAP_SIZE);
    let gguf = ModelSource::open(&small).unwrap();
    let source = gguf.data();
    assert!(!source.is_mmap());
    assert_eq!(source.backing(), Backing::Memory);
    assert_eq!(source.heap_reason(), Some(HeapReason::Small));
    assert!(common::maps_lines(&small).is_empty());
    assert_eq!(source.as_slice(), &std::fs::read(&small).unwrap()[..]);
    // Hints are no-ops on the heap.
    source.release_cpu_pages().unwrap();
    source.advise_sequential().unwrap();
    ModelData::release(source, 0..10);
    assert_eq!(gguf.tensor("data").unwrap().bytes()[5], pattern_byte(5));

    let big = write_model(dir.path(), "big.gguf", 1 << 20, 0);
    let forced = ModelSource::open_with(&big, &SourceConfig::no_mmap()).unwrap();
    assert_eq!(forced.data().heap_reason(), Some(HeapReason::Requested));
    assert_eq!(
        forced.data().as_slice().len() as u64,
        std::fs::metadata(&big).unwrap().len()
    );
    assert_eq!(HeapReason::Requested.to_string(), "mapping turned off");

    let low = SourceConfig {
        min_mmap_size: 1,
        ..SourceConfig::default()
    };
    assert!(ModelSource::open_with(&small, &low)
        .unwrap()
        .data()
        .is_mmap());
}

#[test]
fn the_trusted_mapping_is_parsed_in_place() {
    let dir = scratch();
    let path = write_model(dir.path(), "trusted.gguf", 1 << 20, 10);
    // SAFETY: nothing modifies this test's file while it is mapped.
    let source = unsafe { ModelSource::open_mmap(&path) }.unwrap();
    let map = source.as_mmap().unwrap();
    assert!(map.is_trusted());
    assert_eq!((map.offset(), source.offset()), (0, 0));
    assert_eq!(
        source.header().map(<[u8]>::as_ptr),
        Some(map.as_slice().as_ptr())
    );
    let gguf = Gguf::parse(source).unwrap();
    let mapping = gguf.data().as_slice();
    assert!(
        contains(mapping, gguf.architecture().unwrap().as_bytes()),
        "zero-copy strings"
    );
    assert!(contains(mapping, gguf.tensor("data").unwrap().bytes()));

    // SAFETY: as above.
    let file = unsafe { MmapFile::open(&path) }.unwrap();
    assert!(file.is_trusted());
    assert_eq!(Gguf::parse(&file).unwrap().tensor_count(), 1);
    let untrusted = MmapFile::open_untrusted(&path).unwrap();
    assert!(!untrusted.is_trusted());
    assert_eq!(
        Gguf::parse(&untrusted).unwrap_err(),
        ParseError::NoTrustedHeader
    );
}

#[test]
fn open_trusted_parses_a_long_header_in_place_with_or_without_the_prefault_helper() {
    let dir = scratch();
    // About 3 MiB of header: parsed in steps while a helper faults in the pages ahead.
    let path = write_model(dir.path(), "long.gguf", 100_000, 90_000);
    let bytes = std::fs::read(&path).unwrap();
    let expected = Gguf::parse(&bytes[..]).unwrap();
    for read_ahead in [true, false] {
        let config = SourceConfig {
            read_ahead,
            ..SourceConfig::default()
        };
        // SAFETY: nothing modifies this test's file while it is mapped.
        let gguf = unsafe { ModelSource::open_trusted_with(&path, &config) }.unwrap();
        let map = gguf.data().as_mmap().unwrap();
        assert!(map.is_trusted());
        assert!(
            gguf.metadata().eq(expected.metadata()),
            "read_ahead {read_ahead}"
        );
        assert!(gguf.tensors().eq(expected.tensors()));
        assert!(contains(
            map.as_slice(),
            gguf.architecture().unwrap().as_bytes()
        ));
        assert!(contains(
            map.as_slice(),
            gguf.tensor("data").unwrap().bytes()
        ));
    }
    // Invalid files are parse errors here too.
    let raw = write_patterned(dir.path(), "raw.bin", 1 << 20);
    // SAFETY: as above.
    let e = unsafe { ModelSource::open_trusted(&raw) }.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::BadMagic { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn seed_names_work_on_every_backing() {
    let dir = scratch();
    let bytes = weightmap_core::testing::sample_file();
    let path = dir.path().join("sample.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let opened = ModelSource::open(&path).unwrap().into_data();
    // SAFETY: nothing modifies this test's file while it is mapped.
    let trusted = unsafe { ModelSource::open_mmap(&path) }.unwrap();
    for source in [ModelSource::from_vec(bytes.clone()), trusted, opened] {
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
    let model = std::fs::read(write_model(dir.path(), "m.gguf", 300_000, 50)).unwrap();
    let payload = model.clone();
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        w.write_all(&payload).unwrap();
    });
    let gguf = ModelSource::open(&fifo).unwrap();
    writer.join().unwrap();
    assert_eq!(gguf.data().heap_reason(), Some(HeapReason::NotRegular));
    assert_eq!(gguf.data().as_slice(), &model[..]);
    assert_eq!(
        gguf.tensor("data").unwrap().bytes()[299_999],
        pattern_byte(299_999)
    );

    // /proc files claim size 0 but have contents: read, then refused as not GGUF.
    let e = ModelSource::open("/proc/self/status").unwrap_err();
    assert!(
        matches!(
            e,
            Error::Parse {
                source: ParseError::BadMagic {
                    found: [b'N', b'a', b'm', b'e']
                },
                ..
            }
        ),
        "{e:?}"
    );

    let e = ModelSource::open(dir.path()).unwrap_err();
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
        MmapFile::open_untrusted(&secret).unwrap_err(),
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
            let e = MmapFile::open_untrusted_with(&large, &config).unwrap_err();
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
