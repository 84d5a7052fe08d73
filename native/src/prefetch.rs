//! Warming pages before they are needed: in the calling thread ([`MmapFile::touch`]) or in a
//! background thread with progress ([`MmapFile::prefetch`]).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use weightmap_core::Advice;

use crate::error::Result;
use crate::mmap::MmapFile;
use crate::pages::{page_span, Rounding};
use crate::residency::PageFaults;
use crate::sys;

/// Progress is published every this many bytes.
const PROGRESS_STEP: usize = 4 << 20;

/// What warming a set of ranges did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TouchReport {
    /// Bytes of the pages touched.
    pub bytes: u64,
    /// Pages touched.
    pub pages: u64,
    /// Page faults during the pass (process-wide).
    pub faults: PageFaults,
    /// Wall-clock time of the pass.
    pub elapsed: Duration,
    /// Whether the pass stopped early: cancelled, or the file found truncated under a guarded
    /// mapping ([`MmapFile::check_intact`] says which).
    pub cancelled: bool,
}

impl MmapFile {
    /// Faults in every page covering `ranges` by reading one byte per page, after announcing
    /// them with `MADV_WILLNEED`. `progress(done, total)` is called with bytes as the pass goes
    /// (every 4 MiB and at the end).
    ///
    /// # Errors
    /// [`Error::InvalidRange`](crate::Error::InvalidRange) if any range lies outside the file
    /// (checked before anything is touched).
    pub fn touch(
        &self,
        ranges: &[Range<usize>],
        mut progress: impl FnMut(u64, u64),
    ) -> Result<TouchReport> {
        let spans = self.page_spans(ranges)?;
        let never = AtomicBool::new(false);
        Ok(touch_spans(self, &spans, &never, &mut progress))
    }

    /// [`touch`](Self::touch) on the whole file.
    pub fn touch_all(&self, progress: impl FnMut(u64, u64)) -> TouchReport {
        let whole = 0..self.size();
        // The whole file is always a valid range.
        self.touch(core::slice::from_ref(&whole), progress)
            .unwrap_or_default()
    }

    /// [`prefetch`](Self::prefetch) of the whole file.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if no thread can be started.
    pub fn prefetch_all(self: &Arc<Self>) -> Result<Prefetch> {
        let whole = 0..self.size();
        self.prefetch(core::slice::from_ref(&whole))
    }

    /// Starts warming the pages covering `ranges` in a background thread and returns at once;
    /// the handle reports progress and the final [`TouchReport`]. Dropping the handle cancels
    /// the warming; [`Prefetch::detach`] lets it run to the end instead.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("m.bin");
    /// # std::fs::write(&path, vec![1u8; 1 << 20])?;
    /// use std::sync::Arc;
    /// let file = Arc::new(weightmap_native::MmapFile::open_untrusted(&path)?);
    /// let warming = file.prefetch(&[0..4096, 65536..131072])?;
    /// let report = warming.wait();
    /// assert_eq!(report.bytes, 4096 + 65536);
    /// assert_eq!(file.prefetch_all()?.wait().bytes, 1 << 20);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidRange`](crate::Error::InvalidRange) if any range lies outside the file,
    /// [`Error::Io`](crate::Error::Io) if no thread can be started.
    pub fn prefetch(self: &Arc<Self>, ranges: &[Range<usize>]) -> Result<Prefetch> {
        let spans = self.page_spans(ranges)?;
        let total = spans.iter().map(|s| s.len() as u64).sum();
        let shared = Arc::new(Shared {
            done: AtomicU64::new(0),
            total,
            cancel: AtomicBool::new(false),
        });
        let file = Arc::clone(self);
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("weightmap-prefetch".into())
            .spawn(move || {
                touch_spans(&file, &spans, &state.cancel, &mut |done, _| {
                    state.done.store(done, Ordering::Relaxed)
                })
            })
            .map_err(|source| crate::Error::Io {
                path: self.path().to_path_buf(),
                source,
            })?;
        Ok(Prefetch {
            shared,
            thread: Some(thread),
        })
    }

    /// Checks `ranges` and turns them into the page spans covering them.
    fn page_spans(&self, ranges: &[Range<usize>]) -> Result<Vec<Range<usize>>> {
        ranges
            .iter()
            .map(|r| {
                let r = self.check_range(r)?;
                Ok(page_span(&r, self.size(), Rounding::Outward))
            })
            .filter(|s| !matches!(s, Ok(s) if s.is_empty()))
            .collect()
    }
}

fn touch_spans(
    file: &MmapFile,
    spans: &[Range<usize>],
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> TouchReport {
    let total: u64 = spans.iter().map(|s| s.len() as u64).sum();
    let page = sys::page_size();
    let start = Instant::now();
    let before = PageFaults::now();
    let mut report = TouchReport::default();
    'spans: for span in spans {
        let bytes = &file.as_slice()[span.clone()];
        let mut offset = span.start;
        for step in bytes.chunks(PROGRESS_STEP) {
            // A guarded mapping whose file was truncated reads zeros from here on: stop.
            if cancel.load(Ordering::Relaxed) || !file.is_intact() {
                report.cancelled = true;
                break 'spans;
            }
            // Read-ahead one step at a time: advising a file larger than RAM at once would
            // evict its own first pages. A refusal only costs speed.
            let _ = file.try_advise(offset..offset + step.len(), Advice::WillNeed);
            offset += step.len();
            let mut sum = 0u8;
            for offset in (0..step.len()).step_by(page) {
                sum = sum.wrapping_add(step[offset]);
            }
            std::hint::black_box(sum);
            report.bytes += step.len() as u64;
            report.pages += step.len().div_ceil(page) as u64;
            progress(report.bytes, total);
        }
    }
    report.faults = PageFaults::now().since(&before);
    report.elapsed = start.elapsed();
    tracing::debug!(path = %file.path().display(), bytes = report.bytes,
        minor = report.faults.minor, major = report.faults.major, "touched");
    report
}

struct Shared {
    done: AtomicU64,
    total: u64,
    cancel: AtomicBool,
}

/// A background prefetch started by [`MmapFile::prefetch`]. Dropping it cancels the pass (the
/// thread stops at its next 4 MiB step); [`detach`](Self::detach) lets it finish unobserved.
#[derive(Debug)]
pub struct Prefetch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<TouchReport>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("done", &self.done.load(Ordering::Relaxed))
            .field("total", &self.total)
            .finish()
    }
}

impl Prefetch {
    /// Bytes warmed so far and bytes to warm in all.
    pub fn progress(&self) -> (u64, u64) {
        (self.shared.done.load(Ordering::Relaxed), self.shared.total)
    }

    /// Whether the background pass has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the pass to stop at its next 4 MiB step.
    pub fn cancel(&self) {
        self.shared.cancel.store(true, Ordering::Relaxed);
    }

    /// Waits for the pass to end and returns what it did.
    pub fn wait(mut self) -> TouchReport {
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }

    /// Lets the pass run to its end without a handle.
    pub fn detach(mut self) {
        self.thread = None;
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.cancel();
        }
    }
}
