//! The upload plan: where every tensor goes in the device arena, and which file ranges are
//! read into which staging buffer chunk.
//!
//! Pure arithmetic over the tensor table, so it is tested without a GPU. Tensors are taken in
//! file order (a model of several files: file after file) and packed into one arena at
//! `alignment`; each file is read in chunks of at most `chunk_size` bytes, several tensors per
//! chunk when they lie close together, one tensor over several chunks when it is large; a
//! chunk never spans two files. A chunk's copies are the pieces of it that go to the arena;
//! neighbouring pieces that are contiguous both in the file and in the arena are one copy.

use std::ops::Range;

use weightmap_core::{Gguf, Model, ModelData, TensorType};

use crate::error::{Error, Result};

/// The default chunk size: 32 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 32 << 20;
/// The smallest alignment of a tensor in the arena (what CUDA kernels expect of a pointer).
pub const MIN_ALIGNMENT: usize = 256;
/// Most chunks a plan may have (with 32 MiB chunks, 512 TiB).
const MAX_CHUNKS: u64 = 1 << 24;
/// The block size `O_DIRECT` reads are aligned to.
pub const DIRECT_IO_ALIGNMENT: usize = 4096;

/// A tensor to upload: its name, type, shape, the file it is in and its bytes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub dtype: TensorType,
    /// Its dimensions, row-major (outermost first).
    pub dims: Vec<u64>,
    /// Which of the model's files holds it (0 for a model of one file).
    pub shard: usize,
    /// Its bytes in that file (absolute offsets).
    pub file_range: Range<u64>,
}

impl TensorEntry {
    /// Size in bytes (0 for a range that ends before it starts, which planning refuses).
    pub fn size(&self) -> u64 {
        self.file_range.end.saturating_sub(self.file_range.start)
    }

    /// The tensors of a model of any format and any number of files, in the model's order.
    pub fn of_model<D: ModelData>(model: &Model<D>) -> Vec<TensorEntry> {
        model
            .tensors()
            .map(|t| TensorEntry {
                name: t.name().to_owned(),
                dtype: t.dtype(),
                dims: t.dims().to_vec(),
                shard: t.shard(),
                file_range: t.file_range(),
            })
            .collect()
    }

    /// The tensors of a parsed GGUF file, in table order, with absolute file ranges.
    ///
    /// # Errors
    /// [`Error::Plan`] when a tensor's range overflows (the parser already refuses those).
    pub fn of_gguf<D: ModelData>(gguf: &Gguf<D>) -> Result<Vec<TensorEntry>> {
        let data_offset = gguf.data_offset();
        gguf.tensors()
            .map(|info| {
                let start = data_offset.checked_add(info.offset());
                let end = start.and_then(|s| s.checked_add(info.size()));
                let (Some(start), Some(end)) = (start, end) else {
                    return Err(Error::Plan(format!(
                        "tensor {:?}: offset {} + size {} overflows",
                        info.name(),
                        info.offset(),
                        info.size()
                    )));
                };
                Ok(TensorEntry {
                    name: info.name().to_owned(),
                    dtype: info.ggml_type().into(),
                    dims: info.shape().iter().rev().copied().collect(),
                    shard: 0,
                    file_range: start..end,
                })
            })
            .collect()
    }
}

/// How to cut the file into chunks and lay tensors out in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Most file bytes one chunk (one staging buffer fill) carries. Default 32 MiB.
    pub chunk_size: usize,
    /// Alignment of every tensor in the arena: a power of two, at least 256. Default 256.
    pub alignment: usize,
    /// Alignment of every read's start and end (4096 for `O_DIRECT`, else 1).
    pub read_alignment: usize,
    /// Largest gap between two tensors in the file that one chunk reads over rather than
    /// starting a new chunk. Default 64 KiB.
    pub max_gap: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            alignment: MIN_ALIGNMENT,
            read_alignment: 1,
            max_gap: 64 << 10,
        }
    }
}

impl PlanOptions {
    fn check(&self) -> Result<()> {
        let power = |v: usize| v.is_power_of_two();
        if !power(self.alignment) || self.alignment < MIN_ALIGNMENT {
            return Err(Error::InvalidOptions(format!(
                "alignment {} is not a power of two of at least {MIN_ALIGNMENT}",
                self.alignment
            )));
        }
        if !power(self.read_alignment) {
            return Err(Error::InvalidOptions(format!(
                "read alignment {} is not a power of two",
                self.read_alignment
            )));
        }
        if self.chunk_size < self.read_alignment.max(4096) || self.chunk_size > 1 << 40 {
            return Err(Error::InvalidOptions(format!(
                "chunk size {} is not between {} and 1 TiB",
                self.chunk_size,
                self.read_alignment.max(4096)
            )));
        }
        if self.chunk_size % self.read_alignment != 0 {
            return Err(Error::InvalidOptions(format!(
                "chunk size {} is not a multiple of the read alignment {}",
                self.chunk_size, self.read_alignment
            )));
        }
        Ok(())
    }
}

