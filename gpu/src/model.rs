//! The uploaded model: one device arena and where each tensor is in it.

use std::collections::HashMap;
use std::ops::Range;

use weightmap_core::TensorType;

use crate::plan::PlacedTensor;
use crate::target::{Arena, HostArena};
use crate::upload::UploadReport;

/// Every uploaded tensor, in one arena of device memory.
#[derive(Debug)]
pub struct DeviceModel<A> {
    arena: A,
    tensors: Vec<PlacedTensor>,
    by_name: HashMap<String, usize>,
    report: UploadReport,
}

/// One uploaded tensor: its place in the arena, type and shape.
#[derive(Debug, Clone, Copy)]
pub struct DeviceTensor<'a, A> {
    arena: &'a A,
    placed: &'a PlacedTensor,
}

impl<A: Arena> DeviceModel<A> {
    pub(crate) fn new(arena: A, tensors: Vec<PlacedTensor>, report: UploadReport) -> Self {
        // The first tensor of a name wins (the parsers refuse duplicate names anyway).
        let mut by_name = HashMap::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            by_name.entry(t.entry.name.clone()).or_insert(i);
        }
        DeviceModel {
            arena,
            tensors,
            by_name,
            report,
        }
    }

    /// The tensor called `name`, if it was uploaded.
    pub fn tensor(&self, name: &str) -> Option<DeviceTensor<'_, A>> {
        let placed = self.tensors.get(*self.by_name.get(name)?)?;
        Some(DeviceTensor {
            arena: &self.arena,
            placed,
        })
    }

    /// Every uploaded tensor, in file order.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = DeviceTensor<'_, A>> {
        self.tensors.iter().map(|placed| DeviceTensor {
            arena: &self.arena,
            placed,
        })
    }

    /// How many tensors were uploaded.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// The arena that holds them.
    pub fn arena(&self) -> &A {
        &self.arena
    }

    /// Takes the arena, giving up the table.
    pub fn into_arena(self) -> A {
        self.arena
    }

    /// What the upload did and how long it took.
    pub fn report(&self) -> &UploadReport {
        &self.report
    }

    pub(crate) fn set_open_time(&mut self, open: std::time::Duration) {
        self.report.open = open;
    }
}

impl<'a, A: Arena> DeviceTensor<'a, A> {
    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        &self.placed.entry.name
    }

    /// Its element type.
    pub fn dtype(&self) -> TensorType {
        self.placed.entry.dtype
    }

    /// Its dimensions, row-major (outermost first).
    pub fn dims(&self) -> &'a [u64] {
        &self.placed.entry.dims
    }

    /// Which of the model's files it came from.
    pub fn shard(&self) -> usize {
        self.placed.entry.shard
    }

    /// Its bytes in the arena (offsets aligned to at least 256).
    pub fn arena_range(&self) -> Range<usize> {
        self.placed.arena_range.clone()
    }

    /// Its bytes in the file it came from ([`shard`](Self::shard)).
    pub fn file_range(&self) -> Range<u64> {
        self.placed.entry.file_range.clone()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.placed.arena_range.len()
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The arena it lives in.
    pub fn arena(&self) -> &'a A {
        self.arena
    }

    /// Copies its bytes back to the host (for checks; engines use the device view).
    ///
    /// # Errors
    /// A driver error.
    pub fn to_host(&self) -> crate::Result<Vec<u8>> {
        let mut out = vec![0; self.len()];
        self.arena
            .read_into(self.placed.arena_range.start, &mut out)?;
        Ok(out)
    }
}

impl<'a> DeviceTensor<'a, HostArena> {
    /// Its bytes, in host memory.
    pub fn bytes(&self) -> &'a [u8] {
        // The plan placed every tensor inside the arena it sized.
        self.arena
            .as_slice()
            .get(self.placed.arena_range.clone())
            .unwrap_or(&[])
    }
}
