//! `MmapCache`: mapped files shared across threads, bounded by count and bytes, least recently
//! used first out, re-mapped when the file on disk is replaced.
//!
//! Two rules keep a lookup from stalling behind another thread's work: a mapping is never
//! unmapped while the cache's lock is held (see [`state`]), and a file is opened by one thread
//! at a time, the others waiting for its mapping without holding the lock (see [`flight`]).

mod flight;
mod state;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::MmapConfig;
use crate::error::Result;
use crate::mmap::MmapFile;
use flight::{Join, Lead};
use state::{OpenFlight, Revalidated, State, Step, Victims};

/// Bounds and policy of an [`MmapCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheConfig {
    /// Most files kept mapped.
    pub max_entries: usize,
    /// Most bytes kept mapped (sum of the cached files' sizes). A file larger than this is
    /// opened and returned but not cached.
    pub max_bytes: u64,
    /// How long a cached mapping is trusted before a hit checks the file on disk again
    /// (one `stat`). `Duration::ZERO` checks on every hit.
    pub revalidate_after: Duration,
    /// How files are mapped.
    pub mmap: MmapConfig,
}

impl Default for CacheConfig {
    /// 64 files, 1 TiB of address space, revalidation after one second.
    fn default() -> Self {
        CacheConfig {
            max_entries: 64,
            max_bytes: 1 << 40,
            revalidate_after: Duration::from_secs(1),
            mmap: MmapConfig::default(),
        }
    }
}

impl CacheConfig {
    /// The default policy with the given bounds.
    pub fn bounded(max_entries: usize, max_bytes: u64) -> Self {
        CacheConfig {
            max_entries,
            max_bytes,
            ..Self::default()
        }
    }
}

/// Counters of an [`MmapCache`] since it was created. Every lookup that returns a mapping
/// counts once, as a hit, a miss or a remap; a failed lookup counts in none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CacheStats {
    /// Lookups answered with a mapping already made: from the cache, or from another thread's
    /// open of the same path that the lookup waited for (see `waits`).
    pub hits: u64,
    /// Lookups that opened the file.
    pub misses: u64,
    /// Entries dropped to stay within bounds.
    pub evictions: u64,
    /// Entries re-mapped because the file on disk changed.
    pub remaps: u64,
    /// Misses whose file was too large to cache.
    pub uncached: u64,
    /// Lookups that found another thread opening the same path and waited for its mapping
    /// instead of mapping the file a second time. Each also counts as a hit or, when that
    /// open failed and the lookup opened the file itself, as a miss or remap.
    pub waits: u64,
    /// Entries dropped because their mapping was found poisoned (its file truncated under
    /// it), so that the next lookup maps the file afresh.
    pub poisoned: u64,
    /// Files cached now.
    pub entries: usize,
    /// Bytes of the files cached now.
    pub bytes_mapped: u64,
}

/// Mapped files shared across threads.
///
/// Handles are `Arc<MmapFile>`: evicting or re-mapping an entry never invalidates a handle
/// still held; its mapping lives until the last handle drops. Paths are keys as given (not
/// canonicalised), so `a/../m.gguf` and `m.gguf` are two entries.
///
/// Lookups do not stall one another. A hit takes the lock for a few hundred nanoseconds; the
/// `stat` of a revalidation and the open of a miss run outside it; and a mapping the cache lets
/// go of (evicted, replaced, removed, cleared) is unmapped after the lock is released, by the
/// thread whose call let it go (or by the last holder of a handle). When several threads miss
/// on one path at once, one opens and maps it and the others wait for that mapping (counted in
/// [`CacheStats::waits`]), so a burst of misses maps a file once, not once per thread. If that
/// open fails, each waiter then opens the file itself, once, and gets its own error:
/// [`Error`](crate::Error) is not `Clone` (it carries an `io::Error`), and a file that was
/// missing a moment ago may be there now. A panic in the opening thread wakes the waiters the
/// same way.
///
/// A cache made with [`MmapCache::new`] holds untrusted mappings ([`MmapFile::open_untrusted`]):
/// safe whatever other processes do to the files, and exposed only as bytes (serving files,
/// residency, tensor data). [`MmapCache::new_trusted`] (`unsafe`) holds trusted ones that
/// parsers read in place, on the caller's promise that no cached file is modified while mapped
/// (see [`MmapFile`'s safety section](MmapFile#safety-files-that-change-while-mapped)).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("m.gguf");
/// # std::fs::write(&path, b"GGUF")?;
/// use weightmap_native::{CacheConfig, MmapCache};
///
/// let cache = MmapCache::new(CacheConfig::bounded(8, 64 << 30));
/// let a = cache.get_or_open(&path)?;
/// let b = cache.get_or_open(&path)?; // the same mapping
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MmapCache {
    config: CacheConfig,
    state: Mutex<State>,
    trusted: bool,
}

