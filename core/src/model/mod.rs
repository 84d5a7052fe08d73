//! The format-neutral model layer: a model of one or more files, GGUF or safetensors, told
//! apart by their first bytes, behind one API.
//!
//! [`detect`] says what a file holds; [`ModelFile`] is one parsed file of either format;
//! [`Model`] is the whole model (one file, a GGUF split set, or a sharded safetensors model
//! with its [`ShardIndex`](crate::safetensors::ShardIndex)), whose [`ModelTensor`]s say which
//! shard holds each tensor and where, and whose metadata is [`ModelEntry`]s as the format has
//! them. [`HeaderParser`] reads a header of either format that arrives in pieces.

mod checks;
mod entry;
mod file;
mod format;
mod header;
mod set;
mod tensor;

pub use entry::{ModelEntry, ModelValue};
pub use file::ModelFile;
pub use format::{detect, Content, Format};
pub use header::{HeaderIndex, HeaderParser};
pub use set::{Model, Shard};
pub use tensor::ModelTensor;
