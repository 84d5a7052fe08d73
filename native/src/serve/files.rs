//! `GET`/`HEAD /files/{path}`, and the response every byte-serving route shares: validators,
//! conditional requests, ranges, and a body that is a view of the mapping.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::body::MappedBody;
use super::ranges::{self, Selection, Validators};
use super::Shared;
use crate::identity::FileIdentity;
use crate::mmap::MmapFile;

/// Bytes of a mapped file to send, with what describes them.
pub(crate) struct Representation {
    pub(crate) file: Arc<MmapFile>,
    /// The bytes, as offsets in the file (checked against its size).
    pub(crate) span: Range<u64>,
    pub(crate) etag: String,
    pub(crate) last_modified: Option<SystemTime>,
    /// Headers of this kind of representation (tensor type and shape).
    pub(crate) extra: Vec<(HeaderName, HeaderValue)>,
}

/// The strong entity tag of a file: device, inode, size, modification and status-change
/// times, so a replaced or rewritten file gets a new one.
pub(crate) fn etag(id: &FileIdentity, suffix: &str) -> String {
    let nanos = |t: Option<SystemTime>| {
        t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    };
    let (ctime, ctime_ns) = id.changed.unwrap_or((0, 0));
    format!(
        "\"{:x}-{:x}-{:x}-{:x}-{:x}.{:x}{suffix}\"",
        id.device,
        id.inode,
        id.size,
        nanos(id.modified),
        ctime,
        ctime_ns
    )
}

/// `t` if HTTP dates can carry it (1970 to 9999; `httpdate` panics outside that range), else
/// `None`: a file stamped before 1970 is served without `Last-Modified`.
pub(crate) fn http_time(t: Option<SystemTime>) -> Option<SystemTime> {
    const YEAR_9999_END: u64 = 253_402_300_799;
    t.filter(|t| {
        t.duration_since(UNIX_EPOCH)
            .is_ok_and(|d| d.as_secs() <= YEAR_9999_END)
    })
}

/// `GET /files/{path}`: the file's bytes.
pub(crate) async fn get(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    let file = match state.mapping(&path) {
        Ok(file) => file,
        Err(refused) => return refused,
    };
    let id = *file.identity();
    let rep = Representation {
        span: 0..file.size() as u64,
        etag: etag(&id, ""),
        last_modified: http_time(id.modified),
        extra: Vec::new(),
        file,
    };
    state.respond(&method, &headers, uri.query(), rep)
}

/// A multipart boundary unlikely to occur in the data: a per-process counter and the time.
fn boundary() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("weightmap-{t:x}-{n:x}")
}

impl Shared {
    /// Answers a request for `rep`: 304 when `If-None-Match` names it, else the ranges asked
    /// for (see [`ranges::select`]), the whole of it, 416 or 400.
    pub(crate) fn respond(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        rep: Representation,
    ) -> Response {
        let len = rep.span.end - rep.span.start; // ok: the caller checked the span
        let mut common = HeaderMap::new();
        let mut set = |name: HeaderName, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                common.insert(name, value);
            }
        };
        set(header::ACCEPT_RANGES, "bytes");
        set(header::ETAG, &rep.etag);
        if let Some(modified) = rep.last_modified {
            set(header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
        }
        set(HeaderName::from_static("x-served-by"), "mmap");
        for (name, value) in rep.extra {
            common.insert(name, value);
        }
        if !if_match(headers, &rep.etag) {
            // The client pinned another version (a reader resuming or reading on in parts):
            // never send it bytes of this one.
            return self.finish(
                StatusCode::PRECONDITION_FAILED,
                common,
                Body::empty(),
                0,
                false,
            );
        }
        if none_match(headers, &rep.etag) {
            // A 304 may only state the length a 200 would have had (RFC 9110 §8.6); without
            // it, HEAD answers would say `content-length: 0`. (hyper drops it from GET
            // answers, whose body is empty: they state no length, which is also allowed.)
            common.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            return self.finish(StatusCode::NOT_MODIFIED, common, Body::empty(), 0, false);
        }
        let validators = Validators {
            etag: &rep.etag,
            last_modified: rep.last_modified,
        };
        let selection =
            match ranges::select(method, headers, query, len, &validators, self.max_ranges) {
                Ok(selection) => selection,
                Err(bad) => return self.plain(StatusCode::BAD_REQUEST, bad.0),
            };
        let octets = HeaderValue::from_static("application/octet-stream");
        let chunk = self.chunk_size;
        let at = |r: &Range<u64>| rep.span.start + r.start..rep.span.start + r.end;
        match selection {
            Selection::Full => {
                common.insert(header::CONTENT_TYPE, octets);
                let body = MappedBody::range(rep.file, rep.span.clone(), chunk);
                let n = body.len();
                self.finish(StatusCode::OK, common, Body::new(body), n, false)
            }
            Selection::Partial(parts) if parts.len() == 1 => {
                let r = &parts[0];
                set_range(
                    &mut common,
                    &format!("bytes {}-{}/{len}", r.start, r.end - 1),
                );
                common.insert(header::CONTENT_TYPE, octets);
                let body = MappedBody::range(rep.file, at(r), chunk);
                let n = body.len();
                self.finish(
                    StatusCode::PARTIAL_CONTENT,
                    common,
                    Body::new(body),
                    n,
                    false,
                )
            }
            Selection::Partial(parts) => {
                let boundary = boundary();
                let within: Vec<Range<u64>> = parts.iter().map(at).collect();
                // Content-Range in each part counts from the representation's start.
                let body = MappedBody::multipart(
                    rep.file,
                    &within,
                    rep.span.start,
                    len,
                    &boundary,
                    "application/octet-stream",
                    chunk,
                );
                if let Ok(v) =
                    HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
                {
                    common.insert(header::CONTENT_TYPE, v);
                }
                let n = body.len();
                self.finish(
                    StatusCode::PARTIAL_CONTENT,
                    common,
                    Body::new(body),
                    n,
                    true,
                )
            }
            Selection::Unsatisfiable(why) => {
                tracing::debug!(why, "416");
                set_range(&mut common, &format!("bytes */{len}"));
                self.finish(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    common,
                    Body::empty(),
                    0,
                    false,
                )
            }
        }
    }

    /// A response with `headers` and `body`, counted.
    fn finish(
        &self,
        status: StatusCode,
        headers: HeaderMap,
        body: Body,
        len: u64,
        multipart: bool,
    ) -> Response {
        self.counters.record(status, len, multipart);
        let mut response = (status, body).into_response();
        response.headers_mut().extend(headers);
        if status != StatusCode::NOT_MODIFIED {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        response
    }

    /// A short text answer (errors), counted.
    pub(crate) fn plain(&self, status: StatusCode, message: &str) -> Response {
        self.counters
            .record(status, message.len() as u64 + 1, false);
        (status, format!("{message}\n")).into_response()
    }
}

fn set_range(headers: &mut HeaderMap, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(header::CONTENT_RANGE, value);
    }
}

/// Whether `If-Match` allows the request: absent, `*`, or naming `etag` by strong comparison
/// (RFC 9110 §13.1.1: a weak tag never matches).
fn if_match(headers: &HeaderMap, etag: &str) -> bool {
    let mut values = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .peekable();
    if values.peek().is_none() {
        return true;
    }
    values
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || tag.trim() == etag)
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let ours = bare(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == ours)
}
