//! `weightmap inspect`: open a file (or the built-in sample), parse it and print a report.

use std::io;
use std::path::Path;

use weightmap_core::ModelData;
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
            let source = ModelSource::open_with(path, &config)?;
            let backing = match source.heap_reason() {
                None => "memory-mapped",
                Some(HeapReason::Requested) => "read into memory: --no-mmap",
                Some(HeapReason::Small) => "read into memory: under 64 KiB",
                Some(_) => "read into memory: not a regular file",
            };
            show(source, &format!("{} ({backing})", path.display()), options)
        }
        None => show(SAMPLE, SAMPLE_NAME, options),
    }
}

fn show<D: ModelData>(data: D, name: &str, options: &Options) -> Result<(), CliError> {
    let file_len = data.bytes().len();
    let gguf = parse(data, name)?;
    let mut out = io::stdout().lock();
    let written = if options.json {
        write_json(&mut out, &report::json(&gguf))
    } else {
        report::text(&mut out, &gguf, name, file_len as u64, options.tensors)
    };
    finish(written, &mut out)
}
