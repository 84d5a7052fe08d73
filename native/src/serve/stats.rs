//! Request counters of a running server, reported with the mapping cache's statistics by
//! `GET /cache/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use serde_json::{json, Value as Json};

use crate::cache::CacheStats;

/// Counters since the server started; every request counts once, under its status.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    full: AtomicU64,
    partial: AtomicU64,
    multipart: AtomicU64,
    not_modified: AtomicU64,
    bad_request: AtomicU64,
    not_found: AtomicU64,
    unsatisfiable: AtomicU64,
    server_error: AtomicU64,
    other: AtomicU64,
    refused_paths: AtomicU64,
    body_bytes: AtomicU64,
}

/// Request counters since the server started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestStats {
    /// Requests answered.
    pub requests: u64,
    /// 200 responses.
    pub full: u64,
    /// 206 responses (multipart ones included).
    pub partial: u64,
    /// 206 responses with several ranges.
    pub multipart: u64,
    /// 304 responses.
    pub not_modified: u64,
    /// 400 responses.
    pub bad_request: u64,
    /// 404 responses.
    pub not_found: u64,
    /// 416 responses.
    pub unsatisfiable: u64,
    /// 5xx responses.
    pub server_error: u64,
    /// Other statuses (405, 422, …).
    pub other: u64,
    /// Requests whose path was refused (traversal attempts, hidden files, non-files).
    pub refused_paths: u64,
    /// Body bytes of the responses (what was to be sent; a response cut short counts whole).
    pub body_bytes: u64,
}

impl Counters {
    pub(crate) fn record(&self, status: StatusCode, body_bytes: u64, multipart: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.body_bytes.fetch_add(body_bytes, Ordering::Relaxed);
        let counter = match status.as_u16() {
            200 => &self.full,
            206 => {
                if multipart {
                    self.multipart.fetch_add(1, Ordering::Relaxed);
                }
                &self.partial
            }
            304 => &self.not_modified,
            400 => &self.bad_request,
            404 => &self.not_found,
            416 => &self.unsatisfiable,
            500..=599 => &self.server_error,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused_path(&self) {
        self.refused_paths.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestStats {
            requests: get(&self.requests),
            full: get(&self.full),
            partial: get(&self.partial),
            multipart: get(&self.multipart),
            not_modified: get(&self.not_modified),
            bad_request: get(&self.bad_request),
            not_found: get(&self.not_found),
            unsatisfiable: get(&self.unsatisfiable),
            server_error: get(&self.server_error),
            other: get(&self.other),
            refused_paths: get(&self.refused_paths),
            body_bytes: get(&self.body_bytes),
        }
    }
}

/// The JSON of `GET /cache/stats`.
pub(crate) fn json(cache: &CacheStats, requests: &RequestStats, models: usize) -> Json {
    json!({
        "cache": {
            "hits": cache.hits,
            "misses": cache.misses,
            "evictions": cache.evictions,
            "remaps": cache.remaps,
            "uncached": cache.uncached,
            "waits": cache.waits,
            "poisoned": cache.poisoned,
            "entries": cache.entries,
            "bytes_mapped": cache.bytes_mapped,
        },
        "models_indexed": models,
        "requests": {
            "total": requests.requests,
            "ok": requests.full,
            "partial": requests.partial,
            "multipart": requests.multipart,
            "not_modified": requests.not_modified,
            "bad_request": requests.bad_request,
            "not_found": requests.not_found,
            "range_not_satisfiable": requests.unsatisfiable,
            "server_error": requests.server_error,
            "other": requests.other,
            "refused_paths": requests.refused_paths,
            "body_bytes": requests.body_bytes,
        },
    })
}
