//! Uploads straight from object storage (weightmap-gpu's `RemoteSource` over weightmap-remote)
//! into host memory, from nginx and moto's S3: every tensor's bytes equal the local file's, in
//! chunks fetched ahead by ranged requests; an object replaced mid-upload, a cancelled upload
//! and a server that stops answering end in typed errors, never mixed bytes or a hang.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_gpu::{
    upload_remote, ChunkSource, Error, HostTarget, PlanOptions, RemoteSource, RemoteUpload,
    TensorFilter, UploadOptions,
};
use weightmap_remote::{Options, RemoteModel};
use weightmap_tests::servers::{Faulty, Moto, Nginx};

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761) >> 13) as u8 ^ seed)
        .collect()
}

/// `big.safetensors` (about 6 MiB in tensors of odd sizes), a sharded model of two files and
/// a GGUF split set of two, in `dir`; the names to open.
fn fixtures(dir: &Path) -> [&'static str; 3] {
    let big = SafetensorsBuilder::default()
        .tensor("a", "BF16", &[1000, 1500], &bytes(3_000_000, 1))
        .tensor("b", "U8", &[77], &bytes(77, 2))
        .tensor("c", "F32", &[700, 1100], &bytes(3_080_000, 3))
        .build();
    std::fs::write(dir.join("big.safetensors"), &big).unwrap();
    let one = SafetensorsBuilder::default()
        .tensor("embed", "F16", &[1024, 1024], &bytes(2 << 20, 4))
        .build();
    let two = SafetensorsBuilder::default()
        .tensor("head", "F32", &[333, 1000], &bytes(1_332_000, 5))
        .tensor("norm", "F32", &[10], &bytes(40, 6))
        .build();
    std::fs::write(dir.join("m-00001-of-00002.safetensors"), one).unwrap();
    std::fs::write(dir.join("m-00002-of-00002.safetensors"), two).unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        r#"{"weight_map": {"embed": "m-00001-of-00002.safetensors", "head": "m-00002-of-00002.safetensors", "norm": "m-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    for no in 0..2u16 {
        let file = Builder::default()
            .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
            .kv_raw(b"split.count", 2, 2u16.to_le_bytes().to_vec())
            .kv_raw(b"split.tensors.count", 5, 4i32.to_le_bytes().to_vec())
            .tensor(
                &format!("blk.{no}.w"),
                &[512, 1024],
                0,
                &bytes(2 << 20, 7 + no as u8),
            )
            .tensor(
                &format!("blk.{no}.b"),
                &[1024],
                0,
                &bytes(4096, 9 + no as u8),
            )
            .build();
        std::fs::write(dir.join(format!("g-{:05}-of-00002.gguf", no + 1)), file).unwrap();
    }
    [
        "big.safetensors",
        "model.safetensors.index.json",
        "g-00001-of-00002.gguf",
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The model at `url`, opened on `runtime` with [`remote_options`] and no store settings.
fn open(runtime: &tokio::runtime::Runtime, url: &str) -> RemoteModel {
    runtime
        .block_on(RemoteModel::open(url, &remote_options(Vec::new())))
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn remote_options(store_options: Vec<(String, String)>) -> Options {
    Options {
        part_size: 256 << 10,
        concurrency: 6,
        read_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
        retries: 1,
        store_options,
        ..Options::default()
    }
}

/// Small chunks, so even these files take many chunks and the prefetch runs ahead.
fn upload_options(verify: bool) -> RemoteUpload {
    RemoteUpload {
        plan: PlanOptions {
            chunk_size: 1 << 20,
            ..PlanOptions::default()
        },
        upload: UploadOptions {
            buffers: 3,
            threads: 2,
            release_pages: true,
            verify,
        },
        filter: TensorFilter::default(),
    }
}

/// Uploads `url` into host memory and checks every tensor against the local open of `path`.
fn uploads_like_the_file(url: &str, path: &Path, store_options: Vec<(String, String)>) {
    let runtime = runtime();
    let remote = runtime
        .block_on(RemoteModel::open(url, &remote_options(store_options)))
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let opened = remote.traffic().requests();
    let mut calls = 0;
    let model = upload_remote(
        &remote,
        runtime.handle(),
        &mut HostTarget::new(),
        &upload_options(true),
        |p| {
            calls += 1;
            assert!(p.bytes_done <= p.bytes_total);
            ControlFlow::Continue(())
        },
    )
    .unwrap_or_else(|e| panic!("{url}: {e}"));
    let local = weightmap_native::open(path).unwrap();
    assert_eq!(model.tensor_count(), local.tensor_count(), "{url}");
    for info in local.tensors() {
        let got = model.tensor(info.name()).unwrap();
        let want = local.tensor(info.name()).unwrap();
        assert_eq!(got.bytes(), want.bytes(), "{url} {}", info.name());
    }
    assert_eq!(calls, model.report().chunks, "{url}");
    assert!(model.report().chunks > 3, "{url}: {:?}", model.report());
    assert!(model.report().verify.is_some());
    // Parts of at most 256 KiB: the upload and its verification took many requests, and
    // received each tensor byte at least twice (once each).
    let tensor_bytes: u64 = local
        .tensors()
        .map(|t| t.file_range().end - t.file_range().start)
        .sum();
    assert!(remote.traffic().requests() >= opened + 2 * tensor_bytes / (256 << 10));
    assert!(remote.traffic().bytes() >= 2 * tensor_bytes);
}

#[test]
fn uploads_from_nginx_equal_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    for name in names {
        uploads_like_the_file(&nginx.url(name), &dir.path().join(name), Vec::new());
    }
}

#[test]
fn uploads_from_moto_s3_equal_the_files() {
    let Some(moto) = Moto::start() else {
        println!("skipped: the test venv (moto_server) is missing; ./test.sh installs it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let runtime = runtime();
    runtime.block_on(moto.put_dir("uploads", "m", dir.path()));
    for name in names {
        let url = format!("s3://uploads/m/{name}");
        uploads_like_the_file(&url, &dir.path().join(name), moto.store_options());
    }
}

#[test]
fn an_object_replaced_mid_upload_is_an_error_never_mixed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    let runtime = runtime();
    let remote = open(&runtime, &nginx.url("big.safetensors"));
    let path = dir.path().join("big.safetensors");
    let mut replaced = false;
    // 24 chunks: those hinted after the first is done start after the replacement.
    let mut options = upload_options(false);
    options.plan.chunk_size = 256 << 10;
    let err = upload_remote(
        &remote,
        runtime.handle(),
        &mut HostTarget::new(),
        &options,
        |_| {
            if !replaced {
                replace(&path);
                replaced = true;
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("changed while it was read"),
        "{err}"
    );
}

/// Writes a new version of the file (same size, other bytes, another modification time: a
/// new ETag for nginx).
fn replace(path: &Path) {
    let mut data = std::fs::read(path).unwrap();
    for b in data.iter_mut().rev().take(1 << 20) {
        *b ^= 0xff;
    }
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, data).unwrap();
    let file = std::fs::File::options().write(true).open(&tmp).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    std::fs::rename(tmp, path).unwrap();
}

#[test]
fn a_cancelled_upload_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    let runtime = runtime();
    let remote = open(&runtime, &nginx.url("big.safetensors"));
    let err = upload_remote(
        &remote,
        runtime.handle(),
        &mut HostTarget::new(),
        &upload_options(false),
        |_| ControlFlow::Break(()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
}

#[test]
fn a_server_that_stalls_mid_upload_is_an_error_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let file = std::fs::read(dir.path().join("big.safetensors")).unwrap();
    let faulty = Faulty::start(file);
    let runtime = runtime();
    // The header (from byte 0) is answered; the chunks' requests stall.
    let stalling = runtime
        .block_on(RemoteModel::open(
            &faulty.url("stall-tail", "big.safetensors"),
            &remote_options(Vec::new()),
        ))
        .unwrap();
    let started = Instant::now();
    let err = upload_remote(
        &stalling,
        runtime.handle(),
        &mut HostTarget::new(),
        &upload_options(false),
        |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60), "{err}");
}

#[test]
fn a_remote_source_reads_like_a_file() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    let runtime = runtime();
    let remote = open(&runtime, &nginx.url("big.safetensors"));
    let file = std::fs::read(dir.path().join("big.safetensors")).unwrap();
    let source = RemoteSource::new(
        remote.objects()[0].clone(),
        runtime.handle().clone(),
        100_000,
    );
    assert_eq!(source.len(), file.len() as u64);
    // A read past the end is short; one at the end is empty.
    let len = file.len() as u64;
    let mut buf = vec![0u8; 1000];
    assert_eq!(source.read_at(len - 10, &mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], &file[file.len() - 10..]);
    assert_eq!(source.read_at(len, &mut buf).unwrap(), 0);
    assert_eq!(source.read_at(u64::MAX, &mut buf).unwrap(), 0);
    // Hinted ranges, read in pieces from two threads, and unhinted ones.
    source.prefetch(1000..2_001_000);
    source.prefetch(len - 5..len + 100); // clipped to the object
    source.prefetch(0..u64::MAX); // too large to buffer: ignored
    std::thread::scope(|scope| {
        for half in 0..2u64 {
            let (source, file) = (&source, &file);
            scope.spawn(move || {
                let start = 1000 + half * 1_000_000;
                let mut buf = vec![0u8; 1_000_000];
                assert_eq!(source.read_at(start, &mut buf).unwrap(), buf.len());
                assert_eq!(buf, file[start as usize..][..1_000_000]);
            });
        }
    });
    let mut buf = vec![0u8; 300_000];
    assert_eq!(source.read_at(12_345, &mut buf).unwrap(), buf.len());
    assert_eq!(buf, file[12_345..312_345]);
    source.release(0..len);
}

#[test]
fn a_current_thread_runtime_is_refused_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("file://{}", dir.path().join(names[0]).display());
    let remote = open(&runtime, &url);
    let err = upload_remote(
        &remote,
        runtime.handle(),
        &mut HostTarget::new(),
        &upload_options(false),
        |_| ControlFlow::Continue(()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidOptions(_)), "{err}");
    let source = RemoteSource::new(
        remote.objects()[0].clone(),
        runtime.handle().clone(),
        1 << 20,
    );
    assert!(source.read_at(0, &mut [0u8; 16]).is_err());
}

#[test]
fn an_upload_from_inside_a_task_of_its_runtime_does_not_stall_it() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("file://{}", dir.path().join(names[0]).display());
    let remote = std::sync::Arc::new(open(&runtime, &url));
    let (done, finished) = std::sync::mpsc::channel();
    let handle = runtime.handle().clone();
    let task_remote = std::sync::Arc::clone(&remote);
    // On the runtime's only worker: waiting there hands the worker to the fetches.
    runtime.spawn(async move {
        let result = upload_remote(
            &task_remote,
            &handle,
            &mut HostTarget::new(),
            &upload_options(true),
            |_| ControlFlow::Continue(()),
        )
        .map(|m| m.tensor_count());
        let _ = done.send(result);
    });
    let result = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the upload finished");
    assert_eq!(result.unwrap(), 3);
}
