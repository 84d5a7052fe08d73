//! Chunks read from object storage (S3, GCS, Azure, HTTP(S)): a [`ChunkSource`] over a
//! [`RemoteObject`], so a node uploads a model it has never stored on disk.
//!
//! The pipeline hints each chunk a few chunks ahead ([`ChunkSource::prefetch`]); the source
//! starts reading it then, in ranged requests of the remote options' part size, at most
//! their concurrency in flight across all the model's files, into a buffer of its own, while
//! earlier chunks are copied to the device. Each buffer is dropped once its chunk has been
//! read, so memory stays about (chunks ahead + 1) x chunk size. A read nobody hinted is
//! fetched when asked for. Every request is pinned to the version the model was opened at
//! (`If-Match`), so an object replaced during the upload is an error, never mixed bytes.

use std::collections::VecDeque;
use std::io;
use std::ops::{ControlFlow, Range};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use weightmap_remote::{RemoteModel, RemoteObject};

use crate::error::{Error, Result};
use crate::filter::TensorFilter;
use crate::model::DeviceModel;
use crate::plan::{Plan, PlanOptions};
use crate::source::ChunkSource;
use crate::target::Target;
use crate::upload::{upload_shards, Progress, UploadOptions};

/// Hinted reads held at once (the pipeline hints 4 chunks ahead); older ones are dropped.
const MAX_AHEAD: usize = 8;

/// The largest hinted read buffered (larger hints are ignored; the read fetches then).
const MAX_PREFETCH: u64 = 1 << 30;

/// Everything [`upload_remote`] needs to know besides the model.
#[derive(Debug, Clone, Default)]
pub struct RemoteUpload {
    /// Chunking and arena layout.
    pub plan: PlanOptions,
    /// The pipeline.
    pub upload: UploadOptions,
    /// Which tensors to upload.
    pub filter: TensorFilter,
}

/// Uploads the tensors of a model opened from object storage that `options.filter` keeps,
/// each file's chunks read by range from its object ([`RemoteSource`]), requests in the
/// model's [`Options`](weightmap_remote::Options) (part size, concurrency across files).
/// The requests run on `runtime`, the runtime the model was opened on.
///
/// Call it from a thread outside the runtime (or `spawn_blocking`): it blocks while chunks
/// arrive, which a multi-thread runtime's workers fetch (a current-thread runtime would have
/// nobody to run them: refused). The report's `open` phase covers planning only; the model
/// was opened before.
///
/// ```
/// use std::ops::ControlFlow;
/// use weightmap_gpu::{upload_remote, HostTarget, RemoteUpload};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("model.gguf");
/// std::fs::write(&path, weightmap_core::testing::sample_file())?;
/// let runtime = tokio::runtime::Runtime::new()?;
/// let url = format!("file://{}", path.display()); // or s3://, gs://, az://, https://
/// let remote = runtime.block_on(weightmap_remote::open(&url, &Default::default()))?;
/// let mut target = HostTarget::new(); // or CudaTarget::new(0)?
/// let model = upload_remote(&remote, runtime.handle(), &mut target, &RemoteUpload::default(),
///     |_| ControlFlow::Continue(()))?;
/// let local = weightmap_native::open(&path)?;
/// let norm = model.tensor("norm.weight").unwrap();
/// assert_eq!(norm.bytes(), local.tensor("norm.weight")?.bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`upload_shards`]; a failed request is [`Error::Io`] with the remote error as its
/// source (an object replaced meanwhile, a server that stopped answering, ...);
/// [`Error::InvalidOptions`] for a current-thread runtime.
pub fn upload_remote<T: Target>(
    remote: &RemoteModel,
    runtime: &Handle,
    target: &mut T,
    options: &RemoteUpload,
    progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<DeviceModel<T::Arena>> {
    check_runtime(runtime)?;
    let started = Instant::now();
    // Remote reads need no alignment; with none, each chunk's read is the range it hints.
    let plan_options = PlanOptions {
        read_alignment: 1,
        ..options.plan.clone()
    };
    let plan = Plan::of_model(remote.model(), &plan_options, |t| options.filter.keeps(t))?;
    let remote_options = remote.options();
    let requests = Arc::new(Semaphore::new(remote_options.concurrency.clamp(1, 4096)));
    let sources: Vec<RemoteSource> = remote
        .objects()
        .iter()
        .map(|object| {
            RemoteSource::new(object.clone(), runtime.clone(), remote_options.part_size)
                .share_requests(Arc::clone(&requests))
        })
        .collect();
    let planned = started.elapsed();
    tracing::debug!(
        files = sources.len(),
        tensors = plan.tensors().len(),
        chunks = plan.chunks().len(),
        arena = plan.arena_len(),
        "remote upload planned"
    );
    let mut model = upload_shards(&plan, &sources, target, &options.upload, progress)?;
    model.set_open_time(planned);
    Ok(model)
}

/// One object of a remote model as a [`ChunkSource`]: hinted chunks fetched ahead into
/// buffers of their own, other reads fetched when asked for.
pub struct RemoteSource {
    object: RemoteObject,
    runtime: Handle,
    part_size: u64,
    requests: Arc<Semaphore>,
    ahead: Mutex<VecDeque<Arc<Fetch>>>,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("url", &self.object.url())
            .field("part_size", &self.part_size)
            .field("ahead", &lock(&self.ahead).len())
            .finish()
    }
}

