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
//!   does) then ends the process with the default action, and so does a fault the handler
//!   behind returns from without changing anything (it would only fault again, forever).
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
        imp::reinstate()?;
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
mod handler;
#[cfg(unix)]
mod table;

#[cfg(unix)]
mod imp {
    pub(super) use super::handler::reinstate;
    pub(super) use super::table::{is_poisoned, register, unregister};
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
