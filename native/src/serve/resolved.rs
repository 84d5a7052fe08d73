//! Request paths already resolved beneath the root, so a hot file costs one `stat` per
//! request instead of `openat2`, `fstat` and `close`.
//!
//! An entry records which file (its cache key and [`FileIdentity`]: device, inode, size,
//! times) a request path named when it was opened beneath the root. A later request for the
//! same path `stat`s the key and uses the entry only if that finds the very same file,
//! unchanged: whatever the path goes through now, it arrives at the inode that was checked to
//! lie inside the root, and the mapping served must show that identity too. A file replaced,
//! rewritten or swapped for a symlink sends the request back through the full check at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::identity::FileIdentity;

/// What a request path resolved to.
#[derive(Debug, Clone)]
struct Resolved {
    key: Arc<Path>,
    /// The path relative to the root.
    rel: Arc<Path>,
    id: FileIdentity,
}

/// A bounded map of request path → resolved file.
#[derive(Debug)]
pub(crate) struct ResolvedPaths {
    entries: Mutex<HashMap<Box<str>, Resolved>>,
    max_entries: usize,
}

impl ResolvedPaths {
    /// At most `max_entries` paths (none if 0).
    pub(crate) fn new(max_entries: usize) -> Self {
        ResolvedPaths {
            entries: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// The file `raw` resolved to, if it still names that very file, unchanged: `current`
    /// gives the identity of what a path relative to the root names now (one `stat`,
    /// outside the lock).
    pub(crate) fn get(
        &self,
        raw: &str,
        current: impl FnOnce(&Path) -> Option<FileIdentity>,
    ) -> Option<(Arc<Path>, FileIdentity)> {
        let entry = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.get(raw)?.clone()
        };
        let now = current(&entry.rel);
        if now != Some(entry.id) {
            self.forget(raw);
            return None;
        }
        Some((entry.key, entry.id))
    }

    /// Records that `raw` (`rel` beneath the root) was resolved to the file `id`, known to
    /// the mapping cache as `key`.
    pub(crate) fn insert(&self, raw: &str, rel: &Path, key: &Path, id: FileIdentity) {
        if self.max_entries == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max_entries && !entries.contains_key(raw) {
            // Full: start over (a scan of many names must not grow the map; the hot paths
            // come back at their next request).
            entries.clear();
        }
        let entry = Resolved {
            key: Arc::from(key),
            rel: Arc::from(rel),
            id,
        };
        entries.insert(raw.into(), entry);
    }

    /// Forgets `raw` (the file it named has changed).
    pub(crate) fn forget(&self, raw: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_holds_while_its_file_is_unchanged_and_the_map_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"one").unwrap();
        std::fs::write(&b, b"two").unwrap();
        let paths = ResolvedPaths::new(2);
        let root = dir.path().to_owned();
        let now = |rel: &Path| FileIdentity::current(&root.join(rel)).ok();
        let id_a = FileIdentity::current(&a).unwrap();
        paths.insert("a", Path::new("a"), &a, id_a);
        paths.insert("b", Path::new("b"), &b, FileIdentity::current(&b).unwrap());
        assert_eq!(paths.get("a", now).unwrap(), (Arc::from(a.as_path()), id_a));
        // Replaced by rename: another inode, so the entry is dropped.
        std::fs::rename(&b, &a).unwrap();
        assert!(paths.get("a", now).is_none());
        assert!(paths.get("b", now).is_none(), "b is gone");
        // A third name when full: the map starts over.
        let id_now = FileIdentity::current(&a).unwrap();
        paths.insert("a", Path::new("a"), &a, id_now);
        paths.insert("x", Path::new("a"), &a, id_now);
        paths.insert("y", Path::new("a"), &a, id_now);
        assert!(paths.get("a", now).is_none() && paths.get("y", now).is_some());
        paths.forget("y");
        assert!(paths.get("y", now).is_none());
        let off = ResolvedPaths::new(0);
        off.insert("a", Path::new("a"), &a, id_now);
        assert!(off.get("a", now).is_none());
    }
}
