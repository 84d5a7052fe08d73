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

    /// The identity of a file from `fstatat`/`statx` fields, equal to [`of`](Self::of) on
    /// that file's `Metadata`.
    #[cfg(all(target_os = "linux", any(feature = "server", test)))]
    pub(crate) fn of_stat(stat: &rustix::fs::Stat) -> Self {
        let time = |sec: i64, nsec: i64| -> Option<SystemTime> {
            let nanos = u32::try_from(nsec).ok().filter(|&n| n < 1_000_000_000)?;
            let base = match u64::try_from(sec) {
                Ok(sec) => SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(sec)),
                Err(_) => SystemTime::UNIX_EPOCH
                    .checked_sub(std::time::Duration::from_secs(sec.unsigned_abs())),
            }?;
            base.checked_add(std::time::Duration::from_nanos(u64::from(nanos)))
        };
        #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
        FileIdentity {
            device: stat.st_dev as u64,
            inode: stat.st_ino as u64,
            size: stat.st_size as u64,
            modified: time(stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            changed: Some((stat.st_ctime as i64, stat.st_ctime_nsec as i64)),
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

#[cfg(all(test, target_os = "linux"))]
mod stat_tests {
    use super::*;

    #[test]
    fn an_identity_from_fstatat_equals_the_one_from_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let stat = rustix::fs::stat(&path).unwrap();
        assert_eq!(
            FileIdentity::of_stat(&stat),
            FileIdentity::current(&path).unwrap()
        );
        // Before 1970 too (a negative modification time).
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        let old = SystemTime::UNIX_EPOCH - std::time::Duration::new(86_400, 0)
            + std::time::Duration::from_nanos(123);
        file.set_modified(old).unwrap();
        let stat = rustix::fs::stat(&path).unwrap();
        let id = FileIdentity::of_stat(&stat);
        assert_eq!(id, FileIdentity::current(&path).unwrap());
        assert_eq!(id.modified, Some(old));
    }
}
