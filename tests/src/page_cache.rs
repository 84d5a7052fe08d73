//! How the kernel's page cache holds a file, and ways to put it into a known state, for
//! benchmarks whose figures depend on it.
//!
//! A mapping of a file maps the page cache's folios, and the kernel's cost to map and unmap
//! a range grows with the number of folios in it: unmapping the Gemma model's 6.5 MB header
//! took 0.22 ms from 4 KiB pages and 0.008 ms from 2 MiB folios (docs/BENCHMARKS.md). The
//! folio sizes depend on how the file came into the cache (and on the kernel and the file
//! system): on Linux 6.18 with ext4, a file written with 1 MiB writes is held in folios of
//! about 1 MiB, one read first through a plain mapping (as mmap loaders such as llama.cpp
//! read it) in 4 KiB pages, and one read back with `read()` in a mix of small folios.

use std::io::Read;
use std::path::Path;

use weightmap_native::{MmapFile, ModelSource};

/// The folios holding a range of a cached file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folios {
    /// 4 KiB pages in the range.
    pub pages: u64,
    /// Folios holding them (a folio cut by the range's ends counts once).
    pub folios: u64,
    /// Pages in the largest folio.
    pub largest: u64,
}

impl std::fmt::Display for Folios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pages in {} folios (mean {} KiB, largest {} KiB)",
            self.pages,
            self.folios,
            self.pages * 4 / self.folios.max(1),
            self.largest * 4
        )
    }
}

/// The folios the page cache holds the first `len` bytes of `path` in, read from
/// `/proc/self/pagemap` and `/proc/kpageflags` (Linux, root only) after reading one byte of
/// each page through a mapping (which caches any page that was not). An error says why not.
pub fn folios(path: &Path, len: usize) -> Result<Folios, String> {
    const COMPOUND_TAIL: u64 = 1 << 16;
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    // Opened first: without them, nothing is touched.
    let pagemap = std::fs::File::open("/proc/self/pagemap").map_err(|e| io("pagemap", e))?;
    let flags = std::fs::File::open("/proc/kpageflags").map_err(|e| io("/proc/kpageflags", e))?;
    let page = weightmap_native::page_size();
    let file = MmapFile::open_untrusted(path).map_err(|e| e.to_string())?;
    let len = len.min(file.size());
    file.touch(std::slice::from_ref(&(0..len)), |_, _| {})
        .map_err(|e| e.to_string())?;
    let bytes = file.as_slice();
    let entry = |f: &std::fs::File, index: u64| -> Result<u64, String> {
        let mut word = [0u8; 8];
        read_at(f, &mut word, index * 8).map_err(|e| io("read", e))?;
        Ok(u64::from_ne_bytes(word))
    };
    let first = bytes.as_ptr() as u64 / page as u64;
    let (mut folios, mut largest, mut current) = (0u64, 0u64, 0u64);
    let pages = len.div_ceil(page) as u64;
    for page in 0..pages {
        let mapped = entry(&pagemap, first + page)?;
        let pfn = mapped & ((1 << 55) - 1);
        if mapped >> 63 == 0 || pfn == 0 {
            return Err("page frame numbers hidden (run as root)".into());
        }
        let kind = entry(&flags, pfn)?;
        // A tail page continues the folio before it; a head or a small page starts one.
        if kind & COMPOUND_TAIL == 0 || page == 0 {
            folios += 1;
            current = 0;
        }
        current += 1;
        largest = largest.max(current);
    }
    Ok(Folios {
        pages,
        folios,
        largest,
    })
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_at(_: &std::fs::File, _: &mut [u8], _: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Drops `path`'s pages from the page cache (`posix_fadvise(DONTNEED)`).
pub fn evict(path: &Path) -> Result<(), String> {
    MmapFile::open_untrusted(path)
        .and_then(|f| f.evict_page_cache())
        .map_err(|e| e.to_string())
}

/// How to read a file back into the page cache after [`evict`]ing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// One byte per page of the first `len` bytes through a plain mapping, as mmap loaders
    /// first read a file (4 KiB pages on Linux 6.18).
    Mapped(usize),
    /// weightmap's zero-copy open (`ModelSource::open_trusted`), which asks for the header
    /// in huge pages.
    Weightmap,
    /// The whole file with `read()` in 1 MiB blocks, as `cat` or a checksum tool reads it.
    Read,
}

/// Evicts `path` from the page cache, then reads it back in as `how` says.
pub fn reread(path: &Path, how: Reread) -> Result<(), String> {
    evict(path)?;
    match how {
        Reread::Mapped(len) => {
            // A byte per page by hand: `MmapFile::touch` would advise `MADV_WILLNEED` first,
            // a read-ahead of its own, not the plain faults this state is about.
            let file = MmapFile::open_untrusted(path).map_err(|e| e.to_string())?;
            let bytes = file.as_slice();
            let sum = (0..len.min(bytes.len()))
                .step_by(weightmap_native::page_size())
                .fold(0u8, |a, i| a.wrapping_add(bytes[i]));
            std::hint::black_box(sum);
        }
        Reread::Weightmap => {
            // SAFETY: the caller does not modify the benchmark's file while it runs.
            drop(unsafe { ModelSource::open_trusted(path) }.map_err(|e| e.to_string())?);
        }
        Reread::Read => {
            let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
            let mut block = vec![0u8; 1 << 20];
            while file.read(&mut block).map_err(|e| e.to_string())? > 0 {}
        }
    }
    Ok(())
}
