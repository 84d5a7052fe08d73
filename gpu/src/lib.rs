//! Pipelined, chunked upload of model weights to a CUDA GPU, with the process's memory kept
//! flat.
//!
//! An upload has three parts:
//! - a [`Plan`]: tensors sorted by file offset, packed into one device arena at 256-byte
//!   alignment, and the file cut into chunks (32 MiB by default), neighbouring tensors read
//!   together;
//! - a [`ChunkSource`] that reads a chunk into a staging buffer: [`MappedSource`] copies out
//!   of a memory map and releases the pages behind the upload (`MADV_DONTNEED`), so the extra
//!   memory stays about `buffers x chunk size` whatever the model's size; [`FileSource`]
//!   reads with `pread`, optionally `O_DIRECT`; with the `remote` feature, `RemoteSource`
//!   reads ranges of an object in S3, GCS, Azure or over HTTP, chunks fetched ahead;
//! - a [`Target`]: [`CudaTarget`] copies from a ring of plain pinned staging buffers on a
//!   non-blocking stream, one event per buffer so a buffer is refilled only once its copies
//!   are done; [`HostTarget`] does the same into host memory.
//!
//! [`upload`] runs the pipeline with a progress callback that can cancel; [`upload_file`]
//! opens a model file and does everything (`upload_remote`, a model opened from object
//! storage). The result is a [`DeviceModel`] whose tensors are
//! views of the arena.
//!
//! ```
//! use std::ops::ControlFlow;
//! use weightmap_gpu::{upload, HostTarget, MappedSource, Plan, PlanOptions, UploadOptions};
//!
//! let gguf = weightmap_core::Gguf::parse(weightmap_core::testing::sample_file())?;
//! let plan = Plan::of_gguf(&gguf, &PlanOptions::default(), |_| true)?;
//! // A GPU: `weightmap_gpu::CudaTarget::new(0)?`, which fails cleanly without one.
//! let mut target = HostTarget::new();
//! let source = MappedSource::new(gguf.data());
//! let model = upload(&plan, &source, &mut target, &UploadOptions::default(), |p| {
//!     println!("{} of {} bytes", p.bytes_done, p.bytes_total);
//!     ControlFlow::Continue(())
//! })?;
//! let norm = model.tensor("norm.weight").unwrap();
//! assert_eq!(norm.arena_range().start % 256, 0);
//! assert_eq!(norm.bytes(), gguf.tensor("norm.weight")?.bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

pub mod cuda;
mod error;
mod file;
mod filter;
mod model;
mod plan;
#[cfg(feature = "remote")]
mod remote;
mod source;
mod target;
mod upload;

#[doc(hidden)]
pub mod testing;

pub use cuda::{CudaArena, CudaTarget};
pub use error::{Error, Result};
pub use file::{source_config, upload_file, FileUpload, Fill};
pub use filter::TensorFilter;
pub use model::{DeviceModel, DeviceTensor};
pub use plan::{
    Chunk, CopyOp, PlacedTensor, Plan, PlanOptions, TensorEntry, DEFAULT_CHUNK_SIZE,
    DIRECT_IO_ALIGNMENT, MIN_ALIGNMENT,
};
#[cfg(feature = "remote")]
pub use remote::{upload_remote, RemoteSource, RemoteUpload};
pub use source::{ChunkSource, FileSource, MappedSource};
pub use target::{Arena, HostArena, HostTarget, Target};
pub use upload::{upload, upload_shards, Progress, UploadOptions, UploadReport};
