//! weightmap's GGUF parser in the browser.
//!
//! This crate is reserved for the WebAssembly issue (a heap-backed `ModelData`, a
//! `wasm-bindgen` API and a demo page that reads only a file's header with `Blob.slice`). Until
//! then it re-exports the core parser, which already builds for `wasm32-unknown-unknown`.
#![deny(missing_docs)]

pub use weightmap_core as core;