impl Default for MmapCache {
    fn default() -> Self {
        Self::new(CacheConfig::default())
    }
}

impl MmapCache {
    /// An empty cache of untrusted mappings: safe whatever happens to the files.
    pub fn new(config: CacheConfig) -> Self {
        MmapCache {
            config,
            state: Mutex::new(State::new()),
            trusted: false,
        }
    }

    /// An empty cache of trusted mappings, which parsers read in place (the zero-copy path).
    ///
    /// # Safety
    /// No file opened through this cache may be modified or truncated while any mapping of it
    /// (cached or handed out) lives: the contract of [`MmapFile::open`]. Replacing a file by
    /// renaming a new one over it is fine; the cache notices and maps the new file.
    pub unsafe fn new_trusted(config: CacheConfig) -> Self {
        MmapCache {
            trusted: true,
            ..Self::new(config)
        }
    }

    /// Whether the cache holds trusted mappings ([`new_trusted`](Self::new_trusted)).
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// Opens `path` the way this cache's mappings are opened.
    fn open(&self, path: &Path) -> Result<MmapFile> {
        if self.trusted {
            // SAFETY: whoever made this cache with `new_trusted` promised that files opened
            // through it are not modified while mapped.
            unsafe { MmapFile::open_with(path, &self.config.mmap) }
        } else {
            MmapFile::open_untrusted_with(path, &self.config.mmap)
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the LRU half-updated in a way that
        // matters (every update is a single call), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The mapping of `path`: from the cache when present and unchanged on disk, else freshly
    /// opened (and cached if it fits), or the mapping another thread is opening right now.
    ///
    /// # Errors
    /// The errors of [`MmapFile::open_untrusted_with`]. A failed open caches nothing.
    pub fn get_or_open(&self, path: impl AsRef<Path>) -> Result<Arc<MmapFile>> {
        let path = path.as_ref();
        let file = self.get_or_open_with(path, |p| self.open(p))?;
        if file.is_intact() {
            return Ok(file);
        }
        // A guarded mapping whose file was truncated under it reads zeros past the cut: never
        // hand it out again; map the file as it is now.
        self.drop_poisoned(&file);
        drop(file);
        self.get_or_open_with(path, |p| self.open(p))
    }

    /// [`get_or_open`](Self::get_or_open) with the opener as a parameter, so that tests can
    /// make it slow, fail or panic.
    fn get_or_open_with(
        &self,
        path: &Path,
        open: impl Fn(&Path) -> Result<MmapFile>,
    ) -> Result<Arc<MmapFile>> {
        let now = Instant::now();
        // Bound first: the guard then drops at the end of the statement, before any arm runs.
        let step = self.state().lookup(path, now, self.config.revalidate_after);
        let (join, stale) = match step {
            Step::Hit(file) => return Ok(file),
            Step::Open(join) => (join, None),
            Step::Revalidate(candidate) => {
                // The `stat` happens outside the lock: other threads keep hitting.
                let changed = candidate.is_stale();
                if changed {
                    tracing::debug!(path = %path.display(), "file changed on disk: re-mapping");
                }
                let step = self.state().revalidated(path, &candidate, now, changed);
                match step {
                    Revalidated::Hit(file) => return Ok(file),
                    Revalidated::Open(join) => (join, Some(candidate)),
                }
            }
        };
        match join {
            Join::Lead(flight) => self.lead(path, &flight, stale.as_ref(), open),
            Join::Wait(flight) => match flight.wait() {
                Some(file) => Ok(file),
                None => {
                    // The leader failed or panicked: open once for this lookup, so that it
                    // gets an error of its own (or the file, if it has appeared since).
                    let (result, victims) = self.open_and_settle(path, stale.as_ref(), open, None);
                    drop(victims);
                    result
                }
            },
        }
    }

    /// Opens `path` for the threads waiting on `flight`, lands the flight, then unmaps what
    /// the open pushed out of the cache (after landing, so waiters do not wait for it).
    fn lead(
        &self,
        path: &Path,
        flight: &Arc<OpenFlight>,
        stale: Option<&Arc<MmapFile>>,
        open: impl Fn(&Path) -> Result<MmapFile>,
    ) -> Result<Arc<MmapFile>> {
        // Should `open` panic, the guard wakes the waiters and takes the flight out of the
        // table, so the next lookup opens anew.
        let lead = Lead::new(Arc::clone(flight), || {
            self.state().close(path, flight, false);
        });
        let (result, victims) = self.open_and_settle(path, stale, open, Some(flight));
        lead.land(result.as_ref().ok().map(Arc::clone));
        drop(victims);
        result
    }

    /// Opens `path` and records the outcome under the lock: the mapping cached (evicting what
    /// no longer fits) or, when the open failed, the `stale` entry forgotten; and `flight`, if
    /// any, closed in the same critical section, so that a lookup finds either the flight or
    /// the cached mapping. Returns the mappings taken out of the cache, for the caller to drop
    /// once it no longer holds the lock.
    fn open_and_settle(
        &self,
        path: &Path,
        stale: Option<&Arc<MmapFile>>,
        open: impl Fn(&Path) -> Result<MmapFile>,
        flight: Option<&Arc<OpenFlight>>,
    ) -> (Result<Arc<MmapFile>>, Victims) {
        let opened = open(path).map(Arc::new);
        let mut victims = Victims::new();
        let mut state = self.state();
        let result = match opened {
            Ok(file) => Ok(state.insert(path, file, &self.config, &mut victims)),
            Err(e) => {
                // A cached file that can no longer be opened (removed, say) leaves the cache,
                // unless another thread has put a newer mapping there meanwhile.
                if let Some(stale) = stale {
                    state.forget(path, stale, &mut victims);
                }
                Err(e)
            }
        };
        if let Some(flight) = flight {
            state.close(path, flight, result.is_ok());
        }
        drop(state);
        (result, victims)
    }

    /// Files cached now.
    pub fn len(&self) -> usize {
        self.state().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (handles still held stay valid). The mappings no one else holds are
    /// unmapped by this call, after the lock is released.
    pub fn clear(&self) {
        let victims = self.state().take_all();
        drop(victims);
    }

    /// Drops the entry for `path`, if any, and returns its mapping.
    pub fn remove(&self, path: impl AsRef<Path>) -> Option<Arc<MmapFile>> {
        // The mapping leaves with the caller, who drops it after the guard.
        self.state().remove(path.as_ref())
    }

    /// Drops the cached entry of `file` if it is that very mapping (not a newer one of the
    /// same path), counting it in [`CacheStats::poisoned`], so that the next lookup maps the
    /// file afresh. Returns whether it was cached.
    ///
    /// [`get_or_open`](Self::get_or_open) calls it for a mapping the truncation guard found
    /// poisoned ([`MmapFile::is_intact`] false). The cache opens each file under its key, so
    /// `file.path()` is the entry's key.
    pub(crate) fn drop_poisoned(&self, file: &MmapFile) -> bool {
        let gone = self.state().remove_poisoned(file);
        gone.is_some()
    }

    /// The counters, with the current entry count and mapped bytes.
    pub fn stats(&self) -> CacheStats {
        self.state().stats()
    }
}
