//! Which bytes a request asks for: the `Range` header (RFC 9110 §14), `If-Range`, and the
//! `?start=S&end=E` query form, resolved against a representation of `len` bytes.
//!
//! Parsing is `http-range-header`'s (strict syntax, at most [`ServeConfig::max_ranges`]
//! ranges, at most one pair of overlapping ranges). What the answers are:
//! - no `Range`, a method other than GET, an `If-Range` that does not match, or a
//!   syntactically invalid `Range`: the whole representation (RFC 9110 §14.2: a server
//!   ignores a Range it cannot parse);
//! - satisfiable ranges: those ranges, clamped to the end (unsatisfiable ones among them
//!   dropped);
//! - no satisfiable range, more ranges than the cap, or more than two overlapping ranges:
//!   416 (the RFC lets a server reject such a Range rather than amplify it).
//!
//! [`ServeConfig::max_ranges`]: super::ServeConfig::max_ranges

// A one-range `Vec` is what a single-range request selects.
#![allow(clippy::single_range_in_vec_init)]

use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::SystemTime;

use axum::http::{header, HeaderMap, Method};
use http_range_header::{RangeRejected, RangeUnsatisfiableError};

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// The whole representation, 200.
    Full,
    /// These ranges (at least one, end exclusive), 206.
    Partial(Vec<Range<u64>>),
    /// 416 with `Content-Range: bytes */len`; the reason is logged.
    Unsatisfiable(&'static str),
}

/// The validators of a representation, for `If-Range`.
pub(crate) struct Validators<'a> {
    pub(crate) etag: &'a str,
    pub(crate) last_modified: Option<SystemTime>,
}

/// A query form that cannot be read: 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadQuery(pub(crate) &'static str);

/// Resolves the request's range against `len` bytes.
pub(crate) fn select(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    len: u64,
    validators: &Validators<'_>,
    max_ranges: NonZeroUsize,
) -> Result<Selection, BadQuery> {
    if let Some(range) = query.map(|q| query_range(q, len)).transpose()?.flatten() {
        return Ok(range);
    }
    if method != Method::GET {
        return Ok(Selection::Full);
    }
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(Selection::Full);
    };
    if !if_range_matches(headers, validators) {
        return Ok(Selection::Full);
    }
    let Ok(value) = value.to_str() else {
        return Ok(Selection::Full);
    };
    let parsed = match http_range_header::parse_range_header_with_max_ranges(value, max_ranges) {
        Ok(parsed) => parsed,
        Err(RangeUnsatisfiableError::Rejected(RangeRejected::TooMany)) => {
            return Ok(Selection::Unsatisfiable("too many ranges"))
        }
        // Invalid syntax, unparseable parts, absurdly long numbers: ignored, as the RFC says.
        Err(_) => return Ok(Selection::Full),
    };
    Ok(match parsed.validate(len) {
        Ok(ranges) if ranges.is_empty() => Selection::Full, // an empty representation
        Ok(ranges) => Selection::Partial(
            ranges
                .into_iter()
                // ok: validated ranges end before `len`, so `end + 1 <= len`
                .map(|r| *r.start()..*r.end() + 1)
                .collect(),
        ),
        Err(RangeUnsatisfiableError::Rejected(_)) => {
            Selection::Unsatisfiable("too many overlapping ranges")
        }
        Err(_) => Selection::Unsatisfiable("no satisfiable range"),
    })
}

/// The `?start=S&end=E` form (end exclusive; either may be left out); `None` when the query
/// names neither.
fn query_range(query: &str, len: u64) -> Result<Option<Selection>, BadQuery> {
    let (mut start, mut end) = (None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "start" => &mut start,
            "end" => &mut end,
            _ => continue,
        };
        if slot.is_some() {
            return Err(BadQuery("start or end given twice"));
        }
        // Digits only: no sign, no spaces, at most 20 of them.
        if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadQuery("start and end must be decimal byte offsets"));
        }
        *slot = Some(
            value
                .parse::<u64>()
                .map_err(|_| BadQuery("offset too large"))?,
        );
    }
    if start.is_none() && end.is_none() {
        return Ok(None);
    }
    let start = start.unwrap_or(0);
    let end = end.unwrap_or(len).min(len);
    if start >= len {
        return Ok(Some(Selection::Unsatisfiable(
            "query range outside the file",
        )));
    }
    if start >= end {
        return Err(BadQuery("start must be below end"));
    }
    Ok(Some(Selection::Partial(vec![start..end])))
}

