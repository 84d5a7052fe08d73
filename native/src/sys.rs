//! Thin wrappers over the operating-system calls memmap2 does not cover: page size, positioned
//! reads, `mincore`, `posix_fadvise`, `getrusage`,
//! `RLIMIT_MEMLOCK`, `munlock` and `/proc/self/pagemap`. rustix does the calls it offers;
//! `mincore` and `getrusage`, which it lacks, go through libc.
//!
//! Each returns `io::ErrorKind::Unsupported` (or a documented neutral value) where the platform
//! lacks the call, so the layers above decide whether that is a no-op or an error.

use std::fs::File;
use std::io;
use std::sync::OnceLock;

/// The size of a virtual-memory page.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(query_page_size)
}

#[cfg(unix)]
fn query_page_size() -> usize {
    Some(rustix::param::page_size())
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

#[cfg(not(unix))]
fn query_page_size() -> usize {
    4096
}

/// Reads `file` from `offset` into `buf` until it is full or the file ends; returns how many
/// bytes were read.
pub(crate) fn read_into(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
        match read_at(file, rest, offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Page-cache residency of `bytes`, one flag per page, appended to `out`.
/// `bytes` must start on a page boundary (the kernel rejects it otherwise).
#[cfg(unix)]
pub(crate) fn mincore(bytes: &[u8], out: &mut Vec<bool>) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let pages = bytes.len().div_ceil(page_size());
    // libc declares the vector as `c_uchar` on Linux and `c_char` on the BSDs; both are bytes.
    let mut vec = vec![0u8; pages];
    // SAFETY: `bytes` is a live mapping of `bytes.len()` bytes, and `vec` holds one byte per page
    // of it, as mincore requires. mincore only reads page tables and writes `vec`; it does not
    // touch the mapped memory.
    let rc = unsafe {
        libc::mincore(
            bytes.as_ptr() as *mut libc::c_void,
            bytes.len(),
            vec.as_mut_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    out.extend(vec.iter().map(|b| b & 1 != 0));
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn mincore(_bytes: &[u8], _out: &mut Vec<bool>) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Counts the pages of `bytes` present in this process's page tables, from
/// `/proc/self/pagemap` (bit 63 of each 8-byte entry). `bytes` must start on a page boundary.
#[cfg(target_os = "linux")]
pub(crate) fn mapped_pages(bytes: &[u8]) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let page = page_size();
    let pages = bytes.len().div_ceil(page);
    let first = (bytes.as_ptr() as usize / page) as u64;
    let pagemap = File::open("/proc/self/pagemap")?;
    // Read in bounded chunks so a 64 GiB mapping does not need a 128 MiB buffer.
    const CHUNK_PAGES: usize = 64 * 1024;
    let mut buf = vec![0u8; CHUNK_PAGES.min(pages) * 8];
    let mut present = 0u64;
    let mut done = 0usize;
    while done < pages {
        let n = CHUNK_PAGES.min(pages - done);
        let chunk = &mut buf[..n * 8];
        pagemap.read_exact_at(chunk, (first + done as u64) * 8)?;
        present += chunk.chunks_exact(8).filter(|e| e[7] & 0x80 != 0).count() as u64;
        done += n;
    }
    Ok(present)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn mapped_pages(_bytes: &[u8]) -> io::Result<u64> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Unlocks the pages of `bytes` (a page-aligned part of a mapping) locked by `mlock`.
#[cfg(target_os = "linux")]
pub(crate) fn munlock(bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `bytes` is a live part of a mapping owned by the caller; munlock changes only
    // whether its pages may be swapped or dropped, not their contents or the mapping.
    unsafe { rustix::mm::munlock(bytes.as_ptr() as *mut _, bytes.len()) }.map_err(io::Error::from)
}

/// Drops the file's clean pages from the page cache (`posix_fadvise(POSIX_FADV_DONTNEED)`).
#[cfg(target_os = "linux")]
pub(crate) fn fadvise_dontneed(file: &File) -> io::Result<()> {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn fadvise_dontneed(_file: &File) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The process's (minor, major) page-fault counters.
#[cfg(unix)]
pub(crate) fn page_faults() -> io::Result<(u64, u64)> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a writable rusage; getrusage fills it and reads nothing else.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getrusage succeeded, so it initialised the struct (which was zeroed anyway).
    let usage = unsafe { usage.assume_init() };
    let count = |v: libc::c_long| u64::try_from(v).unwrap_or(0);
    Ok((count(usage.ru_minflt), count(usage.ru_majflt)))
}

#[cfg(not(unix))]
pub(crate) fn page_faults() -> io::Result<(u64, u64)> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The `RLIMIT_MEMLOCK` soft limit in bytes (`None` if unknown or unlimited).
#[cfg(unix)]
pub(crate) fn memlock_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Memlock).current
}

/// The process's resident set size in bytes, from `/proc/self/statm`.
#[cfg(target_os = "linux")]
pub(crate) fn resident_set_size() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/self/statm"))?;
    Ok(pages * page_size() as u64)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn resident_set_size() -> io::Result<u64> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`).
#[cfg(target_os = "linux")]
pub(crate) fn peak_resident_set_size() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .and_then(|kib| kib.checked_mul(1024))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmHWM in /proc/self/status"))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn peak_resident_set_size() -> io::Result<u64> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Resets the peak resident set size to the current one (`5` into `/proc/self/clear_refs`).
#[cfg(target_os = "linux")]
pub(crate) fn reset_peak_resident_set_size() -> io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn reset_peak_resident_set_size() -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Why transparent huge pages cannot apply, from the system-wide switch (Linux).
pub(crate) fn huge_pages_disabled() -> Option<&'static str> {
    let setting = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    setting
        .contains("[never]")
        .then_some("transparent huge pages are disabled system-wide ([never])")
}

/// Memory this process can still fill: the smaller of the memory the kernel reports available
/// (`MemAvailable` on Linux; physical memory elsewhere) and the address-space limit
/// (`RLIMIT_AS`). `None` when neither is known.
pub(crate) fn memory_budget() -> Option<u64> {
    let limit = address_space_limit();
    match (available_memory(), limit) {
        (Some(a), Some(l)) => Some(a.min(l)),
        (a, l) => a.or(l),
    }
}

#[cfg(unix)]
fn address_space_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::As).current
}

#[cfg(not(unix))]
fn address_space_limit() -> Option<u64> {
    None
}

#[cfg(target_os = "linux")]
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn available_memory() -> Option<u64> {
    // SAFETY: sysconf reads a system constant; it has no preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    u64::try_from(pages).ok()?.checked_mul(page_size() as u64)
}

#[cfg(not(unix))]
fn available_memory() -> Option<u64> {
    None
}
