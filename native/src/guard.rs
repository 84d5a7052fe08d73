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
//!   so the guard has nothing to do there.
//! - Another `SIGBUS` handler installed after the guard's (a crash reporter, Python's
//!   `faulthandler`) replaces it until the next guarded open, or a call of [`reinstate`], puts
//!   the guard back in front, with that handler behind it. Signals sent by a process (`kill`,
//!   `raise`) are never taken for faults: they go straight to the handler behind, which runs
//!   as the installed one; one that puts the guard back and raises again (as `faulthandler`
//!   does) then ends the process with the default action.
//! - Cost: nothing on the read path (no check per access); a registration is one `sigaction`
//!   query and one scan of a fixed table of [`MAX_GUARDED`] slots at open, one store at close.

use std::io;

/// Most mappings guarded at once.
pub const MAX_GUARDED: usize = 16_384;

/// Puts the guard's `SIGBUS` handler back in front if another has replaced it since (Python's
/// `faulthandler.enable()`, a crash reporter, a runtime's own), keeping that one behind it:
/// faults in guarded mappings are handled, every other `SIGBUS` still reaches it. Every new
/// guarded mapping does this by itself; call it after code that installs its own handler to
/// cover mappings opened before.
///
/// # Errors
/// When `sigaction` fails.
pub fn reinstate() -> io::Result<()> {
    imp::reinstate()
}

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
    use std::sync::Mutex;

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
    /// One past the highest slot ever claimed: the handler scans no further.
    static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

    /// The page size, for the handler (set before the handler is installed).
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    /// The `SIGBUS` action behind ours: its handler address and flags.
    static PREVIOUS_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
    static PREVIOUS_FLAGS: AtomicI32 = AtomicI32::new(0);
    /// Serialises (re)installation; the handler itself never takes it.
    static INSTALLING: Mutex<()> = Mutex::new(());
    /// Set while the handler hands a signal on: a previous handler that hands it back to us
    /// (one that saved ours as *its* previous) ends in the default action, not a loop.
    static PASSING_ON: AtomicBool = AtomicBool::new(false);

    pub(super) fn register(bytes: &[u8]) -> io::Result<usize> {
        reinstate()?;
        for (index, slot) in SLOTS.iter().enumerate() {
            if slot
                .state
                .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.start.store(bytes.as_ptr() as usize, Ordering::Relaxed);
                slot.len.store(bytes.len(), Ordering::Relaxed);
                slot.poisoned.store(false, Ordering::Relaxed);
                HIGH_WATER.fetch_max(index + 1, Ordering::AcqRel);
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

    /// Puts the handler in front of `SIGBUS`: installs it the first time; later, if another
    /// handler has replaced it since, installs it again with that one behind it.
    pub(super) fn reinstate() -> io::Result<()> {
        let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: an all-zero sigaction is a valid value of the C struct, to be overwritten.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only queries; `current` is a valid, writable struct.
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut current) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if current.sa_sigaction == on_sigbus as *const () as usize {
            return Ok(());
        }
        PAGE.store(crate::sys::page_size(), Ordering::Relaxed);
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `sa_mask` is a valid, writable sigset_t owned by `action`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: as above, a valid value to be overwritten by the call.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to valid sigaction structs; the handler is an
        // `extern "C"` function with the SA_SIGINFO signature, and it only does
        // async-signal-safe things (atomics, mmap, sigaction, raise, the previous handler).
        if unsafe { libc::sigaction(libc::SIGBUS, &action, &mut previous) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // Flags first: the handler reads the handler address, then its flags.
        PREVIOUS_FLAGS.store(previous.sa_flags, Ordering::Release);
        PREVIOUS_HANDLER.store(previous.sa_sigaction, Ordering::Release);
        tracing::debug!(
            behind = previous.sa_sigaction != libc::SIG_DFL,
            "SIGBUS truncation guard installed"
        );
        Ok(())
    }

    /// The guarded mapping holding `addr`: its start and length.
    fn find(addr: usize) -> Option<(&'static Slot, usize, usize)> {
        let used = HIGH_WATER.load(Ordering::Acquire).min(MAX_GUARDED);
        SLOTS[..used].iter().find_map(|slot| {
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
        if let Some((slot, addr, start, len)) =
            addr.and_then(|a| find(a).map(|(s, st, l)| (s, a, st, l)))
        {
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
        unsafe { pass_on(signal, info, context, addr.is_none()) };
    }

    /// What would have happened without the guard: the previous handler, or the default
    /// action (restored, and the signal raised again: it is delivered as this handler
    /// returns and ends the process, as it would have without the guard).
    ///
    /// # Safety
    /// The arguments must be those of a signal handler invocation; `sent` tells a signal sent
    /// by a process from a fault.
    unsafe fn pass_on(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void, sent: bool) {
        let handler = PREVIOUS_HANDLER.load(Ordering::Acquire);
        let flags = PREVIOUS_FLAGS.load(Ordering::Acquire);
        if handler == libc::SIG_IGN && sent {
            return; // an ignored signal stays ignored (a fault cannot be: the kernel kills)
        }
        // Set while a handler behind us runs: one that hands the signal back by calling us.
        let again = PASSING_ON.swap(true, Ordering::AcqRel);
        if again || handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: a zeroed sigaction with SIG_DFL (0) is the default action.
            let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
            default.sa_sigaction = libc::SIG_DFL;
            // SAFETY: a valid sigaction pointer; sigaction and raise are async-signal-safe.
            // The raised signal stays pending (blocked in this handler) until it returns.
            unsafe {
                libc::sigaction(signal, &default, std::ptr::null_mut());
                libc::raise(signal);
            }
        } else {
            // While it runs, the handler behind us is the installed one, as it would be
            // without the guard; what it installs while it runs tells what it wants next.
            // SAFETY: a zeroed sigaction is valid; every field the call reads is set (the
            // previous mask is not kept: an empty one).
            let mut behind: libc::sigaction = unsafe { std::mem::zeroed() };
            behind.sa_sigaction = handler;
            behind.sa_flags = flags;
            // SAFETY: valid sigaction pointers; sigaction is async-signal-safe.
            unsafe {
                libc::sigemptyset(&mut behind.sa_mask);
                libc::sigaction(signal, &behind, std::ptr::null_mut());
            }
            if flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous action was installed with SA_SIGINFO, so its handler
                // has this signature; it gets the arguments the kernel gave us.
                let previous: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                    unsafe { std::mem::transmute(handler) };
                previous(signal, info, context);
            } else {
                // SAFETY: without SA_SIGINFO the previous handler takes the signal number.
                let previous: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
                previous(signal);
            }
            // SAFETY: an all-zero sigaction is a valid value, to be overwritten.
            let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a null new action only queries, into a valid, writable struct.
            let queried = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
            let ours = on_sigbus as *const () as usize;
            if queried == 0 && current.sa_sigaction == ours {
                // It put back the action it replaced, ours (Python's faulthandler does, and
                // raises the signal again): it has left the chain, and what it raised must
                // end in the default action, not come back to it.
                PREVIOUS_HANDLER.store(libc::SIG_DFL, Ordering::Release);
            } else if queried == 0 && current.sa_sigaction == handler {
                // Untouched: the guard goes back in front of it.
                // SAFETY: a zeroed sigaction is valid; the fields the call reads are set.
                let mut front: libc::sigaction = unsafe { std::mem::zeroed() };
                front.sa_sigaction = ours;
                front.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                // SAFETY: as above.
                unsafe {
                    libc::sigemptyset(&mut front.sa_mask);
                    libc::sigaction(signal, &front, std::ptr::null_mut());
                }
            }
            // Anything else (the default action, say) is what it chose: left as it is, and
            // the next guarded open puts the guard in front of it again.
        }
        if !again {
            PASSING_ON.store(false, Ordering::Release);
        }
    }

    /// The faulting address of a `SIGBUS`; `None` for one sent by a process (`kill`, `raise`),
    /// whose address field means nothing.
    ///
    /// # Safety
    /// `info` must point to the siginfo_t of a `SIGBUS`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe fn fault_address(info: *const libc::siginfo_t) -> Option<usize> {
        // SAFETY: the caller passes a valid siginfo_t.
        let code = unsafe { (*info).si_code };
        // SAFETY: as above; si_addr is read only for kernel-generated faults (si_code > 0).
        (code > 0).then(|| unsafe { (*info).si_addr() } as usize)
    }

    /// The faulting address of a `SIGBUS`.
    ///
    /// # Safety
    /// `info` must point to the siginfo_t of a `SIGBUS`.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    unsafe fn fault_address(info: *const libc::siginfo_t) -> Option<usize> {
        // SAFETY: the caller passes a valid siginfo_t of a memory fault, whose si_addr is set.
        Some(unsafe { (*info).si_addr } as usize)
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

    pub(super) fn reinstate() -> io::Result<()> {
        Ok(())
    }
}
