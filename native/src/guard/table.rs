//! The table of guarded mappings: fixed slots of plain atomics, which the signal handler reads
//! without locks. Each slot's bounds are written under a sequence number (a seqlock), so the
//! handler never pairs one mapping's start with another's length when a slot is reused while
//! it reads.

use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};

use super::MAX_GUARDED;

const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const ACTIVE: u8 = 2;

/// One guarded mapping.
pub(super) struct Slot {
    state: AtomicU8,
    /// Odd while `start` and `len` are being written.
    sequence: AtomicUsize,
    start: AtomicUsize,
    len: AtomicUsize,
    poisoned: AtomicBool,
}

static SLOTS: [Slot; MAX_GUARDED] = [const {
    Slot {
        state: AtomicU8::new(FREE),
        sequence: AtomicUsize::new(0),
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        poisoned: AtomicBool::new(false),
    }
}; MAX_GUARDED];
/// One past the highest slot ever claimed: the handler scans no further.
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

impl Slot {
    /// Writes the bounds (the slot is claimed: no other writer).
    fn set_bounds(&self, start: usize, len: usize) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence
            .store(sequence.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.start.store(start, Ordering::Relaxed);
        self.len.store(len, Ordering::Relaxed);
        self.sequence
            .store(sequence.wrapping_add(2), Ordering::Release);
    }

    /// The bounds of an active slot, read consistently; `None` if it is not active or is
    /// being rewritten.
    fn bounds(&self) -> Option<(usize, usize)> {
        let before = self.sequence.load(Ordering::Acquire);
        if before % 2 == 1 || self.state.load(Ordering::Acquire) != ACTIVE {
            return None;
        }
        let start = self.start.load(Ordering::Relaxed);
        let len = self.len.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.sequence.load(Ordering::Relaxed) == before).then_some((start, len))
    }

    /// Marks the mapping as having faulted.
    pub(super) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }
}

/// Registers `bytes` in a free slot; its index.
pub(crate) fn register(bytes: &[u8]) -> io::Result<usize> {
    for (index, slot) in SLOTS.iter().enumerate() {
        if slot
            .state
            .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            slot.set_bounds(bytes.as_ptr() as usize, bytes.len());
            slot.poisoned.store(false, Ordering::Relaxed);
            HIGH_WATER.fetch_max(index + 1, Ordering::AcqRel);
            slot.state.store(ACTIVE, Ordering::Release);
            return Ok(index);
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_GUARDED} mappings are guarded at once"
    )))
}

pub(crate) fn is_poisoned(slot: usize) -> bool {
    SLOTS
        .get(slot)
        .is_some_and(|s| s.poisoned.load(Ordering::Acquire))
}

pub(crate) fn unregister(slot: usize) {
    if let Some(s) = SLOTS.get(slot) {
        s.state.store(CLAIMED, Ordering::Release);
        s.set_bounds(0, 0);
        s.state.store(FREE, Ordering::Release);
    }
}

/// The guarded mapping holding `addr`: its slot, start and length.
pub(super) fn find(addr: usize) -> Option<(&'static Slot, usize, usize)> {
    let used = HIGH_WATER.load(Ordering::Acquire).min(MAX_GUARDED);
    SLOTS[..used].iter().find_map(|slot| {
        let (start, len) = slot.bounds()?;
        (addr >= start && addr - start < len).then_some((slot, start, len))
    })
}
