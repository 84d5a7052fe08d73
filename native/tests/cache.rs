//! Change detection and `MmapCache`: files replaced by rename while in use, bounds, LRU order,
//! statistics, threads sharing one cache, one mapping for concurrent misses on a path, and
//! no unmapping under the cache's lock.

mod common;

use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use weightmap_native::{CacheConfig, ChangeKind, Error, MmapCache, MmapConfig, MmapFile};

use common::mappings::Mappings;
use common::{pattern_byte, scratch, write_patterned};

fn always_revalidate(max_entries: usize, max_bytes: u64) -> CacheConfig {
    CacheConfig {
        revalidate_after: Duration::ZERO,
        ..CacheConfig::bounded(max_entries, max_bytes)
    }
}

/// Writes `contents` to a temporary file next to `path` and renames it over `path`.
fn replace_by_rename(path: &std::path::Path, contents: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn is_stale_detects_replacement_resizing_modification_and_removal() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "model.gguf", 10_000);
    let file = MmapFile::open_untrusted(&path).unwrap();
    assert!(!file.is_stale());
    file.check_unchanged().unwrap();
    assert_eq!(file.identity().size, 10_000);

    replace_by_rename(&path, b"new contents");
    assert!(file.is_stale());
    let e = file.check_unchanged().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Changed {
                what: ChangeKind::Replaced,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("model.gguf"), "{e}");
    // The old mapping still shows the old file.
    assert!(file.bytes_match_pattern());

    let file = MmapFile::open_untrusted(&path).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(matches!(
        file.check_unchanged(),
        Err(Error::Changed {
            what: ChangeKind::Resized,
            ..
        })
    ));

    let file = MmapFile::open_untrusted(&path).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    assert!(matches!(
        file.check_unchanged(),
        Err(Error::Changed {
            what: ChangeKind::Modified,
            ..
        })
    ));

    // Rewritten in place with the same size and the old mtime restored (as
    // `cp --preserve=timestamps` does): the status-change time gives it away.
    let file = MmapFile::open_untrusted(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, vec![0xAB; len]).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    if cfg!(unix) {
        let e = file.check_unchanged().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Changed {
                    what: ChangeKind::Modified,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        file.check_unchanged(),
        Err(Error::Changed {
            what: ChangeKind::Removed,
            ..
        })
    ));
}

trait PatternCheck {
    fn bytes_match_pattern(&self) -> bool;
}

impl PatternCheck for MmapFile {
    fn bytes_match_pattern(&self) -> bool {
        self.as_slice()
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern_byte(i))
    }
}

#[test]
fn hits_share_one_mapping_and_misses_open() {
    let dir = scratch();
    let a = write_patterned(dir.path(), "a.bin", 5000);
    let cache = MmapCache::new(CacheConfig::bounded(4, 1 << 30));
    assert!(cache.is_empty());
    let first = cache.get_or_open(&a).unwrap();
    let second = cache.get_or_open(&a).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.entries, stats.bytes_mapped),
        (1, 1, 1, 5000)
    );
    // A failed open caches nothing.
    let e = cache.get_or_open(dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }));
    assert_eq!(cache.len(), 1);
    assert!(cache.remove(&a).is_some());
    assert!(cache.is_empty());
    assert_eq!(cache.stats().bytes_mapped, 0);
}

