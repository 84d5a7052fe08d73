//! `weightmap inspect`: open a file (or the built-in sample), parse it and print a report.

use std::io::{self, Write};
use std::path::Path;

use weightmap_core::{Gguf, ModelData};
use weightmap_native::MmapFile;

use crate::report;

/// The sample shown when no file is given; written by the official gguf writer
/// (tests/py/make_sample.py).
const SAMPLE: &[u8] = include_bytes!("../../samples/tiny-llama.gguf");
const SAMPLE_NAME: &str = "samples/tiny-llama.gguf (built-in sample)";

/// Why `inspect` failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file could not be opened or mapped.
    #[error(transparent)]
    Open(#[from] weightmap_native::Error),
    /// The file is not valid GGUF.
    #[error("{path}: {source}")]
    Parse {
        /// What was parsed.
        path: String,
        /// The parser's error.
        source: Box<weightmap_core::Error>,
    },
    /// Writing the report failed (other than a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

pub fn run(file: Option<&Path>, json: bool, tensors: bool) -> Result<(), InspectError> {
    match file {
        Some(path) => {
            let data = MmapFile::open(path)?;
            show(data, &path.display().to_string(), json, tensors)
        }
        None => show(SAMPLE, SAMPLE_NAME, json, tensors),
    }
}

fn show<D: ModelData>(data: D, name: &str, json: bool, tensors: bool) -> Result<(), InspectError> {
    let file_len = data.bytes().len();
    let gguf = Gguf::parse(data).map_err(|source| InspectError::Parse {
        path: name.to_string(),
        source: Box::new(source),
    })?;
    let mut out = io::stdout().lock();
    let written = if json {
        serde_json::to_writer(&mut out, &report::json(&gguf))
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        report::text(&mut out, &gguf, name, file_len as u64, tensors)
    };
    match written.and_then(|()| out.flush()) {
        // `weightmap inspect | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
