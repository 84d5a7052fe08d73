//! A whole object into a local file: parallel ranged reads written in place, resumable.
//!
//! The bytes go to `FILE.part`, beside a `FILE.part.json` that records the object (URL, ETag,
//! size), the part size and the parts on the disk (recorded once a sync covers them). A
//! download that stops (an error, a cancel, a kill) goes on from there when started again, if
//! the object is still the same version; a partial file of another version, or a `FILE` that
//! already exists, is refused. Once every
//! part is in, the file is synced and renamed to `FILE`.

use std::collections::HashSet;
use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::object::{body_length, RemoteObject};
use crate::{Options, Progress};

/// What a [`download`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Download {
    /// Bytes the object has.
    pub size: u64,
    /// Bytes read now.
    pub fetched: u64,
    /// Bytes a partial download had already written.
    pub resumed: u64,
}

/// Downloads `object` to `path` (see the module docs), `options.concurrency` parts of
/// `options.part_size` bytes in flight; `progress` after each part, `Break` to stop (the
/// partial file stays, to resume).
///
/// # Errors
/// [`Error::Conflict`] when `path` exists or a partial download is of another object or
/// version; [`Error::Io`] for the local files; [`Error::Cancelled`]; the reads' errors.
pub async fn download<F>(
    object: &RemoteObject,
    path: &Path,
    options: &Options,
    mut progress: F,
) -> Result<Download>
where
    F: FnMut(Progress) -> ControlFlow<()>,
{
    if path.exists() {
        return Err(Error::Conflict {
            path: path.into(),
            reason: "exists already (remove it to download again)".to_owned(),
        });
    }
    let partial = sibling(path, ".part");
    let state_path = sibling(path, ".part.json");
    let size = object.size();
    let (file, mut state) = if partial.exists() {
        let state = State::load(&state_path, &partial, object)?;
        let file = File::options()
            .write(true)
            .open(&partial)
            .map_err(|e| Error::io(&partial, e))?;
        (file, state)
    } else {
        let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
        file.set_len(size).map_err(|e| Error::io(&partial, e))?;
        let state = State {
            part_size: options.part_size.max(1),
            done: Vec::new(),
        };
        state.save(&state_path, object)?;
        (file, state)
    };
    let part_size = state.part_size;
    let count = size.div_ceil(part_size);
    // The parts already written: a set as long as the record, never one sized by the object.
    let written: HashSet<u64> = state.done.iter().copied().filter(|&i| i < count).collect();
    let range = |i: u64| i * part_size..i.saturating_add(1).saturating_mul(part_size).min(size);
    let resumed: u64 = written.iter().map(|&i| range(i).end - range(i).start).sum();
    let todo = (0..count).filter(move |i| !written.contains(i));
    let file = Arc::new(file);
    let mut running = stream::iter(todo)
        .map(|i| {
            let file = Arc::clone(&file);
            let partial = partial.as_path();
            async move {
                let r = range(i);
                write_part(object, r.clone(), file, partial).await?;
                Ok::<(u64, u64), Error>((i, r.end - r.start))
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut done = resumed;
    let mut fetched = 0u64;
    let mut durable = Durable::new(Arc::clone(&file), &partial);
    let fetching: Result<()> = async {
        while let Some((i, len)) = running.try_next().await? {
            done += len;
            fetched += len;
            durable.written(i);
            if progress(Progress { done, total: size }).is_break() {
                return Err(Error::Cancelled { done, total: size });
            }
            // Written parts go to the disk in the background while later ones arrive (so
            // the final sync has little left to do), and into the record once they are there.
            durable
                .sync_if_idle(&mut state, &state_path, object)
                .await?;
        }
        Ok(())
    }
    .await;
    drop(running);
    // Stopped or done: every part written so far is synced and recorded, so a resume keeps
    // it (an error here matters only where the fetching went well).
    let kept = durable.finish(&mut state, &state_path, object).await;
    fetching?;
    kept?;
    let synced = Arc::clone(&file);
    tokio::task::spawn_blocking(move || synced.sync_all())
        .await
        .map_err(|e| Error::io(&partial, std::io::Error::other(e)))?
        .map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))?;
    let _ = std::fs::remove_file(&state_path);
    tracing::debug!(url = object.url(), path = %path.display(), fetched, resumed, "downloaded");
    Ok(Download {
        size,
        fetched,
        resumed,
    })
}

/// Parts on their way to the disk: a part goes into the record only once a sync that began
/// after it was written has succeeded, so a crash never leaves a record of data the disk does
/// not hold. One record write per sync, not per part.
struct Durable<'a> {
    file: Arc<File>,
    path: &'a Path,
    /// Written since the running sync began.
    unsynced: Vec<u64>,
    /// Written before the running sync began: durable once it succeeds.
    syncing: Vec<u64>,
    flushing: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// A sync failed: the kernel reports a writeback error once, so a later sync passing
    /// proves nothing about the parts written before it. Nothing more is recorded.
    failed: bool,
}

impl<'a> Durable<'a> {
    fn new(file: Arc<File>, path: &'a Path) -> Self {
        Durable {
            file,
            path,
            unsynced: Vec::new(),
            syncing: Vec::new(),
            flushing: None,
            failed: false,
        }
    }

    fn written(&mut self, part: u64) {
        self.unsynced.push(part);
    }

