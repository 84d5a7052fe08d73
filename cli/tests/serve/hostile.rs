//! What an attacker or a careless operator does: paths that try to leave the root, files
//! replaced or truncated while served, clients that stall.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hyper::StatusCode;

use crate::client::{get, head_end, raw};
use crate::{pattern, Server, SECRET};

#[test]
fn paths_that_leave_the_root_are_refused() {
    let server = Server::start(&[]);
    let root = server.root();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink("../secret.txt", root.join("up.txt")).unwrap();
        symlink(server.dir.path().join("secret.txt"), root.join("abs.txt")).unwrap();
        symlink("..", root.join("parent")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        std::fs::create_dir(root.join("dir")).unwrap();
    }
    let attempts = [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/%2E%2E/secret.txt",
        "/files/..%2fsecret.txt",
        "/files/..%2Fsecret.txt",
        "/files/%2e%2e%2fsecret.txt",
        "/files/%252e%252e/secret.txt",
        "/files/%252e%252e%252fsecret.txt",
        "/files/..%5csecret.txt",
        "/files/..\\secret.txt",
        "/files/sub/../../secret.txt",
        "/files/./blob.bin",
        "/files//etc/passwd",
        "/files/%2fetc%2fpasswd",
        "/files/blob.bin%00.txt",
        "/files/blob.bin%00",
        "/files/up.txt",
        "/files/abs.txt",
        "/files/parent/secret.txt",
        "/files/etc/passwd",
        "/files/dir",
        "/files/sub",
        "/files/.hidden",
        "/files/sub/%2e%2e/%2e%2e/secret.txt",
        "/files/%c0%ae%c0%ae/secret.txt",
        "/models/../secret.txt",
        "/models/up.txt",
        "/models/%2e%2e/secret.txt/tensors/x",
        "/files/",
        "/../secret.txt",
    ];
    assert!(attempts.len() >= 20);
    for path in attempts {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, body) = raw(server.addr, request.as_bytes(), Duration::from_secs(5));
        assert!(
            status == 400 || status == 404,
            "{path}: status {status}, body {:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            !body.windows(SECRET.len()).any(|w| w == SECRET),
            "{path} leaked the secret"
        );
        assert!(!body.starts_with(b"root:"), "{path} leaked /etc/passwd");
    }
    // The refusals are counted, and the server still serves.
    let stats: serde_json::Value =
        serde_json::from_slice(&get(&server.url("/cache/stats"), &[]).body).unwrap();
    assert!(
        stats["requests"]["refused_paths"].as_u64().unwrap() >= 20,
        "{stats}"
    );
    assert_eq!(
        get(&server.url("/files/blob.bin"), &[]).status,
        StatusCode::OK
    );
}

#[test]
fn a_replaced_file_gets_a_new_tag_and_new_bytes() {
    let server = Server::start(&[]);
    let url = server.url("/files/blob.bin");
    let before = get(&url, &[]);
    // Replace by rename, as deployments do; then rewrite in place with another length.
    let tmp = server.root().join("blob.tmp");
    std::fs::write(&tmp, pattern(300_000, 1)).unwrap();
    std::fs::rename(&tmp, server.root().join("blob.bin")).unwrap();
    let after = get(&url, &[]);
    assert_ne!(after.header("etag"), before.header("etag"));
    assert_eq!(after.body, pattern(300_000, 1));
    std::fs::write(server.root().join("blob.bin"), pattern(200_000, 2)).unwrap();
    let rewritten = get(&url, &[]);
    assert_ne!(rewritten.header("etag"), after.header("etag"));
    assert_eq!(rewritten.body, pattern(200_000, 2));
}

