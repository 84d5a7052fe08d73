//! weightmap-remote against real servers on loopback: nginx (with and without byte ranges),
//! moto's S3 server, weightmap's own server, and a misbehaving one. Every header read agrees
//! with the local open of the same files; tensors and downloads are byte-identical.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use weightmap_core::testing::{Builder, SafetensorsBuilder};
use weightmap_native::report;
use weightmap_remote::{download, Error, Options, RemoteModel};
use weightmap_tests::servers::{Faulty, Moto, Nginx};

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// The model forms, written into `dir`: returns the file names to open.
/// - `one.safetensors`: 2 MiB of data after a small header (the first read covers the header);
/// - `wide.safetensors`: 20,000 tensors, a header over 1 MiB (a second request);
/// - `model.safetensors.index.json` and its two shards;
/// - `g-00001-of-00003.gguf` and its two later splits.
fn fixtures(dir: &Path) -> Vec<&'static str> {
    let one = SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("embed", "BF16", &[1024, 1024], &bytes(2 << 20, 1))
        .tensor("scale", "F32", &[3], &bytes(12, 2))
        .build();
    std::fs::write(dir.join("one.safetensors"), &one).unwrap();
    let mut wide = SafetensorsBuilder::default();
    for i in 0..20_000 {
        wide = wide.tensor(
            &format!("model.layers.{i}.mlp.weight"),
            "F16",
            &[2, 3],
            &bytes(12, i as u8),
        );
    }
    let wide = wide.build();
    assert!(wide.len() > 1 << 20);
    std::fs::write(dir.join("wide.safetensors"), wide).unwrap();
    std::fs::write(dir.join("model-00001-of-00002.safetensors"), &one).unwrap();
    let two = SafetensorsBuilder::default()
        .tensor("head", "F32", &[10, 1000], &bytes(40_000, 3))
        .build();
    std::fs::write(dir.join("model-00002-of-00002.safetensors"), two).unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        r#"{"metadata": {"total_size": 2137164}, "weight_map": {
            "embed": "model-00001-of-00002.safetensors",
            "scale": "model-00001-of-00002.safetensors",
            "head": "model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    for no in 0..3u16 {
        let b = Builder::default()
            .kv_raw(b"split.no", 2, no.to_le_bytes().to_vec())
            .kv_raw(b"split.count", 2, 3u16.to_le_bytes().to_vec())
            .kv_raw(b"split.tensors.count", 5, 3i32.to_le_bytes().to_vec())
            .kv_str("general.architecture", "llama")
            .tensor(
                &format!("blk.{no}.w"),
                &[256, 100],
                0,
                &bytes(256 * 100 * 4, no as u8),
            );
        let name = format!("g-{:05}-of-00003.gguf", no + 1);
        std::fs::write(dir.join(name), b.build()).unwrap();
    }
    vec![
        "one.safetensors",
        "wide.safetensors",
        "model.safetensors.index.json",
        "g-00001-of-00003.gguf",
    ]
}

fn local_report(path: &Path) -> Json {
    let model = weightmap_native::open(path).unwrap();
    report::json(report::of_model(&model, &[]))
}

fn remote_report(remote: &RemoteModel) -> Json {
    let lens: Vec<_> = remote.objects().iter().map(|o| Some(o.size())).collect();
    report::json(report::of_model(remote.model(), &lens))
}

fn options() -> Options {
    Options {
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retries: 1,
        ..Options::default()
    }
}

