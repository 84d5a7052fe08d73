//! The `SIGBUS` handler: zero pages over the lost part of a guarded mapping, everything else
//! handed to the action behind it (the one it replaced), as if the guard were not there.
//!
//! Everything the handler reads is a plain atomic; it calls only async-signal-safe functions
//! (`mmap`, `sigaction`, `raise`, `pthread_self`) and the handler behind.

use std::ffi::{c_int, c_void};
use std::io;
use std::sync::atomic::{fence, AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::table;

/// The page size, for the handler (set before the handler is installed).
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// The action behind ours (handler address and flags), written by [`reinstate`] under a
/// sequence number (odd while written), so the handler never pairs one's address with
/// another's flags.
static BEHIND_SEQUENCE: AtomicUsize = AtomicUsize::new(0);
static BEHIND_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
static BEHIND_FLAGS: AtomicI32 = AtomicI32::new(0);
/// A handler behind that left the chain (it put ours back itself and raised the signal
/// again, as Python's faulthandler does): the default action stands in for it until
/// [`reinstate`] finds a handler to put behind.
static LEFT: AtomicUsize = AtomicUsize::new(NONE);
const NONE: usize = usize::MAX;
/// Serialises (re)installation; the handler never takes it.
static INSTALLING: Mutex<()> = Mutex::new(());
/// How many times [`reinstate`] installed the handler: tells a handler behind that put ours
/// back from a `reinstate` on another thread while it ran.
static REINSTATED: AtomicUsize = AtomicUsize::new(0);
/// The thread handing a signal on and the address of that frame: the same thread entering
/// again deeper down is the handler behind calling ours (it saved ours as its previous).
static PASSING_THREAD: AtomicUsize = AtomicUsize::new(0);
static PASSING_FRAME: AtomicUsize = AtomicUsize::new(0);
/// The address of a fault the handler behind returned from without changing anything: the
/// same fault again means it cannot fix it, and the default action ends the process.
static REPEATED: AtomicUsize = AtomicUsize::new(0);

fn ours() -> usize {
    on_sigbus as *const () as usize
}

/// Puts the handler in front of `SIGBUS`: installs it the first time; later, if another
/// handler has replaced it since, installs it again with that one behind it.
pub(crate) fn reinstate() -> io::Result<()> {
    let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: an all-zero sigaction is a valid value of the C struct, to be overwritten.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries; `current` is a valid, writable struct.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if current.sa_sigaction == ours() {
        return Ok(());
    }
    PAGE.store(crate::sys::page_size(), Ordering::Relaxed);
    // What goes behind is stored first: a signal arriving as soon as ours is in finds it.
    store_behind(current.sa_sigaction, current.sa_flags);
    // SAFETY: as above.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    if install(ours(), libc::SA_SIGINFO | libc::SA_ONSTACK, &mut previous) != 0 {
        return Err(io::Error::last_os_error());
    }
    if previous.sa_sigaction != current.sa_sigaction {
        // Replaced between the query and the install (not through this function).
        store_behind(previous.sa_sigaction, previous.sa_flags);
    }
    REINSTATED.fetch_add(1, Ordering::AcqRel);
    tracing::debug!(
        behind = previous.sa_sigaction != libc::SIG_DFL,
        "SIGBUS truncation guard installed"
    );
    Ok(())
}

/// Installs `handler` with `flags` and an empty mask for `SIGBUS`; the previous action goes
/// to `previous`. The `sigaction` return value.
fn install(handler: usize, flags: c_int, previous: *mut libc::sigaction) -> c_int {
    // SAFETY: an all-zero sigaction is a valid value; the fields the call reads are set.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `sa_mask` is a valid, writable sigset_t owned by `action`; `previous` is null
    // or a valid, writable sigaction (every caller's). The handlers installed are ours (an
    // `extern "C"` SA_SIGINFO function doing only async-signal-safe things), or one the
    // kernel reported as installed, with its own flags. sigaction is async-signal-safe.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, previous)
    }
}