impl RemoteSource {
    /// A source reading `object` on `runtime` (a multi-thread one: see [`upload_remote`]) in
    /// requests of `part_size` bytes (at least 1), at most 16 in flight.
    pub fn new(object: RemoteObject, runtime: Handle, part_size: u64) -> Self {
        RemoteSource {
            object,
            runtime,
            part_size: part_size.clamp(1, 1 << 30),
            requests: Arc::new(Semaphore::new(16)),
            ahead: Mutex::new(VecDeque::new()),
        }
    }

    /// Shares `requests` (one permit per request in flight) with other sources, so the
    /// files of one model together stay within one concurrency.
    pub fn share_requests(mut self, requests: Arc<Semaphore>) -> Self {
        self.requests = requests;
        self
    }

    /// Starts fetching `range` (inside the object) on the runtime.
    fn start(&self, range: Range<u64>) -> Arc<Fetch> {
        let fetch = Arc::new(Fetch::new(range.clone()));
        let object = self.object.clone();
        let requests = Arc::clone(&self.requests);
        let part = self.part_size;
        let outcome = Finish(Arc::clone(&fetch));
        let task = self.runtime.spawn(async move {
            let result = fetch_range(&object, range, part, &requests).await;
            outcome.set(result.map(Arc::new).map_err(Arc::new));
        });
        let _ = fetch.task.set(task.abort_handle());
        fetch
    }

    /// The hinted fetch that holds all of `range`, if any.
    fn hinted(&self, range: &Range<u64>) -> Option<Arc<Fetch>> {
        lock(&self.ahead)
            .iter()
            .find(|f| f.range.start <= range.start && range.end <= f.range.end)
            .cloned()
    }

    /// Counts `len` bytes of `fetch` as read; a fetch read to its end is dropped.
    fn consumed(&self, fetch: &Arc<Fetch>, len: usize) {
        let total = fetch.range.end - fetch.range.start;
        let before = fetch.consumed.fetch_add(len as u64, Ordering::AcqRel);
        if before.saturating_add(len as u64) >= total {
            lock(&self.ahead).retain(|f| !Arc::ptr_eq(f, fetch));
        }
    }
}

impl ChunkSource for RemoteSource {
    fn len(&self) -> u64 {
        self.object.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        check_runtime(&self.runtime)?;
        let size = self.object.size();
        if offset >= size || buf.is_empty() {
            return Ok(0); // the end of the object, as for a file read
        }
        let end = size.min(offset.saturating_add(buf.len() as u64));
        // ok: at most buf.len()
        let len = (end - offset) as usize;
        let range = offset..end;
        let (fetch, hinted) = match self.hinted(&range) {
            Some(fetch) => (fetch, true),
            None => (self.start(range), false),
        };
        let bytes = fetch.wait().map_err(|e| io_error(offset, len, e))?;
        // ok: the fetch holds `offset..end`, so `from + len` is within its bytes.
        let from = (offset - fetch.range.start) as usize;
        let got = bytes.get(from..from + len).ok_or(Error::OutOfSource {
            start: offset,
            end,
            len: size,
        })?;
        buf[..len].copy_from_slice(got);
        if hinted {
            self.consumed(&fetch, len);
        }
        Ok(len)
    }

    fn prefetch(&self, range: Range<u64>) {
        let range = range.start..range.end.min(self.object.size());
        if range.is_empty() || range.end - range.start > MAX_PREFETCH {
            return;
        }
        let mut ahead = lock(&self.ahead);
        if ahead.iter().any(|f| f.range == range) {
            return;
        }
        while ahead.len() >= MAX_AHEAD {
            if let Some(old) = ahead.pop_front() {
                old.abort();
            }
        }
        ahead.push_back(self.start(range));
    }