/// Whether `If-Range` (absent counts as a match) names the current representation: a strong
/// ETag equal to ours, or an HTTP date equal to our `Last-Modified` when that is at least a
/// second in the past (RFC 9110 §13.1.5: only a strong date validator may be used).
fn if_range_matches(headers: &HeaderMap, validators: &Validators<'_>) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return value == validators.etag; // a weak tag never matches
    }
    let (Ok(date), Some(modified)) = (httpdate::parse_http_date(value), validators.last_modified)
    else {
        return false;
    };
    let strong = SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age.as_secs() >= 1);
    strong && httpdate::fmt_http_date(date) == httpdate::fmt_http_date(modified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::time::Duration;

    const TAG: &str = "\"abc\"";

    fn pick(method: Method, pairs: &[(&str, &str)], query: Option<&str>, len: u64) -> Selection {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let validators = Validators {
            etag: TAG,
            last_modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)),
        };
        select(
            &method,
            &headers,
            query,
            len,
            &validators,
            NonZeroUsize::new(4).unwrap(),
        )
        .unwrap()
    }

    fn get(range: &str, len: u64) -> Selection {
        pick(Method::GET, &[("range", range)], None, len)
    }

    #[test]
    fn each_range_form() {
        assert_eq!(get("bytes=0-9", 100), Selection::Partial(vec![0..10]));
        assert_eq!(get("bytes=90-", 100), Selection::Partial(vec![90..100]));
        assert_eq!(get("bytes=-10", 100), Selection::Partial(vec![90..100]));
        assert_eq!(get("bytes=-1000", 100), Selection::Partial(vec![0..100]));
        assert_eq!(get("bytes=95-200", 100), Selection::Partial(vec![95..100]));
        assert_eq!(
            get("bytes=0-1,10-11", 100),
            Selection::Partial(vec![0..2, 10..12])
        );
        // One unsatisfiable range among satisfiable ones is dropped.
        assert_eq!(
            get("bytes=0-1,500-600", 100),
            Selection::Partial(vec![0..2])
        );
    }

    #[test]
    fn unsatisfiable_and_rejected_ranges_are_416() {
        for range in [
            "bytes=100-",
            "bytes=200-300",
            "bytes=-0",
            "bytes=0-1,1-2,2-3,3-4,4-5",
        ] {
            assert!(
                matches!(get(range, 100), Selection::Unsatisfiable(_)),
                "{range}"
            );
        }
        // Three ranges over the same bytes: more than one overlapping pair.
        assert!(matches!(
            get("bytes=0-50,10-60,20-70", 100),
            Selection::Unsatisfiable(_)
        ));
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        for range in [
            "bytes=5-1",
            "bytes=abc",
            "items=0-1",
            "bytes=0-1 ",
            "bytes=",
            "bytes=--1",
        ] {
            assert_eq!(get(range, 100), Selection::Full, "{range}");
        }
        assert_eq!(
            pick(Method::HEAD, &[("range", "bytes=0-1")], None, 100),
            Selection::Full
        );
    }

    #[test]
    fn if_range_needs_the_current_validator() {
        let partial = Selection::Partial(vec![0..2]);
        let with = |v: &str| {
            pick(
                Method::GET,
                &[("range", "bytes=0-1"), ("if-range", v)],
                None,
                9,
            )
        };
        assert_eq!(with(TAG), partial);
        assert_eq!(with("\"other\""), Selection::Full);
        assert_eq!(with("W/\"abc\""), Selection::Full);
        assert_eq!(with("Sun, 09 Sep 2001 01:46:40 GMT"), partial);
        assert_eq!(with("Sun, 09 Sep 2001 01:46:41 GMT"), Selection::Full);
        assert_eq!(with("yesterday"), Selection::Full);
    }

    #[test]
    fn the_query_form() {
        let q = |query: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::RANGE, HeaderValue::from_static("bytes=0-0"));
            select(
                &Method::GET,
                &headers,
                Some(query),
                100,
                &Validators {
                    etag: TAG,
                    last_modified: None,
                },
                NonZeroUsize::new(4).unwrap(),
            )
        };
        assert_eq!(q("start=10&end=20"), Ok(Selection::Partial(vec![10..20])));
        assert_eq!(q("start=90"), Ok(Selection::Partial(vec![90..100])));
        assert_eq!(q("end=5"), Ok(Selection::Partial(vec![0..5])));
        assert_eq!(q("start=10&end=500"), Ok(Selection::Partial(vec![10..100])));
        assert!(matches!(q("start=100"), Ok(Selection::Unsatisfiable(_))));
        assert_eq!(q("other=1"), Ok(Selection::Partial(vec![0..1]))); // the header applies
        for bad in [
            "start=-1",
            "start=1&start=2",
            "start=x",
            "start=",
            "start=20&end=10",
            "start=99999999999999999999999",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }
}
