//! `MmapCache`: mapped files shared across threads, bounded by count and bytes, least recently
//! used first out, re-mapped when the file on disk is replaced.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::config::MmapConfig;
use crate::error::Result;
use crate::mmap::MmapFile;

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

/// Counters of an [`MmapCache`] since it was created. Every lookup counts once, as a hit, a
/// miss or a remap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that opened the file.
    pub misses: u64,
    /// Entries dropped to stay within bounds.
    pub evictions: u64,
    /// Entries re-mapped because the file on disk changed.
    pub remaps: u64,
    /// Misses whose file was too large to cache.
    pub uncached: u64,
    /// Files cached now.
    pub entries: usize,
    /// Bytes of the files cached now.
    pub bytes_mapped: u64,
}

#[derive(Debug)]
struct Entry {
    file: Arc<MmapFile>,
    checked: Instant,
}

#[derive(Debug)]
struct State {
    lru: LruCache<PathBuf, Entry>,
    bytes: u64,
    stats: CacheStats,
}

/// Mapped files shared across threads.
///
/// Handles are `Arc<MmapFile>`: evicting or re-mapping an entry never invalidates a handle
/// still held; its mapping lives until the last handle drops. Paths are keys as given (not
/// canonicalised), so `a/../m.gguf` and `m.gguf` are two entries.
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
            state: Mutex::new(State {
                lru: LruCache::unbounded(),
                bytes: 0,
                stats: CacheStats::default(),
            }),
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
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mapping of `path`: from the cache when present and unchanged on disk, else freshly
    /// opened (and cached if it fits).
    ///
    /// # Errors
    /// The errors of [`MmapFile::open_untrusted_with`]. A failed open caches nothing.
    pub fn get_or_open(&self, path: impl AsRef<Path>) -> Result<Arc<MmapFile>> {
        let path = path.as_ref();
        let now = Instant::now();
        let stale_candidate = {
            let mut state = self.state();
            match state.lru.get(path) {
                Some(e) if now.duration_since(e.checked) < self.config.revalidate_after => {
                    let file = Arc::clone(&e.file);
                    state.stats.hits += 1;
                    return Ok(file);
                }
                Some(e) => Some(Arc::clone(&e.file)),
                None => None,
            }
        };
        // Checking the disk and opening happen outside the lock: other threads keep hitting.
        if let Some(file) = &stale_candidate {
            if !file.is_stale() {
                let mut state = self.state();
                // Only if another thread has not replaced the entry meanwhile.
                if let Some(e) = state
                    .lru
                    .get_mut(path)
                    .filter(|e| Arc::ptr_eq(&e.file, file))
                {
                    e.checked = now;
                }
                state.stats.hits += 1;
                return Ok(Arc::clone(file));
            }
            tracing::debug!(path = %path.display(), "file changed on disk: re-mapping");
        }
        let file = match self.open(path) {
            Ok(file) => Arc::new(file),
            Err(e) => {
                // A cached file that can no longer be opened (removed, say) leaves the cache,
                // unless another thread has put a newer mapping there meanwhile.
                if let Some(stale) = &stale_candidate {
                    let mut state = self.state();
                    if state
                        .lru
                        .peek(path)
                        .is_some_and(|e| Arc::ptr_eq(&e.file, stale))
                    {
                        if let Some(gone) = state.lru.pop(path) {
                            state.bytes -= gone.file.size() as u64;
                            tracing::debug!(path = %path.display(), "dropped from cache");
                        }
                    }
                }
                return Err(e);
            }
        };
        let mut state = self.state();
        Ok(self.insert(&mut state, path, file))
    }

    /// Puts a freshly opened file in the cache, replacing an older mapping of the same path,
    /// and evicts least-recently-used entries until the bounds hold.
    fn insert(&self, state: &mut State, path: &Path, file: Arc<MmapFile>) -> Arc<MmapFile> {
        let size = file.size() as u64;
        if let Some(old) = state.lru.pop(path) {
            state.bytes -= old.file.size() as u64;
            if old.file.identity() == file.identity() {
                // Another thread opened the same file meanwhile: keep one mapping.
                state.stats.hits += 1;
                let kept = Arc::clone(&old.file);
                state.bytes += size;
                state.lru.put(path.to_path_buf(), old);
                return kept;
            }
            state.stats.remaps += 1;
        } else {
            state.stats.misses += 1;
        }
        if size > self.config.max_bytes || self.config.max_entries == 0 {
            state.stats.uncached += 1;
            return file;
        }
        while state.lru.len() >= self.config.max_entries
            || state.bytes + size > self.config.max_bytes
        {
            let Some((evicted, entry)) = state.lru.pop_lru() else {
                break;
            };
            state.bytes -= entry.file.size() as u64;
            state.stats.evictions += 1;
            tracing::debug!(path = %evicted.display(), size = entry.file.size(), "evicted from cache");
        }
        state.bytes += size;
        state.lru.put(
            path.to_path_buf(),
            Entry {
                file: Arc::clone(&file),
                checked: Instant::now(),
            },
        );
        file
    }

    /// Files cached now.
    pub fn len(&self) -> usize {
        self.state().lru.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (handles still held stay valid).
    pub fn clear(&self) {
        let mut state = self.state();
        state.lru.clear();
        state.bytes = 0;
    }

    /// Drops the entry for `path`, if any.
    pub fn remove(&self, path: impl AsRef<Path>) -> Option<Arc<MmapFile>> {
        let mut state = self.state();
        let entry = state.lru.pop(path.as_ref())?;
        state.bytes -= entry.file.size() as u64;
        Some(entry.file)
    }

    /// The counters, with the current entry count and mapped bytes.
    pub fn stats(&self) -> CacheStats {
        let state = self.state();
        CacheStats {
            entries: state.lru.len(),
            bytes_mapped: state.bytes,
            ..state.stats
        }
    }
}