    /// Drops the buffers of hinted chunks inside `range` (the upload is past them).
    fn release(&self, range: Range<u64>) {
        lock(&self.ahead).retain(|f| {
            let inside = range.start <= f.range.start && f.range.end <= range.end;
            if inside {
                f.abort();
            }
            !inside
        });
    }
}

impl Drop for RemoteSource {
    fn drop(&mut self) {
        for fetch in lock(&self.ahead).drain(..) {
            fetch.abort();
        }
    }
}

/// How a fetch ended.
#[derive(Clone)]
enum Outcome {
    Bytes(Arc<Vec<u8>>),
    Failed(Arc<weightmap_remote::Error>),
    /// The task was dropped before it finished (aborted, or the runtime shut down).
    Dropped,
}

/// One range being fetched on the runtime, waited for by reading threads.
struct Fetch {
    range: Range<u64>,
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
    task: OnceLock<AbortHandle>,
    consumed: AtomicU64,
}

impl Fetch {
    fn new(range: Range<u64>) -> Self {
        Fetch {
            range,
            outcome: Mutex::new(None),
            ready: Condvar::new(),
            task: OnceLock::new(),
            consumed: AtomicU64::new(0),
        }
    }

    /// Blocks until the fetch ends; on a worker of a multi-thread runtime, through
    /// `block_in_place`, so the runtime moves its other tasks (the fetch among them) away.
    fn wait(&self) -> Result<Arc<Vec<u8>>, Outcome> {
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| self.wait_here())
            }
            _ => self.wait_here(),
        }
    }

    fn wait_here(&self) -> Result<Arc<Vec<u8>>, Outcome> {
        let mut outcome = lock(&self.outcome);
        loop {
            match &*outcome {
                Some(Outcome::Bytes(bytes)) => return Ok(Arc::clone(bytes)),
                Some(other) => return Err(other.clone()),
                None => {
                    outcome = self
                        .ready
                        .wait(outcome)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
    }

    fn abort(&self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Sets a fetch's outcome once: the task's result, or [`Outcome::Dropped`] when the task is
/// dropped unfinished, so no reader waits forever.
struct Finish(Arc<Fetch>);

impl Finish {
    fn set(self, result: std::result::Result<Arc<Vec<u8>>, Arc<weightmap_remote::Error>>) {
        let outcome = match result {
            Ok(bytes) => Outcome::Bytes(bytes),
            Err(e) => Outcome::Failed(e),
        };
        self.finish(outcome);
    }

    fn finish(&self, outcome: Outcome) {
        let mut slot = lock(&self.0.outcome);
        if slot.is_none() {
            *slot = Some(outcome);
            self.0.ready.notify_all();
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.finish(Outcome::Dropped);
    }
}

/// Reads `range` of `object` into a new buffer, in parts of `part` bytes, each request
/// holding a permit of `requests` while it runs.
async fn fetch_range(
    object: &RemoteObject,
    range: Range<u64>,
    part: u64,
    requests: &Semaphore,
) -> weightmap_remote::Result<Vec<u8>> {
    // ok: the range was cut from a buffer's length or limited to MAX_PREFETCH.
    let len = (range.end - range.start) as usize;
    let part = usize::try_from(part).unwrap_or(usize::MAX).max(1);
    let mut data = Vec::new();
    if data.try_reserve_exact(len).is_err() {
        return Err(weightmap_remote::Error::BadRead(format!(
            "{}: no memory for a buffer of {len} bytes",
            object.url()
        )));
    }
    data.resize(len, 0);
    let parts = data
        .chunks_mut(part)
        .enumerate()
        .map(|(i, slice)| read_part(object, range.start + (i * part) as u64, slice, requests));
    futures_util::future::try_join_all(parts).await?;
    Ok(data)
}

/// One request, holding a permit of `requests` while it runs.
async fn read_part(
    object: &RemoteObject,
    start: u64,
    dest: &mut [u8],
    requests: &Semaphore,
) -> weightmap_remote::Result<()> {
    // The semaphore is never closed; without a permit the request still runs.
    let _permit = requests.acquire().await.ok();
    object.read_into(start, dest).await
}

fn io_error(offset: u64, len: usize, outcome: Outcome) -> Error {
    let source = match outcome {
        Outcome::Failed(e) => io::Error::other(e),
        _ => io::Error::other("the read was cancelled before it finished"),
    };
    Error::Io {
        offset,
        len,
        source,
    }
}

/// Waiting for a fetch needs a runtime whose own threads run it.
fn check_runtime(runtime: &Handle) -> Result<()> {
    match runtime.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => Err(Error::InvalidOptions(
            "remote reads need a multi-thread tokio runtime (a current-thread one runs its \
             tasks only inside block_on)"
                .to_owned(),
        )),
        _ => Ok(()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
