//! The whole pipeline on the host: generated models uploaded through every source into the
//! host target, compared byte for byte with the parser's view; buffer reuse order, page
//! release, cancellation, filters and files that change under the upload.

use std::cell::RefCell;
use std::ops::{ControlFlow, Range};
use std::path::Path;
use std::sync::Mutex;

use weightmap_core::{Gguf, ModelData};
use weightmap_gpu::testing::write_model;
use weightmap_gpu::{
    upload, upload_file, Arena, ChunkSource, CopyOp, DeviceModel, Error, FileSource, FileUpload,
    Fill, HostArena, HostTarget, MappedSource, Plan, PlanOptions, Target, TensorFilter,
    UploadOptions,
};
use weightmap_native::ModelSource;

fn small_chunks() -> PlanOptions {
    PlanOptions {
        chunk_size: 64 << 10,
        ..PlanOptions::default()
    }
}

fn options(buffers: usize, threads: usize) -> UploadOptions {
    UploadOptions {
        buffers,
        threads,
        verify: true,
        ..UploadOptions::default()
    }
}

fn continue_always(_: weightmap_gpu::Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Every tensor of the uploaded model holds the bytes the parser sees in the file.
fn assert_matches_file(model: &DeviceModel<HostArena>, path: &Path) {
    let gguf = ModelSource::open(path).unwrap();
    assert_eq!(model.tensors().len(), gguf.tensor_count());
    for info in gguf.tensors() {
        let uploaded = model.tensor(info.name()).unwrap();
        assert_eq!(uploaded.dtype(), info.ggml_type());
        let dims: Vec<u64> = info.shape().iter().rev().copied().collect();
        assert_eq!(uploaded.dims(), dims);
        assert_eq!(uploaded.arena_range().start % 256, 0);
        let expected = gguf.tensor(info.name()).unwrap();
        assert!(
            uploaded.bytes() == expected.bytes(),
            "{} differs",
            info.name()
        );
        assert_eq!(uploaded.to_host().unwrap(), expected.bytes());
    }
}

#[test]
fn every_source_uploads_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 6 << 20, 7).unwrap();
    let gguf = ModelSource::open(&path).unwrap();
    let plan = Plan::of_gguf(&gguf, &small_chunks(), |_| true).unwrap();
    assert!(plan.chunks().len() > 50, "{} chunks", plan.chunks().len());

    for (buffers, threads) in [(1, 1), (2, 3), (4, 8)] {
        let mapped = MappedSource::new(gguf.data());
        let model = upload(
            &plan,
            &mapped,
            &mut HostTarget::new(),
            &options(buffers, threads),
            continue_always,
        )
        .unwrap();
        assert_matches_file(&model, &path);
        assert!(model.report().verify.is_some());
        assert_eq!(model.report().bytes, plan.bytes());

        let pread = FileSource::open(&path).unwrap();
        let model = upload(
            &plan,
            &pread,
            &mut HostTarget::new(),
            &options(buffers, threads),
            continue_always,
        )
        .unwrap();
        assert_matches_file(&model, &path);
    }
}

#[test]
fn upload_file_runs_every_fill_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 3 << 20, 11).unwrap();
    for fill in [Fill::Mmap, Fill::Pread, Fill::Direct] {
        for evict_page_cache in [false, true] {
            let options = FileUpload {
                plan: small_chunks(),
                upload: options(3, 2),
                fill,
                evict_page_cache,
                ..FileUpload::default()
            };
            match upload_file(&path, &mut HostTarget::new(), &options, continue_always) {
                Ok(model) => assert_matches_file(&model, &path),
                // tmpfs and some overlay filesystems refuse O_DIRECT at open.
                Err(Error::Io {
                    source,
                    offset,
                    len,
                }) if fill == Fill::Direct => {
                    println!("skipped O_DIRECT: {source:?} at {offset} len {len}");
                }
                Err(e) => panic!("{fill:?}: {e}"),
            }
        }
    }
}

#[test]
fn the_real_sample_uploads_whole() {
    let sample = weightmap_core::testing::sample_file();
    let gguf = Gguf::parse(sample.as_slice()).unwrap();
    let plan = Plan::of_gguf(&gguf, &PlanOptions::default(), |_| true).unwrap();
    let source = MappedSource::new(gguf.data());
    let model = upload(
        &plan,
        &source,
        &mut HostTarget::new(),
        &options(4, 4),
        continue_always,
    )
    .unwrap();
    let norm = model.tensor("norm.weight").unwrap();
    assert_eq!(norm.bytes(), gguf.tensor("norm.weight").unwrap().bytes());
    assert!(model.tensor("missing").is_none());
}

