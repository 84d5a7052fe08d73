//! `MmapConfig`: how a file is mapped and what the kernel is told about it.

use weightmap_core::Advice;

/// How [`MmapFile`](crate::MmapFile) maps a file.
///
/// Fields are plain so configurations compose:
/// `MmapConfig { lock: true, ..MmapConfig::sequential() }`.
/// Hints the platform lacks (everything but `lock` outside Linux) are silently skipped;
/// huge pages report refusal through
/// [`MmapFile::huge_pages`](crate::MmapFile::huge_pages) instead of failing the open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MmapConfig {
    /// The access pattern announced for the whole mapping (`madvise`): [`Advice::Normal`]
    /// (the kernel's default read-ahead), [`Advice::Sequential`] (aggressive read-ahead,
    /// pages dropped early), [`Advice::Random`] (no read-ahead), or [`Advice::WillNeed`]
    /// (the same as setting [`will_need`](Self::will_need)).
    pub advice: Advice,
    /// Start reading the whole file in the background at open (`MADV_WILLNEED`).
    pub will_need: bool,
    /// Fault every page in during the `mmap` call itself (`MAP_POPULATE`, Linux): open costs a
    /// full read, later accesses cost nothing.
    pub populate: bool,
    /// Ask for transparent huge pages (`MADV_HUGEPAGE`); best effort.
    pub huge_pages: bool,
    /// Pin the pages in RAM (`mlock`); fails with an explanation when `RLIMIT_MEMLOCK` is low.
    pub lock: bool,
    /// Survive the file being truncated while mapped: a read past its new end returns zeros
    /// instead of killing the process with `SIGBUS`, and the mapping reports the truncation
    /// ([`MmapFile::check_intact`](crate::MmapFile::check_intact)). See [`crate::guard`] for
    /// the exact contract. Costs nothing per read.
    pub guard: bool,
}

impl MmapConfig {
    /// Read-ahead tuned for a front-to-back pass, such as uploading every tensor once.
    pub fn sequential() -> Self {
        MmapConfig {
            advice: Advice::Sequential,
            ..Self::default()
        }
    }

    /// No read-ahead, for scattered reads such as looking up embedding rows.
    pub fn random() -> Self {
        MmapConfig {
            advice: Advice::Random,
            ..Self::default()
        }
    }

    /// Transparent huge pages requested (fewer TLB misses on hot weights).
    pub fn hugepages() -> Self {
        MmapConfig {
            huge_pages: true,
            ..Self::default()
        }
    }

    /// Guarded against truncation ([`guard`](Self::guard)).
    pub fn guarded() -> Self {
        MmapConfig {
            guard: true,
            ..Self::default()
        }
    }

    /// Every page read at open, so no access later page-faults.
    pub fn populate() -> Self {
        MmapConfig {
            populate: true,
            ..Self::default()
        }
    }
}
