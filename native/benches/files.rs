//! Benchmark input files, created once under the target directory and reused between runs.
// Each bench binary uses a different subset.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-files");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A sparse file of `size` bytes: a size without blocks, to time what does not depend on data.
pub fn sparse(size: u64) -> PathBuf {
    let path = dir().join(format!("sparse-{size}"));
    if std::fs::metadata(&path).ok().map(|m| m.len()) != Some(size) {
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    }
    path
}

/// A file of `size` bytes of real (non-zero, on-disk) data, flushed so its pages are clean.
pub fn dense(size: u64) -> PathBuf {
    let path = dir().join(format!("dense-{size}"));
    if std::fs::metadata(&path).ok().map(|m| m.len()) != Some(size) {
        let mut f = std::fs::File::create(&path).unwrap();
        let block: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut left = size;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
        f.sync_all().unwrap();
    }
    path
}

/// A cheap pass over every byte (sum of little-endian u64 words), the same for every reader.
pub fn checksum(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().iter().map(|&b| u64::from(b)).sum::<u64>();
    words.fold(tail, |acc, w| {
        acc.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
    })
}