/// A target that logs the pipeline's calls on top of the host target.
struct Recording {
    inner: HostTarget,
    log: Vec<(&'static str, usize)>,
}

impl Target for Recording {
    type Arena = HostArena;
    fn begin(
        &mut self,
        arena_len: usize,
        buffers: usize,
        staging_len: usize,
    ) -> weightmap_gpu::Result<()> {
        self.log.push(("begin", buffers));
        self.inner.begin(arena_len, buffers, staging_len)
    }
    fn staging(&mut self, buffer: usize) -> weightmap_gpu::Result<&mut [u8]> {
        self.log.push(("staging", buffer));
        self.inner.staging(buffer)
    }
    fn submit(&mut self, buffer: usize, copies: &[CopyOp]) -> weightmap_gpu::Result<()> {
        self.log.push(("submit", buffer));
        self.inner.submit(buffer, copies)
    }
    fn finish(&mut self) -> weightmap_gpu::Result<HostArena> {
        self.log.push(("finish", 0));
        self.inner.finish()
    }
}

#[test]
fn buffers_are_reused_in_ring_order_each_after_a_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 1 << 20, 3).unwrap();
    let gguf = ModelSource::open(&path).unwrap();
    let plan = Plan::of_gguf(&gguf, &small_chunks(), |_| true).unwrap();
    let mut target = Recording {
        inner: HostTarget::new(),
        log: Vec::new(),
    };
    upload(
        &plan,
        &MappedSource::new(gguf.data()),
        &mut target,
        &options(3, 1),
        continue_always,
    )
    .unwrap();

    let mut expected = vec![("begin", 3)];
    for i in 0..plan.chunks().len() {
        expected.push(("staging", i % 3));
        expected.push(("submit", i % 3));
    }
    expected.push(("finish", 0));
    assert_eq!(target.log, expected);
}

#[test]
fn host_copies_wait_for_their_buffer_like_a_stream() {
    // Copies are deferred until their buffer is waited for: a pipeline that refilled a buffer
    // without waiting would upload the new bytes, and the comparisons above would catch it.
    let mut target = HostTarget::new();
    target.begin(8, 2, 4).unwrap();
    target.staging(0).unwrap().copy_from_slice(b"abcd");
    target
        .submit(
            0,
            &[CopyOp {
                staging_offset: 0,
                arena_offset: 4,
                len: 4,
            }],
        )
        .unwrap();
    target.staging(1).unwrap().copy_from_slice(b"wxyz");
    target
        .submit(
            1,
            &[CopyOp {
                staging_offset: 1,
                arena_offset: 0,
                len: 3,
            }],
        )
        .unwrap();
    let arena = target.finish().unwrap();
    assert_eq!(arena.as_slice(), b"xyz\0abcd");

    let mut target = HostTarget::new();
    target.begin(8, 1, 4).unwrap();
    let outside = [CopyOp {
        staging_offset: 2,
        arena_offset: 0,
        len: 4,
    }];
    assert!(matches!(target.submit(0, &outside), Err(Error::Plan(_))));
    assert!(matches!(target.staging(1), Err(Error::InvalidOptions(_))));
    let mut out = [0u8; 4];
    assert!(target.finish().unwrap().read_into(6, &mut out).is_err());
}

/// A source that records what it is asked to release.
struct ReleaseLog<'a> {
    inner: MappedSource<'a, ModelSource>,
    released: Mutex<Vec<Range<u64>>>,
}

impl ChunkSource for ReleaseLog<'_> {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> weightmap_gpu::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn release(&self, range: Range<u64>) {
        self.released.lock().unwrap().push(range.clone());
        self.inner.release(range);
    }
}

#[test]
fn pages_are_released_behind_the_upload_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 2 << 20, 5).unwrap();
    let gguf = ModelSource::open(&path).unwrap();
    let plan = Plan::of_gguf(&gguf, &small_chunks(), |_| true).unwrap();
    let source = ReleaseLog {
        inner: MappedSource::new(gguf.data()),
        released: Mutex::new(Vec::new()),
    };
    upload(
        &plan,
        &source,
        &mut HostTarget::new(),
        &options(2, 2),
        continue_always,
    )
    .unwrap();
    let released = source.released.into_inner().unwrap();
    assert_eq!(released.len(), plan.chunks().len());
    // From the first tensor byte to the last, each starting on the page where the previous
    // one ended (releases round inward, so a boundary page goes with the next chunk).
    let page = weightmap_native::page_size() as u64;
    let first = plan.chunks()[0].needed.start;
    let last = plan.chunks().last().unwrap().needed.end;
    assert_eq!(released[0].start, first - first % page);
    assert_eq!(released.last().unwrap().end, last);
    assert!(released.iter().all(|r| r.start % page == 0));
    assert!(released
        .windows(2)
        .all(|w| w[1].start <= w[0].end && w[0].end - w[1].start < page));

    let kept = ReleaseLog {
        inner: MappedSource::new(gguf.data()),
        released: Mutex::new(Vec::new()),
    };
    let no_release = UploadOptions {
        release_pages: false,
        ..options(2, 2)
    };
    upload(
        &plan,
        &kept,
        &mut HostTarget::new(),
        &no_release,
        continue_always,
    )
    .unwrap();
    assert!(kept.released.into_inner().unwrap().is_empty());
}

