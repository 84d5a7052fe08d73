//! Host-to-device upload of weightmap tensors to CUDA GPUs.
//!
//! This crate is reserved for the GPU upload issue (chunked, pipelined copies through pinned
//! staging buffers with `cudarc`, releasing CPU pages behind the upload). It exports nothing
//! yet, so that nothing here pretends to work before it does.
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
