//! Working ahead of the parser on a helper thread: while a trusted mapping's header is parsed
//! in place, the helper faults in the pages just ahead of the parser, so that page faults
//! (here they cost as much as the parse of a large vocabulary) happen on both threads at once.
//!
//! The parser (on the calling thread) tells the helper how far it may go, `limit`: the bytes
//! the parser last asked for plus [`AHEAD`], so the helper never wanders far into tensor data.
//! The helper faults pages in up to the limit a chunk at a time and sleeps when it gets
//! there; it stops when told to or at the end of the mapping. The parser never waits for it:
//! a page the helper has not reached yet, the parser faults in itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

use crate::sys;

/// How far past the parser's last request the helper may work.
pub(crate) const AHEAD: usize = 2 << 20;

/// The helper's unit of work.
const CHUNK: usize = 256 << 10;

/// What the parser tells its helper.
pub(crate) struct Prefault {
    /// How far the helper may go.
    limit: AtomicUsize,
    /// Set by the parser when it needs nothing more.
    stop: AtomicBool,
}

impl Prefault {
    /// A helper that may fault in pages up to `limit`.
    pub(crate) fn new(limit: usize) -> Self {
        Prefault {
            limit: AtomicUsize::new(limit),
            stop: AtomicBool::new(false),
        }
    }

    /// Lets the helper go up to `limit` (never lowers it).
    pub(crate) fn allow(&self, limit: usize, helper: &Thread) {
        if self.limit.fetch_max(limit, Ordering::AcqRel) < limit {
            helper.unpark();
        }
    }

    /// A guard that tells the helper to stop at its next chunk when it is dropped, whether
    /// the parser returns or unwinds (a scope waits for its threads, so a helper left running
    /// would keep the parser's panic waiting forever).
    pub(crate) fn stopper<'a>(&'a self, helper: &'a Thread) -> Stopper<'a> {
        Stopper {
            prefault: self,
            helper,
        }
    }

    /// The helper's loop: faults in the pages of `bytes` from `from` on, as far as allowed.
    pub(crate) fn run(&self, bytes: &[u8], from: usize) {
        let mut at = from;
        while !self.stop.load(Ordering::Acquire) && at < bytes.len() {
            let limit = self.limit.load(Ordering::Acquire).min(bytes.len());
            if at >= limit {
                std::thread::park_timeout(Duration::from_millis(1));
                continue;
            }
            let to = limit.min(at + CHUNK);
            touch(bytes, at, to);
            at = to;
        }
    }
}

/// Stops a helper when dropped ([`Prefault::stopper`]).
pub(crate) struct Stopper<'a> {
    prefault: &'a Prefault,
    helper: &'a Thread,
}

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        self.prefault.stop.store(true, Ordering::Release);
        self.helper.unpark();
    }
}

/// Faults in the pages of `bytes[from..to]` by reading one byte per page.
fn touch(bytes: &[u8], from: usize, to: usize) {
    let page = sys::page_size();
    let mut sum = 0u8;
    let mut at = from - from % page;
    while at < to {
        sum = sum.wrapping_add(bytes.get(at).copied().unwrap_or(0));
        at += page;
    }
    std::hint::black_box(sum);
}
