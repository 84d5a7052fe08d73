//! The real Gemma model (written by llama.cpp's converter) through the GPU upload pipeline:
//! into host memory here, into CUDA device 0 as well where there is one; every tensor read
//! back and compared with what the parser maps.

use std::ops::ControlFlow;

use weightmap_gpu::testing::verified_upload;
use weightmap_gpu::{upload_file, CudaTarget, Fill, HostTarget};
use weightmap_native::ModelSource;
use weightmap_tests::gemma_model;

#[test]
fn gemma_uploads_every_tensor_intact() {
    let Some((_, path)) = gemma_model() else {
        return;
    };
    let gguf = ModelSource::open(&path).unwrap();
    for fill in [Fill::Pread, Fill::Mmap] {
        let model = upload_file(
            &path,
            &mut HostTarget::new(),
            &verified_upload(fill),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        assert_eq!(model.tensor_count(), 236);
        for info in gguf.tensors() {
            let uploaded = model.tensor(info.name()).unwrap();
            assert_eq!(uploaded.dtype(), info.ggml_type());
            let dims: Vec<u64> = info.shape().iter().rev().copied().collect();
            assert_eq!(uploaded.dims(), dims);
            assert!(uploaded.bytes() == gguf.tensor(info.name()).unwrap().bytes());
        }
        let report = model.report();
        assert_eq!(report.bytes, gguf.tensors().map(|t| t.size()).sum::<u64>());
    }
    match CudaTarget::new(0) {
        Ok(mut gpu) => {
            let model = upload_file(&path, &mut gpu, &verified_upload(Fill::Pread), |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
            for info in gguf.tensors() {
                let back = model.tensor(info.name()).unwrap().to_host().unwrap();
                assert!(back == gguf.tensor(info.name()).unwrap().bytes());
            }
        }
        Err(e) if e.is_no_device() => println!("skipped: no CUDA device ({e})"),
        Err(e) => panic!("{e}"),
    }
}
