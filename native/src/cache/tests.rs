//! Unit tests of what the public API cannot reach on purpose: an opener that is slow, fails or
//! panics while other threads wait for it, the victims of every way out of the cache, and the
//! poisoned-mapping hook.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::state::{State, Victims};
use super::{CacheConfig, MmapCache};
use crate::error::{Error, Result};
use crate::mmap::MmapFile;

const THREADS: usize = 8;

fn write(dir: &Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![name.len() as u8; len]).unwrap();
    path
}

/// Blocks until `THREADS - 1` lookups wait on the open in flight, so the opener's outcome
/// reaches waiters, not late arrivals (gives up after ten seconds rather than hang).
fn until_everyone_waits(cache: &MmapCache) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.stats().waits < THREADS as u64 - 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `THREADS` lookups of `path` at once through `open`, returning each thread's result
/// (`None` for a thread that panicked).
fn together(
    cache: &MmapCache,
    path: &Path,
    open: impl Fn(&Path) -> Result<MmapFile> + Sync,
) -> Vec<Option<Result<Arc<MmapFile>>>> {
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    cache.get_or_open_with(path, &open)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().ok()).collect()
    })
}

#[test]
fn concurrent_misses_on_one_path_open_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "one.bin", 10_000);
    let cache = MmapCache::new(CacheConfig::bounded(4, 1 << 30));
    let opens = AtomicUsize::new(0);
    let results = together(&cache, &path, |p| {
        opens.fetch_add(1, Ordering::SeqCst);
        until_everyone_waits(&cache);
        MmapFile::open_untrusted(p)
    });
    let files: Vec<_> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(opens.load(Ordering::SeqCst), 1);
    assert!(files.iter().all(|f| Arc::ptr_eq(f, &files[0])));
    let stats = cache.stats();
    let n = THREADS as u64;
    assert_eq!(
        (stats.misses, stats.hits, stats.waits, stats.entries),
        (1, n - 1, n - 1, 1),
        "{stats:?}"
    );
    assert_eq!(cache.state().flights_open(), 0);
}

#[test]
fn after_a_failed_open_each_waiter_opens_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "flaky.bin", 10_000);
    let cache = MmapCache::new(CacheConfig::bounded(4, 1 << 30));
    let opens = AtomicUsize::new(0);
    let results = together(&cache, &path, |p| {
        if opens.fetch_add(1, Ordering::SeqCst) > 0 {
            return MmapFile::open_untrusted(p);
        }
        until_everyone_waits(&cache);
        Err(Error::Io {
            path: p.into(),
            source: io::Error::other("injected failure"),
        })
    });
    // The leader gets its error; each waiter opened the file itself and they share one
    // mapping in the end (the later opens found it cached and were dropped).
    let (failed, opened): (Vec<_>, Vec<_>) = results
        .into_iter()
        .map(|r| r.unwrap())
        .partition(|r| r.is_err());
    assert_eq!(failed.len(), 1);
    assert!(matches!(&failed[0], Err(Error::Io { .. })));
    let opened: Vec<_> = opened.into_iter().map(|r| r.unwrap()).collect();
    assert!(opened.iter().all(|f| Arc::ptr_eq(f, &opened[0])));
    assert_eq!(opens.load(Ordering::SeqCst), THREADS);
    let stats = cache.stats();
    let n = THREADS as u64;
    assert_eq!(
        (stats.misses, stats.hits, stats.waits, stats.entries),
        (1, n - 2, n - 1, 1),
        "{stats:?}"
    );
    assert_eq!(cache.state().flights_open(), 0);

    // A missing file: every lookup gets its own FileNotFound.
    let missing = dir.path().join("missing.bin");
    let results = together(&cache, &missing, |p| MmapFile::open_untrusted(p));
    assert!(results
        .into_iter()
        .all(|r| matches!(r, Some(Err(Error::FileNotFound { .. })))));
    assert_eq!(cache.state().flights_open(), 0);
}

