//! What an [`MmapCache`](super::MmapCache) keeps under its lock: the LRU of mappings, their
//! bytes, the counters and the opens in flight.
//!
//! No mapping is dropped here. Dropping the last handle on a mapping unmaps it, which for a
//! large resident file takes milliseconds; under the lock that would stall every other
//! lookup. So every method that takes a mapping out hands it to the caller (returned, or
//! pushed on `victims`), and the caller drops it after releasing the lock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::flight::{Flight, Flights, Join};
use super::{CacheConfig, CacheStats};
use crate::mmap::MmapFile;

/// Mappings taken out of the cache under the lock, to be dropped after it is released.
pub(super) type Victims = Vec<Arc<MmapFile>>;

/// An open in flight, shared by the threads that want its mapping.
pub(super) type OpenFlight = Flight<Arc<MmapFile>>;

#[derive(Debug)]
struct Entry {
    file: Arc<MmapFile>,
    /// When the file on disk was last found unchanged (or opened).
    checked: Instant,
}

/// What a lookup found.
#[derive(Debug)]
pub(super) enum Step {
    /// Cached and checked recently enough.
    Hit(Arc<MmapFile>),
    /// Cached, but due for a check against the disk (done outside the lock).
    Revalidate(Arc<MmapFile>),
    /// Not cached (or being re-mapped): open it, or wait for the thread that does.
    Open(Join<Arc<MmapFile>>),
}

/// What a check of a cached mapping against the disk led to.
#[derive(Debug)]
pub(super) enum Revalidated {
    /// Unchanged (or already re-mapped by another thread).
    Hit(Arc<MmapFile>),
    /// Changed: re-map it, or wait for the thread that does.
    Open(Join<Arc<MmapFile>>),
}

#[derive(Debug)]
pub(super) struct State {
    lru: LruCache<PathBuf, Entry>,
    bytes: u64,
    stats: CacheStats,
    flights: Flights<Arc<MmapFile>>,
}

impl State {
    pub(super) fn new() -> Self {
        State {
            lru: LruCache::unbounded(),
            bytes: 0,
            stats: CacheStats::default(),
            flights: Flights::default(),
        }
    }

    /// Looks `path` up: a hit if it was checked within `revalidate_after` of `now`; else a
    /// check of the cached mapping, or a flight to join when nothing is cached.
    pub(super) fn lookup(&mut self, path: &Path, now: Instant, revalidate_after: Duration) -> Step {
        if let Some(entry) = self.lru.get(path) {
            let file = Arc::clone(&entry.file);
            if now.saturating_duration_since(entry.checked) < revalidate_after {
                self.stats.hits += 1;
                return Step::Hit(file);
            }
            // Another thread found it changed and is re-mapping it: wait for that mapping
            // rather than check the disk again.
            if let Some(flight) = self.flights.wait_on(path) {
                self.stats.waits += 1;
                return Step::Open(Join::Wait(flight));
            }
            return Step::Revalidate(file);
        }
        Step::Open(self.join(path))
    }

    /// After a [`Step::Revalidate`]: a hit when the file on disk is unchanged (or another
    /// thread has re-mapped it meanwhile); else a flight to join to re-map it.
    pub(super) fn revalidated(
        &mut self,
        path: &Path,
        candidate: &Arc<MmapFile>,
        now: Instant,
        changed: bool,
    ) -> Revalidated {
        let current = self.lru.get_mut(path);
        if !changed {
            // Only if another thread has not replaced the entry meanwhile.
            if let Some(entry) = current.filter(|e| Arc::ptr_eq(&e.file, candidate)) {
                entry.checked = now;
            }
            self.stats.hits += 1;
            return Revalidated::Hit(Arc::clone(candidate));
        }
        if let Some(entry) = current.filter(|e| !Arc::ptr_eq(&e.file, candidate)) {
            // Put there since this lookup found the candidate: a mapping about as recent as
            // this check (and checked again once `revalidate_after` has passed).
            let file = Arc::clone(&entry.file);
            self.stats.hits += 1;
            return Revalidated::Hit(file);
        }
        Revalidated::Open(self.join(path))
    }

    fn join(&mut self, path: &Path) -> Join<Arc<MmapFile>> {
        let join = self.flights.join(path);
        if matches!(join, Join::Wait(_)) {
            self.stats.waits += 1;
        }
        join
    }

