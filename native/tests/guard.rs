//! The truncation guard: a file truncated under a guarded mapping is a typed error and zeros,
//! never a `SIGBUS` death; a fault anywhere else still kills (checked in a child process).
#![cfg(unix)]

mod common;

use std::process::Command;

use common::{pattern_byte, scratch, write_patterned};
use weightmap_core::ModelData;
use weightmap_native::{ChangeKind, Error, MmapConfig, MmapFile, ModelSource, SourceConfig};

const MIB: usize = 1 << 20;

#[test]
fn a_read_past_the_new_end_reads_zeros_and_the_mapping_reports_it() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "shrinks.bin", 8 * MIB);
    let other = write_patterned(dir.path(), "stays.bin", MIB);
    let file = MmapFile::open_untrusted_with(&path, &MmapConfig::guarded()).unwrap();
    let bystander = MmapFile::open_untrusted_with(&other, &MmapConfig::guarded()).unwrap();
    assert!(file.is_guarded() && file.is_intact());
    assert_eq!(file.as_slice()[5 * MIB], pattern_byte(5 * MIB));

    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(MIB as u64)
        .unwrap();
    // Would be SIGBUS: the page now lies past the end of the file.
    let lost = std::hint::black_box(&file.as_slice()[5 * MIB..5 * MIB + 4096]);
    assert!(lost.iter().all(|&b| b == 0));
    assert!(!file.is_intact() && !ModelData::is_intact(&file));
    match file.check_intact() {
        Err(Error::Changed { path: p, what }) => {
            assert_eq!((p, what), (path.clone(), ChangeKind::Truncated));
        }
        other => panic!("expected Changed/Truncated, got {other:?}"),
    }
    let message = file.check_intact().unwrap_err().to_string();
    assert!(message.contains("shrinks.bin") && message.contains("truncated"));
    // Copies say so too, even of pages that survived: the mapping as a whole is suspect.
    let mut buf = [0u8; 16];
    assert!(file.read_at(7 * MIB, &mut buf).is_err());
    assert!(file.read_at(0, &mut buf).is_err());
    // Pages before the new end were not touched by the guard.
    assert_eq!(file.as_slice()[4096], pattern_byte(4096));
    // Other mappings are not affected.
    assert!(bystander.is_intact());
    bystander.read_at(100, &mut buf).unwrap();
    assert_eq!(buf[0], pattern_byte(100));
}

#[test]
fn touch_stops_at_a_truncation_and_the_mapping_names_the_file() {
    let dir = scratch();
    let path = write_patterned(dir.path(), "touched.bin", 32 * MIB);
    let file = MmapFile::open_untrusted_with(&path, &MmapConfig::guarded()).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4 * MIB as u64)
        .unwrap();
    let report = file.touch_all(|_, _| {});
    assert!(report.cancelled, "{report:?}");
    assert!(report.bytes < 32 * MIB as u64);
    assert!(file.check_intact().is_err());
}

#[test]
fn tensor_handles_of_a_guarded_source_report_the_truncation() {
    let dir = scratch();
    let path = dir.path().join("model.gguf");
    let weights: Vec<u8> = (0..4 * MIB).map(|i| (i % 251) as u8 + 1).collect();
    let file = weightmap_core::testing::Builder::default()
        .kv_str("general.architecture", "test")
        .tensor("big", &[weights.len() as u64], 24, &weights) // I8
        .build();
    std::fs::write(&path, &file).unwrap();
    let config = SourceConfig {
        mmap: MmapConfig::guarded(),
        ..SourceConfig::default()
    };
    let gguf = ModelSource::open_with(&path, &config)
        .unwrap()
        .into_shared();
    let handle = gguf.tensor_handle("big").unwrap();
    assert_eq!(handle[MIB], weights[MIB]);
    assert!(handle.is_intact());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len((file.len() - 2 * MIB) as u64)
        .unwrap();
    let tail = std::hint::black_box(&handle[3 * MIB..3 * MIB + 64]);
    assert!(tail.iter().all(|&b| b == 0));
    assert!(!handle.is_intact());
}