#[test]
fn a_panicking_opener_wakes_its_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "panics.bin", 10_000);
    let cache = MmapCache::new(CacheConfig::bounded(4, 1 << 30));
    let opens = AtomicUsize::new(0);
    let results = together(&cache, &path, |p| {
        if opens.fetch_add(1, Ordering::SeqCst) > 0 {
            return MmapFile::open_untrusted(p);
        }
        until_everyone_waits(&cache);
        panic!("the opener panicked");
    });
    let panicked = results.iter().filter(|r| r.is_none()).count();
    assert_eq!(panicked, 1);
    let opened: Vec<_> = results.into_iter().flatten().map(|r| r.unwrap()).collect();
    assert_eq!(opened.len(), THREADS - 1);
    assert!(opened.iter().all(|f| Arc::ptr_eq(f, &opened[0])));
    // The abandoned flight is gone: the next lookup is a plain hit.
    assert_eq!(cache.state().flights_open(), 0);
    assert!(Arc::ptr_eq(&cache.get_or_open(&path).unwrap(), &opened[0]));
}

#[test]
fn every_way_out_of_the_cache_hands_the_mapping_to_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..3)
        .map(|i| write(dir.path(), &format!("v{i}.bin"), 4096 * (i + 1)))
        .collect();
    let open = |p: &Path| Arc::new(MmapFile::open_untrusted(p).unwrap());
    let config = CacheConfig::bounded(2, 1 << 30);
    let mut state = State::new();
    let mut victims = Victims::new();

    // Eviction: the least recently used entry comes back as a victim, still mapped.
    let first = open(&paths[0]);
    let weak = Arc::downgrade(&first);
    state.insert(&paths[0], first, &config, &mut victims);
    state.insert(&paths[1], open(&paths[1]), &config, &mut victims);
    state.insert(&paths[2], open(&paths[2]), &config, &mut victims);
    assert_eq!(victims.len(), 1);
    assert!(std::ptr::eq(Arc::as_ptr(&victims[0]), weak.as_ptr()));
    assert!(weak.upgrade().is_some(), "alive until the caller drops it");
    drop(std::mem::take(&mut victims));
    assert!(
        weak.upgrade().is_none(),
        "unmapped when the caller drops it"
    );

    // Re-mapping a changed file: the old mapping is the victim.
    let old = state.remove(&paths[1]).unwrap();
    state.insert(&paths[1], Arc::clone(&old), &config, &mut victims);
    // Replaced by rename, not rewritten in place: `old` still maps the first file.
    let tmp = paths[1].with_extension("new");
    std::fs::write(&tmp, b"changed").unwrap();
    std::fs::rename(&tmp, &paths[1]).unwrap();
    let new = state.insert(&paths[1], open(&paths[1]), &config, &mut victims);
    assert_eq!(new.as_slice(), b"changed");
    assert_eq!(victims.len(), 1);
    assert!(Arc::ptr_eq(&victims[0], &old));
    assert_eq!(state.stats().remaps, 1);

    // The same file opened twice: one mapping is kept, the other is a victim.
    victims.clear();
    let again = open(&paths[1]);
    let kept = state.insert(&paths[1], Arc::clone(&again), &config, &mut victims);
    assert!(Arc::ptr_eq(&kept, &new));
    assert!(Arc::ptr_eq(&victims[0], &again));

    // A file that can no longer be opened: its stale entry is forgotten into the victims,
    // unless the entry holds another mapping.
    victims.clear();
    state.forget(&paths[1], &old, &mut victims);
    assert!(victims.is_empty());
    state.forget(&paths[1], &new, &mut victims);
    assert!(Arc::ptr_eq(&victims[0], &new));

    // Clearing: everything comes back.
    let all = state.take_all();
    assert_eq!(all.len(), 1);
    assert_eq!((state.len(), state.stats().bytes_mapped), (0, 0));
}

#[test]
fn a_poisoned_mapping_leaves_the_cache_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "poisoned.bin", 8192);
    let cache = MmapCache::new(CacheConfig::bounded(4, 1 << 30));
    let cached = cache.get_or_open(&path).unwrap();
    // Another mapping of the same path is not the cached one: nothing happens.
    let other = MmapFile::open_untrusted(&path).unwrap();
    assert!(!cache.drop_poisoned(&other));
    assert_eq!(cache.len(), 1);

    assert!(cache.drop_poisoned(&cached));
    let stats = cache.stats();
    assert_eq!(
        (stats.poisoned, stats.entries, stats.bytes_mapped),
        (1, 0, 0),
        "{stats:?}"
    );
    assert!(!cache.drop_poisoned(&cached), "already gone");
    // The handle stays valid; the next lookup maps the file afresh.
    assert_eq!(cached.size(), 8192);
    let fresh = cache.get_or_open(&path).unwrap();
    assert!(!Arc::ptr_eq(&fresh, &cached));
    assert_eq!(cache.stats().misses, 2);
}
