//! `weightmap`: inspect GGUF model files.
//!
//! Exit status: 0 on success, 1 when a file cannot be opened or parsed (the typed error is
//! printed on stderr), 2 for bad command-line usage.

mod inspect;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Zero-copy access to model weights: inspect GGUF files without loading them.
#[derive(Debug, Parser)]
#[command(name = "weightmap", version, about, long_about = None)]
struct Cli {
    /// Log more (-v: DEBUG, including every mmap operation; -vv: TRACE). RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a GGUF file's header, metadata and tensor table.
    ///
    /// The file is memory-mapped: only the header pages are read. Long arrays (such as a
    /// tokenizer's vocabulary) are shown as their length and first elements.
    Inspect {
        /// The GGUF file. Without one, inspects the small sample built into the binary
        /// (samples/tiny-llama.gguf, written by the official gguf writer).
        file: Option<PathBuf>,

        /// Print one JSON object instead of text: {"version", "alignment", "data_offset",
        /// "metadata": [{"key", "type", "value"}], "tensors": [{"name", "type", "shape",
        /// "offset", "size"}]}.
        #[arg(long)]
        json: bool,

        /// List every tensor (the text output shows only totals by type otherwise).
        #[arg(long)]
        tensors: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Inspect {
            file,
            json,
            tensors,
        } => inspect::run(file.as_deref(), json, tensors),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
