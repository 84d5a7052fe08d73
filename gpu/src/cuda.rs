//! The CUDA target: plain pinned staging buffers, one non-blocking stream, one event per
//! buffer, and the arena in device memory (`cudarc`, driver API, loaded at run time).
//!
//! Nothing here needs the CUDA toolkit to build; without a driver every entry point returns
//! [`Error::NoDriver`] instead of panicking (cudarc panics when it cannot load `libcuda`, so
//! the library is probed first).

use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{
    result, sys, CudaContext, CudaEvent, CudaSlice, CudaStream, CudaView, DevicePtrMut,
    DriverError, PinnedHostSlice,
};

use crate::error::{Error, Result};
use crate::model::DeviceTensor;
use crate::plan::CopyOp;
use crate::target::{copy_range, no_buffer, Arena, Target};

/// Whether the CUDA driver library can be loaded here.
pub fn driver_present() -> bool {
    static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: loading libcuda runs its initialisers; cudarc loads the same library the same
    // way on first use, so probing adds nothing it would not do anyway.
    *PRESENT.get_or_init(|| unsafe { sys::is_culib_present() })
}

/// How many CUDA devices the driver sees.
///
/// # Errors
/// [`Error::NoDriver`] without a driver, or a driver error.
pub fn device_count() -> Result<usize> {
    if !driver_present() {
        return Err(Error::NoDriver);
    }
    use sys::cudaError_enum as E;
    match CudaContext::device_count() {
        Ok(count) => Ok(usize::try_from(count).unwrap_or(0)),
        // A driver library without a usable device: a container without /dev/nvidia*,
        // CUDA_VISIBLE_DEVICES="", the toolkit's stub library, a kernel module that does
        // not match.
        Err(DriverError(E::CUDA_ERROR_NO_DEVICE)) => Ok(0),
        Err(DriverError(E::CUDA_ERROR_STUB_LIBRARY | E::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)) => {
            Err(Error::NoDriver)
        }
        Err(e) => Err(driver("cuDeviceGetCount")(e)),
    }
}

/// Uploads to one CUDA device: plain pinned staging buffers, one non-blocking stream, one
/// event per buffer, the arena in device memory.
#[derive(Debug)]
pub struct CudaTarget {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    arena: Option<CudaSlice<u8>>,
    /// The arena's length as asked for (the allocation holds at least one byte).
    arena_len: usize,
    buffers: Vec<Staging>,
}

#[derive(Debug)]
struct Staging {
    host: PinnedHostSlice<u8>,
    /// Recorded after the copies out of this buffer; waited for before it is refilled.
    copied: CudaEvent,
}

impl CudaTarget {
    /// Opens device `ordinal` (0 for the first GPU) with a new non-blocking stream.
    ///
    /// # Errors
    /// [`Error::NoDriver`], [`Error::NoDevice`], or a driver error.
    pub fn new(ordinal: usize) -> Result<Self> {
        let count = device_count()?;
        if ordinal >= count {
            return Err(Error::NoDevice { ordinal, count });
        }
        let context = CudaContext::new(ordinal).map_err(driver("cuCtxCreate"))?;
        let stream = context.new_stream().map_err(driver("cuStreamCreate"))?;
        Ok(CudaTarget {
            context,
            stream,
            arena: None,
            arena_len: 0,
            buffers: Vec::new(),
        })
    }

    /// The device's name.
    ///
    /// # Errors
    /// A driver error.
    pub fn device_name(&self) -> Result<String> {
        self.context.name().map_err(driver("cuDeviceGetName"))
    }

    /// Free and total device memory in bytes.
    ///
    /// # Errors
    /// A driver error.
    pub fn memory(&self) -> Result<(usize, usize)> {
        self.context.mem_get_info().map_err(driver("cuMemGetInfo"))
    }

    /// The stream the copies run on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits for every copy queued from every buffer.
    fn wait_all(&self) -> Result<()> {
        // An error recorded by an earlier drop would make the synchronise below return it
        // without waiting: take it first.
        if let Err(e) = self.context.check_err() {
            tracing::warn!(error = %e, "an earlier CUDA call failed");
        }
        self.stream
            .synchronize()
            .map_err(driver("cuStreamSynchronize"))
    }
}

impl Target for CudaTarget {
    type Arena = CudaArena;

