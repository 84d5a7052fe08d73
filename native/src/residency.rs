//! What a mapping costs in memory: resident pages (like `vmtouch`) and page-fault counts.

use std::ops::Range;

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::mmap::MmapFile;
use crate::pages::{page_span, Rounding};
use crate::sys;

/// Resident pages of a byte range of a mapped file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Residency {
    /// Bytes per page.
    pub page_size: usize,
    /// Pages the range touches.
    pub pages: u64,
    /// Pages in the kernel's page cache (`mincore`). They cost no disk read to touch, and are
    /// shared by every process that maps the file.
    pub cached: u64,
    /// Pages present in this process's page tables, that is, counted in its RSS
    /// (`/proc/self/pagemap`; `None` where that is unavailable). [`MmapFile::try_release`] lowers
    /// this; only [`MmapFile::evict_page_cache`] lowers `cached`.
    pub mapped: Option<u64>,
}

impl Residency {
    /// Fraction of the pages in the page cache, from 0 to 1 (1 for an empty range).
    pub fn cached_fraction(&self) -> f64 {
        if self.pages == 0 {
            1.0
        } else {
            self.cached as f64 / self.pages as f64
        }
    }

    /// Bytes of the range in the page cache (whole pages).
    pub fn cached_bytes(&self) -> u64 {
        self.cached * self.page_size as u64
    }
}

impl MmapFile {
    /// Residency of the whole file.
    ///
    /// # Errors
    /// [`Error::Unsupported`] outside Unix, [`Error::SystemCall`] if `mincore` fails.
    pub fn residency(&self) -> Result<Residency> {
        self.residency_of(0..self.size())
    }

    /// Residency of the pages covering `range` (for a tensor: its byte range).
    ///
    /// # Errors
    /// [`Error::InvalidRange`], [`Error::Unsupported`] outside Unix, [`Error::SystemCall`] if
    /// `mincore` fails.
    pub fn residency_of(&self, range: Range<usize>) -> Result<Residency> {
        let range = self.check_range(&range)?;
        let span = page_span(&range, self.size(), Rounding::Outward);
        let page_size = sys::page_size();
        let mut residency = Residency {
            page_size,
            mapped: Some(0),
            ..Residency::default()
        };
        if span.is_empty() {
            return Ok(residency);
        }
        let bytes = &self.as_slice()[span];
        // Bounded chunks keep the flag vector small for a 64 GiB file.
        let mut flags = Vec::new();
        for chunk in bytes.chunks(page_size.saturating_mul(64 * 1024)) {
            flags.clear();
            sys::mincore(chunk, &mut flags).map_err(|e| self.os_error("mincore", e))?;
            residency.cached += flags.iter().filter(|&&f| f).count() as u64;
        }
        residency.pages = bytes.len().div_ceil(page_size) as u64;
        residency.mapped = sys::mapped_pages(bytes).ok();
        Ok(residency)
    }
}

/// The process's page-fault counters (`getrusage`): minor faults map a page already in memory,
/// major faults wait for the disk. Counts cover all threads of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PageFaults {
    /// Faults served from memory (page cache or zeroed pages).
    pub minor: u64,
    /// Faults that read from the disk.
    pub major: u64,
}

impl PageFaults {
    /// The counters now, since the process started. Zero where the platform has no
    /// `getrusage`.
    pub fn now() -> Self {
        let (minor, major) = sys::page_faults().unwrap_or((0, 0));
        PageFaults { minor, major }
    }

    /// Runs `f` and returns its result with the faults it caused (and any other thread caused
    /// meanwhile).
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, PageFaults) {
        let before = Self::now();
        let out = f();
        (out, Self::now().since(&before))
    }

    /// The faults counted between `earlier` and `self`.
    pub fn since(&self, earlier: &PageFaults) -> PageFaults {
        PageFaults {
            minor: self.minor.saturating_sub(earlier.minor),
            major: self.major.saturating_sub(earlier.major),
        }
    }
}

/// The process's resident set size in bytes (`/proc/self/statm`; Linux only, `None` elsewhere).
pub fn resident_set_size() -> Option<u64> {
    sys::resident_set_size().ok()
}

/// The process's peak resident set size in bytes since it started or since the last
/// [`reset_peak_resident_set_size`] (`VmHWM`; Linux only, `None` elsewhere).
pub fn peak_resident_set_size() -> Option<u64> {
    sys::peak_resident_set_size().ok()
}

/// Restarts the peak that [`peak_resident_set_size`] reports from the current resident set
/// size, so the peak of one phase (a load, an upload) can be measured. Returns whether it
/// worked (Linux 4.0 and later).
pub fn reset_peak_resident_set_size() -> bool {
    sys::reset_peak_resident_set_size().is_ok()
}