#[test]
fn a_file_truncated_mid_response_never_completes_with_wrong_bytes() {
    let server = Server::start(&[]);
    let len = 256 << 20;
    let big = pattern(len, 3);
    let path = server.root().join("big.bin");
    std::fs::write(&path, &big).unwrap();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    // Read the first few MiB, then cut the file to 1 MiB, then read what still comes.
    while got.len() < 8 << 20 {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the response ended early");
        got.extend_from_slice(&buf[..n]);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let body = &got[head_end(&got).unwrap()..];
    // Whatever arrived is the file as it was: no zeros from lost pages.
    assert_eq!(body, &big[..body.len()], "bytes differ from the file");
    assert!(
        body.len() < len,
        "the response completed although the file was cut"
    );
    // The server survived, and serves the file as it is now.
    let now = get(&server.url("/files/big.bin"), &[]);
    assert_eq!(now.status, StatusCode::OK);
    assert_eq!(now.body, big[..1 << 20]);
}

#[test]
fn stalled_and_half_open_clients_are_closed() {
    let mut server = Server::start(&["--header-timeout", "1", "--stall-timeout", "2"]);
    let closed_within = |stream: &mut TcpStream, limit: Duration| {
        stream.set_read_timeout(Some(limit)).unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Some(start.elapsed()),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Some(start.elapsed())
                }
                Err(_) => return None,
            }
        }
    };
    // Half a request line, then silence.
    let mut partial = TcpStream::connect(server.addr).unwrap();
    partial.write_all(b"GET /files/blob.bin HTT").unwrap();
    // Connected, nothing sent.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    // A large response nobody reads.
    let mut reader = TcpStream::connect(server.addr).unwrap();
    let big = pattern(64 << 20, 4);
    std::fs::write(server.root().join("big.bin"), &big).unwrap();
    reader
        .write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Forty more readers of the whole 64 MiB file that read nothing: the server's own memory
    // (anonymous pages; the file's pages are the page cache's) must not grow with them.
    let anon_before = rss_anon(server.pid());
    let stalled: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    if let (Some(before), Some(during)) = (anon_before, rss_anon(server.pid())) {
        assert!(
            during < before + (32 << 20),
            "anonymous memory grew from {before} to {during} bytes with 40 stalled readers"
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    drop(stalled);
    for (name, stream) in [("partial", &mut partial), ("silent", &mut silent)] {
        assert!(
            closed_within(stream, Duration::from_secs(5)).is_some(),
            "{name} connection still open"
        );
    }
    // The unread response: the server gave up on it; draining what was buffered ends in EOF
    // well before 64 MiB.
    let mut drained = 0usize;
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        drained += n;
    }
    assert!(drained < 64 << 20, "the stalled response was sent whole");
    assert!(server.is_running());
    assert_eq!(get(&server.url("/healthz"), &[]).status, StatusCode::OK);
}

/// The anonymous resident memory of process `pid` (Linux), in bytes.
fn rss_anon(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[test]
fn sigterm_and_sigint_stop_the_server_cleanly() {
    for signal in ["TERM", "INT"] {
        let server = Server::start(&[]);
        assert_eq!(get(&server.url("/healthz"), &[]).body, "ok\n");
        let code = server.stop(signal, Duration::from_secs(15));
        assert_eq!(code, Some(0), "SIG{signal}");
    }
}

#[test]
fn a_file_swapped_for_a_symlink_out_of_the_root_is_refused_at_once() {
    let server = Server::start(&[]);
    let url = server.url("/files/blob.bin");
    // Served (and remembered as resolved) a few times.
    for _ in 0..3 {
        assert_eq!(get(&url, &[]).status, StatusCode::OK);
    }
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.bin");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::remove_file(server.root().join("blob.bin")).unwrap();
    std::os::unix::fs::symlink(&secret, server.root().join("blob.bin")).unwrap();
    let answer = get(&url, &[]);
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(!answer.body.windows(SECRET.len()).any(|w| w == SECRET));
    // And a file deleted is gone at its next request.
    std::fs::remove_file(server.root().join("blob.bin")).unwrap();
    assert_eq!(get(&url, &[]).status, StatusCode::NOT_FOUND);
}