    fn begin(&mut self, arena_len: usize, buffers: usize, staging_len: usize) -> Result<()> {
        self.wait_all()?;
        self.arena = None;
        self.buffers.clear();
        // Let the stream-ordered free of an earlier arena complete before asking what is free.
        self.wait_all()?;
        if staging_len > MAX_STAGING {
            return Err(Error::InvalidOptions(format!(
                "staging buffers of {staging_len} bytes: at most {MAX_STAGING}"
            )));
        }
        let (free, _) = self.memory()?;
        if arena_len > free {
            return Err(Error::OutOfDeviceMemory {
                requested: arena_len,
                free,
            });
        }
        let arena = self
            .stream
            .alloc_zeros::<u8>(arena_len.max(1))
            .map_err(|e| {
                if e.0 == sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
                    Error::OutOfDeviceMemory {
                        requested: arena_len,
                        free,
                    }
                } else {
                    driver("cuMemAlloc")(e)
                }
            })?;
        self.arena = Some(arena);
        self.arena_len = arena_len;
        for _ in 0..buffers {
            // Flags 0: plain pinned memory, not write-combined, so the CPU can also read it
            // at full speed.
            // SAFETY: the memory is uninitialised; it is zeroed below before any reference
            // to it exists.
            let mut host = unsafe {
                self.context
                    .alloc_pinned_with_flags::<u8>(staging_len.max(1), 0)
            }
            .map_err(driver("cuMemHostAlloc"))?;
            let ptr = host.as_mut_ptr().map_err(driver("cuEventSynchronize"))?;
            // SAFETY: `ptr` points to the `host.len()` bytes cuMemHostAlloc just returned,
            // which nothing else references yet.
            unsafe { std::ptr::write_bytes(ptr, 0, host.len()) };
            // Blocking sync: a wait for the buffer sleeps instead of spinning a core that
            // the fill threads need.
            let copied = self
                .context
                .new_event(Some(sys::CUevent_flags::CU_EVENT_BLOCKING_SYNC))
                .map_err(driver("cuEventCreate"))?;
            self.buffers.push(Staging { host, copied });
        }
        Ok(())
    }

    fn staging(&mut self, buffer: usize) -> Result<&mut [u8]> {
        let staging = self
            .buffers
            .get_mut(buffer)
            .ok_or_else(|| no_buffer(buffer))?;
        // The copies queued from this buffer must be done before it is written again.
        staging
            .copied
            .synchronize()
            .map_err(driver("cuEventSynchronize"))?;
        staging
            .host
            .as_mut_slice()
            .map_err(driver("cuEventSynchronize"))
    }

    fn submit(&mut self, buffer: usize, copies: &[CopyOp]) -> Result<()> {
        let arena = self.arena.as_mut().ok_or_else(not_begun)?;
        let staging = self
            .buffers
            .get_mut(buffer)
            .ok_or_else(|| no_buffer(buffer))?;
        // Check every copy before queueing any, so an error leaves nothing in flight.
        let host_len = staging.host.len();
        let arena_len = self.arena_len;
        let checked = copies
            .iter()
            .map(|c| {
                Ok((
                    copy_range(c.staging_offset, c.len, host_len)?,
                    copy_range(c.arena_offset, c.len, arena_len)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        self.context
            .bind_to_thread()
            .map_err(driver("cuCtxSetCurrent"))?;
        let stream = &self.stream;
        let host = staging
            .host
            .as_slice()
            .map_err(driver("cuEventSynchronize"))?;
        let queue = || {
            for (from, to) in checked {
                let mut destination = arena.slice_mut(to);
                let (device_ptr, _record) = destination.device_ptr_mut(stream);
                // SAFETY: `device_ptr` is the start of `destination`, a range of the arena
                // as long as the copy (checked above). The source is pinned memory owned by
                // `self.buffers`, which is not freed before the stream is synchronised (see
                // `Drop`) and not written before `copied`, recorded below after this copy,
                // is waited for (`staging` is the only way to it); if queueing or recording
                // fails, the stream is synchronised before this returns.
                unsafe { result::memcpy_htod_async(device_ptr, &host[from], stream.cu_stream()) }
                    .map_err(driver("cuMemcpyHtoDAsync"))?;
            }
            staging
                .copied
                .record(stream)
                .map_err(driver("cuEventRecord"))
        };
        let queued = queue();
        if queued.is_err() {
            // Some copies may be in flight without the event that guards the buffer.
            if let Err(e) = stream.synchronize() {
                tracing::warn!(error = %e, "cuStreamSynchronize after a failed submit");
            }
        }
        queued
    }

    fn finish(&mut self) -> Result<CudaArena> {
        self.wait_all()?;
        self.buffers.clear();
        let slice = self.arena.take().ok_or_else(not_begun)?;
        Ok(CudaArena {
            slice,
            len: self.arena_len,
            stream: self.stream.clone(),
        })
    }
}

impl Drop for CudaTarget {
    fn drop(&mut self) {
        // Copies may still read the staging buffers: let them finish before they are freed.
        if let Err(e) = self.wait_all() {
            tracing::error!(error = %e, "waiting for the upload stream failed: leaking the staging buffers");
            // Freeing pinned memory a copy may still read is worse than leaking it.
            std::mem::forget(std::mem::take(&mut self.buffers));
        }
    }
}

/// Largest staging buffer (pinned memory is scarce; cudarc asserts on sizes past isize::MAX).
const MAX_STAGING: usize = 4 << 30;

/// The device memory holding an uploaded model.
#[derive(Debug)]
pub struct CudaArena {
    slice: CudaSlice<u8>,
    len: usize,
    stream: Arc<CudaStream>,
}

impl CudaArena {
    /// The whole arena.
    pub fn slice(&self) -> &CudaSlice<u8> {
        &self.slice
    }

    /// A range of it.
    pub fn view(&self, range: Range<usize>) -> Option<CudaView<'_, u8>> {
        if range.end > self.len {
            return None;
        }
        self.slice.try_slice(range)
    }

    /// The stream that wrote it.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
}

impl Arena for CudaArena {
    fn len(&self) -> usize {
        self.len
    }

    fn read_into(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let range = copy_range(offset, out.len(), self.len)?;
        let view = self.slice.slice(range);
        self.stream
            .memcpy_dtoh(&view, out)
            .map_err(driver("cuMemcpyDtoHAsync"))?;
        self.stream
            .synchronize()
            .map_err(driver("cuStreamSynchronize"))
    }
}

impl<'a> DeviceTensor<'a, CudaArena> {
    /// Its bytes in device memory, for kernels.
    pub fn view(&self) -> CudaView<'a, u8> {
        let arena: &'a CudaArena = self.arena();
        // The plan placed every tensor inside the arena it sized.
        arena.slice.slice(self.arena_range())
    }
}

fn driver(call: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| Error::Driver {
        call,
        message: e.to_string(),
    }
}

fn not_begun() -> Error {
    Error::InvalidOptions("the target was not begun".into())
}
