//! The pipeline: fill a staging buffer, queue its copies, move to the next buffer while the
//! device copies, release the source pages behind it.

use std::ops::{ControlFlow, Range};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::model::DeviceModel;
use crate::plan::{Chunk, Plan};
use crate::source::ChunkSource;
use crate::target::{Arena, Target};

/// How to run an upload (the plan's own options are [`PlanOptions`](crate::PlanOptions)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Staging buffers in the ring (at least 2 for copies to overlap fills). Default 4.
    pub buffers: usize,
    /// Threads that fill one staging buffer together. Default: the available cores, at most 8.
    pub threads: usize,
    /// Hand each chunk's source pages back once they are in a staging buffer, so the
    /// process's extra memory stays about `buffers x chunk size`. Default on.
    pub release_pages: bool,
    /// Read every tensor back afterwards and compare it with the file. Default off.
    pub verify: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        UploadOptions {
            buffers: 4,
            threads: cores.min(8),
            release_pages: true,
            verify: false,
        }
    }
}

/// How far an upload has come, as given to the progress callback after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tensor bytes read and queued for copying so far (the device may still be copying the
    /// last chunks; the upload returns only once it is done).
    pub bytes_done: u64,
    /// Tensor bytes in all.
    pub bytes_total: u64,
    /// Chunks done so far.
    pub chunks_done: usize,
    /// Chunks in all.
    pub chunks_total: usize,
}

/// What an upload did and how long each phase took.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadReport {
    /// Tensors uploaded.
    pub tensors: usize,
    /// Tensor bytes uploaded.
    pub bytes: u64,
    /// Staging buffer fills.
    pub chunks: usize,
    /// Size of the device arena.
    pub arena_len: usize,
    /// Size of each staging buffer.
    pub staging_len: usize,
    /// Staging buffers in the ring.
    pub buffers: usize,
    /// Threads filling each buffer.
    pub threads: usize,
    /// Opening, parsing and planning ([`upload_file`](crate::upload_file) only; zero
    /// otherwise).
    pub open: Duration,
    /// Allocating the arena and the staging buffers.
    pub allocate: Duration,
    /// Reading, copying and waiting for the last copy.
    pub transfer: Duration,
    /// Reading back and comparing, when asked for.
    pub verify: Option<Duration>,
}

