//! The truncation guard: a file truncated while mapped is an error, not a crash.
//!
//! Reading a page of a file mapping past the file's end raises `SIGBUS`, whose default action
//! kills the process (llama.cpp, safetensors and vmtouch all die this way). A guarded mapping
//! is registered here; the first time a read of it faults, the `SIGBUS` handler installed
//! below maps anonymous zero pages over the rest of the mapping (`MAP_FIXED`: every page from
//! the faulting one on lies past the file's new end), marks the mapping poisoned and returns,
//! so the read goes on and sees zeros. The mapping then reports the truncation as a typed
//! error ([`MmapFile::check_intact`](crate::MmapFile::check_intact)), and every weightmap
//! API that copies or walks its bytes checks that flag after reading, so bytes read from the
//! lost pages are never passed on as good data.
//!
//! The contract, exactly:
//! - Only faults at addresses inside a registered mapping are handled. Any other `SIGBUS` gets
//!   what it would have had without the guard: the handler that was installed before (Rust's
//!   own, which reports stack overflows), or the default action, which ends the process.
//! - After a fault, the mapping reads as zeros from the faulting page to its end, for good:
//!   even if the file grows back. Pages before it are untouched.
//! - Slices already handed out (`&[u8]` of the mapping, tensor views, handles) may hold
//!   those zeros: check [`is_intact`](weightmap_core::ModelData::is_intact) after using them
//!   and discard the results if it turned false.
//! - Platforms: Linux and macOS (`SIGBUS` on both). Windows refuses to truncate a mapped file,
//!   so the guard has nothing to do there. A process that installs its own `SIGBUS` handler
//!   after weightmap's replaces the guard.
//! - Cost: nothing on the read path (no check per access); a registration is one scan of a
//!   fixed table of [`MAX_GUARDED`] slots at open, and one store at close.

use std::io;

/// Most mappings guarded at once.
pub const MAX_GUARDED: usize = 1024;

/// A mapping's registration; dropping it unregisters the mapping (do so before unmapping).
#[derive(Debug)]
pub(crate) struct Guard {
    #[cfg_attr(not(unix), allow(dead_code))]
    slot: usize,
}

impl Guard {
    /// Registers `bytes` (a whole mapping) and installs the handler if it is not yet.
    ///
    /// # Errors
    /// When the handler cannot be installed, or [`MAX_GUARDED`] mappings are guarded already.
    pub(crate) fn register(bytes: &[u8]) -> io::Result<Guard> {
        imp::register(bytes).map(|slot| Guard { slot })
    }

    /// Whether a read of the mapping faulted (the file was truncated under it).
    pub(crate) fn is_poisoned(&self) -> bool {
        imp::is_poisoned(self.slot)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        imp::unregister(self.slot);
    }
}

