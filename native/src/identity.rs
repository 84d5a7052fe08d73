//! File identity: which file on disk a mapping shows, so a replaced or resized file is noticed.

use std::fs::Metadata;
use std::path::Path;
use std::time::SystemTime;

/// Device, inode, size and modification time of a file, captured when it is opened.
///
/// Two identities are equal when they describe the same, unchanged file. Windows has no stable
/// inode number in std, so there only size and modification time are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    /// Device number (0 where unknown).
    pub device: u64,
    /// Inode number (0 where unknown).
    pub inode: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, where the platform records it.
    pub modified: Option<SystemTime>,
}

impl FileIdentity {
    pub(crate) fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        let (device, inode) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (device, inode) = (0, 0);
        FileIdentity {
            device,
            inode,
            size: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// The identity of whatever is at `path` now (following symlinks).
    pub fn current(path: &Path) -> std::io::Result<Self> {
        std::fs::metadata(path).map(|m| Self::of(&m))
    }

    /// How `now` differs from `self`, or `None` if it is the same file, unchanged.
    pub fn difference(&self, now: &FileIdentity) -> Option<&'static str> {
        if (self.device, self.inode) != (now.device, now.inode) {
            Some("replaced")
        } else if self.size != now.size {
            Some("resized")
        } else if self.modified != now.modified {
            Some("modified")
        } else {
            None
        }
    }
}