/// In a child process (this test run again with an environment variable): a guard is
/// installed, then a read past the end of an *unguarded* mapping must still die of `SIGBUS`.
#[test]
fn a_fault_outside_guarded_mappings_still_kills() {
    const CHILD: &str = "WEIGHTMAP_GUARD_CHILD_DIR";
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = std::path::Path::new(&dir);
        let guarded = write_patterned(dir, "guarded.bin", MIB);
        let plain = write_patterned(dir, "plain.bin", 8 * MIB);
        let _guard = MmapFile::open_untrusted_with(&guarded, &MmapConfig::guarded()).unwrap();
        let unguarded = MmapFile::open_untrusted(&plain).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&plain)
            .unwrap()
            .set_len(0)
            .unwrap();
        let byte = std::hint::black_box(unguarded.as_slice()[6 * MIB]);
        // Not reached: the read above ends the process.
        eprintln!("survived, read {byte}");
        std::process::exit(0);
    }
    let dir = scratch();
    let (status, stderr) = run_child(
        "a_fault_outside_guarded_mappings_still_kills",
        CHILD,
        dir.path(),
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc_sigbus()),
        "child: {status:?}\n{stderr}"
    );
}

static FOREIGN_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn foreign_handler(_: i32, _: *mut libc::siginfo_t, _: *mut std::ffi::c_void) {
    FOREIGN_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Installs `foreign_handler` for `SIGBUS`, as a crash reporter would after weightmap's guard.
fn install_foreign_handler() {
    // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature and only
    // touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = foreign_handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// In a child process: a handler installed after the guard's is put behind it (by the next
/// guarded open, or by `guard::reinstate`); truncations are still zeros, and a `SIGBUS` that is
/// not a fault of a guarded mapping (one sent by `raise`) still reaches the later handler.
#[test]
fn a_later_handler_is_put_behind_the_guard_and_still_called() {
    const CHILD: &str = "WEIGHTMAP_GUARD_REINSTATE_DIR";
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = std::path::Path::new(&dir);
        let first_path = write_patterned(dir, "first.bin", 4 * MIB);
        let second_path = write_patterned(dir, "second.bin", 4 * MIB);
        let first = MmapFile::open_untrusted_with(&first_path, &MmapConfig::guarded()).unwrap();
        install_foreign_handler();
        // A new guarded open puts the guard back in front, for every mapping.
        let second = MmapFile::open_untrusted_with(&second_path, &MmapConfig::guarded()).unwrap();
        truncate(&first_path, MIB);
        assert_eq!(std::hint::black_box(first.as_slice()[3 * MIB]), 0);
        assert!(!first.is_intact() && second.is_intact());
        // So does an explicit reinstate.
        install_foreign_handler();
        weightmap_native::guard::reinstate().unwrap();
        truncate(&second_path, MIB);
        assert_eq!(std::hint::black_box(second.as_slice()[2 * MIB]), 0);
        assert!(!second.is_intact());
        assert_eq!(FOREIGN_CALLS.load(std::sync::atomic::Ordering::SeqCst), 0);
        // SAFETY: raising a signal whose handler (the guard, then the foreign one) returns.
        assert_eq!(unsafe { libc::raise(libc::SIGBUS) }, 0);
        let calls = FOREIGN_CALLS.load(std::sync::atomic::Ordering::SeqCst);
        eprintln!("foreign handler calls: {calls}");
        std::process::exit(if calls == 1 { 0 } else { 3 });
    }
    let dir = scratch();
    let (status, stderr) = run_child(
        "a_later_handler_is_put_behind_the_guard_and_still_called",
        CHILD,
        dir.path(),
    );
    assert!(status.success(), "child: {status:?}\n{stderr}");
}

static SAVED_HANDLER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static SAVED_FLAGS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Acts as Python's faulthandler: notes the signal, puts back the action it replaced and
/// raises the signal again for it.
extern "C" fn handing_back_handler(signal: i32, _: *mut libc::siginfo_t, _: *mut std::ffi::c_void) {
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: write, sigaction and raise are async-signal-safe; the restored action is the
    // one the kernel reported when this handler was installed.
    unsafe {
        libc::write(2, b"handed back\n".as_ptr().cast(), 12);
        let mut previous: libc::sigaction = std::mem::zeroed();
        previous.sa_sigaction = SAVED_HANDLER.load(SeqCst);
        previous.sa_flags = SAVED_FLAGS.load(SeqCst);
        libc::sigemptyset(&mut previous.sa_mask);
        libc::sigaction(signal, &previous, std::ptr::null_mut());
        libc::raise(signal);
    }
}

/// In a child process: a handler installed after the guard that hands the signal back to the
/// one it replaced (the guard, once reinstated in front of it) runs once, and the signal then
/// ends the process as it would have without the guard: no loop between the two handlers.
#[test]
fn a_handler_that_hands_the_signal_back_ends_the_process_once() {
    const CHILD: &str = "WEIGHTMAP_GUARD_HAND_BACK_DIR";
    if let Some(dir) = std::env::var_os(CHILD) {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = std::path::Path::new(&dir);
        let first = write_patterned(dir, "first.bin", MIB);
        let _first = MmapFile::open_untrusted_with(&first, &MmapConfig::guarded()).unwrap();
        // SAFETY: valid sigaction structs; the handler has the SA_SIGINFO signature and only
        // makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handing_back_handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            let mut replaced: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(libc::SIGBUS, &action, &mut replaced), 0);
            SAVED_HANDLER.store(replaced.sa_sigaction, SeqCst);
            SAVED_FLAGS.store(replaced.sa_flags, SeqCst);
        }
        weightmap_native::guard::reinstate().unwrap();
        // SAFETY: raising a signal; its handlers end the process.
        unsafe { libc::raise(libc::SIGBUS) };
        std::process::exit(3); // survived: the signal was swallowed
    }
    let dir = scratch();
    let (status, stderr) = run_child(
        "a_handler_that_hands_the_signal_back_ends_the_process_once",
        CHILD,
        dir.path(),
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc_sigbus()),
        "child: {status:?}\n{stderr}"
    );
    assert_eq!(stderr.matches("handed back").count(), 1, "{stderr}");
}