/// Records the action behind ours (under [`INSTALLING`]: one writer at a time).
fn store_behind(handler: usize, flags: c_int) {
    let sequence = BEHIND_SEQUENCE.load(Ordering::Relaxed);
    BEHIND_SEQUENCE.store(sequence.wrapping_add(1), Ordering::Relaxed);
    fence(Ordering::Release);
    BEHIND_HANDLER.store(handler, Ordering::Relaxed);
    BEHIND_FLAGS.store(flags, Ordering::Relaxed);
    BEHIND_SEQUENCE.store(sequence.wrapping_add(2), Ordering::Release);
    LEFT.store(NONE, Ordering::Release);
}

/// The action behind ours, read consistently: the default action for one that left.
fn behind() -> (usize, c_int) {
    for _ in 0..64 {
        let before = BEHIND_SEQUENCE.load(Ordering::Acquire);
        if before % 2 == 0 {
            let handler = BEHIND_HANDLER.load(Ordering::Relaxed);
            let flags = BEHIND_FLAGS.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if BEHIND_SEQUENCE.load(Ordering::Relaxed) == before {
                if handler == LEFT.load(Ordering::Acquire) {
                    return (libc::SIG_DFL, 0);
                }
                return (handler, flags);
            }
        }
        std::hint::spin_loop();
    }
    (libc::SIG_DFL, 0) // being rewritten on this very thread: nothing sound to call
}

extern "C" fn on_sigbus(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let errno = errno::saved();
    // SAFETY: for an SA_SIGINFO handler the kernel passes a valid siginfo_t.
    let fault = unsafe { fault_address(info) };
    if let Some((addr, (slot, start, len))) = fault.and_then(|a| table::find(a).map(|f| (a, f))) {
        let page = PAGE.load(Ordering::Relaxed);
        let from = addr & !(page - 1);
        let end = (start + len).next_multiple_of(page);
        // SAFETY: [from, end) lies inside a mapping this process made and still holds
        // (registered mappings are unregistered before they are unmapped, and the table
        // gives bounds of one registration); replacing it with anonymous zero pages changes
        // the bytes under outstanding `&[u8]` borrows from "unreadable" to zeros, which every
        // bit-pattern-agnostic reader accepts and the poisoned flag tells the rest. mmap is a
        // plain system call, safe in a handler.
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
            slot.poison();
            errno.restore();
            return;
        }
    }
    // SAFETY: the arguments are the ones this handler received.
    unsafe { pass_on(signal, info, context, fault) };
    errno.restore();
}

