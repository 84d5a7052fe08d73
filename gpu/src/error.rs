//! What can make an upload fail.

use std::io;

/// Why an upload failed. No GPU, no memory, a cancelled upload and a bad file all come back
/// as one of these, never as a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No CUDA driver library (`libcuda.so`) could be loaded: no NVIDIA driver here.
    #[error("no CUDA driver found (libcuda could not be loaded): this needs an NVIDIA GPU and its driver")]
    NoDriver,
    /// The driver is there but has no device with this ordinal.
    #[error("no CUDA device {ordinal}: the driver reports {count} device(s)")]
    NoDevice {
        /// The device asked for.
        ordinal: usize,
        /// How many the driver has.
        count: usize,
    },
    /// A CUDA driver call failed.
    #[error("CUDA {call} failed: {message}")]
    Driver {
        /// The operation.
        call: &'static str,
        /// The driver's error, as text.
        message: String,
    },
    /// The device has too little free memory for the arena.
    #[error("out of device memory: the arena needs {requested} bytes, the device has {free} free")]
    OutOfDeviceMemory {
        /// Bytes asked for.
        requested: usize,
        /// Bytes the device reported free.
        free: usize,
    },
    /// Host memory for the staging buffers or a host arena could not be allocated.
    #[error("out of host memory: cannot allocate {requested} bytes")]
    OutOfHostMemory {
        /// Bytes asked for.
        requested: usize,
    },
    /// The progress callback asked to stop.
    #[error("upload cancelled after {done} of {total} bytes")]
    Cancelled {
        /// Bytes uploaded before it stopped.
        done: u64,
        /// Bytes the upload had to copy.
        total: u64,
    },
    /// Reading the model failed.
    #[error("reading {len} bytes at file offset {offset}: {source}")]
    Io {
        /// File offset of the read.
        offset: u64,
        /// Its length.
        len: usize,
        /// What went wrong.
        source: io::Error,
    },
    /// The file changed while it was read (it was truncated under a guarded mapping): the
    /// bytes uploaded cannot be trusted.
    #[error("the model file changed during the upload (truncated under its mapping)")]
    SourceChanged,
    /// A tensor's bytes are not in the source (beyond the end of the file or the mapping).
    #[error("file bytes {start}..{end} are outside the source (its length is {len})")]
    OutOfSource {
        /// First byte asked for.
        start: u64,
        /// End of the range asked for.
        end: u64,
        /// Bytes the source has.
        len: u64,
    },
    /// The tensor table cannot be planned (overflowing sizes).
    #[error("cannot plan the upload: {0}")]
    Plan(String),
    /// An option is out of range.
    #[error("invalid upload options: {0}")]
    InvalidOptions(String),
    /// Verification read a tensor back and found different bytes.
    #[error("verification failed: tensor {tensor:?} differs from the file at byte {offset} of the tensor")]
    Mismatch {
        /// The tensor.
        tensor: String,
        /// First differing byte, from the tensor's start.
        offset: u64,
    },
    /// The model file could not be opened or parsed.
    #[error(transparent)]
    Model(#[from] weightmap_native::Error),
}

impl Error {
    /// Whether the error says there is no GPU to use (no driver or no such device): what
    /// tests and tools check before skipping.
    pub fn is_no_device(&self) -> bool {
        matches!(self, Error::NoDriver | Error::NoDevice { .. })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