#[cfg(unix)]
mod imp {
    use std::ffi::{c_int, c_void};
    use std::io;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicUsize, Ordering};
    use std::sync::OnceLock;

    use super::MAX_GUARDED;

    const FREE: u8 = 0;
    const CLAIMED: u8 = 1;
    const ACTIVE: u8 = 2;

    /// One guarded mapping. Plain atomics: the signal handler reads them without locks.
    struct Slot {
        state: AtomicU8,
        start: AtomicUsize,
        len: AtomicUsize,
        poisoned: AtomicBool,
    }

    static SLOTS: [Slot; MAX_GUARDED] = [const {
        Slot {
            state: AtomicU8::new(FREE),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }; MAX_GUARDED];

    /// The page size, for the handler (set before the handler is installed).
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The `SIGBUS` action before ours: its handler address and flags.
    static PREVIOUS_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
    static PREVIOUS_FLAGS: AtomicI32 = AtomicI32::new(0);
    /// Whether the handler is installed (or why it could not be).
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();

    pub(super) fn register(bytes: &[u8]) -> io::Result<usize> {
        install()?;
        for (index, slot) in SLOTS.iter().enumerate() {
            if slot
                .state
                .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.start.store(bytes.as_ptr() as usize, Ordering::Relaxed);
                slot.len.store(bytes.len(), Ordering::Relaxed);
                slot.poisoned.store(false, Ordering::Relaxed);
                slot.state.store(ACTIVE, Ordering::Release);
                return Ok(index);
            }
        }
        Err(io::Error::other(format!(
            "more than {MAX_GUARDED} mappings are guarded at once"
        )))
    }

    pub(super) fn is_poisoned(slot: usize) -> bool {
        SLOTS
            .get(slot)
            .is_some_and(|s| s.poisoned.load(Ordering::Acquire))
    }

    pub(super) fn unregister(slot: usize) {
        if let Some(s) = SLOTS.get(slot) {
            s.state.store(CLAIMED, Ordering::Release);
            s.len.store(0, Ordering::Relaxed);
            s.state.store(FREE, Ordering::Release);
        }
    }

    /// Installs the handler once for the process.
    fn install() -> io::Result<()> {
        let installed = INSTALLED.get_or_init(|| {
            PAGE.store(crate::sys::page_size(), Ordering::Relaxed);
            // SAFETY: an all-zero sigaction is a valid value of the C struct (no handler,
            // empty mask, no flags); every field the call reads is set below.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `sa_mask` is a valid, writable sigset_t owned by `action`.
            unsafe { libc::sigemptyset(&mut action.sa_mask) };
            // SAFETY: as above, a valid value to be overwritten by the call.
            let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are to valid sigaction structs; the handler is an
            // `extern "C"` function with the SA_SIGINFO signature, and it only does
            // async-signal-safe things (atomics, mmap, sigaction, the previous handler).
            let rc = unsafe { libc::sigaction(libc::SIGBUS, &action, &mut previous) };
            if rc != 0 {
                return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
            PREVIOUS_HANDLER.store(previous.sa_sigaction, Ordering::Release);
            PREVIOUS_FLAGS.store(previous.sa_flags, Ordering::Release);
            tracing::debug!("SIGBUS truncation guard installed");
            Ok(())
        });
        installed.map_err(io::Error::from_raw_os_error)
    }

    /// The guarded mapping holding `addr`: its start and length.
    fn find(addr: usize) -> Option<(&'static Slot, usize, usize)> {
        SLOTS.iter().find_map(|slot| {
            if slot.state.load(Ordering::Acquire) != ACTIVE {
                return None;
            }
            let start = slot.start.load(Ordering::Relaxed);
            let len = slot.len.load(Ordering::Relaxed);
            (addr >= start && addr - start < len).then_some((slot, start, len))
        })
    }

    extern "C" fn on_sigbus(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
        // SAFETY: for an SA_SIGINFO handler the kernel passes a valid siginfo_t.
        let addr = unsafe { fault_address(info) };
        if let Some((slot, start, len)) = find(addr) {
            let page = PAGE.load(Ordering::Relaxed);
            let from = addr & !(page - 1);
            let end = (start + len).next_multiple_of(page);
            // SAFETY: [from, end) lies inside a mapping this process made and still holds
            // (registered mappings are unregistered before they are unmapped); replacing it
            // with anonymous zero pages changes the bytes under outstanding `&[u8]` borrows
            // from "unreadable" to zeros, which every bit-pattern-agnostic reader accepts and
            // the poisoned flag tells the rest. mmap is a plain system call, safe in a handler.
            let mapped = unsafe {
                libc::mmap(
                    from as *mut c_void,
                    end - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                slot.poisoned.store(true, Ordering::Release);
                return;
            }
        }
        // SAFETY: the arguments are the ones this handler received.
        unsafe { pass_on(signal, info, context) };
    }

    /// What would have happened without the guard: the previous handler, or the default
    /// action (restored, so the faulting read faults again and ends the process).
    ///
    /// # Safety
    /// The arguments must be those of a signal handler invocation.
    unsafe fn pass_on(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
        let handler = PREVIOUS_HANDLER.load(Ordering::Acquire);
        let flags = PREVIOUS_FLAGS.load(Ordering::Acquire);
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: a zeroed sigaction with SIG_DFL (0) is the default action.
            let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
            default.sa_sigaction = libc::SIG_DFL;
            // SAFETY: a valid sigaction pointer; sigaction is async-signal-safe.
            unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) };
        } else if flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous action was installed with SA_SIGINFO, so its handler has
            // this signature; it gets the arguments the kernel gave us.
            let previous: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                unsafe { std::mem::transmute(handler) };
            previous(signal, info, context);
        } else {
            // SAFETY: without SA_SIGINFO the previous handler takes the signal number only.
            let previous: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
            previous(signal);
        }
    }

    /// The faulting address of a `SIGBUS`.
    ///
    /// # Safety
    /// `info` must point to the siginfo_t of a `SIGBUS`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe fn fault_address(info: *const libc::siginfo_t) -> usize {
        // SAFETY: the caller passes a valid siginfo_t of a memory fault, whose si_addr is set.
        unsafe { (*info).si_addr() as usize }
    }

    /// The faulting address of a `SIGBUS`.
    ///
    /// # Safety
    /// `info` must point to the siginfo_t of a `SIGBUS`.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    unsafe fn fault_address(info: *const libc::siginfo_t) -> usize {
        // SAFETY: the caller passes a valid siginfo_t of a memory fault, whose si_addr is set.
        unsafe { (*info).si_addr as usize }
    }
}

#[cfg(not(unix))]
mod imp {
    //! Windows refuses to shrink a file while it is mapped: nothing can fault.
    use std::io;

    pub(super) fn register(_bytes: &[u8]) -> io::Result<usize> {
        Ok(0)
    }

    pub(super) fn is_poisoned(_slot: usize) -> bool {
        false
    }

    pub(super) fn unregister(_slot: usize) {}
}
