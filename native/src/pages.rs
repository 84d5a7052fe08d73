//! Advice, release, locking and page-cache eviction on sub-ranges of an [`MmapFile`].
//!
//! The kernel acts on whole pages. Advice rounds a range *outward* (the pages holding any of its
//! bytes: advising a neighbour's page costs nothing). Release rounds *inward* by default, so it
//! never drops a page that also holds bytes outside the range, such as the start of the next
//! tensor still being read; [`Rounding::Outward`] asks for the covering pages instead.

use std::ops::Range;
use std::sync::atomic::Ordering;

use weightmap_core::Advice;

use crate::error::{Error, Result};
use crate::mmap::{HugePages, MmapFile};
use crate::sys;

/// The size of a transparent huge page on x86-64 and most arm64 kernels.
pub(crate) const HUGE_PAGE: usize = 2 << 20;

/// How a byte range becomes a page range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rounding {
    /// Only pages that lie wholly inside the range (the last, partial page of the file counts
    /// as whole: nothing follows it).
    #[default]
    Inward,
    /// Every page holding at least one byte of the range.
    Outward,
}

/// The page-aligned byte range of `range` in a mapping of `size` bytes (which starts on a page
/// boundary), rounded as asked. Empty when no page qualifies.
pub(crate) fn page_span(range: &Range<usize>, size: usize, rounding: Rounding) -> Range<usize> {
    if range.start >= range.end {
        return 0..0;
    }
    let page = sys::page_size();
    let down = |x: usize| x - x % page;
    let up = |x: usize| down(x.saturating_add(page - 1)).min(size);
    let (start, end) = match rounding {
        Rounding::Inward => (
            up(range.start),
            if range.end == size {
                size
            } else {
                down(range.end)
            },
        ),
        Rounding::Outward => (down(range.start), up(range.end)),
    };
    if start < end {
        start..end
    } else {
        0..0
    }
}

/// The `madvise` call for `advice`; `None` for advice added to core after this crate, which is
/// ignored rather than guessed (guessing Normal would undo an earlier Random, say).
fn advice_name(advice: Advice) -> Option<&'static str> {
    match advice {
        Advice::Normal => Some("madvise(MADV_NORMAL)"),
        Advice::Sequential => Some("madvise(MADV_SEQUENTIAL)"),
        Advice::Random => Some("madvise(MADV_RANDOM)"),
        Advice::WillNeed => Some("madvise(MADV_WILLNEED)"),
        _ => None,
    }
}

impl MmapFile {
    /// Tells the kernel how `range` will be read (`madvise` on the pages covering it).
    /// A no-op outside Unix and for empty files.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] for a range outside the file, [`Error::SystemCall`] if
    /// `madvise` fails.
    pub fn try_advise(&self, range: Range<usize>, advice: Advice) -> Result<()> {
        self.check_range(&range)?;
        let span = page_span(&range, self.size(), Rounding::Outward);
        let Some(map) = self.map_ref().filter(|_| !span.is_empty()) else {
            return Ok(());
        };
        let Some(call) = advice_name(advice) else {
            return Ok(());
        };
        tracing::debug!(path = %self.path().display(), offset = span.start, len = span.len(),
            addr = ?map.as_ptr(), advice = call, "advise");
        #[cfg(unix)]
        {
            use memmap2::Advice as Madvise;
            let madvise = match advice {
                Advice::Sequential => Madvise::Sequential,
                Advice::Random => Madvise::Random,
                Advice::WillNeed => Madvise::WillNeed,
                _ => Madvise::Normal,
            };
            map.advise_range(madvise, span.start, span.len())
                .map_err(|source| self.syscall_error(call, source))
        }
        #[cfg(not(unix))]
        Ok(())
    }

    /// Announces a front-to-back pass over the whole file (`MADV_SEQUENTIAL`).
    ///
    /// # Errors
    /// [`Error::SystemCall`] if `madvise` fails.
    pub fn advise_sequential(&self) -> Result<()> {
        self.try_advise(0..self.size(), Advice::Sequential)
    }

    /// Gives the pages wholly inside `range` back to the kernel (`MADV_DONTNEED`) and returns
    /// the byte range released. The bytes stay readable: the next read faults them in again
    /// from the page cache or the disk. Released pages of a [locked](Self::lock) mapping are
    /// unlocked first (the kernel refuses to drop locked pages). A no-op returning `0..0`
    /// outside Linux.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] for a range outside the file, [`Error::SystemCall`] if
    /// `madvise` fails.
    pub fn try_release(&self, range: Range<usize>) -> Result<Range<usize>> {
        self.try_release_rounded(range, Rounding::Inward)
    }

