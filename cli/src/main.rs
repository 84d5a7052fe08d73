//! `weightmap`: inspect GGUF and safetensors model files (single, split or sharded), see which
//! of their pages are in memory, warm or
//! release them, serve them over HTTP and upload them to a GPU.
//!
//! Exit status: 0 on success, 1 when a file cannot be opened or parsed (the typed error is
//! printed on stderr), 2 for bad command-line usage.

mod display;
mod error;
mod inspect;
mod remote;
mod report;
mod residency;
mod serve;
mod tensor;
mod touch;
mod upload;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

/// Zero-copy access to model weights: inspect GGUF and safetensors models without loading
/// them, see and control what they cost in memory, serve them, upload them to a GPU.
///
/// Every command that takes a model accepts a GGUF file, a safetensors file, the first file
/// of a GGUF split set (NAME-00001-of-0000N.gguf) or a sharded safetensors model's
/// model.safetensors.index.json; the format is told by the file's contents.
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
    /// Show a model's header, metadata and tensor table (GGUF or safetensors, one file or
    /// several).
    ///
    /// The header is read into memory and the tensor data mapped, never read. Long arrays
    /// (such as a tokenizer's vocabulary) are shown as their length and first elements; long
    /// keys, names and strings are shortened (--full shows them whole). A file the parser
    /// refuses is shown as far as it could be read, then the error (exit status 1).
    Inspect {
        /// The model: a GGUF or safetensors file, a first GGUF split, or a
        /// model.safetensors.index.json; or the URL of one (s3://, gs://, az://, http(s)://,
        /// file://: its header read by range, credentials from AWS_*, GOOGLE_*, AZURE_*;
        /// --json adds "remote": {"url", "requests", "bytes"}). Without one, inspects the
        /// small sample built into the binary (samples/tiny-llama.gguf, written by the
        /// official gguf writer).
        file: Option<PathBuf>,

        /// Print one JSON object instead of text: {"format", "version", "alignment",
        /// "data_offset", "metadata": [{"key", "type", "value"}], "tensors": [{"name",
        /// "type", "shape", "offset", "size"}]}; "version" and "alignment" are null for
        /// safetensors; "shape" is in the file's order (GGUF: ne0 first). A model of
        /// several files adds "files": [{"file", "size", "data_offset"}] and each tensor's
        /// "file".
        #[arg(long)]
        json: bool,

        /// List every tensor (the text output shows only totals by type otherwise).
        #[arg(long)]
        tensors: bool,

        /// Read the file into memory instead of mapping it (files under 64 KiB are always
        /// read; pipes, devices and /proc files are read as far as their header).
        #[arg(long)]
        no_mmap: bool,

        /// Show long keys, tensor names and string values whole (the text output shortens
        /// them to 64 and 120 characters; --json never does).
        #[arg(long)]
        full: bool,
    },

    /// Show which pages of a file are in the kernel's page cache, like vmtouch.
    ///
    /// Works on any file; a shard index or a first GGUF split stands for all the files of
    /// its model. With --tensors the file must be a model, and each tensor's share is shown. Nothing is read to measure it (mincore), so the answer is what a load would find.
    Residency {
        /// The file.
        file: PathBuf,

        /// Also show the cached share of each tensor.
        #[arg(long)]
        tensors: bool,

        /// Print one JSON object: {"file", "size", "page_size", "pages", "cached_pages",
        /// "cached_fraction", "tensors": [{"name", "type", "offset", "size", "pages",
        /// "cached_pages"}]}.
        #[arg(long)]
        json: bool,
    },

    /// Fault every page of a file into memory, with a progress bar, and report the time, the
    /// throughput and the page faults it took (major faults read from disk). A shard index or
    /// a first GGUF split stands for all the files of its model.
    Touch {
        /// The file.
        file: PathBuf,

        /// Hand the pages back to the kernel afterwards (MADV_DONTNEED) and report the RSS.
        #[arg(long)]
        release: bool,

        /// Drop the file from the page cache first, so the pass reads from disk (a cold load).
        #[arg(long)]
        evict: bool,

        /// Print one JSON object: {"file", "bytes", "pages", "seconds", "bytes_per_second",
        /// "minor_faults", "major_faults", "rss_before", "rss_touched", "rss_released"}, and
        /// "files" for a model of several files.
        #[arg(long)]
        json: bool,
    },
    /// Serve the model files of a directory over HTTP, straight from the page cache.
    ///
    /// Routes: GET/HEAD /files/{path} (byte ranges, multipart ranges, If-Range, ETag),
    /// /models/{path} (the index as the JSON of `inspect --json`),
    /// /models/{path}/tensors/{name} (one tensor's bytes, with X-Tensor-Type and
    /// X-Tensor-Shape), /cache/stats, /healthz. Only regular files inside DIR are served: no
    /// `..`, no symlinks leaving DIR, no hidden files. Stops on Ctrl-C or SIGTERM, letting
    /// responses in flight finish (up to 10 s).
    Serve {
        /// The directory to serve.
        dir: PathBuf,

        /// Address to listen on; the default is loopback only. Port 0 picks a free port (the
        /// first line printed says which).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,

        /// Most files kept mapped at once.
        #[arg(long, default_value_t = 64)]
        cache_entries: usize,

        /// Most bytes kept mapped at once (address space, not memory: pages cost memory only
        /// while in the page cache).
        #[arg(long, default_value_t = 64 << 30)]
        cache_bytes: u64,

        /// Most byte ranges one request may ask for (more is answered with 416).
        #[arg(long, default_value = "16")]
        max_ranges: NonZeroUsize,

        /// Seconds a client may take to send a request's headers.
        #[arg(long, default_value_t = 10)]
        header_timeout: u64,

        /// Seconds a connection may make no progress (idle keep-alive, a client that stops
        /// sending or stops reading) before it is closed.
        #[arg(long, default_value_t = 60)]
        stall_timeout: u64,

        /// Print the first line (where it listens) as JSON: {"listening", "root"}.
        #[arg(long)]
        json: bool,
    },

    /// Upload every tensor of a model (GGUF or safetensors, one file or several) to a CUDA
    /// GPU and report the throughput.
    ///
    /// The file is read in chunks into a ring of pinned staging buffers (pread by default)
    /// and copied on a non-blocking stream while the next chunk is read; with --fill mmap
    /// each chunk's pages are handed back to the kernel once copied. Either way the
    /// process's memory grows by about buffers x chunk size, not by the model's size. A
    /// model in object storage (a URL) is read by ranged requests a few chunks ahead of the
    /// copies, every request pinned to the version first seen. Prints the time of each
    /// phase, GB/s and the peak RSS growth. Without an NVIDIA GPU and driver it says so and
    /// exits with status 1 (--host runs the same pipeline into host memory).
    Upload {
        /// The model: a GGUF or safetensors file, a first GGUF split, or a
        /// model.safetensors.index.json; a path or a URL (s3://, gs://, az://, http(s)://,
        /// file://: read by range straight into the pipeline, nothing stored on disk).
        file: PathBuf,

        /// CUDA device ordinal.
        #[arg(long, default_value_t = 0)]
        device: usize,

        /// Staging chunk size in MiB.
        #[arg(long, default_value_t = 32)]
        chunk_mib: usize,

        /// Staging buffers in the ring.
        #[arg(long, default_value_t = 4)]
        buffers: usize,

        /// Threads filling each buffer (default: the cores, at most 8).
        #[arg(long)]
        threads: Option<usize>,

        /// How buffers are filled: pread through the page cache, memcpy from the mapping
        /// (pages released behind the upload), or pread with O_DIRECT (bypasses the page
        /// cache; for cold loads).
        #[arg(long, value_enum, default_value = "pread")]
        fill: FillArg,

        /// Drop each chunk from the page cache once read (posix_fadvise DONTNEED).
        #[arg(long)]
        evict: bool,

        /// With --fill mmap, keep the mapping's pages resident (skip MADV_DONTNEED behind
        /// the upload; pread and direct map nothing).
        #[arg(long)]
        keep_pages: bool,

        /// Read every tensor back and compare it with the file.
        #[arg(long)]
        verify: bool,

        /// Upload only blocks A..B (tensors named blk.N.*, A <= N < B), e.g. to shard a
        /// model across GPUs. Combines with --tensor.
        #[arg(long, value_parser = upload::parse_layers, value_name = "A..B")]
        layers: Option<std::ops::Range<u32>>,

        /// Upload this tensor (repeatable). Combines with --layers.
        #[arg(long = "tensor", value_name = "NAME")]
        tensors: Vec<String>,

        /// Upload into host memory instead of a GPU (the same pipeline; for machines
        /// without one).
        #[arg(long)]
        host: bool,

        /// For a URL: requests in flight, across the model's files.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,

        /// For a URL: bytes of one request, in MiB.
        #[arg(long, default_value_t = 8)]
        part_mib: u64,

        /// Print one JSON object: {"file", "device", "tensors", "bytes", "arena_bytes",
        /// "chunks", "chunk_size", "buffers", "threads", "fill", "seconds": {"open",
        /// "allocate", "transfer", "verify"}, "bytes_per_second", "verified", "rss_before",
        /// "peak_rss", "peak_rss_growth"}.
        #[arg(long)]
        json: bool,
    },

    /// Show one tensor: its type, shape and byte range, and statistics of its values (count,
    /// min, max, mean, std, NaN, +-inf) with a histogram; or write its values or bytes.
    ///
    /// Quantized tensors are decoded to f32 as the official gguf package's
    /// gguf.quants.dequantize decodes them, a chunk of blocks at a time (memory stays
    /// bounded whatever the tensor's size). Types without a decoder yet are an error (exit
    /// status 1); --raw works for every type.
    Tensor {
        /// The model: a GGUF or safetensors file, a first GGUF split, or a
        /// model.safetensors.index.json.
        file: PathBuf,

        /// The tensor's name (weightmap inspect --tensors lists them).
        name: String,

        /// With -o: write the values as little-endian f32, row-major (as the official
        /// reader's dequantize returns them).
        #[arg(long = "f32", requires = "output", conflicts_with = "raw")]
        f32_out: bool,

        /// With -o: write the stored bytes.
        #[arg(long, requires = "output")]
        raw: bool,

        /// Where --f32 or --raw writes.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,

        /// Histogram bins.
        #[arg(long, default_value_t = 20)]
        bins: usize,

        /// Print one JSON object: {"name", "type", "shape" (as inspect shows it), "dims"
        /// (row-major), "file", "byte_range", "bytes",
        /// "count", "finite", "min", "max", "mean", "std", "nan", "pos_inf", "neg_inf",
        /// "histogram": {"edges", "counts"}} (min to std are null without finite values).
        #[arg(long)]
        json: bool,
    },

    /// Download a model from object storage (s3://, gs://, az://, http(s)://, file://) by
    /// parallel ranged reads.
    ///
    /// One file goes to PATH (or into PATH, a folder); a sharded model (its
    /// model.safetensors.index.json, or the first file of a GGUF split set) goes into the
    /// folder PATH, every file. A download that stops resumes where it stopped (FILE.part
    /// and FILE.part.json) if the object is still the same version (ETag), and is refused
    /// otherwise; an existing FILE is refused unless --force. The files are opened at the
    /// end to check that they parse.
    Get {
        /// The model's URL.
        url: String,

        /// Where to write it: a file, or a folder for a model of several files.
        #[arg(short, long, value_name = "PATH")]
        output: PathBuf,

        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,

        /// Bytes of one request, in MiB (default: each file's size / (4 x concurrency),
        /// between 8 and 64 MiB: every connection kept busy with a few parts, and no more
        /// requests than that).
        #[arg(long)]
        part_mib: Option<u64>,

        /// Replace files that exist already.
        #[arg(long)]
        force: bool,

        /// Print one JSON object: {"url", "files": [{"file", "size", "fetched",
        /// "resumed"}], "bytes", "fetched", "tensors", "seconds", "bytes_per_second",
        /// "requests"}.
        #[arg(long)]
        json: bool,
    },
}