    /// Takes `flight` out of the table of opens; when its open succeeded, the threads that
    /// waited for it count as hits (their `waits` were counted when they joined).
    pub(super) fn close(&mut self, path: &Path, flight: &Arc<OpenFlight>, opened: bool) {
        let waiters = self.flights.close(path, flight);
        if opened {
            self.stats.hits += waiters.unwrap_or(0);
        }
    }

    /// Puts a freshly opened file in the cache, replacing an older mapping of the same path,
    /// and evicts least-recently-used entries until the bounds hold. Returns the mapping to
    /// hand out: `file`, or the cached one when it shows the same file.
    pub(super) fn insert(
        &mut self,
        path: &Path,
        file: Arc<MmapFile>,
        config: &CacheConfig,
        victims: &mut Victims,
    ) -> Arc<MmapFile> {
        let size = file.size() as u64;
        if let Some(old) = self.lru.pop(path) {
            if old.file.identity() == file.identity() {
                // The same file was opened by another thread meanwhile (only after a failed
                // flight, when waiters open for themselves): keep one mapping.
                self.stats.hits += 1;
                let kept = Arc::clone(&old.file);
                self.lru.put(path.to_path_buf(), old);
                victims.push(file);
                return kept;
            }
            self.bytes = self.bytes.saturating_sub(old.file.size() as u64);
            self.stats.remaps += 1;
            victims.push(old.file);
        } else {
            self.stats.misses += 1;
        }
        if size > config.max_bytes || config.max_entries == 0 {
            self.stats.uncached += 1;
            return file;
        }
        while self.lru.len() >= config.max_entries
            || self.bytes.saturating_add(size) > config.max_bytes
        {
            let Some((evicted, entry)) = self.lru.pop_lru() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(entry.file.size() as u64);
            self.stats.evictions += 1;
            tracing::debug!(path = %evicted.display(), size = entry.file.size(), "evicted from cache");
            victims.push(entry.file);
        }
        self.bytes = self.bytes.saturating_add(size);
        let entry = Entry {
            file: Arc::clone(&file),
            checked: Instant::now(),
        };
        // Nothing is there (popped above); were something there, it would go out as a victim.
        if let Some(replaced) = self.lru.put(path.to_path_buf(), entry) {
            victims.push(replaced.file);
        }
        file
    }

    /// Drops the entry of `path` if it still holds `stale` (a mapping whose file can no longer
    /// be opened), unless another thread has put a newer mapping there meanwhile.
    pub(super) fn forget(&mut self, path: &Path, stale: &Arc<MmapFile>, victims: &mut Victims) {
        let holds_stale = self
            .lru
            .peek(path)
            .is_some_and(|e| Arc::ptr_eq(&e.file, stale));
        if !holds_stale {
            return;
        }
        if let Some(gone) = self.remove(path) {
            tracing::debug!(path = %path.display(), "dropped from cache");
            victims.push(gone);
        }
    }

    /// Takes the entry of `path` out.
    pub(super) fn remove(&mut self, path: &Path) -> Option<Arc<MmapFile>> {
        let entry = self.lru.pop(path)?;
        self.bytes = self.bytes.saturating_sub(entry.file.size() as u64);
        Some(entry.file)
    }

    /// Takes the entry of `file`'s path out if it is that very mapping, counting it as
    /// poisoned.
    pub(super) fn remove_poisoned(&mut self, file: &MmapFile) -> Option<Arc<MmapFile>> {
        let path = file.path();
        let is_that_mapping = self
            .lru
            .peek(path)
            .is_some_and(|e| std::ptr::eq(Arc::as_ptr(&e.file), file));
        if !is_that_mapping {
            return None;
        }
        let gone = self.remove(path)?;
        self.stats.poisoned += 1;
        tracing::debug!(path = %path.display(), "poisoned mapping dropped from cache");
        Some(gone)
    }

    /// Takes every entry out (opens in flight go on, and cache their result).
    pub(super) fn take_all(&mut self) -> Victims {
        self.bytes = 0;
        let mut victims = Victims::with_capacity(self.lru.len());
        while let Some((_, entry)) = self.lru.pop_lru() {
            victims.push(entry.file);
        }
        victims
    }

    /// Files cached now.
    pub(super) fn len(&self) -> usize {
        self.lru.len()
    }

    /// The counters, with the current entry count and mapped bytes.
    pub(super) fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.lru.len(),
            bytes_mapped: self.bytes,
            ..self.stats
        }
    }

    /// Opens in flight now.
    #[cfg(test)]
    pub(super) fn flights_open(&self) -> usize {
        self.flights.len()
    }
}