    /// [`try_release`](Self::try_release) with the rounding chosen: [`Rounding::Outward`] also drops the
    /// partial pages at either end, which may hold bytes of neighbouring data.
    ///
    /// # Errors
    /// As [`try_release`](Self::try_release).
    pub fn try_release_rounded(
        &self,
        range: Range<usize>,
        rounding: Rounding,
    ) -> Result<Range<usize>> {
        self.check_range(&range)?;
        let span = page_span(&range, self.size(), rounding);
        let Some(map) = self.map_ref().filter(|_| !span.is_empty()) else {
            return Ok(0..0);
        };
        tracing::debug!(path = %self.path().display(), offset = span.start, len = span.len(),
            addr = ?map.as_ptr(), "release (MADV_DONTNEED)");
        #[cfg(target_os = "linux")]
        {
            if self.locked_flag().load(Ordering::Relaxed) {
                sys::munlock(&map[span.clone()])
                    .map_err(|source| self.syscall_error("munlock", source))?;
            }
            // SAFETY: the mapping is private and read-only, so it holds no written (copied)
            // pages: MADV_DONTNEED only drops clean pages, and later reads fault in the file's
            // contents again: the same bytes for a trusted mapping (its opener promised the
            // file does not change), whatever the file holds now for an untrusted one, which
            // is only ever read as plain bytes. Slices borrowed from the mapping stay valid
            // because the virtual range stays mapped.
            unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    span.start,
                    span.len(),
                )
            }
            .map_err(|source| self.syscall_error("madvise(MADV_DONTNEED)", source))?;
            Ok(span)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (map, span);
            Ok(0..0)
        }
    }

    /// Releases every page of the mapping (see [`try_release`](Self::try_release)): after an upload to
    /// a GPU, say, the process's resident memory returns to what it was before the file was
    /// read.
    ///
    /// # Errors
    /// [`Error::SystemCall`] if `madvise` fails.
    pub fn release_cpu_pages(&self) -> Result<()> {
        self.try_release(0..self.size()).map(drop)
    }

    /// Drops the file's pages from the kernel's page cache (`posix_fadvise(DONTNEED)`) after
    /// releasing this mapping's pages, so the next read comes from the disk. Benchmarks use it
    /// to measure cold loads. Dirty pages and pages mapped by other processes stay. Linux only.
    ///
    /// # Errors
    /// [`Error::SystemCall`] if a call fails, [`Error::Unsupported`] on other platforms.
    pub fn evict_page_cache(&self) -> Result<()> {
        self.release_cpu_pages()?;
        tracing::debug!(path = %self.path().display(), size = self.size(), "evict page cache");
        sys::fadvise_dontneed(self.file())
            .map_err(|source| self.os_error("posix_fadvise(POSIX_FADV_DONTNEED)", source))
    }

    /// Pins every page of the mapping in RAM (`mlock`), faulting them in first.
    ///
    /// # Errors
    /// [`Error::LockFailed`] (explaining `RLIMIT_MEMLOCK`) when the kernel refuses,
    /// [`Error::Unsupported`] outside Unix.
    pub fn lock(&self) -> Result<()> {
        let Some(map) = self.map_ref() else {
            return Ok(());
        };
        tracing::debug!(path = %self.path().display(), size = map.len(), addr = ?map.as_ptr(), "mlock");
        #[cfg(unix)]
        {
            map.lock().map_err(|source| Error::LockFailed {
                path: self.path().to_path_buf(),
                size: map.len() as u64,
                limit: sys::memlock_limit(),
                source,
            })?;
            self.locked_flag().store(true, Ordering::Relaxed);
            Ok(())
        }
        #[cfg(not(unix))]
        Err(Error::Unsupported {
            path: self.path().to_path_buf(),
            what: "mlock",
        })
    }

    /// Undoes [`lock`](Self::lock). Unmapping unlocks too.
    ///
    /// # Errors
    /// [`Error::SystemCall`] if `munlock` fails.
    pub fn unlock(&self) -> Result<()> {
        let Some(map) = self.map_ref() else {
            return Ok(());
        };
        tracing::debug!(path = %self.path().display(), size = map.len(), addr = ?map.as_ptr(), "munlock");
        #[cfg(unix)]
        map.unlock()
            .map_err(|source| self.syscall_error("munlock", source))?;
        self.locked_flag().store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Asks for the mapping's bytes `from..end` in transparent huge pages (`MADV_HUGEPAGE`,
    /// rounded out to whole huge pages), best effort. What it changes is how a page-cache
    /// miss in the range is read: in 2 MiB folios rather than 4 KiB pages, where the kernel
    /// and the file system support it, which later mappings then map in one fault and unmap
    /// at once. Pages already cached keep their size. Returns where the advice ends now, to be
    /// passed back as `from` when it grows, or `usize::MAX` when there is nothing more to ask
    /// (the call failed, it is not Linux, or the mapping is empty).
    pub(crate) fn advise_huge_range(&self, from: usize, end: usize) -> usize {
        let Some(map) = self.map_ref() else {
            return usize::MAX;
        };
        let from = from - from % HUGE_PAGE;
        let end = end.next_multiple_of(HUGE_PAGE).min(map.len());
        if from >= end {
            return end;
        }
        #[cfg(target_os = "linux")]
        {
            tracing::debug!(path = %self.path().display(), offset = from, len = end - from,
                addr = ?map.as_ptr(), "madvise(MADV_HUGEPAGE) on the header");
            match map.advise_range(memmap2::Advice::HugePage, from, end - from) {
                Ok(()) => end,
                Err(e) => {
                    tracing::debug!(path = %self.path().display(), error = %e,
                        "huge pages refused");
                    usize::MAX
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        usize::MAX
    }

    pub(crate) fn advise_huge_pages(&self) -> HugePages {
        if let Some(reason) = sys::huge_pages_disabled() {
            tracing::debug!(path = %self.path().display(), reason, "huge pages refused");
            return HugePages::Refused {
                reason: reason.into(),
            };
        }
        let Some(map) = self.map_ref() else {
            return HugePages::Refused {
                reason: "the file is empty".into(),
            };
        };
        #[cfg(target_os = "linux")]
        {
            tracing::debug!(path = %self.path().display(), size = map.len(), addr = ?map.as_ptr(),
                "madvise(MADV_HUGEPAGE)");
            match map.advise(memmap2::Advice::HugePage) {
                Ok(()) => HugePages::Advised,
                Err(e) => {
                    tracing::debug!(path = %self.path().display(), error = %e, "huge pages refused");
                    HugePages::Refused {
                        reason: format!("madvise(MADV_HUGEPAGE): {e}"),
                    }
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = map;
            HugePages::Refused {
                reason: "transparent huge pages are Linux-only".into(),
            }
        }
    }

    /// [`Error::Unsupported`] where the platform lacks `call`, else [`Error::SystemCall`].
    pub(crate) fn os_error(&self, call: &'static str, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::Unsupported {
            Error::Unsupported {
                path: self.path().to_path_buf(),
                what: call,
            }
        } else {
            self.syscall_error(call, source)
        }
    }

    pub(crate) fn syscall_error(&self, call: &'static str, source: std::io::Error) -> Error {
        Error::SystemCall {
            path: self.path().to_path_buf(),
            call,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_rounds_inward_and_advice_outward() {
        let p = sys::page_size();
        let size = 10 * p + 100;
        // A range from the middle of page 1 to the middle of page 4 holds pages 2 and 3 whole.
        let r = p + 1..4 * p + 5;
        assert_eq!(page_span(&r, size, Rounding::Inward), 2 * p..4 * p);
        assert_eq!(page_span(&r, size, Rounding::Outward), p..5 * p);
        // Inside one page: nothing to release.
        assert_eq!(page_span(&(5..p - 5), size, Rounding::Inward), 0..0);
        // The file's last partial page goes with a range that ends at the end of the file.
        assert_eq!(
            page_span(&(9 * p..size), size, Rounding::Inward),
            9 * p..size
        );
        assert_eq!(
            page_span(&(9 * p + 1..size), size, Rounding::Outward),
            9 * p..size
        );
        assert_eq!(page_span(&(0..size), size, Rounding::Inward), 0..size);
        assert_eq!(page_span(&(3..3), size, Rounding::Outward), 0..0);
    }
}