impl UploadReport {
    /// Tensor bytes per second over the transfer phase.
    pub fn bytes_per_second(&self) -> f64 {
        let seconds = self.transfer.as_secs_f64();
        if seconds > 0.0 {
            self.bytes as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Uploads every tensor of `plan` from `source` to `target`: a plan of one file (see
/// [`upload_shards`] for a model of several).
///
/// `progress` is called after each chunk is queued; returning [`ControlFlow::Break`] stops
/// the upload with [`Error::Cancelled`] (copies already queued finish first, and nothing is
/// leaked).
///
/// # Errors
/// The target's errors (no memory, driver failures), the source's (I/O, a file that changed
/// or is too short), [`Error::Cancelled`], [`Error::Mismatch`] when verification finds a
/// difference, [`Error::InvalidOptions`] for zero buffers or threads, or for a plan that
/// reads from more than one file.
pub fn upload<T: Target, S: ChunkSource + ?Sized>(
    plan: &Plan,
    source: &S,
    target: &mut T,
    options: &UploadOptions,
    progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<DeviceModel<T::Arena>> {
    run(
        plan,
        |shard| (shard == 0).then_some(source),
        1,
        target,
        options,
        progress,
    )
}

/// Uploads every tensor of `plan` to `target`, each chunk from the source of its file:
/// `sources[chunk.shard]`, one per file of the model, in its order. As [`upload`] otherwise.
///
/// # Errors
/// As [`upload`]; [`Error::InvalidOptions`] when the plan names a file `sources` lacks.
pub fn upload_shards<T: Target, S: ChunkSource>(
    plan: &Plan,
    sources: &[S],
    target: &mut T,
    options: &UploadOptions,
    progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<DeviceModel<T::Arena>> {
    run(
        plan,
        |shard| sources.get(shard),
        sources.len(),
        target,
        options,
        progress,
    )
}

/// The source of each shard's chunks.
trait SourceOf<'s, S: ?Sized + 's>: Fn(usize) -> Option<&'s S> {}
impl<'s, S: ?Sized + 's, F: Fn(usize) -> Option<&'s S>> SourceOf<'s, S> for F {}

fn source<'s, S: ?Sized + 's>(source_of: &impl SourceOf<'s, S>, shard: usize) -> Result<&'s S> {
    source_of(shard).ok_or_else(|| {
        Error::InvalidOptions(format!("the plan reads file #{shard}, which has no source"))
    })
}

fn run<'s, T: Target, S: ChunkSource + ?Sized + 's>(
    plan: &Plan,
    source_of: impl SourceOf<'s, S>,
    sources: usize,
    target: &mut T,
    options: &UploadOptions,
    mut progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<DeviceModel<T::Arena>> {
    if plan.shard_count() > sources {
        return Err(Error::InvalidOptions(format!(
            "the plan reads {} files, {sources} sources were given",
            plan.shard_count()
        )));
    }
    if options.buffers == 0
        || options.threads == 0
        || options.buffers > 1024
        || options.threads > 1024
    {
        return Err(Error::InvalidOptions(format!(
            "{} buffers and {} threads: each must be between 1 and 1024",
            options.buffers, options.threads
        )));
    }
    // No more buffers than chunks: the others would never be filled.
    let buffers = options.buffers.min(plan.chunks().len()).max(1);
    let started = Instant::now();
    target.begin(plan.arena_len(), buffers, plan.staging_len())?;
    let allocate = started.elapsed();
    let result = transfer(
        plan,
        &source_of,
        sources,
        target,
        options,
        buffers,
        &mut progress,
    );
    if result.is_err() {
        // Wait for what is queued and give the arena and the buffers back now.
        if let Err(e) = target.finish() {
            tracing::warn!(error = %e, "finishing an upload that failed");
        }
    }
    let (arena, transfer) = result?;

    let verify = if options.verify {
        let started = Instant::now();
        verify(plan, &source_of, sources, &arena)?;
        Some(started.elapsed())
    } else {
        None
    };
    let report = UploadReport {
        tensors: plan.tensors().len(),
        bytes: plan.bytes(),
        chunks: plan.chunks().len(),
        arena_len: plan.arena_len(),
        staging_len: plan.staging_len(),
        buffers,
        threads: options.threads,
        open: Duration::ZERO,
        allocate,
        transfer,
        verify,
    };
    Ok(DeviceModel::new(arena, plan.tensors().to_vec(), report))
}

/// Reads every chunk and queues its copies; returns the arena and the time it took.
fn transfer<'s, T: Target, S: ChunkSource + ?Sized + 's>(
    plan: &Plan,
    source_of: &impl SourceOf<'s, S>,
    sources: usize,
    target: &mut T,
    options: &UploadOptions,
    buffers: usize,
    progress: &mut impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<(T::Arena, Duration)> {
    let started = Instant::now();
    let mut state = Progress {
        bytes_done: 0,
        bytes_total: plan.bytes(),
        chunks_done: 0,
        chunks_total: plan.chunks().len(),
    };
    // Release from where the last release ended, rounded down to a page: releases round
    // inward, so the page a chunk boundary falls in is released with the next chunk.
    let page = weightmap_native::page_size().max(1) as u64;
    let chunks = plan.chunks();
    let mut released_to = (usize::MAX, 0u64);
    for chunk in chunks.iter().take(PREFETCH_AHEAD) {
        source(source_of, chunk.shard)?.prefetch(chunk.needed.clone());
    }
    for (index, chunk) in chunks.iter().enumerate() {
        if let Some(ahead) = chunks.get(index + PREFETCH_AHEAD) {
            source(source_of, ahead.shard)?.prefetch(ahead.needed.clone());
        }
        let from = source(source_of, chunk.shard)?;
        let buffer = index % buffers;
        let staging = target.staging(buffer)?;
        let staging = staging.get_mut(..chunk.read_len()).ok_or_else(|| {
            Error::Plan(format!(
                "chunk of {} bytes exceeds its staging buffer",
                chunk.read_len()
            ))
        })?;
        fill(from, chunk, staging, options.threads)?;
        if options.release_pages {
            if released_to.0 != chunk.shard {
                released_to = (chunk.shard, chunk.needed.start);
            }
            let start = released_to.1.max(chunk.needed.start);
            let start = start - start % page;
            if start < chunk.needed.end {
                from.release(start..chunk.needed.end);
            }
            released_to.1 = released_to.1.max(chunk.needed.end);
        }
        let copies = plan.copies(chunk);
        target.submit(buffer, copies)?;
        state.bytes_done += copies.iter().map(|c| c.len as u64).sum::<u64>();
        state.chunks_done = index + 1;
        if progress(state).is_break() {
            return Err(Error::Cancelled {
                done: state.bytes_done,
                total: state.bytes_total,
            });
        }
    }
    let arena = target.finish()?;
    for shard in 0..sources {
        if let Some(s) = source_of(shard) {
            s.check_intact()?;
        }
    }
    Ok((arena, started.elapsed()))
}

/// Chunks read ahead of the one being filled (page cache, not process memory).
const PREFETCH_AHEAD: usize = 4;

/// Smallest share of a chunk worth a thread of its own.
const MIN_PART: usize = 1 << 20;

/// Reads `chunk` into `staging` (its read length), splitting the read among `threads`.
fn fill<S: ChunkSource + ?Sized>(
    source: &S,
    chunk: &Chunk,
    staging: &mut [u8],
    threads: usize,
) -> Result<()> {
    let parts = threads.min(staging.len() / MIN_PART).max(1);
    // Part boundaries stay aligned like the chunk's read (O_DIRECT needs it).
    let part_len = staging.len().div_ceil(parts).next_multiple_of(4096);
    let needed_end = chunk.needed.end;
    let read_part = |offset: u64, part: &mut [u8]| -> Result<()> {
        let got = source.read_at(offset, part)?;
        let end = offset + got as u64;
        if got < part.len() && end < needed_end {
            return Err(Error::OutOfSource {
                start: offset,
                end: needed_end.min(offset + part.len() as u64),
                len: source.len(),
            });
        }
        Ok(())
    };
    if parts == 1 {
        return read_part(chunk.read.start, staging);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = staging
            .chunks_mut(part_len)
            .enumerate()
            .map(|(i, part)| {
                let offset = chunk.read.start + (i * part_len) as u64;
                scope.spawn(move || read_part(offset, part))
            })
            .collect();
        // A source that panics (none of this crate's do) passes its panic on.
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// Piece size for reading back and comparing.
const VERIFY_PIECE: usize = 8 << 20;

/// Reads every tensor back from `arena` and compares it with its file's source.
fn verify<'s, S: ChunkSource + ?Sized + 's, A: Arena>(
    plan: &Plan,
    source_of: &impl SourceOf<'s, S>,
    sources: usize,
    arena: &A,
) -> Result<()> {
    let piece = VERIFY_PIECE.min(plan.arena_len().max(1));
    let mut device = vec![0u8; piece];
    let mut file = vec![0u8; piece];
    for placed in plan.tensors() {
        let source = source(source_of, placed.entry.shard)?;
        let Range { start, end } = placed.arena_range;
        let mut at = start;
        while at < end {
            let len = piece.min(end - at);
            arena.read_into(at, &mut device[..len])?;
            let file_offset = placed.entry.file_range.start + (at - start) as u64;
            let got = source.read_at(file_offset, &mut file[..len])?;
            if got < len {
                return Err(Error::OutOfSource {
                    start: file_offset,
                    end: file_offset + len as u64,
                    len: source.len(),
                });
            }
            if let Some(i) = device[..len]
                .iter()
                .zip(&file[..len])
                .position(|(d, f)| d != f)
            {
                return Err(Error::Mismatch {
                    tensor: placed.entry.name.clone(),
                    offset: (at - start + i) as u64,
                });
            }
            at += len;
        }
    }
    for shard in 0..sources {
        if let Some(s) = source_of(shard) {
            s.check_intact()?;
        }
    }
    Ok(())
}