/// Where a planned tensor lives in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedTensor {
    /// The tensor as listed.
    pub entry: TensorEntry,
    /// Its bytes in the arena.
    pub arena_range: Range<usize>,
}

/// One copy from a staging buffer into the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOp {
    /// Offset in the staging buffer.
    pub staging_offset: usize,
    /// Offset in the arena.
    pub arena_offset: usize,
    /// Bytes to copy.
    pub len: usize,
}

/// One fill of a staging buffer: a range of one file read at once, and the copies out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Which of the model's files it is read from.
    pub shard: usize,
    /// The file range read into the staging buffer (aligned to the read alignment; may reach
    /// past the end of the file, whose missing tail is then not needed).
    pub read: Range<u64>,
    /// The part of `read` the copies need: it must all be in the file.
    pub needed: Range<u64>,
    copies: Range<usize>,
}

impl Chunk {
    /// Bytes read into the staging buffer.
    pub fn read_len(&self) -> usize {
        // The planner keeps every read within the chunk size, a usize.
        usize::try_from(self.read.end - self.read.start).unwrap_or(usize::MAX)
    }
}

/// Every tensor's place in the arena and every chunk to read.
///
/// Tensors are taken in file order and packed into one arena at the alignment; the file is
/// read in chunks of at most the chunk size, several tensors per chunk when they lie close
/// together, one tensor over several chunks when it is large. Neighbouring pieces that are
/// contiguous both in the file and in the arena are one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    tensors: Vec<PlacedTensor>,
    chunks: Vec<Chunk>,
    copies: Vec<CopyOp>,
    arena_len: usize,
    staging_len: usize,
    bytes: u64,
}

impl Plan {
    /// Plans the upload of `entries` (in any order).
    ///
    /// # Errors
    /// [`Error::InvalidOptions`] for bad options, [`Error::Plan`] when the arena's size does
    /// not fit in memory addresses.
    pub fn new(mut entries: Vec<TensorEntry>, options: &PlanOptions) -> Result<Plan> {
        options.check()?;
        entries.sort_by_key(|e| (e.shard, e.file_range.start, e.file_range.end));
        let mut tensors = Vec::with_capacity(entries.len());
        let mut arena_len = 0usize;
        let mut bytes = 0u64;
        for entry in entries {
            if entry.file_range.end < entry.file_range.start {
                return Err(Error::Plan(format!(
                    "tensor {:?} ends before it starts",
                    entry.name
                )));
            }
            let size = usize::try_from(entry.size()).map_err(|_| too_big(&entry.name))?;
            let start =
                align_up(arena_len, options.alignment).ok_or_else(|| too_big(&entry.name))?;
            let end = start
                .checked_add(size)
                .ok_or_else(|| too_big(&entry.name))?;
            arena_len = end;
            bytes += entry.size();
            tensors.push(PlacedTensor {
                entry,
                arena_range: start..end,
            });
        }
        // Each piece of a tensor longer than a chunk is a chunk; bound the plan's own size.
        let pieces: u64 = tensors
            .iter()
            .map(|t| t.entry.size().div_ceil(options.chunk_size as u64))
            .sum();
        if arena_len > isize::MAX as usize || pieces > MAX_CHUNKS {
            return Err(Error::Plan(format!(
                "{bytes} bytes in chunks of {} is more than the {MAX_CHUNKS} chunks or {} bytes a plan may have",
                options.chunk_size,
                isize::MAX
            )));
        }
        let mut plan = Plan {
            tensors,
            chunks: Vec::new(),
            copies: Vec::new(),
            arena_len,
            staging_len: 0,
            bytes,
        };
        plan.cut_chunks(options);
        Ok(plan)
    }

    /// Plans the upload of a model's tensors that `keep` accepts, from every file it has.
    ///
    /// # Errors
    /// As [`Plan::new`].
    pub fn of_model<D: ModelData>(
        model: &Model<D>,
        options: &PlanOptions,
        keep: impl Fn(&TensorEntry) -> bool,
    ) -> Result<Plan> {
        let mut entries = TensorEntry::of_model(model);
        entries.retain(|e| keep(e));
        Plan::new(entries, options)
    }

    /// Plans the upload of a GGUF file's tensors that `keep` accepts.
    ///
    /// # Errors
    /// As [`Plan::new`].
    pub fn of_gguf<D: ModelData>(
        gguf: &Gguf<D>,
        options: &PlanOptions,
        keep: impl Fn(&TensorEntry) -> bool,
    ) -> Result<Plan> {
        let mut entries = TensorEntry::of_gguf(gguf)?;
        entries.retain(|e| keep(e));
        Plan::new(entries, options)
    }

