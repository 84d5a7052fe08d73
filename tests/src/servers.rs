//! Real servers on loopback for the remote tests: nginx (Debian's, configured in a temporary
//! folder), moto's S3 server (PyPI, in the test venv), and a small misbehaving HTTP server
//! whose faults are chosen by path.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it listened: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// nginx serving a folder, stopped on drop.
pub struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Nginx {
    /// Serves `root` (with `max_ranges` if given: `0` makes nginx ignore `Range`). nginx
    /// comes from Debian (`./test.sh` installs it).
    pub fn start(root: &Path, max_ranges: Option<u32>) -> Nginx {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx not found: ./test.sh installs it (apt-get install nginx)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let ranges = max_ranges.map_or(String::new(), |n| format!("max_ranges {n};"));
        let conf = format!(
            "daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 512; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  sendfile on; keepalive_requests 100000;
  server {{ listen 127.0.0.1:{port}; root {root}; {ranges} }}
}}",
            root = root.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(nginx)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(port, &mut child, "nginx");
        let log = dir.path().join("access.log");
        Nginx {
            child,
            port,
            _dir: dir,
            log,
        }
    }

    /// The URL of `name` under the root.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The access log's lines so far.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's S3 server, stopped on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts `moto_server` from the test venv (`None` outside CI when the venv is missing).
    pub fn start() -> Option<Moto> {
        let python = crate::reference_python()?;
        let server = python.with_file_name("moto_server");
        assert!(
            server.exists(),
            "{} missing: ./test.sh installs moto[server] into .venv",
            server.display()
        );
        let port = free_port();
        let mut child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(port, &mut child, "moto_server");
        Some(Moto { child, port })
    }

    /// The endpoint, for `aws_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The store options that point weightmap-remote at this server.
    pub fn store_options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".to_owned()),
            ("aws_access_key_id", "test".to_owned()),
            ("aws_secret_access_key", "test".to_owned()),
            ("aws_region", "us-east-1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Creates `bucket` and puts every file of `dir` in it as `PREFIX/NAME`, through
    /// object_store's own S3 client.
    pub async fn put_dir(&self, bucket: &str, prefix: &str, dir: &Path) {
        use object_store::aws::AmazonS3Builder;
        use object_store::ObjectStoreExt;
        assert!(self.create_bucket(bucket).await, "bucket {bucket} created");
        let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
        for (k, v) in self.store_options() {
            builder = builder.with_config(k.parse().unwrap(), v);
        }
        let store = builder.build().unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let data = std::fs::read(&path).unwrap();
            let key = object_store::path::Path::from(format!("{prefix}/{name}"));
            store.put(&key, data.into()).await.unwrap();
        }
    }

    /// `PUT /BUCKET` (moto accepts anonymous requests): whether it was created.
    async fn create_bucket(&self, bucket: &str) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = format!("127.0.0.1:{}", self.port);
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server that misbehaves as the path's first segment says, serving `bytes`:
/// - `/ok/…`: a correct 206 to each range (with an ETag);
/// - `/ignore-range/…`: 200 and the whole object, whatever the `Range`;
/// - `/short/…`: the right headers, then half the body and a close;
/// - `/long/…`: no `Content-Length`, the range and then more bytes until the close;
/// - `/wrong-range/…`: a `Content-Range` one byte later than asked;
/// - `/overflow-range/…`: a `Content-Range` ending at 2^64 - 1;
/// - `/stall/…`: the headers, then nothing (the connection held open 60 s);
/// - `/stall-tail/…`: as `/ok/` for ranges from byte 0 (a header read), as `/stall/` for
///   the others (tensor data);
/// - `/reset/…`: the headers and a few bytes, then a reset;
/// - `/changing/…`: a new ETag at every request, `If-Match` ignored.
pub struct Faulty {
    port: u16,
}

impl Faulty {
    /// Starts the server on a thread (it lives as long as the test process).
    pub fn start(bytes: Vec<u8>) -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bytes = Arc::new(bytes);
        std::thread::spawn(move || {
            for (serial, stream) in listener.incoming().flatten().enumerate() {
                let bytes = Arc::clone(&bytes);
                std::thread::spawn(move || answer(stream, &bytes, serial));
            }
        });
        Faulty { port }
    }

    /// The URL of the object under the fault `fault`.
    pub fn url(&self, fault: &str, name: &str) -> String {
        format!("http://127.0.0.1:{}/{fault}/{name}", self.port)
    }
}

fn answer(mut stream: TcpStream, bytes: &[u8], serial: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let lower = header.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("range:") {
            range = parse_range(value.trim(), bytes.len() as u64);
        }
    }
    let fault = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let len = bytes.len() as u64;
    let (start, end) = range.unwrap_or((0, len));
    let body = &bytes[start as usize..end as usize];
    let etag = if fault == "changing" {
        format!("\"v{serial}\"")
    } else {
        "\"v1\"".to_owned()
    };
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nETag: {etag}\r\nConnection: close\r\n{extra}\r\n")
    };
    let partial = |content_range: String, length: bool| {
        let length = if length {
            format!("Content-Length: {}\r\n", body.len())
        } else {
            String::new()
        };
        head(
            "206 Partial Content",
            &format!("Content-Range: {content_range}\r\n{length}"),
        )
    };
    let exact = format!("bytes {start}-{}/{len}", end.saturating_sub(1));
    let _ = match fault {
        "ignore-range" => {
            let _ =
                stream.write_all(head("200 OK", &format!("Content-Length: {len}\r\n")).as_bytes());
            stream.write_all(bytes)
        }
        "short" => {
            let _ = stream.write_all(partial(exact, true).as_bytes());
            stream.write_all(&body[..body.len() / 2])
        }
        "long" => {
            let _ = stream.write_all(partial(exact, false).as_bytes());
            let _ = stream.write_all(body);
            stream.write_all(&[0u8; 4096])
        }
        "wrong-range" => {
            let shifted = format!("bytes {}-{}/{len}", start + 1, end);
            let _ = stream.write_all(partial(shifted, true).as_bytes());
            stream.write_all(body)
        }
        "overflow-range" => {
            let huge = format!("bytes {start}-18446744073709551615/{len}");
            let _ = stream.write_all(partial(huge, true).as_bytes());
            stream.write_all(body)
        }
        "stall-tail" if start == 0 => {
            let _ = stream.write_all(partial(exact, true).as_bytes());
            stream.write_all(body)
        }
        "stall" | "stall-tail" => {
            let _ = stream.write_all(partial(exact, true).as_bytes());
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        "reset" => {
            let _ = stream.write_all(partial(exact, true).as_bytes());
            let _ = stream.write_all(&body[..body.len().min(100)]);
            // SO_LINGER 0 is not in std: shutting the write side, then dropping with unread
            // input, makes the kernel send a reset.
            let _ = stream.set_nodelay(true);
            let mut sink = [0u8; 1];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = stream.read(&mut sink);
            stream.shutdown(Shutdown::Both)
        }
        _ => {
            let _ = stream.write_all(partial(exact, true).as_bytes());
            stream.write_all(body)
        }
    };
}

/// `bytes=A-B` or `bytes=A-` as (start, end exclusive), clamped to `len`.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => len,
        b => b.parse::<u64>().ok()?.saturating_add(1).min(len),
    };
    (start < end).then_some((start, end))
}