    /// When no sync is running: records the parts the last one covered and starts the next.
    async fn sync_if_idle(
        &mut self,
        state: &mut State,
        record: &Path,
        object: &RemoteObject,
    ) -> Result<()> {
        if self.flushing.as_ref().is_some_and(|f| !f.is_finished()) {
            return Ok(());
        }
        self.settle(state, record, object).await?;
        let file = Arc::clone(&self.file);
        self.syncing = std::mem::take(&mut self.unsynced);
        self.flushing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        Ok(())
    }

    /// Waits for the running sync, if any, and records the parts it covered. A writeback
    /// error is reported once per file: a background sync's must not be dropped, or the final
    /// sync would pass over a damaged file.
    async fn settle(
        &mut self,
        state: &mut State,
        record: &Path,
        object: &RemoteObject,
    ) -> Result<()> {
        let Some(flushing) = self.flushing.take() else {
            return Ok(());
        };
        if let Err(e) = synced(flushing.await, self.path) {
            self.failed = true;
            return Err(e);
        }
        if !self.syncing.is_empty() {
            state.done.append(&mut self.syncing);
            state.save(record, object)?;
        }
        Ok(())
    }

    /// Syncs and records every part written.
    async fn finish(
        &mut self,
        state: &mut State,
        record: &Path,
        object: &RemoteObject,
    ) -> Result<()> {
        self.settle(state, record, object).await?;
        if self.failed || self.unsynced.is_empty() {
            return Ok(());
        }
        let file = Arc::clone(&self.file);
        self.syncing = std::mem::take(&mut self.unsynced);
        self.flushing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        self.settle(state, record, object).await
    }
}

/// The result of a background sync of `path`.
fn synced(
    joined: std::result::Result<std::io::Result<()>, tokio::task::JoinError>,
    path: &Path,
) -> Result<()> {
    joined
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?
        .map_err(|e| Error::io(path, e))
}

/// Body bytes gathered before they are written (one blocking task per batch).
const WRITE_BATCH: usize = 1 << 20;

/// Reads `range` of `object` and writes it at the same offsets of `file`, frame by frame as
/// they arrive (in batches of about [`WRITE_BATCH`] bytes), never holding the whole part.
async fn write_part(
    object: &RemoteObject,
    range: std::ops::Range<u64>,
    file: Arc<File>,
    path: &Path,
) -> Result<()> {
    let len = range.end - range.start;
    let mut body = object.open_range(range.clone()).await?;
    let mut at = range.start;
    let mut got = 0u64;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0usize;
    loop {
        let frame = body.next().await?;
        let end = frame.is_none();
        if let Some(frame) = frame {
            got = got.saturating_add(frame.len() as u64);
            if got > len {
                return Err(body_length(object.url(), range, got, true));
            }
            batched += frame.len();
            batch.push(frame);
        }
        if batched >= WRITE_BATCH || (end && batched > 0) {
            let frames = std::mem::take(&mut batch);
            let file = Arc::clone(&file);
            let start = at;
            tokio::task::spawn_blocking(move || {
                let mut offset = start;
                for frame in frames {
                    file.write_all_at(&frame, offset)?;
                    offset += frame.len() as u64;
                }
                Ok(())
            })
            .await
            .map_err(|e| Error::io(path, std::io::Error::other(e)))?
            .map_err(|e| Error::io(path, e))?;
            at += batched as u64;
            batched = 0;
        }
        if end {
            break;
        }
    }
    if got != len {
        return Err(body_length(object.url(), range, got, false));
    }
    Ok(())
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}

/// The record beside a partial download.
struct State {
    part_size: u64,
    done: Vec<u64>,
}

impl State {
    fn save(&self, path: &Path, object: &RemoteObject) -> Result<()> {
        let record = json!({
            "url": object.url(),
            "etag": object.etag(),
            "size": object.size(),
            "part_size": self.part_size,
            "done": self.done,
        });
        let tmp = sibling(path, ".tmp");
        std::fs::write(&tmp, record.to_string()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// The record of a partial download of `object`, refused if it is of another object or
    /// version, or unreadable.
    fn load(path: &Path, partial: &Path, object: &RemoteObject) -> Result<State> {
        let conflict = |reason: String| Error::Conflict {
            path: partial.into(),
            reason: format!("{reason}; remove it (and {}) to start over", path.display()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            conflict(format!(
                "a partial download without a readable record ({e})"
            ))
        })?;
        let record: Value = serde_json::from_str(&text)
            .map_err(|e| conflict(format!("a partial download with a malformed record ({e})")))?;
        let etag = record.get("etag").and_then(Value::as_str);
        let size = record.get("size").and_then(Value::as_u64);
        if etag != object.etag() || size != Some(object.size()) {
            return Err(conflict(format!(
                "a partial download of another version of the object (ETag {}, {} bytes; now {}, {} bytes)",
                etag.unwrap_or("none"),
                size.map_or("unknown".to_owned(), |s| s.to_string()),
                object.etag().unwrap_or("none"),
                object.size()
            )));
        }
        let part_size = record
            .get("part_size")
            .and_then(Value::as_u64)
            .filter(|&p| p > 0)
            .ok_or_else(|| conflict("a partial download record without a part size".to_owned()))?;
        let done = record
            .get("done")
            .and_then(Value::as_array)
            .map(|d| d.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let len = std::fs::metadata(partial)
            .map_err(|e| Error::io(partial, e))?
            .len();
        if len != object.size() {
            return Err(conflict(format!(
                "a partial file of {len} bytes, not {}",
                object.size()
            )));
        }
        Ok(State { part_size, done })
    }
}