    /// Cuts the file ranges of the placed tensors into chunks of copies.
    fn cut_chunks(&mut self, options: &PlanOptions) {
        let align = options.read_alignment as u64;
        let chunk_size = options.chunk_size as u64;
        // The chunk being filled: (bytes needed, aligned read start, index of its first copy).
        let mut open: Option<(Range<u64>, u64, usize)> = None;
        let mut chunks = Vec::new();
        let mut copies: Vec<CopyOp> = Vec::new();
        let mut shard = self.tensors.first().map_or(0, |t| t.entry.shard);
        let close = |chunks: &mut Vec<Chunk>,
                     shard: usize,
                     needed: Range<u64>,
                     read_start: u64,
                     first: usize,
                     end_copy: usize| {
            let read_end = align_up_u64(needed.end, align);
            chunks.push(Chunk {
                shard,
                read: read_start..read_end,
                needed,
                copies: first..end_copy,
            });
        };
        for placed in &self.tensors {
            // A chunk never spans two files.
            if placed.entry.shard != shard {
                if let Some((needed, read_start, first)) = open.take() {
                    close(&mut chunks, shard, needed, read_start, first, copies.len());
                }
                shard = placed.entry.shard;
            }
            let mut file = placed.entry.file_range.clone();
            let mut arena = placed.arena_range.start;
            while file.start < file.end {
                // Join the open chunk if this piece starts after its end, close enough, and
                // at least part of it fits.
                if let Some((needed, read_start, first)) = open.take() {
                    let joins = file.start >= needed.end
                        && file.start - needed.end <= options.max_gap as u64
                        && file.start < read_start.saturating_add(chunk_size);
                    if joins {
                        open = Some((needed, read_start, first));
                    } else {
                        close(&mut chunks, shard, needed, read_start, first, copies.len());
                    }
                }
                let (needed, read_start, first) = open.take().unwrap_or_else(|| {
                    let read_start = align_down(file.start, align);
                    (file.start..file.start, read_start, copies.len())
                });
                // Take as much of the piece as the chunk still holds (reads end aligned, so
                // the aligned end must stay within the chunk size).
                let limit = read_start.saturating_add(chunk_size);
                let take_end = file.end.min(limit);
                let len = take_end - file.start;
                let staging_offset = usize::try_from(file.start - read_start).unwrap_or(usize::MAX);
                let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
                let in_chunk = copies.len() > first;
                match copies.last_mut() {
                    Some(last)
                        if in_chunk
                            && last.staging_offset + last.len == staging_offset
                            && last.arena_offset + last.len == arena =>
                    {
                        last.len += len_usize;
                    }
                    _ => copies.push(CopyOp {
                        staging_offset,
                        arena_offset: arena,
                        len: len_usize,
                    }),
                }
                arena += len_usize;
                file.start = take_end;
                let needed = needed.start..take_end;
                if take_end >= limit {
                    close(&mut chunks, shard, needed, read_start, first, copies.len());
                } else {
                    open = Some((needed, read_start, first));
                }
            }
        }
        if let Some((needed, read_start, first)) = open {
            close(&mut chunks, shard, needed, read_start, first, copies.len());
        }
        self.staging_len = chunks.iter().map(Chunk::read_len).max().unwrap_or(0);
        self.chunks = chunks;
        self.copies = copies;
    }

    /// The tensors, in file order, with their places in the arena.
    pub fn tensors(&self) -> &[PlacedTensor] {
        &self.tensors
    }

    /// The chunks, in file order (file after file).
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The copies out of `chunk`'s staging buffer.
    pub fn copies(&self, chunk: &Chunk) -> &[CopyOp] {
        self.copies.get(chunk.copies.clone()).unwrap_or(&[])
    }

    /// Size of the arena that holds every tensor.
    pub fn arena_len(&self) -> usize {
        self.arena_len
    }

    /// Size each staging buffer needs: the longest read.
    pub fn staging_len(&self) -> usize {
        self.staging_len
    }

    /// Tensor bytes to upload.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many files the plan reads from: one more than the highest shard it names.
    pub fn shard_count(&self) -> usize {
        self.tensors
            .iter()
            .map(|t| t.entry.shard + 1)
            .max()
            .unwrap_or(0)
    }
}

fn too_big(name: &str) -> Error {
    Error::Plan(format!(
        "tensor {name:?} does not fit in the arena's address range"
    ))
}

fn align_up(v: usize, align: usize) -> Option<usize> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

fn align_down(v: u64, align: u64) -> u64 {
    v & !(align - 1)
}

fn align_up_u64(v: u64, align: u64) -> u64 {
    // File offsets are far from u64::MAX (the parser checks every range), saturate anyway.
    v.checked_add(align - 1)
        .map_or(align_down(u64::MAX, align), |v| align_down(v, align))
}
