//! Which file a request names: only regular files inside the served directory.
//!
//! A request path is checked twice. First as text, component by component, after the router
//! decoded it once: empty and dot components (`..`, `.`, hidden names), NUL and other control
//! characters, backslashes and any `%` left after decoding (a double-encoded escape) are
//! refused. Then the file is opened beneath the root so that the kernel, not a string
//! comparison, decides what is inside: on Linux with `openat2(RESOLVE_BENEATH)`, which fails
//! for any `..` or symlink that would leave the directory (absolute symlinks included), and
//! elsewhere (or where `openat2` is unavailable) by canonicalising the path and checking its
//! prefix. The served mapping must then show the very inode that was opened, which closes the
//! race of a symlink swapped in between.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::identity::FileIdentity;

/// Longest request path accepted, in bytes.
const MAX_PATH: usize = 4096;

/// The reason given for a path that names nothing (as opposed to one refused).
pub(crate) const NO_SUCH_FILE: &str = "no such file";

/// Why a request path names no servable file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The path is malformed or tries to escape: 400.
    Malformed(&'static str),
    /// Nothing servable there (absent, hidden, a directory, a device, outside the root): 404.
    NotFound(&'static str),
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Malformed(why) | Refusal::NotFound(why) => why,
        }
    }
}

/// The request path (as decoded by the router, without its leading `/files/`) as a relative
/// path of plain components.
pub(crate) fn relative(raw: &str) -> Result<PathBuf, Refusal> {
    if raw.is_empty() {
        return Err(Refusal::NotFound("empty path"));
    }
    if raw.len() > MAX_PATH {
        return Err(Refusal::Malformed("path too long"));
    }
    if raw.starts_with('/') {
        return Err(Refusal::Malformed("absolute path"));
    }
    let mut path = PathBuf::new();
    for part in raw.split('/') {
        match part {
            "" => return Err(Refusal::Malformed("empty path component")),
            "." | ".." => return Err(Refusal::Malformed("dot segment")),
            _ if part.contains('\0') => return Err(Refusal::Malformed("NUL in path")),
            _ if part.chars().any(char::is_control) => {
                return Err(Refusal::Malformed("control character in path"))
            }
            _ if part.contains('\\') => return Err(Refusal::Malformed("backslash in path")),
            _ if part.contains('%') => return Err(Refusal::Malformed("encoded escape in path")),
            _ if part.starts_with('.') => return Err(Refusal::NotFound("hidden file")),
            _ => path.push(part),
        }
    }
    Ok(path)
}

/// The served directory: its canonical path and an open handle to it.
#[derive(Debug)]
pub(crate) struct Root {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    dir: File,
}

impl Root {
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let path = std::fs::canonicalize(dir)?;
        if !std::fs::metadata(&path)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(Root {
            #[cfg(target_os = "linux")]
            dir: File::open(&path)?,
            path,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (from [`relative`]) beneath the root: a regular file, never one reached
    /// through a path or symlink that leaves the root. Never blocks on a FIFO. With its
    /// metadata (one `fstat`).
    pub(crate) fn open_file(&self, rel: &Path) -> Result<(File, std::fs::Metadata), Refusal> {
        let file = self.open_beneath(rel)?;
        match file.metadata() {
            Ok(meta) if meta.is_file() => Ok((file, meta)),
            Ok(meta) if meta.is_dir() => Err(Refusal::NotFound("a directory")),
            Ok(_) => Err(Refusal::NotFound("not a regular file")),
            Err(_) => Err(Refusal::NotFound("cannot stat")),
        }
    }

    /// The identity of what `rel` names beneath the root now (following symlinks: a caller
    /// compares it with the identity of a file checked before), in one `fstatat` from the
    /// root's descriptor.
    pub(crate) fn identity_of(&self, rel: &Path) -> Option<FileIdentity> {
        #[cfg(target_os = "linux")]
        {
            rustix::fs::statat(&self.dir, rel, rustix::fs::AtFlags::empty())
                .ok()
                .map(|stat| FileIdentity::of_stat(&stat))
        }
        #[cfg(not(target_os = "linux"))]
        {
            FileIdentity::current(&self.path.join(rel)).ok()
        }
    }

    /// The path the mapping cache knows the file by.
    pub(crate) fn join(&self, rel: &Path) -> PathBuf {
        self.path.join(rel)
    }

    #[cfg(target_os = "linux")]
    fn open_beneath(&self, rel: &Path) -> Result<File, Refusal> {
        use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        match openat2(&self.dir, rel, flags, Mode::empty(), resolve) {
            Ok(fd) => Ok(File::from(fd)),
            // Kernels before 5.6, or a seccomp filter: check the canonical path instead.
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => self.open_canonical(rel),
            Err(rustix::io::Errno::XDEV) => Err(Refusal::NotFound("leaves the served directory")),
            Err(rustix::io::Errno::LOOP) => Err(Refusal::NotFound("symlink loop")),
            Err(rustix::io::Errno::ACCESS) => Err(Refusal::NotFound("permission denied")),
            Err(_) => Err(Refusal::NotFound(NO_SUCH_FILE)),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn open_beneath(&self, rel: &Path) -> Result<File, Refusal> {
        self.open_canonical(rel)
    }

    /// The portable check: the canonical path must lie inside the root.
    fn open_canonical(&self, rel: &Path) -> Result<File, Refusal> {
        let full = std::fs::canonicalize(self.path.join(rel))
            .map_err(|_| Refusal::NotFound(NO_SUCH_FILE))?;
        if !full.starts_with(&self.path) {
            return Err(Refusal::NotFound("leaves the served directory"));
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        }
        options
            .open(&full)
            .map_err(|_| Refusal::NotFound("cannot open"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_and_tricks_do_not() {
        assert_eq!(relative("a/b.gguf"), Ok(PathBuf::from("a/b.gguf")));
        for bad in [
            "../etc/passwd",
            "a/../../x",
            "a/./b",
            "/etc/passwd",
            "a//b",
            "a/",
            "a\\..\\b",
            "%2e%2e/x",
            "a\0b",
            "a\nb",
        ] {
            assert!(
                matches!(relative(bad), Err(Refusal::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(relative(".env"), Err(Refusal::NotFound("hidden file")));
        assert_eq!(relative(""), Err(Refusal::NotFound("empty path")));
        assert!(relative(&"a/".repeat(3000)).is_err());
    }
}
