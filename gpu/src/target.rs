//! Where the upload goes: a device with staging buffers and an arena.
//!
//! The pipeline talks to a [`Target`] in four steps: [`begin`](Target::begin) allocates the
//! arena and the staging ring, [`staging`](Target::staging) waits until a buffer's earlier
//! copies are done and lends it for filling, [`submit`](Target::submit) queues copies out of
//! it, and [`finish`](Target::finish) waits for everything and hands over the arena. Because
//! a buffer is only ever reachable through `staging`, which waits first, no copy can read a
//! buffer that is being refilled.
//!
//! [`CudaTarget`](crate::CudaTarget) is the GPU; [`HostTarget`] is host memory with the same
//! asynchronous behaviour (copies run only when their buffer is waited for), which tests the
//! pipeline without a GPU and gives CPU engines the same arena layout.

use crate::error::{Error, Result};
use crate::plan::CopyOp;

/// A device the pipeline uploads to.
///
/// The pipeline calls [`begin`](Target::begin) once, then for each chunk
/// [`staging`](Target::staging) (which waits until that buffer's earlier copies are done) and
/// [`submit`](Target::submit), then [`finish`](Target::finish). A buffer is reachable only
/// through `staging`, so no copy can read a buffer that is being refilled.
pub trait Target {
    /// The device memory that holds every uploaded tensor.
    type Arena: Arena;

    /// Allocates an arena of `arena_len` bytes and `buffers` staging buffers of `staging_len`
    /// bytes each.
    ///
    /// # Errors
    /// [`Error::OutOfDeviceMemory`], or a driver error.
    fn begin(&mut self, arena_len: usize, buffers: usize, staging_len: usize) -> Result<()>;

    /// Waits until the copies last queued from buffer `buffer` are done, then lends it (all
    /// `staging_len` bytes) for filling.
    ///
    /// # Errors
    /// A driver error, or [`Error::InvalidOptions`] for a buffer that does not exist.
    fn staging(&mut self, buffer: usize) -> Result<&mut [u8]>;

    /// Queues `copies` from buffer `buffer` into the arena. They may run later; the buffer
    /// must not change until they have (which [`staging`](Self::staging) ensures).
    ///
    /// # Errors
    /// A driver error, or [`Error::Plan`] for a copy outside the buffer or the arena.
    fn submit(&mut self, buffer: usize, copies: &[CopyOp]) -> Result<()>;

    /// Waits for every queued copy and hands over the arena.
    ///
    /// # Errors
    /// A driver error, or [`Error::InvalidOptions`] when `begin` was not called.
    fn finish(&mut self) -> Result<Self::Arena>;
}

/// Uploaded memory that can be read back (to verify an upload).
pub trait Arena {
    /// Its size in bytes.
    fn len(&self) -> usize;

    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `out.len()` bytes from `offset` into `out`.
    ///
    /// # Errors
    /// A driver error, or [`Error::Plan`] for a range outside the arena.
    fn read_into(&self, offset: usize, out: &mut [u8]) -> Result<()>;
}

/// A target in host memory: the arena is a `Vec<u8>` and copies are deferred until their
/// staging buffer is waited for, as on a GPU stream: a pipeline that refilled a buffer too
/// early would upload the wrong bytes here too.
#[derive(Debug, Default)]
pub struct HostTarget {
    arena: Vec<u8>,
    buffers: Vec<StagingBuffer>,
}

#[derive(Debug)]
struct StagingBuffer {
    memory: Vec<u8>,
    /// Where the page-aligned buffer starts in `memory` (`O_DIRECT` needs aligned buffers).
    start: usize,
    len: usize,
    pending: Vec<CopyOp>,
}

impl HostTarget {
    /// A target with nothing allocated yet.
    pub fn new() -> Self {
        HostTarget::default()
    }

    fn run_pending(&mut self, buffer: usize) -> Result<()> {
        let staging = self
            .buffers
            .get_mut(buffer)
            .ok_or_else(|| no_buffer(buffer))?;
        let source = &staging.memory[staging.start..staging.start + staging.len];
        for copy in staging.pending.drain(..) {
            let from = copy_range(copy.staging_offset, copy.len, source.len())?;
            let to = copy_range(copy.arena_offset, copy.len, self.arena.len())?;
            self.arena[to].copy_from_slice(&source[from]);
        }
        Ok(())
    }
}

impl Target for HostTarget {
    type Arena = HostArena;

    fn begin(&mut self, arena_len: usize, buffers: usize, staging_len: usize) -> Result<()> {
        const ALIGN: usize = 4096;
        self.arena = Vec::new();
        self.buffers.clear();
        self.arena = zeroed(arena_len)?;
        let padded = staging_len
            .checked_add(ALIGN)
            .ok_or(Error::OutOfHostMemory {
                requested: usize::MAX,
            })?;
        for _ in 0..buffers {
            let memory = zeroed(padded)?;
            let start = memory.as_ptr().align_offset(ALIGN).min(ALIGN);
            self.buffers.push(StagingBuffer {
                memory,
                start,
                len: staging_len,
                pending: Vec::new(),
            });
        }
        Ok(())
    }

    fn staging(&mut self, buffer: usize) -> Result<&mut [u8]> {
        self.run_pending(buffer)?;
        let staging = &mut self.buffers[buffer];
        Ok(&mut staging.memory[staging.start..staging.start + staging.len])
    }

    fn submit(&mut self, buffer: usize, copies: &[CopyOp]) -> Result<()> {
        let arena_len = self.arena.len();
        let staging = self
            .buffers
            .get_mut(buffer)
            .ok_or_else(|| no_buffer(buffer))?;
        for copy in copies {
            copy_range(copy.staging_offset, copy.len, staging.len)?;
            copy_range(copy.arena_offset, copy.len, arena_len)?;
        }
        staging.pending.extend_from_slice(copies);
        Ok(())
    }

    fn finish(&mut self) -> Result<HostArena> {
        for buffer in 0..self.buffers.len() {
            self.run_pending(buffer)?;
        }
        self.buffers.clear();
        Ok(HostArena(std::mem::take(&mut self.arena)))
    }
}

/// The arena of a [`HostTarget`]: every uploaded tensor in one host buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostArena(Vec<u8>);

impl HostArena {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Arena for HostArena {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read_into(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let range = copy_range(offset, out.len(), self.0.len())?;
        out.copy_from_slice(&self.0[range]);
        Ok(())
    }
}

/// `len` zero bytes, or an error when they cannot be allocated.
fn zeroed(len: usize) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::OutOfHostMemory { requested: len })?;
    v.resize(len, 0);
    Ok(v)
}

/// `offset..offset + len` when it lies within `0..limit`.
pub(crate) fn copy_range(
    offset: usize,
    len: usize,
    limit: usize,
) -> Result<std::ops::Range<usize>> {
    match offset.checked_add(len) {
        Some(end) if end <= limit => Ok(offset..end),
        _ => Err(Error::Plan(format!(
            "copy of {len} bytes at {offset} is outside a buffer of {limit} bytes"
        ))),
    }
}

pub(crate) fn no_buffer(buffer: usize) -> Error {
    Error::InvalidOptions(format!("staging buffer {buffer} was not allocated"))
}
