//! The CUDA target. Without a driver or a device these tests check that every entry point
//! says so cleanly, print `skipped: no CUDA device` and pass; on a GPU machine they upload a
//! generated model of more than 2 GiB with every ggml type (each fill mode), a sharded
//! safetensors model, and the real Gemma model, read every tensor back and compare, cancel midway, and ask for more memory
//! than is free.

use std::ops::ControlFlow;
use std::path::PathBuf;

use weightmap_gpu::cuda::{device_count, driver_present};
use weightmap_gpu::testing::{verified_upload, write_model, write_safetensors_shards};
use weightmap_gpu::{upload_file, CudaTarget, Error, FileUpload, Fill, Target};

/// The device to test on, or `None` (after saying so) when there is none.
fn device() -> Option<CudaTarget> {
    match CudaTarget::new(0) {
        Ok(target) => Some(target),
        Err(e) if e.is_no_device() => {
            println!("skipped: no CUDA device ({e})");
            None
        }
        Err(e) => panic!("a CUDA device is there but cannot be opened: {e}"),
    }
}

#[test]
fn without_a_gpu_every_entry_point_is_an_error_not_a_panic() {
    if driver_present() {
        let count = device_count().unwrap();
        let err = CudaTarget::new(count).unwrap_err();
        assert!(matches!(err, Error::NoDevice { .. }), "{err}");
        return;
    }
    assert!(matches!(device_count(), Err(Error::NoDriver)));
    let err = CudaTarget::new(0).unwrap_err();
    assert!(err.is_no_device());
    assert!(err.to_string().contains("NVIDIA"), "{err}");
}

#[test]
fn a_generated_model_over_2_gib_round_trips_in_every_fill_mode() {
    let Some(mut target) = device() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.gguf");
    let tensors = write_model(&path, 2200 << 20, 31).unwrap();
    for fill in [Fill::Mmap, Fill::Pread, Fill::Direct] {
        let model = match upload_file(&path, &mut target, &verified_upload(fill), |_| {
            ControlFlow::Continue(())
        }) {
            Ok(model) => model,
            Err(Error::Io { source, .. }) if fill == Fill::Direct => {
                println!("O_DIRECT refused here: {source}");
                continue;
            }
            Err(e) => panic!("{fill:?}: {e}"),
        };
        let report = model.report();
        assert!(report.bytes > 2 << 30, "{} bytes", report.bytes);
        assert!(report.verify.is_some());
        assert_eq!(model.tensors().len(), tensors.len());
        for t in &tensors {
            let uploaded = model.tensor(&t.name).unwrap();
            assert_eq!(uploaded.dtype(), t.ggml_type);
            let dims: Vec<u64> = t.shape.iter().rev().copied().collect();
            assert_eq!(uploaded.dims(), dims);
            assert_eq!(uploaded.view().len(), uploaded.len());
        }
        println!(
            "{fill:?}: {:.2} GB/s over {} bytes",
            report.bytes_per_second() / 1e9,
            report.bytes
        );
    }
}

#[test]
fn a_sharded_safetensors_model_round_trips_file_by_file() {
    let Some(mut target) = device() else { return };
    let dir = tempfile::tempdir().unwrap();
    let index = write_safetensors_shards(dir.path(), 600 << 20, 3, 41).unwrap();
    let parsed = weightmap_native::open(&index).unwrap();
    for fill in [Fill::Mmap, Fill::Pread] {
        let model = upload_file(&index, &mut target, &verified_upload(fill), |_| {
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{fill:?}: {e}"));
        assert_eq!(model.tensor_count(), parsed.tensor_count());
        for t in parsed.tensors() {
            let uploaded = model.tensor(t.name()).unwrap();
            assert_eq!((uploaded.dtype(), uploaded.shard()), (t.dtype(), t.shard()));
            assert_eq!(uploaded.arena_range().start % 256, 0);
        }
        let report = model.report();
        println!(
            "{fill:?}: {:.2} GB/s over {} bytes from 3 safetensors shards",
            report.bytes_per_second() / 1e9,
            report.bytes
        );
    }
}

#[test]
fn the_gemma_model_round_trips() {
    let Some(mut target) = device() else { return };
    let path = std::env::var_os("WEIGHTMAP_GEMMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/fixtures/gemma-3-270m-q4_k_m.gguf")
        });
    if !path.exists() {
        println!(
            "skipped: no Gemma model at {} (the tests crate assembles it)",
            path.display()
        );
        return;
    }
    let model = upload_file(&path, &mut target, &verified_upload(Fill::Mmap), |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(model.tensors().len() > 200);
}

#[test]
fn cancelling_midway_stops_cleanly_and_the_device_stays_usable() {
    let Some(mut target) = device() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.gguf");
    write_model(&path, 512 << 20, 37).unwrap();
    let mut calls = 0;
    let err = upload_file(&path, &mut target, &FileUpload::default(), |p| {
        calls += 1;
        if p.bytes_done * 2 >= p.bytes_total {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap_err();
    match err {
        Error::Cancelled { done, total } => assert!(done < total && done * 2 >= total),
        other => panic!("{other}"),
    }
    assert!(calls > 1);
    let model = upload_file(&path, &mut target, &verified_upload(Fill::Mmap), |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(model.report().verify.is_some());
}

#[test]
fn asking_for_more_than_is_free_is_out_of_memory() {
    let Some(mut target) = device() else { return };
    let (free, _) = target.memory().unwrap();
    let err = target.begin(free + (1 << 30), 2, 1 << 20).unwrap_err();
    match err {
        Error::OutOfDeviceMemory {
            requested,
            free: reported,
        } => {
            assert_eq!(requested, free + (1 << 30));
            assert!(reported <= free + (256 << 20));
        }
        other => panic!("{other}"),
    }
    // The target still works afterwards.
    target.begin(1 << 20, 2, 1 << 20).unwrap();
    target.staging(0).unwrap().fill(1);
    target.finish().unwrap();
}
