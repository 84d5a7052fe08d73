//! What can make a `weightmap` command fail (exit status 1).

use std::io;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The file could not be opened, mapped or measured.
    #[error(transparent)]
    Native(#[from] weightmap_native::Error),
    /// The built-in sample does not parse (files are parsed by weightmap-native, whose errors
    /// name the path).
    #[error("{path}: {source}")]
    Parse {
        /// What was parsed.
        path: String,
        /// The parser's error.
        source: weightmap_core::Error,
    },
    /// The upload failed: no GPU, no memory, a file that changed.
    #[error(transparent)]
    Upload(#[from] weightmap_gpu::Error),
    /// A model in object storage could not be read or downloaded.
    #[error(transparent)]
    Remote(#[from] weightmap_remote::Error),
    /// A bad combination of options (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The server could not start (the directory, the address).
    #[error("{0}")]
    Serve(String),
    /// Writing the report failed (other than a closed pipe).
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// Finishes writing a report: flushes, and treats a closed pipe (`weightmap ... | head`) as
/// success.
pub fn finish(written: io::Result<()>, out: &mut impl io::Write) -> Result<(), CliError> {
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes `value` as one line of JSON.
pub fn write_json(out: &mut impl io::Write, value: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}
