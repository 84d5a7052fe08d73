//! Whole files, every range form, conditional requests; each body compared with the file.

use std::process::Command;
use std::time::{Duration, SystemTime};

use hyper::StatusCode;

use crate::client::{get, http, multipart, runtime, send};
use crate::{pattern, Server};

#[test]
fn whole_files_and_head_carry_the_same_headers() {
    let server = Server::start(&[]);
    let blob = pattern(1 << 20, 0);
    let full = get(&server.url("/files/blob.bin"), &[]);
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, blob);
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_eq!(full.header("x-served-by"), "mmap");
    assert_eq!(full.header("content-length"), "1048576");
    assert!(full.header("etag").starts_with('"'), "a strong tag");
    assert!(full.header("last-modified").ends_with("GMT"));

    let head = runtime()
        .block_on(async { send(&http(), "HEAD", &server.url("/files/blob.bin"), &[]).await });
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    for name in [
        "etag",
        "last-modified",
        "content-length",
        "accept-ranges",
        "x-served-by",
    ] {
        assert_eq!(head.header(name), full.header(name), "{name}");
    }
    // Through a symlink inside the root, and an empty file.
    assert_eq!(get(&server.url("/files/link.bin"), &[]).body, blob);
    let empty = get(&server.url("/files/empty.bin"), &[]);
    assert_eq!((empty.status, empty.body.len()), (StatusCode::OK, 0));
}

#[test]
fn each_range_form_returns_exactly_those_bytes() {
    let server = Server::start(&[]);
    let blob = pattern(1 << 20, 0);
    let n = blob.len();
    let url = server.url("/files/blob.bin");
    for (range, expect) in [
        ("bytes=0-0", 0..1),
        ("bytes=100-199", 100..200),
        ("bytes=1000-", 1000..n),
        ("bytes=-4096", n - 4096..n),
        ("bytes=-99999999", 0..n),
        ("bytes=1048000-99999999", 1_048_000..n),
    ] {
        let reply = get(&url, &[("range", range)]);
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(reply.body, blob[expect.clone()], "{range}");
        assert_eq!(
            reply.header("content-range"),
            format!("bytes {}-{}/{n}", expect.start, expect.end - 1)
        );
    }
    // The query form: end exclusive.
    let reply = get(&format!("{url}?start=10&end=20"), &[]);
    assert_eq!(
        (reply.status, &reply.body[..]),
        (StatusCode::PARTIAL_CONTENT, &blob[10..20])
    );
    let bad = get(&format!("{url}?start=20&end=10"), &[]);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[test]
fn several_ranges_come_as_multipart_byteranges() {
    let server = Server::start(&[]);
    let blob = pattern(1 << 20, 0);
    let reply = get(
        &server.url("/files/blob.bin"),
        &[("range", "bytes=0-9, 500000-500099, -5")],
    );
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    let content_type = reply.header("content-type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    assert_eq!(reply.header("content-length"), reply.body.len().to_string());
    let parts = multipart(&reply.body, boundary);
    let n = blob.len();
    let expected = [(0, 10), (500_000, 100), (n - 5, 5)];
    assert_eq!(parts.len(), 3);
    for (part, (start, len)) in parts.iter().zip(expected) {
        assert_eq!(
            part.content_range,
            format!("bytes {start}-{}/{n}", start + len - 1)
        );
        assert_eq!(part.bytes, blob[start..start + len]);
    }
}

#[test]
fn unsatisfiable_rejected_and_malformed_ranges() {
    let server = Server::start(&["--max-ranges", "4"]);
    let url = server.url("/files/blob.bin");
    let n = 1 << 20;
    for range in [
        "bytes=2000000-",
        "bytes=-0",
        "bytes=0-0,1-1,2-2,3-3,4-4",
        "bytes=0-9,0-9,0-9",
    ] {
        let reply = get(&url, &[("range", range)]);
        assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(reply.header("content-range"), format!("bytes */{n}"));
        assert!(reply.body.is_empty());
    }
    // Malformed: ignored, the whole file.
    for range in ["bytes=9-1", "bytes=x-y", "lines=0-1", "bytes 0-1"] {
        let reply = get(&url, &[("range", range)]);
        assert_eq!(reply.status, StatusCode::OK, "{range}");
        assert_eq!(reply.body.len(), n);
    }
}

#[test]
fn conditional_requests_follow_the_validators() {
    let server = Server::start(&[]);
    // A modification time well in the past makes Last-Modified a strong validator.
    let file = std::fs::File::options()
        .write(true)
        .open(server.root().join("blob.bin"))
        .unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let url = server.url("/files/blob.bin");
    let first = get(&url, &[]);
    let (etag, date) = (first.header("etag"), first.header("last-modified"));
    let range = ("range", "bytes=0-9");
    for (if_range, status) in [
        (etag, StatusCode::PARTIAL_CONTENT),
        ("\"stale\"", StatusCode::OK),
        (date, StatusCode::PARTIAL_CONTENT),
        ("Mon, 01 Jan 2001 00:00:00 GMT", StatusCode::OK),
    ] {
        let reply = get(&url, &[range, ("if-range", if_range)]);
        assert_eq!(reply.status, status, "If-Range: {if_range}");
    }
    let length = first.body.len().to_string();
    for method in ["GET", "HEAD"] {
        let cached = runtime().block_on(send(&http(), method, &url, &[("if-none-match", etag)]));
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED, "{method}");
        assert!(cached.body.is_empty());
        // The length a 200 would have had (HEAD), or none (GET): never a made-up 0.
        let stated = cached.header("content-length");
        let expected = if method == "HEAD" { &length[..] } else { "" };
        assert_eq!(stated, expected, "{method}");
    }
    assert_eq!(
        get(&url, &[("if-none-match", "\"other\"")]).status,
        StatusCode::OK
    );
    // If-Match pins a version: ours or `*` serves, another tag (or ours made weak) is 412.
    let weak = format!("W/{etag}");
    for (if_match, status) in [
        (etag, StatusCode::PARTIAL_CONTENT),
        ("*", StatusCode::PARTIAL_CONTENT),
        ("\"other\", \"more\"", StatusCode::PRECONDITION_FAILED),
        (weak.as_str(), StatusCode::PRECONDITION_FAILED),
    ] {
        let reply = get(&url, &[range, ("if-match", if_match)]);
        assert_eq!(reply.status, status, "If-Match: {if_match}");
        if status == StatusCode::PRECONDITION_FAILED {
            assert!(reply.body.is_empty());
        }
    }
}

#[test]
fn curl_sees_the_same_bytes() {
    if Command::new("curl").arg("--version").output().is_err() {
        println!("skipped: no curl");
        return;
    }
    let server = Server::start(&[]);
    let blob = pattern(1 << 20, 0);
    let url = server.url("/files/blob.bin");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--fail"])
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {args:?}: {out:?}");
        out.stdout
    };
    assert_eq!(curl(&[]), blob);
    assert_eq!(curl(&["-r", "5-9"]), &blob[5..10]);
    assert_eq!(curl(&["-r", "-100"]), &blob[blob.len() - 100..]);
    // Resuming a download: curl asks for the rest with an open-ended range.
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("part");
    std::fs::write(&partial, &blob[..300_000]).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-C", "-", "-o"])
        .arg(&partial)
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&partial).unwrap(), blob);
}
