//! One object read by ranges, every request after the first pinned to the version the first
//! saw.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::{GetOptions, GetRange, GetResult};

use crate::error::{Error, Result};
use crate::location::Location;

/// Requests made and body bytes received, counted across the objects of a model.
#[derive(Debug, Default)]
pub struct Traffic {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Traffic {
    /// Requests sent (retries inside object_store count once).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Body bytes received.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn received(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// An object of a known size and version, read by ranges.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    location: Location,
    size: u64,
    etag: Option<String>,
    version: Option<String>,
    traffic: Arc<Traffic>,
}

/// A body being received: where it is in the object, and its frames.
pub(crate) struct Body {
    pub(crate) range: Range<u64>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    traffic: Arc<Traffic>,
    url: String,
}

impl Body {
    /// The next frame, counted; `None` at the end of the body.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>> {
        match self.stream.next().await {
            None => Ok(None),
            Some(Ok(bytes)) => {
                self.traffic.received(bytes.len());
                Ok(Some(bytes))
            }
            Some(Err(source)) => Err(store_error(&self.url, &self.range, source)),
        }
    }
}

impl RemoteObject {
    /// Sends the first request, for `range` (the end may lie past the object's end: the
    /// answer stops there), and learns the object's size and version from it.
    pub(crate) async fn first(
        location: Location,
        range: Range<u64>,
        traffic: Arc<Traffic>,
    ) -> Result<(RemoteObject, Body)> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = get(&location, options, &range, &traffic).await?;
        let object = RemoteObject {
            size: result.meta.size,
            etag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
            location,
            traffic,
        };
        tracing::debug!(url = object.url(), size = object.size, etag = ?object.etag, "remote object opened");
        let body = object.body(result);
        Ok((object, body))
    }

    /// The object's URL.
    pub fn url(&self) -> &str {
        self.location.url()
    }

    /// Where it is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Its size in bytes, as the first answer gave it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its ETag at the first request, which every later request is pinned to (`If-Match`).
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The requests and bytes of the model this object belongs to.
    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }

    /// Starts reading `range` (which must lie inside the object) in a request pinned to the
    /// first one's version.
    pub(crate) async fn open_range(&self, range: Range<u64>) -> Result<Body> {
        if range.start >= range.end || range.end > self.size {
            return Err(Error::BadRead(format!(
                "{}: bytes {}..{} are not inside the object's {} bytes",
                self.url(),
                range.start,
                range.end,
                self.size
            )));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            if_match: self.etag.clone(),
            version: self.version.clone(),
            ..GetOptions::default()
        };
        let result = get(&self.location, options, &range, &self.traffic).await;
        let result = result.map_err(|e| match e {
            Error::Store {
                source: object_store::Error::Precondition { .. },
                ..
            } => self.changed("an ETag that If-Match refused".to_owned()),
            e => e,
        })?;
        if result.meta.size != self.size {
            return Err(self.changed(format!("{} bytes", result.meta.size)));
        }
        if let (Some(first), Some(now)) = (&self.etag, &result.meta.e_tag) {
            if first != now {
                return Err(self.changed(now.clone()));
            }
        }
        Ok(self.body(result))
    }

    /// Reads `range` into memory.
    ///
    /// # Errors
    /// [`Error::BadRead`] for a range outside the object, [`Error::Changed`] when the object
    /// is no longer the version first seen, [`Error::BodyLength`] for an answer of another
    /// length, [`Error::Store`] for a failed request.
    pub async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|_| Error::BadRead(format!("{}: a range too large to hold", self.url())))?;
        let mut body = self.open_range(range.clone()).await?;
        // One frame is the whole range most often: kept as it is, not copied.
        let first = body.next().await?.unwrap_or_default();
        if first.len() == len {
            return match body.next().await? {
                None => Ok(first),
                Some(more) => Err(body_length(self.url(), range, len + more.len(), true)),
            };
        }
        let mut out = vec![0u8; len];
        self.fill(&mut body, first, vec![&mut out[..]]).await?;
        Ok(Bytes::from(out))
    }

    /// Reads the object's bytes from `start` into `dest`, exactly filling it.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub async fn read_into(&self, start: u64, dest: &mut [u8]) -> Result<()> {
        let end = start
            .checked_add(dest.len() as u64)
            .ok_or_else(|| Error::BadRead(format!("{}: a range past 2^64", self.url())))?;
        if dest.is_empty() {
            return Ok(());
        }
        self.read_parts(start..end, vec![dest]).await
    }

    /// Reads `range` in one request into `slices`, one after the other (their lengths add up
    /// to the range's), each frame copied where it belongs.
    pub(crate) async fn read_parts(&self, range: Range<u64>, slices: Vec<&mut [u8]>) -> Result<()> {
        let mut body = self.open_range(range.clone()).await?;
        self.fill(&mut body, Bytes::new(), slices).await
    }

    /// Copies a body into `slices` frame by frame, starting with `first`; the body must fill
    /// them exactly.
    async fn fill(&self, body: &mut Body, first: Bytes, slices: Vec<&mut [u8]>) -> Result<()> {
        let range = body.range.clone();
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let mut slices = slices.into_iter().filter(|s| !s.is_empty());
        let mut current: &mut [u8] = &mut [];
        let mut got = 0usize;
        let mut frame = Some(first);
        while let Some(mut bytes) = frame {
            got = got.saturating_add(bytes.len());
            if got > total {
                return Err(body_length(self.url(), range, got, true));
            }
            while !bytes.is_empty() {
                if current.is_empty() {
                    current = slices.next().expect("the lengths add up to the range's");
                }
                let n = current.len().min(bytes.len());
                let (head, tail) = std::mem::take(&mut current).split_at_mut(n);
                head.copy_from_slice(&bytes.split_to(n));
                current = tail;
            }
            frame = body.next().await?;
        }
        if got != total {
            return Err(body_length(self.url(), range, got, false));
        }
        Ok(())
    }

    fn changed(&self, now: String) -> Error {
        Error::Changed {
            url: self.url().to_owned(),
            first: match &self.etag {
                Some(tag) => tag.clone(),
                None => format!("{} bytes", self.size),
            },
            now,
        }
    }

    fn body(&self, result: GetResult) -> Body {
        Body {
            range: result.range.clone(),
            stream: result.into_stream(),
            traffic: Arc::clone(&self.traffic),
            url: self.url().to_owned(),
        }
    }
}

