//! `weightmap serve` end to end: the real binary on a loopback port, driven by hyper's client,
//! raw sockets (for what no polite client sends) and curl.

mod client;
mod hostile;
mod models;
mod ranges;
mod stress;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `weightmap serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Serves a fresh directory holding the fixtures of [`fixtures`], with `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        fixtures(dir.path());
        Server::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weightmap"))
            .args(["serve", "--addr", "127.0.0.1:0", "--json"])
            .arg(dir.path().join("root"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weightmap serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("first line {line:?}: {e}"));
        let url = json["listening"].as_str().unwrap();
        let addr = url.trim_start_matches("http://").parse().unwrap();
        Server { child, addr, dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits (at most `limit`) for the exit status.
    pub fn stop(mut self, signal: &str, limit: Duration) -> Option<i32> {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A deterministic pattern: byte `i` of a file is a function of `i`, so any slice can be
/// checked without keeping the file.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

/// `root/`: `blob.bin` (1 MiB pattern), `sub/model.gguf` (a generated model), `empty.bin`,
/// `link.bin` (a symlink to `blob.bin`); beside `root/`, `secret.txt` that must never leak.
pub fn fixtures(dir: &Path) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("blob.bin"), pattern(1 << 20, 0)).unwrap();
    std::fs::write(root.join("empty.bin"), b"").unwrap();
    std::fs::write(root.join("sub/model.gguf"), model()).unwrap();
    sharded_fixtures(&root);
    std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("blob.bin", root.join("link.bin")).unwrap();
}

pub const SECRET: &[u8] = b"TOP-SECRET-do-not-serve";

/// `st/one.safetensors`, `st/model.safetensors.index.json` with its two shards, and the GGUF
/// split set `splits/m-0000K-of-00003.gguf`.
pub fn sharded_fixtures(root: &Path) {
    use weightmap_core::testing::{Builder, SafetensorsBuilder};
    std::fs::create_dir_all(root.join("st")).unwrap();
    std::fs::create_dir_all(root.join("splits")).unwrap();
    let one = SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("embed", "BF16", &[16, 8], &pattern(256, 1))
        .tensor("norm", "F32", &[8], &pattern(32, 2))
        .tensor("scalar", "I64", &[], &pattern(8, 3))
        .build();
    std::fs::write(root.join("st/one.safetensors"), &one).unwrap();
    std::fs::write(root.join("st/model-00001-of-00002.safetensors"), &one).unwrap();
    let two = SafetensorsBuilder::default()
        .tensor("head", "F16", &[4, 8], &pattern(64, 4))
        .tensor("f4", "F4", &[2, 6], &pattern(6, 5))
        .build();
    std::fs::write(root.join("st/model-00002-of-00002.safetensors"), &two).unwrap();
    let map = [
        ("embed", 1),
        ("norm", 1),
        ("scalar", 1),
        ("head", 2),
        ("f4", 2),
    ];
    let entries: Vec<String> = map
        .iter()
        .map(|(t, n)| format!("\"{t}\": \"model-0000{n}-of-00002.safetensors\""))
        .collect();
    let index = format!(
        "{{\"metadata\": {{\"total_size\": 366}}, \"weight_map\": {{{}}}}}",
        entries.join(", ")
    );
    std::fs::write(root.join("st/model.safetensors.index.json"), index).unwrap();
    for no in 0..3u16 {
        let mut b = Builder::default()
            .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
            .kv_raw(b"split.count", 2, 3u16.to_le_bytes().to_vec())
            .kv_raw(b"split.tensors.count", 5, 3i32.to_le_bytes().to_vec());
        if no == 0 {
            b = b.kv_str("general.architecture", "llama");
        }
        let name = format!("blk.{no}.ffn.weight");
        b = b.tensor(&name, &[32, 2], 0, &pattern(256, no as u8));
        std::fs::write(
            root.join(format!("splits/m-{:05}-of-00003.gguf", no + 1)),
            b.build(),
        )
        .unwrap();
    }
}

/// A small model with F32, F16 and Q8_0 tensors and a string-array key.
pub fn model() -> Vec<u8> {
    use weightmap_core::testing::Builder;
    let f32s: Vec<u8> = (0..64u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let f16s: Vec<u8> = pattern(2 * 96, 7);
    let q8: Vec<u8> = pattern(34 * 4, 9);
    let mut tokens = Vec::new();
    tokens.extend_from_slice(&8u32.to_le_bytes()); // element type: string
    tokens.extend_from_slice(&3u64.to_le_bytes());
    for t in ["<s>", "hello", "world"] {
        tokens.extend_from_slice(&(t.len() as u64).to_le_bytes());
        tokens.extend_from_slice(t.as_bytes());
    }
    Builder::default()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.block_count", 1)
        .kv_raw(b"tokenizer.ggml.tokens", 9, tokens)
        .tensor("token_embd.weight", &[8, 8], 0, &f32s)
        .tensor("blk.0.attn_q.weight", &[96], 1, &f16s)
        .tensor("output.weight", &[32, 4], 8, &q8)
        .build()
}
