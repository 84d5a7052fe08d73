//! File identity: which file on disk a mapping shows, so a replaced or resized file is noticed.

use std::fs::Metadata;
use std::path::Path;
use std::time::SystemTime;

use crate::error::ChangeKind;

/// Device, inode, size, modification time and status-change time of a file, captured when it
/// is opened.
///
/// Two identities are equal when they describe the same, unchanged file. The status-change time
/// (Unix `ctime`) catches in-place rewrites that restore the modification time, such as
/// `cp --preserve=timestamps` over the file. Windows has no stable inode number or ctime in
/// std, so there only size and modification time are compared.
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
    /// Last status change (Unix `ctime`: seconds, nanoseconds); `None` elsewhere.
    pub changed: Option<(i64, i64)>,
}

impl FileIdentity {
    pub(crate) fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        let (device, inode, changed) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.dev(),
                meta.ino(),
                Some((meta.ctime(), meta.ctime_nsec())),
            )
        };
        #[cfg(not(unix))]
        let (device, inode, changed) = (0, 0, None);
        FileIdentity {
            device,
            inode,
            size: meta.len(),
            modified: meta.modified().ok(),
            changed,
        }
    }

    /// The identity of whatever is at `path` now (following symlinks).
    pub fn current(path: &Path) -> std::io::Result<Self> {
        std::fs::metadata(path).map(|m| Self::of(&m))
    }

    /// How `now` differs from `self`, or `None` if it is the same file, unchanged.
    pub fn difference(&self, now: &FileIdentity) -> Option<ChangeKind> {
        if (self.device, self.inode) != (now.device, now.inode) {
            Some(ChangeKind::Replaced)
        } else if self.size != now.size {
            Some(ChangeKind::Resized)
        } else if self.modified != now.modified || self.changed != now.changed {
            Some(ChangeKind::Modified)
        } else {
            None
        }
    }
}
