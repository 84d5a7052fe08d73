//! Writes large generated GGUF and sharded safetensors models for tests and benchmarks,
//! streaming, without holding the tensor data in memory, and the upload options the tests use.
//! Not part of the stable API.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use weightmap_core::GgmlType;

use crate::{FileUpload, Fill, UploadOptions};

/// An upload of a file with `fill` that reads every tensor back and compares it with the file
/// ([`UploadOptions::verify`]), the other options at their defaults.
pub fn verified_upload(fill: Fill) -> FileUpload {
    FileUpload {
        fill,
        upload: UploadOptions {
            verify: true,
            ..UploadOptions::default()
        },
        ..FileUpload::default()
    }
}

/// A tensor of a generated model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedTensor {
    /// Its name (`blk.N.<type>.weight`, or `output_norm.weight`).
    pub name: String,
    /// Its type.
    pub ggml_type: GgmlType,
    /// Its shape.
    pub shape: Vec<u64>,
}

/// Writes a GGUF v3 file of about `bytes` bytes of tensor data: layers of one tensor of every
/// ggml type, sizes varied so few are multiples of 256, filled with pseudo-random bytes from
/// `seed`, plus a small F32 tensor of odd length. Returns the tensors in file order.
///
/// # Errors
/// I/O errors from writing the file.
pub fn write_model(path: &Path, bytes: u64, seed: u64) -> io::Result<Vec<GeneratedTensor>> {
    let types = GgmlType::ALL;
    // Per-tensor bytes so that about four layers of every type reach `bytes`.
    let per_tensor = (bytes / (4 * types.len() as u64)).max(1);
    let mut tensors = Vec::new();
    let mut total = 0u64;
    let mut layer = 0u64;
    while total < bytes {
        for (i, &ggml_type) in types.iter().enumerate() {
            let block = ggml_type.block_size();
            let rows = 1 + (i as u64 + layer) % 7;
            let blocks = (per_tensor / rows / ggml_type.type_size()).max(1) + layer;
            let shape = vec![blocks * block, rows];
            total += ggml_type.byte_size(&shape).unwrap_or(0);
            tensors.push(GeneratedTensor {
                name: format!(
                    "blk.{layer}.{}.weight",
                    ggml_type.name().to_ascii_lowercase()
                ),
                ggml_type,
                shape,
            });
        }
        layer += 1;
    }
    tensors.push(GeneratedTensor {
        name: "output_norm.weight".into(),
        ggml_type: GgmlType::F32,
        shape: vec![641],
    });

    const ALIGN: u64 = 32;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut header = Vec::new();
    header.extend_from_slice(b"GGUF");
    header.extend_from_slice(&3u32.to_le_bytes());
    header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    header.extend_from_slice(&1u64.to_le_bytes());
    put_string(&mut header, "general.architecture");
    header.extend_from_slice(&8u32.to_le_bytes());
    put_string(&mut header, "generated");
    let mut offset = 0u64;
    let mut sizes = Vec::new();
    for t in &tensors {
        put_string(&mut header, &t.name);
        header.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
        for d in &t.shape {
            header.extend_from_slice(&d.to_le_bytes());
        }
        header.extend_from_slice(&t.ggml_type.id().to_le_bytes());
        offset = offset.next_multiple_of(ALIGN);
        header.extend_from_slice(&offset.to_le_bytes());
        let size = t.ggml_type.byte_size(&t.shape).unwrap_or(0);
        sizes.push((offset, size));
        offset += size;
    }
    header.resize(header.len().next_multiple_of(ALIGN as usize), 0);
    out.write_all(&header)?;

    let mut noise = Noise::new(seed);
    let mut written = 0u64;
    for (offset, size) in sizes {
        write_zeros(&mut out, offset - written)?;
        noise.write(&mut out, size)?;
        written = offset + size;
    }
    out.flush()?;
    Ok(tensors)
}

/// Pseudo-random bytes, written a block at a time.
struct Noise {
    state: u64,
    block: Vec<u8>,
}

impl Noise {
    fn new(seed: u64) -> Self {
        Noise {
            state: seed | 1,
            block: vec![0u8; 1 << 20],
        }
    }

    fn write(&mut self, out: &mut impl Write, size: u64) -> io::Result<()> {
        let mut left = size;
        while left > 0 {
            let n = left.min(self.block.len() as u64) as usize;
            let words = n.next_multiple_of(8).min(self.block.len());
            for word in self.block[..words].chunks_mut(8) {
                // xorshift64: fast, deterministic, every byte value.
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                word.copy_from_slice(&self.state.to_le_bytes()[..word.len()]);
            }
            out.write_all(&self.block[..n])?;
            left -= n as u64;
        }
        Ok(())
    }
}

/// Writes a sharded safetensors model of about `bytes` tensor bytes in `shards` files beside
/// its `model.safetensors.index.json` in `dir` (F32, F16, BF16 and F8_E4M3 tensors of
/// pseudo-random bytes, headers left unpadded so the data is misaligned), streaming. Returns
/// the index's path.
pub fn write_safetensors_shards(
    dir: &Path,
    bytes: u64,
    shards: usize,
    seed: u64,
) -> io::Result<std::path::PathBuf> {
    const DTYPES: [(&str, u64); 4] = [("F32", 4), ("F16", 2), ("BF16", 2), ("F8_E4M3", 1)];
    let shards = shards.max(1);
    let per_tensor = (bytes / (8 * shards as u64)).max(64);
    let mut noise = Noise::new(seed);
    let mut weight_map = Vec::new();
    for shard in 0..shards {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", shard + 1);
        let mut entries = Vec::new();
        let mut offset = 0u64;
        for i in 0..8u64 {
            let (dtype, width) = DTYPES[(i as usize + shard) % DTYPES.len()];
            let rows = 1 + (i + shard as u64) % 5;
            let cols = (per_tensor / width / rows).max(1) + i;
            let size = rows * cols * width;
            let name = format!("model.layers.{shard}.part{i}.weight");
            entries.push(format!(
                "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{rows},{cols}],\"data_offsets\":[{offset},{}]}}",
                offset + size
            ));
            weight_map.push(format!("\"{name}\":\"{file}\""));
            offset += size;
        }
        let json = format!(
            "{{\"__metadata__\":{{\"format\":\"pt\"}},{}}}",
            entries.join(",")
        );
        let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join(&file))?);
        out.write_all(&(json.len() as u64).to_le_bytes())?;
        out.write_all(json.as_bytes())?;
        noise.write(&mut out, offset)?;
        out.flush()?;
    }
    let index = dir.join("model.safetensors.index.json");
    std::fs::write(
        &index,
        format!("{{\"weight_map\":{{{}}}}}", weight_map.join(",")),
    )?;
    Ok(index)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_zeros(out: &mut impl Write, n: u64) -> io::Result<()> {
    io::copy(&mut io::repeat(0).take(n), out).map(drop)
}
