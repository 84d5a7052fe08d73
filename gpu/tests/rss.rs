//! The process's memory stays flat during an upload: with page release, the peak resident set
//! grows by about `buffers x chunk size`, not by the model's size. One test in its own binary,
//! because the peak is process-wide.

use std::ops::ControlFlow;

use weightmap_gpu::testing::write_model;
use weightmap_gpu::{
    source_config, upload, Arena, CopyOp, Error, MappedSource, Plan, PlanOptions, Target,
    UploadOptions,
};
use weightmap_native::{
    peak_resident_set_size, reset_peak_resident_set_size, resident_set_size, ModelSource,
};

/// A target that keeps nothing but a checksum of what it is sent, so the only memory an
/// upload costs is the source's pages and the staging buffers.
#[derive(Default)]
struct Checksum {
    buffers: Vec<(Vec<u8>, Vec<CopyOp>)>,
    sum: u64,
    bytes: u64,
}

struct Sum(u64, u64);

impl Arena for Sum {
    fn len(&self) -> usize {
        self.1 as usize
    }
    fn read_into(&self, _: usize, _: &mut [u8]) -> weightmap_gpu::Result<()> {
        Err(Error::InvalidOptions(
            "a checksum cannot be read back".into(),
        ))
    }
}

impl Checksum {
    fn drain(&mut self, buffer: usize) {
        let (memory, pending) = &mut self.buffers[buffer];
        for copy in pending.drain(..) {
            let bytes = &memory[copy.staging_offset..copy.staging_offset + copy.len];
            for word in bytes.chunks(8) {
                let mut w = [0u8; 8];
                w[..word.len()].copy_from_slice(word);
                self.sum = self.sum.rotate_left(5) ^ u64::from_le_bytes(w);
            }
            self.bytes += copy.len as u64;
        }
    }
}

impl Target for Checksum {
    type Arena = Sum;
    fn begin(&mut self, _: usize, buffers: usize, staging_len: usize) -> weightmap_gpu::Result<()> {
        self.buffers = (0..buffers)
            .map(|_| (vec![0xA5; staging_len], Vec::new()))
            .collect();
        Ok(())
    }
    fn staging(&mut self, buffer: usize) -> weightmap_gpu::Result<&mut [u8]> {
        self.drain(buffer);
        Ok(&mut self.buffers[buffer].0)
    }
    fn submit(&mut self, buffer: usize, copies: &[CopyOp]) -> weightmap_gpu::Result<()> {
        self.buffers[buffer].1.extend_from_slice(copies);
        Ok(())
    }
    fn finish(&mut self) -> weightmap_gpu::Result<Sum> {
        for i in 0..self.buffers.len() {
            self.drain(i);
        }
        self.buffers.clear();
        Ok(Sum(self.sum, self.bytes))
    }
}

const MIB: u64 = 1 << 20;

/// Uploads `plan` and returns (peak RSS growth, checksum).
fn peak_growth(
    gguf: &weightmap_core::Gguf<ModelSource>,
    plan: &Plan,
    release_pages: bool,
) -> (u64, u64) {
    let options = UploadOptions {
        buffers: 4,
        threads: 2,
        release_pages,
        verify: false,
    };
    gguf.data().release_cpu_pages().unwrap();
    let before = resident_set_size().unwrap();
    assert!(reset_peak_resident_set_size(), "cannot reset the peak RSS");
    let source = MappedSource::new(gguf.data());
    let arena = upload(plan, &source, &mut Checksum::default(), &options, |_| {
        ControlFlow::Continue(())
    })
    .unwrap()
    .into_arena();
    assert_eq!(arena.1, plan.bytes());
    let peak = peak_resident_set_size().unwrap();
    (peak.saturating_sub(before), arena.0)
}

#[test]
fn peak_memory_stays_near_the_staging_ring() {
    if resident_set_size().is_none() || !reset_peak_resident_set_size() {
        println!("skipped: no /proc/self RSS counters here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 384 * MIB, 23).unwrap();
    let gguf = ModelSource::open_with(&path, &source_config()).unwrap();
    let chunk = 8 * MIB;
    let plan = Plan::of_gguf(
        &gguf,
        &PlanOptions {
            chunk_size: chunk as usize,
            ..PlanOptions::default()
        },
        |_| true,
    )
    .unwrap();
    assert!(plan.bytes() >= 384 * MIB);

    let (released, sum_released) = peak_growth(&gguf, &plan, true);
    let (kept, sum_kept) = peak_growth(&gguf, &plan, false);
    println!(
        "peak RSS growth: {} MiB with page release, {} MiB without, for {} MiB of tensors",
        released / MIB,
        kept / MIB,
        plan.bytes() / MIB
    );
    assert_eq!(sum_released, sum_kept);
    let bound = 4 * chunk + 64 * MIB;
    assert!(
        released < bound,
        "released {} MiB > bound {} MiB",
        released / MIB,
        bound / MIB
    );
    // Without release the mapping's pages stay resident: the test can tell the difference.
    assert!(kept > plan.bytes() / 2, "kept only {} MiB", kept / MIB);
}
