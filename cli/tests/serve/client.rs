//! The clients of the serve tests: hyper's (the polite one), a raw socket (for exact bytes on
//! the wire), and a reader of `multipart/byteranges` bodies.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

pub type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

pub fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// `method url` with `headers`, through hyper's client.
pub async fn send(client: &Http, method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("whole body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `GET url` on a fresh runtime, for synchronous tests.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    runtime().block_on(async { send(&http(), "GET", url, headers).await })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `request` verbatim and returns the status code and everything after the headers
/// that arrived before the server closed the connection or `wait` passed.
pub fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = head_end(&got) {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let len: Option<usize> = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            });
            if len.is_some_and(|len| got.len() >= end + len) {
                break;
            }
        }
    }
    let Some(end) = head_end(&got) else {
        return (0, got);
    };
    let status = String::from_utf8_lossy(&got[..end])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, got[end..].to_vec())
}

/// Where the headers of a raw response end (after the blank line).
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// One part of a `multipart/byteranges` body: its Content-Range and bytes.
#[derive(Debug, PartialEq)]
pub struct Part {
    pub content_range: String,
    pub bytes: Vec<u8>,
}

/// Splits a `multipart/byteranges` body at `boundary`, strictly: each part must carry a
/// Content-Range whose length matches its bytes.
pub fn multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("\r\n--{boundary}");
    let text = body;
    let find = |from: usize| -> Option<usize> {
        text.get(from..)?
            .windows(delimiter.len())
            .position(|w| w == delimiter.as_bytes())
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(0).expect("first delimiter");
    assert_eq!(at, 0, "the body starts with the first delimiter");
    loop {
        let after = at + delimiter.len();
        if text[after..].starts_with(b"--") {
            assert_eq!(
                &text[after..],
                b"--\r\n",
                "the closing delimiter ends the body"
            );
            return parts;
        }
        let head_end =
            after + head_end(&text[after..]).expect("part headers end with a blank line");
        let head = String::from_utf8_lossy(&text[after..head_end]).to_string();
        let next = find(head_end).expect("a delimiter after each part");
        let content_range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .expect("Content-Range in each part")
            .to_owned();
        let bytes = text[head_end..next].to_vec();
        let (first, last) = content_range
            .trim_start_matches("bytes ")
            .split_once('/')
            .unwrap()
            .0
            .split_once('-')
            .unwrap();
        let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
        assert_eq!(bytes.len(), last - first + 1, "{content_range}");
        parts.push(Part {
            content_range,
            bytes,
        });
        at = next;
    }
}