/// What would have happened without the guard: the handler behind, or the default action
/// (restored, and the signal raised again: it is delivered as this handler returns and ends
/// the process, as it would have without the guard).
///
/// # Safety
/// The arguments must be those of a signal handler invocation; `fault` is the address of a
/// memory fault, `None` for a signal sent by a process.
unsafe fn pass_on(
    signal: c_int,
    info: *mut libc::siginfo_t,
    context: *mut c_void,
    fault: Option<usize>,
) {
    let (handler, flags) = behind();
    if handler == libc::SIG_IGN && fault.is_none() {
        return; // an ignored signal stays ignored (a fault cannot be: the kernel kills)
    }
    // SAFETY: pthread_self only reads the thread pointer.
    let thread = unsafe { libc::pthread_self() } as usize;
    let marker = 0u8;
    let frame = std::ptr::addr_of!(marker) as usize;
    // Handed back by a call from the handler behind, on this thread, deeper in its stack (a
    // frame left by `siglongjmp` is not deeper than a later one: on the signal stack they
    // start at the same place).
    let again = PASSING_THREAD.load(Ordering::Acquire) == thread
        && frame < PASSING_FRAME.load(Ordering::Acquire);
    let repeated = fault.is_some_and(|addr| REPEATED.swap(0, Ordering::AcqRel) == addr);
    if again || repeated || handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        install(libc::SIG_DFL, 0, std::ptr::null_mut());
        // SAFETY: raise is async-signal-safe; the signal stays pending (blocked in this
        // handler) until it returns.
        unsafe { libc::raise(signal) };
        return;
    }
    let outer = PASSING_THREAD.swap(thread, Ordering::AcqRel);
    let outer_frame = PASSING_FRAME.swap(frame, Ordering::AcqRel);
    let reinstated = REINSTATED.load(Ordering::Acquire);
    // While it runs, the handler behind is the installed one, as it would be without the
    // guard; what it installs while it runs tells what it wants next.
    install(handler, flags, std::ptr::null_mut());
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the action behind was installed with SA_SIGINFO, so its handler has this
        // signature; it gets the arguments the kernel gave us.
        let previous: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(handler) };
        previous(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the handler takes the signal number only.
        let previous: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
        previous(signal);
    }
    // SAFETY: an all-zero sigaction is a valid value, to be overwritten.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries, into a valid, writable struct.
    let queried = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } == 0;
    if queried && current.sa_sigaction == ours() {
        if REINSTATED.load(Ordering::Acquire) == reinstated {
            // It put back the action it replaced, ours, itself: it has left the chain, and
            // the signal it raised again must end in the default action, not come back.
            LEFT.store(handler, Ordering::Release);
        }
    } else if queried && current.sa_sigaction == handler {
        // Untouched: the guard goes back in front of it. A fault it returned from will come
        // again at once if it did not fix it: then it cannot.
        install(
            ours(),
            libc::SA_SIGINFO | libc::SA_ONSTACK,
            std::ptr::null_mut(),
        );
        if let Some(addr) = fault {
            REPEATED.store(addr, Ordering::Release);
        }
    }
    // Anything else (the default action, say) is what it chose: left as it is, and the next
    // guarded open puts the guard in front of it again.
    PASSING_THREAD.store(outer, Ordering::Release);
    PASSING_FRAME.store(outer_frame, Ordering::Release);
}

/// The address of a memory fault; `None` for a `SIGBUS` sent by a process (`kill`, `raise`,
/// `sigqueue`) or by the kernel for another reason, whose address field means nothing.
/// Faults have small positive codes (`BUS_ADRALN`, `BUS_ADRERR`, `BUS_OBJERR`, ...); sent
/// signals 0 or negative on Linux, `0x10001` and up on macOS and the BSDs; `SI_KERNEL` 0x80.
///
/// # Safety
/// `info` must point to the siginfo_t of a `SIGBUS`.
unsafe fn fault_address(info: *const libc::siginfo_t) -> Option<usize> {
    // SAFETY: the caller passes a valid siginfo_t.
    let code = unsafe { (*info).si_code };
    if !(1..0x80).contains(&code) {
        return None;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: as above; a kernel-generated memory fault sets si_addr.
    let addr = unsafe { (*info).si_addr() };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: as above.
    let addr = unsafe { (*info).si_addr };
    Some(addr as usize)
}

/// `errno` kept across the handler: the interrupted code may be about to read it.
mod errno {
    use std::ffi::c_int;

    pub(super) struct Saved(Option<c_int>);

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn location() -> Option<*mut c_int> {
        // SAFETY: returns this thread's errno; always valid.
        Some(unsafe { libc::__errno_location() })
    }

    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    fn location() -> Option<*mut c_int> {
        // SAFETY: returns this thread's errno; always valid.
        Some(unsafe { libc::__error() })
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd"
    )))]
    fn location() -> Option<*mut c_int> {
        None
    }

    pub(super) fn saved() -> Saved {
        // SAFETY: the location is this thread's errno.
        Saved(location().map(|p| unsafe { *p }))
    }

    impl Saved {
        pub(super) fn restore(self) {
            if let (Some(p), Some(value)) = (location(), self.0) {
                // SAFETY: as above.
                unsafe { *p = value };
            }
        }
    }
}