#[test]
fn bounds_evict_the_least_recently_used_without_invalidating_handles() {
    let dir = scratch();
    let paths: Vec<_> = (0..4)
        .map(|i| write_patterned(dir.path(), &format!("f{i}.bin"), 1000 * (i + 1)))
        .collect();
    // Three entries at most.
    let cache = MmapCache::new(CacheConfig::bounded(3, 1 << 30));
    let f0 = cache.get_or_open(&paths[0]).unwrap();
    cache.get_or_open(&paths[1]).unwrap();
    cache.get_or_open(&paths[2]).unwrap();
    cache.get_or_open(&paths[0]).unwrap(); // 0 is now the most recent; 1 the least
    cache.get_or_open(&paths[3]).unwrap();
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.evictions), (3, 1), "{stats:?}");
    assert_eq!(stats.bytes_mapped, 1000 + 3000 + 4000);
    let misses = stats.misses;
    cache.get_or_open(&paths[0]).unwrap();
    assert_eq!(cache.stats().misses, misses, "0 should still be cached");
    cache.get_or_open(&paths[1]).unwrap();
    assert_eq!(
        cache.stats().misses,
        misses + 1,
        "1 should have been evicted"
    );

    // Byte bound: 7000 bytes hold f1 (2000) and f3 (4000); f2 (3000) pushes f1 out.
    let cache = MmapCache::new(CacheConfig::bounded(10, 7000));
    cache.get_or_open(&paths[1]).unwrap();
    cache.get_or_open(&paths[3]).unwrap();
    assert_eq!(cache.stats().bytes_mapped, 6000);
    let held = cache.get_or_open(&paths[2]).unwrap();
    let stats = cache.stats();
    assert_eq!(
        (stats.entries, stats.bytes_mapped, stats.evictions),
        (2, 7000, 1),
        "{stats:?}"
    );
    // Too large for the cache at all: returned, not cached.
    let big = write_patterned(dir.path(), "big.bin", 7001);
    let file = cache.get_or_open(&big).unwrap();
    assert_eq!(file.size(), 7001);
    assert_eq!(cache.stats().uncached, 1);
    assert_eq!(cache.len(), 2);

    cache.clear();
    assert!(cache.is_empty());
    // Handles outlive eviction and clearing.
    assert!(f0.bytes_match_pattern() && held.bytes_match_pattern());
}

#[test]
fn a_file_replaced_by_rename_is_remapped_while_old_handles_stay_valid() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "served.gguf", 8192);
    let cache = MmapCache::new(always_revalidate(8, 1 << 30));
    let old = cache.get_or_open(&path).unwrap();
    replace_by_rename(&path, b"version two");
    let new = cache.get_or_open(&path).unwrap();
    assert!(!Arc::ptr_eq(&old, &new));
    assert_eq!(new.as_slice(), b"version two");
    assert!(
        old.bytes_match_pattern(),
        "the old handle must keep the old bytes"
    );
    assert!(old.is_stale() && !new.is_stale());
    let stats = cache.stats();
    assert_eq!(
        (stats.remaps, stats.entries, stats.bytes_mapped),
        (1, 1, 11),
        "{stats:?}"
    );
    // Unchanged since: a hit.
    let again = cache.get_or_open(&path).unwrap();
    assert!(Arc::ptr_eq(&again, &new));
    // Removed from disk: an error, and the entry leaves the cache; handles stay valid.
    std::fs::remove_file(&path).unwrap();
    let e = cache.get_or_open(&path).unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e:?}");
    assert!(cache.is_empty());
    assert_eq!(new.as_slice(), b"version two");
}

#[test]
fn without_revalidation_a_hit_trusts_the_cached_mapping() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "trusted.gguf", 4096);
    let cache = MmapCache::new(CacheConfig {
        revalidate_after: Duration::from_secs(3600),
        ..CacheConfig::default()
    });
    let old = cache.get_or_open(&path).unwrap();
    replace_by_rename(&path, b"v2");
    assert!(Arc::ptr_eq(&old, &cache.get_or_open(&path).unwrap()));
    assert_eq!(cache.stats().remaps, 0);
}

