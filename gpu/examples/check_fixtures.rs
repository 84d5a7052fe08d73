//! Writes the models `gpu/check.sh` uploads on a GPU machine: a generated GGUF model with
//! every ggml type, a safetensors file and a sharded safetensors model with its index.
//!
//! `cargo run --release -p weightmap-gpu --example check_fixtures -- OUTDIR [SIZE_MIB]`

use std::path::PathBuf;

use weightmap_gpu::testing::{write_model, write_safetensors_shards};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: check_fixtures OUTDIR [SIZE_MIB]");
        std::process::exit(2);
    };
    let mib: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(1024);
    std::fs::create_dir_all(out.join("one"))?;
    std::fs::create_dir_all(out.join("sharded"))?;
    write_model(&out.join("model.gguf"), mib << 20, 7)?;
    let one = write_safetensors_shards(&out.join("one"), mib << 20, 1, 11)?;
    let sharded = write_safetensors_shards(&out.join("sharded"), mib << 20, 4, 13)?;
    println!("{}", out.join("model.gguf").display());
    // A model of one shard is a plain safetensors file: upload that file itself.
    println!(
        "{}",
        one.with_file_name("model-00001-of-00001.safetensors")
            .display()
    );
    println!("{}", sharded.display());
    Ok(())
}
