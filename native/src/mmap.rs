//! `MmapFile`: a read-only memory mapping of a whole file, as [`ModelData`].

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use weightmap_core::{Backing, ModelData};

use crate::error::{Error, Result};

/// A file mapped read-only into memory.
///
/// Empty files are represented without a mapping (mapping zero bytes is an error on Linux).
#[derive(Debug)]
pub struct MmapFile {
    path: PathBuf,
    map: Option<Mmap>,
}

impl MmapFile {
    /// Maps the whole file at `path` read-only. Nothing is read: pages load on first touch.
    ///
    /// # Errors
    /// [`Error::FileNotFound`], [`Error::PermissionDenied`], [`Error::NotAFile`] for
    /// directories and special files, [`Error::FileTooLarge`], [`Error::MapFailed`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| Error::from_open(path.clone(), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::from_open(path.clone(), e))?;
        if !meta.is_file() {
            let kind = if meta.is_dir() {
                "a directory"
            } else {
                "a special file"
            };
            return Err(Error::NotAFile { path, kind });
        }
        let size = meta.len();
        if usize::try_from(size).is_err() || size > isize::MAX as u64 {
            return Err(Error::FileTooLarge { path, size });
        }
        if size == 0 {
            tracing::debug!(path = %path.display(), "empty file: no mapping");
            return Ok(MmapFile { path, map: None });
        }
        // SAFETY: the mapping is read-only and private to this process. Its contents can still
        // change if another process modifies the file on disk; the crate documentation (and
        // MmapFile's) tells callers to replace model files by rename, never in place. All reads
        // go through `&[u8]` bounds checks, so a changed file can give wrong bytes or, if
        // truncated, SIGBUS, but no out-of-bounds access by this code.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| Error::MapFailed {
            path: path.clone(),
            source,
        })?;
        tracing::debug!(path = %path.display(), size, addr = ?map.as_ptr(), "mapped");
        Ok(MmapFile {
            path,
            map: Some(map),
        })
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }
}

impl Drop for MmapFile {
    fn drop(&mut self) {
        if let Some(map) = &self.map {
            tracing::debug!(path = %self.path.display(), size = map.len(), addr = ?map.as_ptr(), "unmapped");
        }
    }
}

impl ModelData for MmapFile {
    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }

    fn backing(&self) -> Backing {
        Backing::Mmap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_a_file_and_reports_its_bytes() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"GGUF and more").unwrap();
        let m = MmapFile::open(f.path()).unwrap();
        assert_eq!(m.bytes(), b"GGUF and more");
        assert_eq!(m.size(), 13);
        assert_eq!(m.backing(), Backing::Mmap);
    }

    #[test]
    fn errors_name_the_path_and_cause() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gguf");
        let e = MmapFile::open(&missing).unwrap_err();
        assert!(matches!(e, Error::FileNotFound { .. }));
        assert!(e.to_string().contains("nope.gguf"));
        let e = MmapFile::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::NotAFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn empty_files_map_to_no_bytes() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let m = MmapFile::open(f.path()).unwrap();
        assert!(m.is_empty());
        assert_eq!(m.bytes(), b"");
    }
}
