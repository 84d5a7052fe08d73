//! Peer GGUF parsers used as comparison baselines.
//!
//! Each function here opens a GGUF file with one third-party crate, parses the
//! header, the metadata table and the tensor-info table, and then visits every
//! metadata key and value and every tensor descriptor (name, dims, type,
//! offset); with `deep`, also every element of every array (every string of a
//! string array). Tensor payload bytes are never read.
//!
//! All three functions fold what they visited into the checksum defined in
//! [`crate::checksum`], so the work cannot be optimised away and the peers can be
//! cross-checked against each other and against weightmap. Candle strips trailing NUL bytes from strings and decodes
//! them lossily, so its checksum can differ from the others on files whose
//! strings carry NULs or invalid UTF-8.
//!
//! Panics raised inside a peer crate are caught and reported as `Err`, so a
//! comparison run can carry on past a peer that cannot handle a file.

use std::fs::File;
use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use weightmap_native::MmapFile;

use crate::checksum::{scalar, shallow_array, string, tensor};

/// Runs `work`, turning a panic inside a peer crate into an error string.
fn guarded(peer: &str, work: impl FnOnce() -> Result<u64, String>) -> Result<u64, String> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(format!("{peer} panicked: {msg}"))
        }
    }
}

// ---------------------------------------------------------------------------
// ggus
// ---------------------------------------------------------------------------

/// Reads one ggus metadata value of type `ty` from `reader`, element by element.
fn ggus_value(
    reader: &mut ggus::GGufReader<'_>,
    ty: ggus::GGufMetaDataValueType,
    deep: bool,
) -> Result<u64, String> {
    use ggus::GGufMetaDataValueType as Ty;
    let err = |e: ggus::GGufReadError| format!("ggus: {e:?}");
    Ok(match ty {
        Ty::U8 => scalar(u64::from(reader.read::<u8>().map_err(err)?)),
        Ty::I8 => scalar(i64::from(reader.read::<i8>().map_err(err)?) as u64),
        Ty::U16 => scalar(u64::from(reader.read::<u16>().map_err(err)?)),
        Ty::I16 => scalar(i64::from(reader.read::<i16>().map_err(err)?) as u64),
        Ty::U32 => scalar(u64::from(reader.read::<u32>().map_err(err)?)),
        Ty::I32 => scalar(i64::from(reader.read::<i32>().map_err(err)?) as u64),
        Ty::U64 => scalar(reader.read::<u64>().map_err(err)?),
        Ty::I64 => scalar(reader.read::<i64>().map_err(err)? as u64),
        Ty::F32 => scalar(u64::from(reader.read::<f32>().map_err(err)?.to_bits())),
        Ty::F64 => scalar(reader.read::<f64>().map_err(err)?.to_bits()),
        Ty::Bool => scalar(u64::from(reader.read_bool().map_err(err)?)),
        Ty::String => string(reader.read_str().map_err(err)?.len()),
        Ty::Array => {
            let (elem_ty, len) = reader.read_arr_header().map_err(err)?;
            if !deep {
                return Ok(shallow_array(len as u64));
            }
            let mut sum = 1u64;
            for _ in 0..len {
                sum = sum.wrapping_add(ggus_value(reader, elem_ty, deep)?);
            }
            sum
        }
    })
}

/// Indexes `path` with `ggus` 0.5 over a read-only memory map.
///
/// `GGuf::new` only records byte ranges, so this walks every metadata value
/// with a `GGufReader` (arrays element by element) and expands every tensor
/// descriptor with `to_info`.
pub fn ggus_index(path: &Path, deep: bool) -> Result<u64, String> {
    guarded("ggus", || {
        // A page-aligned mapping, as ggus needs for its header cast. ggus parses it in place,
        // like weightmap's zero-copy path, so it is trusted the same way.
        // SAFETY: nothing modifies the benchmark's input file while it is mapped.
        let map = unsafe { MmapFile::open(path) }.map_err(|e| format!("ggus: {e}"))?;
        let gguf = ggus::GGuf::new(map.as_slice()).map_err(|e| format!("ggus: {e}"))?;

        let mut sum = 0u64;
        for (key, kv) in &gguf.meta_kvs {
            let mut reader = kv.value_reader();
            let value = ggus_value(&mut reader, kv.ty(), deep)?;
            sum = sum.wrapping_add(key.len() as u64).wrapping_add(value);
        }
        for (name, meta) in &gguf.tensors {
            let info = meta.to_info();
            let weight = tensor(
                name.len(),
                info.shape().iter().copied(),
                info.ty() as u32,
                info.offset() as u64,
            );
            sum = sum.wrapping_add(weight);
        }
        Ok(sum)
    })
}

// ---------------------------------------------------------------------------
// candle-core
// ---------------------------------------------------------------------------

