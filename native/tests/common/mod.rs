//! Helpers shared by the native integration tests: real files on a real file system.
#![allow(dead_code)]

pub mod mappings;

use std::io::Write;
use std::path::{Path, PathBuf};

/// A scratch directory on the target directory's file system (not tmpfs: the page-cache tests
/// need a file system whose pages can be evicted), readable by other users so a
/// dropped-privilege child can reach files in it.
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("native-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// The byte at `offset` of a [`write_patterned`] file: differs between neighbouring pages.
pub fn pattern_byte(offset: usize) -> u8 {
    (offset as u64).wrapping_mul(0x9E37_79B9).rotate_right(13) as u8 ^ (offset >> 12) as u8
}

/// Writes `len` patterned bytes to `dir/name`, flushed to disk so its pages are clean.
pub fn write_patterned(dir: &Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut offset = 0;
    while offset < len {
        buf.clear();
        let n = (1 << 20).min(len - offset);
        buf.extend((offset..offset + n).map(pattern_byte));
        f.write_all(&buf).unwrap();
        offset += n;
    }
    f.sync_all().unwrap();
    path
}

/// Lines of `/proc/self/maps` naming `path`.
pub fn maps_lines(path: &Path) -> Vec<String> {
    let name = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.ends_with(name))
        .map(str::to_owned)
        .collect()
}

/// A field of `/proc/self/status` in kB (`VmLck`, `VmRSS`...).
pub fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Whether this process runs as root (then permission tests need a dropped-privilege child).
#[cfg(unix)]
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs this test binary again as a child for the single test `name`, with `envs` set, and
/// returns its exit status and combined output.
pub fn rerun_as_child(
    name: &str,
    envs: &[(&str, &str)],
    configure: impl FnOnce(&mut std::process::Command),
) -> std::io::Result<(std::process::ExitStatus, String)> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    configure(&mut cmd);
    let out = cmd.output()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status, text))
}

/// Serialises tests that read process-wide counters (RSS, page faults, locked memory), which
/// other tests running in parallel threads would disturb.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes a valid GGUF file `dir/name` whose one tensor `data` (I8) holds `data_len` patterned
/// bytes ([`pattern_byte`] of their position in the tensor), after `extra_keys` string entries
/// that make the header longer. Flushed to disk.
pub fn write_model(dir: &Path, name: &str, data_len: usize, extra_keys: usize) -> PathBuf {
    use weightmap_core::testing::Builder;
    let mut b = Builder::default().kv_str("general.architecture", "test");
    for i in 0..extra_keys {
        b = b.kv_str(&format!("test.key.{i}"), &format!("value number {i}"));
    }
    let data: Vec<u8> = (0..data_len).map(pattern_byte).collect();
    let bytes = b.tensor("data", &[data_len as u64], 24, &data).build();
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&bytes).unwrap();
    f.sync_all().unwrap();
    path
}

/// Where the mapping of `path` starts in the file (the offset column of `/proc/self/maps`),
/// for each of its mappings.
pub fn mapped_offsets(path: &Path) -> Vec<u64> {
    maps_lines(path)
        .iter()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(2)?, 16).ok())
        .collect()
}

/// One mapping of a file, from `/proc/self/smaps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    /// Where it starts in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Bytes of it mapped by huge-page table entries (`FilePmdMapped`).
    pub pmd_mapped: u64,
    /// Whether it was advised `MADV_HUGEPAGE` (`hg` among its `VmFlags`).
    pub huge_advised: bool,
}

/// The mappings of `path` in this process, in address order.
pub fn smaps_of(path: &Path) -> Vec<Vma> {
    let name = path.to_str().unwrap();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut vmas = Vec::new();
    let mut current: Option<Vma> = None;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some((start, end)) = fields.first().and_then(|r| r.split_once('-')) {
            if let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            {
                vmas.extend(current.take());
                current = line.ends_with(name).then(|| Vma {
                    offset: u64::from_str_radix(fields[2], 16).unwrap(),
                    len: end - start,
                    pmd_mapped: 0,
                    huge_advised: false,
                });
                continue;
            }
        }
        let Some(vma) = current.as_mut() else {
            continue;
        };
        match fields.first() {
            Some(&"FilePmdMapped:") => vma.pmd_mapped = fields[1].parse::<u64>().unwrap() * 1024,
            Some(&"VmFlags:") => vma.huge_advised = fields.contains(&"hg"),
            _ => {}
        }
    }
    vmas.extend(current);
    vmas
}

/// Collects formatted tracing output.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The DEBUG events emitted on this thread while `f` runs, as text, and what `f` returned.
    /// Tracing caches per-callsite interest process-wide: a test using this runs in a child
    /// process of its own ([`rerun_as_child`]), so that no other test's thread races it.
    pub fn debug_events<T>(f: impl FnOnce() -> T) -> (String, T) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        let text = captured.0.lock().unwrap().clone();
        (String::from_utf8(text).unwrap(), out)
    }
}
