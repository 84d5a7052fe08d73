//! `TensorView::to_f32` when the values do not fit in memory: a typed error, not an abort.
//! Runs in a child process whose address space is capped (`RLIMIT_AS`), Linux only.
#![cfg(target_os = "linux")]

use std::process::Command;

use weightmap_core::{Error, Gguf};

/// Q8_0: 34 bytes per block of 32 values, so 34 MiB of blocks hold 128 MiB of f32 values.
const Q8_0: u32 = 8;
const BLOCKS: usize = 1 << 20;

#[test]
fn values_that_do_not_fit_are_an_error() {
    const CHILD: &str = "WEIGHTMAP_OUT_OF_MEMORY_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let blocks = vec![0u8; BLOCKS * 34];
        let file = weightmap_core::testing::Builder::default()
            .tensor("q", &[BLOCKS as u64 * 32], Q8_0, &blocks)
            .build();
        drop(blocks);
        let gguf = Gguf::parse(file).unwrap();
        let view = gguf.tensor("q").unwrap();
        cap_address_space(64 << 20);
        match view.to_f32() {
            Err(error @ Error::OutOfMemory { bytes, .. }) => {
                assert_eq!(bytes, BLOCKS as u64 * 32 * 4);
                println!("refused: {error}");
                std::process::exit(0);
            }
            Err(other) => panic!("another error: {other}"),
            Ok(_) => std::process::exit(4), // the cap did not hold: no verdict
        }
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "values_that_do_not_fit_are_an_error",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("refused: cannot allocate"),
        "child: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Caps this process's address space at its current size plus `headroom` bytes.
fn cap_address_space(headroom: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let limit = libc::rlimit {
        rlim_cur: kib * 1024 + headroom,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit struct; lowering our own soft limit affects only this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
}