#[test]
fn the_progress_callback_sees_every_chunk_and_can_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 1 << 20, 9).unwrap();
    let gguf = ModelSource::open(&path).unwrap();
    let plan = Plan::of_gguf(&gguf, &small_chunks(), |_| true).unwrap();
    let seen = RefCell::new(Vec::new());
    upload(
        &plan,
        &MappedSource::new(gguf.data()),
        &mut HostTarget::new(),
        &options(2, 1),
        |p| {
            seen.borrow_mut().push(p);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    let seen = seen.into_inner();
    assert_eq!(seen.len(), plan.chunks().len());
    assert!(seen.windows(2).all(|w| w[0].bytes_done < w[1].bytes_done));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.bytes_done, last.bytes_total),
        (plan.bytes(), plan.bytes())
    );

    let mut calls = 0;
    let err = upload(
        &plan,
        &MappedSource::new(gguf.data()),
        &mut HostTarget::new(),
        &options(2, 1),
        |_| {
            calls += 1;
            if calls == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap_err();
    match err {
        Error::Cancelled { done, total } => {
            assert_eq!(done, seen[2].bytes_done);
            assert_eq!(total, plan.bytes());
        }
        other => panic!("{other}"),
    }
}

#[test]
fn filters_upload_a_subset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let tensors = write_model(&path, 2 << 20, 13).unwrap();
    let options = FileUpload {
        plan: small_chunks(),
        filter: TensorFilter::layers(1..2).or(TensorFilter::names(["output_norm.weight"])),
        ..FileUpload::default()
    };
    let model = upload_file(&path, &mut HostTarget::new(), &options, continue_always).unwrap();
    let expected: Vec<_> = tensors
        .iter()
        .filter(|t| t.name.starts_with("blk.1.") || t.name == "output_norm.weight")
        .map(|t| t.name.as_str())
        .collect();
    let uploaded: Vec<_> = model.tensors().map(|t| t.name()).collect();
    assert_eq!(uploaded, expected);
    let gguf = ModelSource::open(&path).unwrap();
    for t in model.tensors() {
        assert_eq!(t.bytes(), gguf.tensor(t.name()).unwrap().bytes());
    }
}

#[test]
fn a_file_that_shrinks_is_an_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    write_model(&path, 1 << 20, 17).unwrap();
    let gguf = ModelSource::open_with(&path, &weightmap_gpu::source_config()).unwrap();
    let plan = Plan::of_gguf(&gguf, &small_chunks(), |_| true).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    // pread sees the end of the file.
    let err = upload(
        &plan,
        &FileSource::open(&path).unwrap(),
        &mut HostTarget::new(),
        &options(2, 2),
        continue_always,
    )
    .unwrap_err();
    assert!(matches!(err, Error::OutOfSource { .. }), "{err}");

    // The guarded mapping reads zeros past the new end, and says so.
    let err = upload(
        &plan,
        &MappedSource::new(gguf.data()),
        &mut HostTarget::new(),
        &options(2, 2),
        continue_always,
    )
    .unwrap_err();
    assert!(matches!(err, Error::SourceChanged), "{err}");
    assert!(!gguf.data().is_intact());
}

#[test]
fn bad_options_and_missing_files_are_errors() {
    let sample = weightmap_core::testing::sample_file();
    let gguf = Gguf::parse(sample.as_slice()).unwrap();
    let plan = Plan::of_gguf(&gguf, &PlanOptions::default(), |_| true).unwrap();
    for (buffers, threads) in [(0, 1), (1, 0), (5000, 1)] {
        let err = upload(
            &plan,
            &MappedSource::new(gguf.data()),
            &mut HostTarget::new(),
            &options(buffers, threads),
            continue_always,
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidOptions(_)), "{err}");
    }
    let err = upload_file(
        "/nonexistent/model.gguf",
        &mut HostTarget::new(),
        &FileUpload::default(),
        continue_always,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Model(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
}

#[test]
fn sources_and_targets_refuse_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
    write_model(&a, 1 << 16, 1).unwrap();
    write_model(&b, 1 << 16, 2).unwrap();
    let source = FileSource::open(&a).unwrap();
    assert!(source.same_file(&std::fs::File::open(&a).unwrap()).unwrap());
    assert!(!source.same_file(&std::fs::File::open(&b).unwrap()).unwrap());

    // Reads at or past the end of a mapped source are short, as for a file.
    let gguf = ModelSource::open(&a).unwrap();
    let mapped = MappedSource::new(gguf.data());
    let mut buf = [0u8; 64];
    assert_eq!(mapped.read_at(mapped.len(), &mut buf).unwrap(), 0);
    assert_eq!(mapped.read_at(mapped.len() - 10, &mut buf).unwrap(), 10);
    assert_eq!(source.read_at(source.len() - 10, &mut buf).unwrap(), 10);

    // A host arena larger than memory is an error, not an abort.
    let err = HostTarget::new().begin(usize::MAX / 2, 1, 16).unwrap_err();
    assert!(matches!(err, Error::OutOfHostMemory { .. }), "{err}");
    let err = HostTarget::new().begin(16, 1, usize::MAX).unwrap_err();
    assert!(matches!(err, Error::OutOfHostMemory { .. }), "{err}");

    // A file that shrank after it was opened for pread is changed.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&a)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(matches!(source.check_intact(), Err(Error::SourceChanged)));
}