#[test]
fn eight_threads_read_through_one_cache() {
    let dir = scratch();
    let paths: Vec<_> = (0..6)
        .map(|i| write_patterned(dir.path(), &format!("t{i}.bin"), 64 * 1024 + i * 4096))
        .collect();
    // Fewer entries than files, and a replacement mid-run, so eviction and remapping race with
    // reads.
    let cache = Arc::new(MmapCache::new(always_revalidate(4, 1 << 30)));
    std::thread::scope(|s| {
        for t in 0..8usize {
            let cache = Arc::clone(&cache);
            let paths = &paths;
            s.spawn(move || {
                for round in 0..200usize {
                    // Every other read goes to the hot file t5, which therefore stays cached
                    // while the other five cycle through the remaining entries.
                    let path = if round % 2 == 0 {
                        &paths[5]
                    } else {
                        &paths[(t + round) % 5]
                    };
                    let file = cache.get_or_open(path).unwrap();
                    let at = (round * 7919) % file.size();
                    let byte = file.range(at..at + 1).unwrap()[0];
                    if path.ends_with("t5.bin") && file.size() == 3 {
                        assert_eq!(file.as_slice(), b"new");
                    } else {
                        assert_eq!(byte, pattern_byte(at), "{} at {at}", path.display());
                    }
                    if t == 0 && round == 100 {
                        replace_by_rename(&paths[5], b"new");
                    }
                }
            });
        }
    });
    let stats = cache.stats();
    assert_eq!(
        stats.hits + stats.misses + stats.remaps,
        8 * 200,
        "{stats:?}"
    );
    assert!(stats.entries <= 4 && stats.evictions > 0, "{stats:?}");
    assert!(stats.remaps >= 1, "{stats:?}");
}

/// Whether this is the child process that runs test `name`; in the parent, runs the child and
/// checks that the test passed there. Tests that count mappings through tracing events run
/// alone in a child, because tracing caches per-callsite interest process-wide.
fn in_child(name: &str) -> bool {
    const CHILD: &str = "WEIGHTMAP_CACHE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let (status, out) = common::rerun_as_child(name, &[(CHILD, "1")], |_| {}).unwrap();
    assert!(
        status.success() && out.contains("test result: ok. 1 passed"),
        "{out}"
    );
    false
}

/// 64 threads each look up files among eight through a cache of four, checking the bytes.
/// Every mapping made must be a counted miss: a thread that misses on a path another thread is
/// opening waits for that mapping instead of making its own. (When each thread opened for
/// itself, the extra mappings were thrown away as hits: this test then found some 64,200
/// mappings made for 63,900 misses.) The peak of mappings alive at once stays high either way:
/// each thread's handle keeps a mapping alive after it is evicted.
#[test]
fn sixty_four_threads_map_a_file_once_per_miss() {
    const THREADS: usize = 64;
    const GETS: usize = 2_000;
    const FILES: usize = 8;
    const CAPACITY: usize = 4;
    if !in_child("sixty_four_threads_map_a_file_once_per_miss") {
        return;
    }
    let dir = scratch();
    let paths: Vec<_> = (0..FILES)
        .map(|i| write_patterned(dir.path(), &format!("s{i}.bin"), 16 * 1024 + i * 4096))
        .collect();
    let mappings = Mappings::install(dir.path(), |_| {});
    let cache = MmapCache::new(CacheConfig::bounded(CAPACITY, 1 << 30));
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (cache, paths, start) = (&cache, &paths, &start);
            s.spawn(move || {
                start.wait();
                // xorshift, a different sequence per thread
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                for get in 0..GETS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = (x % FILES as u64) as usize;
                    let file = cache.get_or_open(&paths[i]).unwrap();
                    assert_eq!(file.size(), 16 * 1024 + i * 4096);
                    let at = (x >> 8) as usize % file.size();
                    assert_eq!(file.as_slice()[at], pattern_byte(at), "s{i} at {at}");
                    if get % 256 == 0 {
                        assert!(file.bytes_match_pattern(), "s{i}");
                    }
                }
            });
        }
    });
    let stats = cache.stats();
    let tally = mappings.tally();
    println!("{stats:?}\n{tally:?}");
    assert_eq!(
        stats.hits + stats.misses + stats.remaps,
        (THREADS * GETS) as u64
    );
    assert_eq!(stats.remaps, 0);
    assert_eq!(
        tally.opens, stats.misses,
        "mappings made that no miss accounts for"
    );
    assert_eq!(stats.misses, stats.evictions + stats.entries as u64);
    // Alive at once: the cached ones, and about one per thread (the one it holds, or the one it
    // evicted and is unmapping).
    assert!(
        tally.peak <= (CAPACITY + THREADS) as u64,
        "{} mappings alive at once",
        tally.peak
    );
    drop(cache);
    assert_eq!(mappings.tally().live, 0);
}

