//! `weightmap inspect`: open a file (or the built-in sample), parse it and print a report.

use std::io;
use std::path::Path;

use weightmap_core::{Gguf, ModelData};
use weightmap_native::{HeapReason, ModelSource, SourceConfig};

use crate::error::{finish, parse, write_json, CliError};
use crate::report;

/// The sample shown when no file is given; written by the official gguf writer
/// (tests/py/make_sample.py).
const SAMPLE: &[u8] = include_bytes!("../../samples/tiny-llama.gguf");
const SAMPLE_NAME: &str = "samples/tiny-llama.gguf (built-in sample)";

pub struct Options {
    pub json: bool,
    pub tensors: bool,
    pub no_mmap: bool,
}

pub fn run(file: Option<&Path>, options: &Options) -> Result<(), CliError> {
    match file {
        Some(path) => {
            let config = SourceConfig {
                no_mmap: options.no_mmap,
                ..SourceConfig::default()
            };
            let gguf = ModelSource::open_with(path, &config)?;
            let backing = match gguf.data().heap_reason() {
                None => "header read into memory, tensor data memory-mapped".to_string(),
                Some(HeapReason::Requested) => "read into memory: --no-mmap".to_string(),
                Some(HeapReason::Small) => "read into memory: under 64 KiB".to_string(),
                Some(reason) => format!("read into memory: {reason}"),
            };
            show(&gguf, &format!("{} ({backing})", path.display()), options)
        }
        None => show(&parse(SAMPLE, SAMPLE_NAME)?, SAMPLE_NAME, options),
    }
}

fn show<D: ModelData>(gguf: &Gguf<D>, name: &str, options: &Options) -> Result<(), CliError> {
    // The data may hold only the file's tail (the tensor data), from its offset on.
    let file_len = gguf.data().offset() + gguf.data().bytes().len() as u64;
    let mut out = io::stdout().lock();
    let written = if options.json {
        write_json(&mut out, &report::json(gguf))
    } else {
        report::text(&mut out, gguf, name, file_len, options.tensors)
    };
    finish(written, &mut out)
}