/// `--fill` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FillArg {
    Pread,
    Mmap,
    Direct,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Inspect {
            file,
            json,
            tensors,
            no_mmap,
            full,
        } => inspect::run(
            file.as_deref(),
            &inspect::Options {
                json,
                tensors,
                no_mmap,
                full,
            },
        ),
        Command::Residency {
            file,
            tensors,
            json,
        } => residency::run(&file, tensors, json),
        Command::Touch {
            file,
            release,
            evict,
            json,
        } => touch::run(
            &file,
            &touch::Options {
                release,
                evict,
                json,
            },
        ),
        Command::Serve {
            dir,
            addr,
            cache_entries,
            cache_bytes,
            max_ranges,
            header_timeout,
            stall_timeout,
            json,
        } => serve::run(
            &dir,
            &serve::Options {
                addr,
                cache_entries,
                cache_bytes,
                max_ranges,
                header_timeout: std::time::Duration::from_secs(header_timeout.max(1)),
                stall_timeout: std::time::Duration::from_secs(stall_timeout.max(1)),
                json,
            },
        ),
        Command::Tensor {
            file,
            name,
            f32_out,
            raw,
            output,
            bins,
            json,
        } => match (output, f32_out || raw) {
            (Some(_), false) => Err(error::CliError::Usage(
                "-o PATH needs --f32 (the values) or --raw (the stored bytes)".into(),
            )),
            (output, _) => tensor::run(
                &file,
                &name,
                &tensor::Options {
                    json,
                    f32_out: output.clone().filter(|_| f32_out),
                    raw_out: output.filter(|_| raw),
                    bins,
                },
            ),
        },
        Command::Get {
            url,
            output,
            concurrency,
            part_mib,
            force,
            json,
        } => remote::get(
            &url,
            &remote::GetOptions {
                output,
                concurrency,
                part_mib,
                force,
                json,
            },
        ),
        Command::Upload {
            file,
            device,
            chunk_mib,
            buffers,
            threads,
            fill,
            evict,
            keep_pages,
            verify,
            layers,
            tensors,
            host,
            concurrency,
            part_mib,
            json,
        } => upload::run(
            &file,
            &upload::Options {
                device,
                host,
                chunk_mib,
                buffers,
                threads,
                fill: match fill {
                    FillArg::Mmap => weightmap_gpu::Fill::Mmap,
                    FillArg::Pread => weightmap_gpu::Fill::Pread,
                    FillArg::Direct => weightmap_gpu::Fill::Direct,
                },
                evict,
                keep_pages,
                verify,
                layers,
                tensors,
                concurrency,
                part_mib,
                json,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ error::CliError::Usage(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