/// Weight of one already-decoded candle metadata value.
fn candle_value(value: &candle_core::quantized::gguf_file::Value, deep: bool) -> u64 {
    use candle_core::quantized::gguf_file::Value as V;
    match value {
        V::U8(v) => scalar(u64::from(*v)),
        V::I8(v) => scalar(i64::from(*v) as u64),
        V::U16(v) => scalar(u64::from(*v)),
        V::I16(v) => scalar(i64::from(*v) as u64),
        V::U32(v) => scalar(u64::from(*v)),
        V::I32(v) => scalar(i64::from(*v) as u64),
        V::U64(v) => scalar(*v),
        V::I64(v) => scalar(*v as u64),
        V::F32(v) => scalar(u64::from(v.to_bits())),
        V::F64(v) => scalar(v.to_bits()),
        V::Bool(v) => scalar(u64::from(*v)),
        V::String(s) => string(s.len()),
        V::Array(items) if !deep => shallow_array(items.len() as u64),
        V::Array(items) => items
            .iter()
            .fold(1u64, |acc, item| acc.wrapping_add(candle_value(item, deep))),
    }
}

/// The on-disk ggml type id of a candle dtype.
fn candle_type_id(dtype: candle_core::quantized::GgmlDType) -> u32 {
    use candle_core::quantized::GgmlDType as D;
    match dtype {
        D::F32 => 0,
        D::F16 => 1,
        D::Q4_0 => 2,
        D::Q4_1 => 3,
        D::Q5_0 => 6,
        D::Q5_1 => 7,
        D::Q8_0 => 8,
        D::Q8_1 => 9,
        D::Q2K => 10,
        D::Q3K => 11,
        D::Q4K => 12,
        D::Q5K => 13,
        D::Q6K => 14,
        D::Q8K => 15,
        D::BF16 => 30,
    }
}

/// Indexes `path` with `candle-core` 0.11 (`gguf_file::Content::read`) over a
/// `BufReader<File>`.
///
/// Candle decodes every value eagerly into owned `String`s and `Vec`s; this
/// then visits all of them and every tensor descriptor.
pub fn candle_index(path: &Path, deep: bool) -> Result<u64, String> {
    guarded("candle", || {
        let file = File::open(path).map_err(|e| format!("candle: open: {e}"))?;
        let mut reader = BufReader::new(file);
        let content =
            candle_core::quantized::gguf_file::Content::read(&mut reader).map_err(|e| {
                // Candle appends a backtrace when RUST_BACKTRACE is set; keep
                // only the message itself.
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                format!("candle: {first}")
            })?;

        let mut sum = 0u64;
        for (key, value) in &content.metadata {
            sum = sum
                .wrapping_add(key.len() as u64)
                .wrapping_add(candle_value(value, deep));
        }
        for (name, info) in &content.tensor_infos {
            let weight = tensor(
                name.len(),
                info.shape.dims().iter().map(|&d| d as u64),
                candle_type_id(info.ggml_dtype),
                info.offset,
            );
            sum = sum.wrapping_add(weight);
        }
        Ok(sum)
    })
}

// ---------------------------------------------------------------------------
// gguf-rs-lib
// ---------------------------------------------------------------------------

/// Weight of one already-decoded gguf-rs-lib metadata value.
fn gguf_rs_lib_value(value: &gguf_rs_lib::format::metadata::MetadataValue, deep: bool) -> u64 {
    use gguf_rs_lib::format::metadata::MetadataValue as V;
    match value {
        V::U8(v) => scalar(u64::from(*v)),
        V::I8(v) => scalar(i64::from(*v) as u64),
        V::U16(v) => scalar(u64::from(*v)),
        V::I16(v) => scalar(i64::from(*v) as u64),
        V::U32(v) => scalar(u64::from(*v)),
        V::I32(v) => scalar(i64::from(*v) as u64),
        V::U64(v) => scalar(*v),
        V::I64(v) => scalar(*v as u64),
        V::F32(v) => scalar(u64::from(v.to_bits())),
        V::F64(v) => scalar(v.to_bits()),
        V::Bool(v) => scalar(u64::from(*v)),
        V::String(s) => string(s.len()),
        V::Array(array) if !deep => shallow_array(array.len() as u64),
        V::Array(array) => array.iter().fold(1u64, |acc, item| {
            acc.wrapping_add(gguf_rs_lib_value(item, deep))
        }),
    }
}

/// Indexes `path` with `gguf-rs-lib` 0.3 (`open_gguf_file`, default config:
/// buffered reader, integrity checks on, tensor payloads not loaded).
///
/// Metadata is decoded eagerly into owned values; this visits all of them and
/// every tensor descriptor.
pub fn gguf_rs_lib_index(path: &Path, deep: bool) -> Result<u64, String> {
    guarded("gguf-rs-lib", || {
        let reader =
            gguf_rs_lib::reader::open_gguf_file(path).map_err(|e| format!("gguf-rs-lib: {e}"))?;

        let mut sum = 0u64;
        for (key, value) in reader.metadata().iter() {
            sum = sum
                .wrapping_add(key.len() as u64)
                .wrapping_add(gguf_rs_lib_value(value, deep));
        }
        for info in reader.tensor_infos() {
            let weight = tensor(
                info.name().len(),
                info.shape().dims().iter().copied(),
                info.tensor_type() as u32,
                info.data_offset(),
            );
            sum = sum.wrapping_add(weight);
        }
        Ok(sum)
    })
}