/// One GET, its answer checked by object_store (a 206 with the `Content-Range` asked for).
/// The request runs on its own task: a response that panics object_store's parsing (it adds
/// to a `Content-Range` end without checking) is an error here, not a panic of the caller.
async fn get(
    location: &Location,
    options: GetOptions,
    range: &Range<u64>,
    traffic: &Traffic,
) -> Result<GetResult> {
    traffic.request();
    let store = Arc::clone(&location.store);
    let path = location.path.clone();
    let task = tokio::spawn(async move { store.get_opts(&path, options).await });
    match task.await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(source)) => Err(store_error(location.url(), range, source)),
        Err(join) => Err(Error::Store {
            url: location.url().to_owned(),
            what: describe(range),
            source: object_store::Error::Generic {
                store: "weightmap-remote",
                source: format!("the store client failed on the server's answer ({join})").into(),
            },
        }),
    }
}

fn describe(range: &Range<u64>) -> String {
    format!(
        "reading bytes {}-{}",
        range.start,
        range.end.saturating_sub(1)
    )
}

fn store_error(url: &str, range: &Range<u64>, source: object_store::Error) -> Error {
    // object_store says "non-partial response" (S3, GCS, Azure) or "Range request not
    // supported" (HTTP) for a 200 to a range request, before it reads the body.
    let ignored = match &source {
        object_store::Error::Generic { source: inner, .. } => {
            inner.to_string().contains("non-partial response")
        }
        object_store::Error::NotSupported { source: inner } => {
            inner.to_string().contains("Range request not supported")
        }
        _ => false,
    };
    {
        if ignored {
            return Error::RangesIgnored {
                url: url.to_owned(),
                status: "200 OK".to_owned(),
            };
        }
    }
    Error::Store {
        url: url.to_owned(),
        what: describe(range),
        source,
    }
}

pub(crate) fn body_length(
    url: &str,
    range: Range<u64>,
    got: impl TryInto<u64>,
    more: bool,
) -> Error {
    Error::BodyLength {
        url: url.to_owned(),
        range,
        got: got.try_into().unwrap_or(u64::MAX),
        more,
    }
}