/// Opens `url` and checks it against the local open of `path`: the same report, every
/// tensor's bytes (one by one, and all at once through parts of 64 KiB), and the header read
/// in at most 2 requests per file.
async fn agrees(url: &str, path: &Path, options: &Options) -> RemoteModel {
    let remote = RemoteModel::open(url, options).await.unwrap();
    assert_eq!(remote_report(&remote), local_report(path), "{url}");
    let files = remote.objects().len() as u64 + u64::from(remote.index_object().is_some());
    assert!(
        remote.traffic().requests() <= 2 * files,
        "{url}: {} requests",
        remote.traffic().requests()
    );
    let local = weightmap_native::open(path).unwrap();
    let names: Vec<String> = local.tensors().map(|t| t.name().to_owned()).collect();
    for name in names.iter().take(3) {
        let want = local.tensor(name).unwrap();
        assert_eq!(
            &remote.tensor(name).await.unwrap()[..],
            want.bytes(),
            "{url} {name}"
        );
    }
    let mut buffers: Vec<Vec<u8>> = local
        .tensors()
        .map(|t| vec![0u8; (t.file_range().end - t.file_range().start) as usize])
        .collect();
    let reads = names
        .iter()
        .map(String::as_str)
        .zip(buffers.iter_mut().map(|b| &mut b[..]))
        .collect();
    let small = Options {
        part_size: 64 << 10,
        concurrency: 4,
        ..options.clone()
    };
    let parted = RemoteModel::open(url, &small).await.unwrap();
    let mut calls = 0;
    parted
        .read_tensors(reads, |p| {
            calls += 1;
            assert!(p.done <= p.total);
            ControlFlow::Continue(())
        })
        .await
        .unwrap();
    assert!(calls > 0 || names.is_empty());
    for (name, got) in names.iter().zip(&buffers) {
        assert_eq!(
            &got[..],
            local.tensor(name).unwrap().bytes(),
            "{url} {name}"
        );
    }
    remote
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_over_nginx_agrees_with_the_local_open() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    for name in names {
        agrees(&nginx.url(name), &dir.path().join(name), &options()).await;
    }
    // A header over 1 MiB: two requests, and not much more than the header read.
    let wide = RemoteModel::open(&nginx.url("wide.safetensors"), &options())
        .await
        .unwrap();
    let header = wide.model().first().unwrap().data_offset();
    assert_eq!(wide.traffic().requests(), 2);
    assert!(
        wide.traffic().bytes() <= header + (1 << 20),
        "{} for {header}",
        wide.traffic().bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemma_header_in_two_requests() {
    let Some((_, gemma)) = weightmap_tests::gemma_model() else {
        println!("skipped: no reference tooling");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&gemma, dir.path().join("gemma.gguf")).unwrap();
    let nginx = Nginx::start(dir.path(), None);
    agrees(&nginx.url("gemma.gguf"), &gemma, &options()).await;
    let remote = RemoteModel::open(&nginx.url("gemma.gguf"), &options())
        .await
        .unwrap();
    let header = remote.model().first().unwrap().data_offset();
    let traffic = remote.traffic();
    println!(
        "gemma header: {header} bytes, read in {} requests, {} bytes",
        traffic.requests(),
        traffic.bytes()
    );
    assert!(traffic.requests() <= 2);
    assert!(traffic.bytes() <= header + (1 << 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_from_moto_s3() {
    let Some(moto) = Moto::start() else {
        println!("skipped: no reference tooling");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let options = Options {
        store_options: moto.store_options(),
        ..options()
    };
    // The bucket and objects, through object_store's own S3 client.
    moto.put_dir("models", "m", dir.path()).await;
    for name in names {
        agrees(
            &format!("s3://models/m/{name}"),
            &dir.path().join(name),
            &options,
        )
        .await;
    }
    let remote = RemoteModel::open("s3://models/m/one.safetensors", &options)
        .await
        .unwrap();
    let out = dir.path().join("got.safetensors");
    let done = download(&remote.objects()[0], &out, &options, |_| {
        ControlFlow::Continue(())
    })
    .await
    .unwrap();
    assert_eq!(done.fetched, done.size);
    assert_eq!(sha256(&out), sha256(&dir.path().join("one.safetensors")));
    // A missing object names itself.
    let missing = RemoteModel::open("s3://models/m/absent.gguf", &options)
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("absent.gguf"), "{missing}");
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("{:x}", Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weightmap_serve_is_an_origin() {
    let dir = tempfile::tempdir().unwrap();
    let names = fixtures(dir.path());
    let server =
        weightmap_native::serve::Server::new(weightmap_native::serve::ServeConfig::new(dir.path()))
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { server.run(listener, std::future::pending()).await });
    for name in names {
        let url = format!("http://127.0.0.1:{port}/files/{name}");
        agrees(&url, &dir.path().join(name), &options()).await;
    }
    // A file replaced after the first request: If-Match refuses the next.
    let url = format!("http://127.0.0.1:{port}/files/one.safetensors");
    let remote = RemoteModel::open(&url, &options()).await.unwrap();
    replace(&dir.path().join("one.safetensors"));
    let err = remote.tensor("embed").await.unwrap_err();
    assert!(matches!(err, Error::Changed { .. }), "{err}");
}

/// Writes a new version of the file (same size, new bytes and modification time).
fn replace(path: &Path) {
    let mut data = std::fs::read(path).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, data).unwrap();
    let file = std::fs::File::options().write(true).open(&tmp).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    std::fs::rename(tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_mid_read_is_an_error_never_mixed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    let remote = RemoteModel::open(&nginx.url("one.safetensors"), &options())
        .await
        .unwrap();
    replace(&dir.path().join("one.safetensors"));
    let err = remote.tensor("embed").await.unwrap_err();
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(
        err.to_string().contains("changed while it was read"),
        "{err}"
    );
    // nginx saw If-Match and answered 412.
    assert!(
        nginx.requests().iter().any(|l| l.contains(" 412 ")),
        "{:?}",
        nginx.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_ranges_is_refused_before_the_body() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), Some(0));
    let started = std::time::Instant::now();
    let err = RemoteModel::open(&nginx.url("wide.safetensors"), &options())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RangesIgnored { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_servers_give_typed_errors_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let file = std::fs::read(dir.path().join("one.safetensors")).unwrap();
    let server = Faulty::start(file);
    let quick = Options {
        read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        retries: 1,
        ..Options::default()
    };
    // A correct server first: the faults are the server's, not the client's.
    let ok = RemoteModel::open(&server.url("ok", "one.safetensors"), &quick)
        .await
        .unwrap();
    assert_eq!(ok.tensor("scale").await.unwrap().len(), 12);
    type Expected = fn(&Error) -> bool;
    let cases: [(&str, Expected); 7] = [
        ("ignore-range", |e| matches!(e, Error::RangesIgnored { .. })),
        ("short", |e| {
            matches!(e, Error::Store { .. } | Error::BodyLength { .. })
        }),
        ("long", |e| {
            matches!(
                e,
                Error::BodyLength { more: true, .. } | Error::Store { .. }
            )
        }),
        ("wrong-range", |e| matches!(e, Error::Store { .. })),
        ("overflow-range", |e| matches!(e, Error::Store { .. })),
        ("stall", |e| matches!(e, Error::Store { .. })),
        ("reset", |e| {
            matches!(e, Error::Store { .. } | Error::BodyLength { .. })
        }),
    ];
    for (fault, expected) in cases {
        let started = std::time::Instant::now();
        let url = server.url(fault, "one.safetensors");
        // The header fits the first frames of a faulty answer: the fault shows at the
        // latest when the 2 MiB tensor is read.
        let read = async {
            let model = RemoteModel::open(&url, &quick).await?;
            model.tensor("embed").await
        };
        let err = read.await.unwrap_err();
        assert!(expected(&err), "{fault}: {err:?}");
        assert!(
            err.to_string().contains(fault),
            "{fault}: the message names the URL: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{fault}: {:?}",
            started.elapsed()
        );
    }
    // A server that changes the object between requests and ignores If-Match.
    let changing = RemoteModel::open(&server.url("changing", "one.safetensors"), &quick)
        .await
        .unwrap();
    let err = changing.tensor("embed").await.unwrap_err();
    assert!(matches!(err, Error::Changed { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_resume_and_refuse_another_version() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let nginx = Nginx::start(dir.path(), None);
    let out_dir = tempfile::tempdir().unwrap();
    let out: PathBuf = out_dir.path().join("one.safetensors");
    let small = Options {
        part_size: 256 << 10,
        concurrency: 2,
        ..options()
    };
    let remote = RemoteModel::open(&nginx.url("one.safetensors"), &small)
        .await
        .unwrap();
    let object = &remote.objects()[0];
    // Stopped after the first part: the partial file stays.
    let err = download(object, &out, &small, |_| ControlFlow::Break(()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert!(!out.exists());
    // The part written before the stop was synced and recorded on the way out.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("one.safetensors.part.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["done"].as_array().map(Vec::len), Some(1), "{record}");
    let done = download(object, &out, &small, |_| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert!(done.resumed > 0 && done.fetched < done.size, "{done:?}");
    assert_eq!(sha256(&out), sha256(&dir.path().join("one.safetensors")));
    // The output exists now: refused.
    let again = download(object, &out, &small, |_| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(matches!(again, Error::Conflict { .. }), "{again}");
    // A partial download, then the object changes: resuming is refused.
    let other = out_dir.path().join("other.safetensors");
    let _ = download(object, &other, &small, |_| ControlFlow::Break(())).await;
    replace(&dir.path().join("one.safetensors"));
    let changed = RemoteModel::open(&nginx.url("one.safetensors"), &small)
        .await
        .unwrap();
    let err = download(&changed.objects()[0], &other, &small, |_| {
        ControlFlow::Continue(())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("another version"), "{err}");
}