/// Threads that miss on one path at once get one mapping, made once.
#[test]
fn concurrent_misses_on_one_path_share_one_mapping() {
    const THREADS: usize = 32;
    if !in_child("concurrent_misses_on_one_path_share_one_mapping") {
        return;
    }
    let dir = scratch();
    // Populated at open, so the open is slow enough that most threads find it in flight.
    let path = write_patterned(dir.path(), "shared.bin", 32 << 20);
    let mappings = Mappings::install(dir.path(), |_| {});
    let cache = MmapCache::new(CacheConfig {
        mmap: MmapConfig::populate(),
        ..CacheConfig::bounded(4, 1 << 30)
    });
    let start = Barrier::new(THREADS);
    let files: Vec<_> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    cache.get_or_open(&path).unwrap()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(files.iter().all(|f| Arc::ptr_eq(f, &files[0])));
    let stats = cache.stats();
    let tally = mappings.tally();
    println!("{stats:?}\n{tally:?}");
    let others = THREADS as u64 - 1;
    assert_eq!((stats.misses, stats.hits), (1, others), "{stats:?}");
    assert!(stats.waits <= others, "{stats:?}");
    assert_eq!(tally.opens, 1, "{tally:?}");
}

/// Each mapping the cache lets go of (evicted, replaced, gone from disk, cleared) is unmapped
/// while the cache's lock is free: inside each unmapping, another thread's lookup completes.
#[test]
fn mappings_are_unmapped_outside_the_cache_lock() {
    if !in_child("mappings_are_unmapped_outside_the_cache_lock") {
        return;
    }
    let dir = scratch();
    let hot = write_patterned(dir.path(), "hot.bin", 4096);
    let a = write_patterned(dir.path(), "a.bin", 8192);
    let b = write_patterned(dir.path(), "b.bin", 8192);
    let cache = Arc::new(MmapCache::new(always_revalidate(2, 1 << 30)));
    // (file unmapped, whether a lookup of the hot file completed meanwhile)
    let probes = Arc::new(Mutex::new(Vec::<(String, bool)>::new()));
    let hook = {
        let (cache, hot, probes) = (Arc::clone(&cache), hot.clone(), Arc::clone(&probes));
        move |unmapped: &str| {
            let (done, finished) = mpsc::channel();
            let (cache, hot) = (Arc::clone(&cache), hot.clone());
            std::thread::spawn(move || done.send(cache.get_or_open(&hot).is_ok()));
            let free = finished.recv_timeout(Duration::from_secs(5)) == Ok(true);
            probes.lock().unwrap().push((unmapped.to_owned(), free));
        }
    };
    let _mappings = Mappings::install(dir.path(), hook);
    let name = |p: &std::path::Path| p.display().to_string();

    // Handles are dropped at once, so the cache holds the last one and its calls unmap.
    cache.get_or_open(&a).unwrap();
    cache.get_or_open(&hot).unwrap();
    cache.get_or_open(&b).unwrap(); // evicts a
    cache.get_or_open(&hot).unwrap();
    replace_by_rename(&b, b"version two");
    cache.get_or_open(&b).unwrap(); // re-maps b
    cache.get_or_open(&hot).unwrap();
    std::fs::remove_file(&b).unwrap();
    cache.get_or_open(&b).unwrap_err(); // forgets b
    cache.get_or_open(&a).unwrap();
    cache.clear(); // hot and a

    let probes = probes.lock().unwrap().clone();
    let unmapped: Vec<_> = probes.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        unmapped,
        [name(&a), name(&b), name(&b), name(&hot), name(&a)],
        "{probes:?}"
    );
    assert!(probes.iter().all(|&(_, free)| free), "{probes:?}");
}