/// Notes the signal on stderr and returns, changing nothing: a handler that cannot fix a fault
/// (Python's faulthandler once disabled is one).
extern "C" fn inert_handler(_: i32, _: *mut libc::siginfo_t, _: *mut std::ffi::c_void) {
    // SAFETY: write is async-signal-safe.
    unsafe { libc::write(2, b"inert\n".as_ptr().cast(), 6) };
}

/// In a child process: a fault outside guarded mappings, handed to a handler behind the guard
/// that returns without fixing it, ends the process (once the same fault comes again) instead
/// of faulting forever between the two handlers.
#[test]
fn a_fault_the_handler_behind_cannot_fix_ends_the_process() {
    const CHILD: &str = "WEIGHTMAP_GUARD_INERT_DIR";
    if let Some(dir) = std::env::var_os(CHILD) {
        let dir = std::path::Path::new(&dir);
        let guarded = write_patterned(dir, "guarded.bin", MIB);
        let plain = write_patterned(dir, "plain.bin", 8 * MIB);
        let _guard = MmapFile::open_untrusted_with(&guarded, &MmapConfig::guarded()).unwrap();
        // SAFETY: a valid sigaction; the handler has the SA_SIGINFO signature and only writes.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = inert_handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()),
                0
            );
        }
        weightmap_native::guard::reinstate().unwrap();
        let unguarded = MmapFile::open_untrusted(&plain).unwrap();
        truncate(&plain, 0);
        let byte = std::hint::black_box(unguarded.as_slice()[6 * MIB]);
        eprintln!("survived, read {byte}");
        std::process::exit(3);
    }
    let dir = scratch();
    let (status, stderr) = run_child(
        "a_fault_the_handler_behind_cannot_fix_ends_the_process",
        CHILD,
        dir.path(),
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc_sigbus()),
        "child: {status:?}\n{stderr}"
    );
    assert_eq!(stderr.matches("inert").count(), 1, "{stderr}");
}

/// Runs test `name` of this binary in a child with `var` set to `dir`: its status and stderr,
/// or a failure if it runs past 30 s (a loop between handlers).
fn run_child(name: &str, var: &str, dir: &std::path::Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name])
        .env(var, dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{name}: the child loops between the handlers");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

fn truncate(path: &std::path::Path, len: usize) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len as u64)
        .unwrap();
}

/// `SIGBUS`'s number on this platform.
fn libc_sigbus() -> i32 {
    if cfg!(any(target_os = "macos", target_os = "freebsd")) {
        10
    } else {
        7
    }
}

#[test]
fn the_cache_drops_a_poisoned_mapping_and_maps_the_file_afresh() {
    use weightmap_native::{CacheConfig, MmapCache};
    let dir = scratch();
    let path = write_patterned(dir.path(), "cached.bin", 8 * MIB);
    let cache = MmapCache::new(CacheConfig {
        mmap: MmapConfig::guarded(),
        ..CacheConfig::bounded(4, 1 << 30)
    });
    let first = cache.get_or_open(&path).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(2 * MIB as u64)
        .unwrap();
    assert_eq!(std::hint::black_box(first.as_slice()[6 * MIB]), 0);
    assert!(!first.is_intact());
    let second = cache.get_or_open(&path).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &second));
    assert!(second.is_intact());
    assert_eq!(second.size(), 2 * MIB);
    assert_eq!(cache.stats().poisoned, 1);
    let mut buf = [0u8; 8];
    second.read_at(MIB, &mut buf).unwrap();
    assert_eq!(buf[0], pattern_byte(MIB));
}
