//! `weightmap inspect`: open a file (or the built-in sample), parse it and print a report; for
//! a file the parser refuses, what could be read of it before the error.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use weightmap_core::{Model, ModelEntry, ModelTensor, Salvage};
use weightmap_native::{HeapReason, MmapConfig, SourceConfig, DEFAULT_MAX_HEADER_SIZE};

use crate::display::Fit;
use crate::error::{finish, write_json, CliError};
use crate::report::{self, Report};

/// The sample shown when no file is given; written by the official gguf writer
/// (tests/py/make_sample.py).
const SAMPLE: &[u8] = include_bytes!("../../samples/tiny-llama.gguf");
const SAMPLE_NAME: &str = "samples/tiny-llama.gguf (built-in sample)";

/// The first prefix of a refused file read again to show what it holds.
const SALVAGE_FIRST_READ: u64 = 256 << 10;

pub struct Options {
    pub json: bool,
    pub tensors: bool,
    pub no_mmap: bool,
    pub full: bool,
}

pub fn run(file: Option<&Path>, options: &Options) -> Result<(), CliError> {
    if let Some(url) = file.and_then(crate::remote::as_url) {
        return crate::remote::inspect(url, options);
    }
    let Some(path) = file else {
        let model = Model::parse(SAMPLE).map_err(|source| CliError::Parse {
            path: SAMPLE_NAME.to_string(),
            source,
        })?;
        return show(report::of_model(&model, &[]), SAMPLE_NAME, options);
    };
    let config = SourceConfig {
        mmap: MmapConfig::guarded(),
        no_mmap: options.no_mmap,
        // A stream's tensor data is not needed to show its tables.
        header_only: true,
        ..SourceConfig::default()
    };
    let model = match weightmap_native::open_with(path, &config) {
        Ok(model) => model,
        Err(error @ weightmap_native::Error::Parse { .. }) if error.path() == path => {
            show_salvage(path, &error.to_string(), options)?;
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    let Some(first) = model.first() else {
        return Err(CliError::Usage("the model has no files".into()));
    };
    let source = first.data();
    let backing = match source.heap_reason() {
        None if model.is_sharded() => format!(
            "{} files: headers read into memory, tensor data memory-mapped",
            model.shards().len()
        ),
        None => "header read into memory, tensor data memory-mapped".to_string(),
        Some(HeapReason::Requested) => "read into memory: --no-mmap".to_string(),
        Some(HeapReason::Small) => "read into memory: under 64 KiB".to_string(),
        Some(reason) => format!("read into memory: {reason}"),
    };
    let name = format!("{} ({backing})", path.display());
    show(report::of_model(&model, &[]), &name, options)
}

fn show<'a, M, T>(report: Report<M, T>, name: &str, options: &Options) -> Result<(), CliError>
where
    M: Iterator<Item = ModelEntry<'a>> + Clone,
    T: Iterator<Item = ModelTensor<'a>> + Clone,
{
    let mut out = io::stdout().lock();
    let written = if options.json {
        write_json(&mut out, &report::json(report))
    } else {
        let fit = Fit { full: options.full };
        report::text(&mut out, report, name, options.tensors, fit)
    };
    finish(written, &mut out)
}

/// Shows what the parser read of a refused regular file before its error (streams cannot be
/// read again and show only the error).
fn show_salvage(path: &Path, error: &str, options: &Options) -> Result<(), CliError> {
    let Ok(mut file) = File::open(path) else {
        return Ok(());
    };
    let file_len = match file.metadata() {
        Ok(meta) if meta.is_file() => meta.len(),
        _ => return Ok(()),
    };
    let Ok(bytes) = read_as_salvage_asks(&mut file, file_len) else {
        return Ok(());
    };
    // What GGUF's parser read of a file of another format would say nothing true.
    if !bytes.starts_with(&weightmap_core::MAGIC) {
        return Ok(());
    }
    let salvage = Salvage::of(&bytes);
    let name = format!(
        "{} (refused; what was read before the error)",
        path.display()
    );
    show(
        report::of_salvage(&salvage, Some(file_len), error.to_string()),
        &name,
        options,
    )
}

/// The prefix of `file` that [`Salvage`] gets furthest with: read again, growing, while the
/// walk stops for lack of bytes, up to the file's end or the header limit.
fn read_as_salvage_asks(file: &mut File, file_len: u64) -> io::Result<Vec<u8>> {
    let limit = file_len.min(DEFAULT_MAX_HEADER_SIZE);
    let mut bytes = Vec::new();
    let mut goal = SALVAGE_FIRST_READ.min(limit);
    loop {
        let have = bytes.len() as u64;
        Read::by_ref(file)
            .take(goal.saturating_sub(have))
            .read_to_end(&mut bytes)?;
        let needed = match Salvage::of(&bytes).error {
            Some(weightmap_core::Error::Truncated { needed, .. }) => needed,
            _ => return Ok(bytes),
        };
        let have = bytes.len() as u64;
        if have >= limit || have < goal || needed > limit {
            return Ok(bytes);
        }
        goal = needed.max(have.saturating_mul(2)).min(limit);
    }
}
