//! Minimal GGUF and safetensors writers for building test files byte by byte, malformed ones
//! included.
//!
//! Not part of the stable API: it exists so tests, fuzz targets and examples in every crate can
//! craft files. Files meant to be *valid* in tests should come from the official writer.

use alloc::vec::Vec;

use crate::endian::Endian;

/// One tensor-info entry, written exactly as given (no validation).
#[derive(Debug, Clone)]
pub struct RawTensor {
    /// Name bytes.
    pub name: Vec<u8>,
    /// Dimensions, `ne[0]` first; written after `n_dims`.
    pub dims: Vec<u64>,
    /// The `n_dims` word written (normally `dims.len()`).
    pub n_dims: u32,
    /// ggml type id.
    pub type_id: u32,
    /// Offset relative to the data section.
    pub offset: u64,
}

/// Builds a GGUF file from parts; every field is written exactly as set.
#[derive(Debug, Clone)]
pub struct Builder {
    /// Byte order of every number.
    pub endian: Endian,
    /// The version word.
    pub version: u32,
    /// Overrides the tensor count written in the header.
    pub n_tensors: Option<u64>,
    /// Overrides the entry count written in the header.
    pub n_kv: Option<u64>,
    /// Metadata entries: key, type id and already-encoded value bytes.
    pub entries: Vec<(Vec<u8>, u32, Vec<u8>)>,
    /// Tensor infos.
    pub tensors: Vec<RawTensor>,
    /// Alignment used to pad before the data section.
    pub alignment: u64,
    /// The data section's bytes.
    pub data: Vec<u8>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            endian: Endian::Little,
            version: 3,
            n_tensors: None,
            n_kv: None,
            entries: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
            data: Vec::new(),
        }
    }
}

impl Builder {
    /// Encodes a u32 in the builder's byte order.
    pub fn u32(&self, v: u32) -> [u8; 4] {
        match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a u64 in the builder's byte order.
    pub fn u64(&self, v: u64) -> [u8; 8] {
        match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a GGUF string (u64 length then bytes).
    pub fn string(&self, s: &[u8]) -> Vec<u8> {
        let mut out = self.u64(s.len() as u64).to_vec();
        out.extend_from_slice(s);
        out
    }

    /// Adds an entry with a UINT32 value.
    pub fn kv_u32(mut self, key: &str, v: u32) -> Self {
        let value = self.u32(v).to_vec();
        self.entries.push((key.as_bytes().to_vec(), 4, value));
        self
    }

    /// Adds an entry with a STRING value.
    pub fn kv_str(mut self, key: &str, v: &str) -> Self {
        let value = self.string(v.as_bytes());
        self.entries.push((key.as_bytes().to_vec(), 8, value));
        self
    }

    /// Adds an entry with raw type id and value bytes.
    pub fn kv_raw(mut self, key: &[u8], type_id: u32, value: Vec<u8>) -> Self {
        self.entries.push((key.to_vec(), type_id, value));
        self
    }

    /// Adds a tensor and appends its bytes to the data section at the next aligned offset.
    pub fn tensor(mut self, name: &str, dims: &[u64], type_id: u32, bytes: &[u8]) -> Self {
        let align = self.alignment.max(1) as usize;
        let offset = self.data.len().div_ceil(align) * align;
        self.data.resize(offset, 0);
        self.data.extend_from_slice(bytes);
        self.tensors.push(RawTensor {
            name: name.as_bytes().to_vec(),
            dims: dims.to_vec(),
            n_dims: dims.len() as u32,
            type_id,
            offset: offset as u64,
        });
        self
    }

    /// Writes the file.
    pub fn build(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.u32(self.version));
        let n_tensors = self.n_tensors.unwrap_or(self.tensors.len() as u64);
        out.extend_from_slice(&self.u64(n_tensors));
        out.extend_from_slice(&self.u64(self.n_kv.unwrap_or(self.entries.len() as u64)));
        for (key, type_id, value) in &self.entries {
            out.extend_from_slice(&self.string(key));
            out.extend_from_slice(&self.u32(*type_id));
            out.extend_from_slice(value);
        }
        for t in &self.tensors {
            out.extend_from_slice(&self.string(&t.name));
            out.extend_from_slice(&self.u32(t.n_dims));
            for d in &t.dims {
                out.extend_from_slice(&self.u64(*d));
            }
            out.extend_from_slice(&self.u32(t.type_id));
            out.extend_from_slice(&self.u64(t.offset));
        }
        let align = self.alignment.max(1) as usize;
        out.resize(out.len().div_ceil(align) * align, 0);
        out.extend_from_slice(&self.data);
        out
    }
}

/// A small valid file used by documentation examples: architecture `test`, an F32 array
/// `test.scores` = [0.5, 0.25], a 4-element F32 tensor `norm.weight` = [1, 2, 3, 4] and a
/// 32-element Q8_0 tensor `embd.weight`.
pub fn sample_file() -> Vec<u8> {
    let f32s: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut scores = Vec::new();
    scores.extend_from_slice(&6u32.to_le_bytes());
    scores.extend_from_slice(&2u64.to_le_bytes());
    scores.extend_from_slice(&0.5f32.to_le_bytes());
    scores.extend_from_slice(&0.25f32.to_le_bytes());
    Builder::default()
        .kv_str("general.architecture", "test")
        .kv_u32("test.block_count", 1)
        .kv_raw(b"test.scores", 9, scores)
        .tensor("norm.weight", &[4], 0, &f32s)
        .tensor("embd.weight", &[32], 8, &[0x11; 34])
        .build()
}

/// Builds a safetensors file: tensors laid out one after the other in the order added, the
/// header padded with spaces to a multiple of 8 bytes as the official writer does.
#[derive(Debug, Clone, Default)]
pub struct SafetensorsBuilder {
    /// `__metadata__` entries.
    pub metadata: Vec<(alloc::string::String, alloc::string::String)>,
    /// Tensors: name, dtype name, shape, bytes.
    pub tensors: Vec<(
        alloc::string::String,
        alloc::string::String,
        Vec<u64>,
        Vec<u8>,
    )>,
}

impl SafetensorsBuilder {
    /// Adds a `__metadata__` entry.
    pub fn meta(mut self, key: &str, value: &str) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Adds a tensor (its bytes as given; no check against dtype and shape).
    pub fn tensor(mut self, name: &str, dtype: &str, shape: &[u64], bytes: &[u8]) -> Self {
        self.tensors
            .push((name.into(), dtype.into(), shape.to_vec(), bytes.to_vec()));
        self
    }

    /// The JSON header the file would have (unpadded).
    pub fn json(&self) -> alloc::string::String {
        use alloc::string::ToString;
        let quote = |s: &str| serde_json::Value::String(s.into()).to_string();
        let mut parts = Vec::new();
        if !self.metadata.is_empty() {
            let entries: Vec<_> = self
                .metadata
                .iter()
                .map(|(k, v)| alloc::format!("{}:{}", quote(k), quote(v)))
                .collect();
            parts.push(alloc::format!("\"__metadata__\":{{{}}}", entries.join(",")));
        }
        let mut offset = 0usize;
        for (name, dtype, shape, bytes) in &self.tensors {
            let shape: Vec<_> = shape.iter().map(|d| d.to_string()).collect();
            parts.push(alloc::format!(
                "{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                quote(name),
                quote(dtype),
                shape.join(","),
                offset,
                offset + bytes.len()
            ));
            offset += bytes.len();
        }
        alloc::format!("{{{}}}", parts.join(","))
    }

    /// The file.
    pub fn build(&self) -> Vec<u8> {
        let mut json = self.json();
        while (json.len() + 8) % 8 != 0 {
            json.push(' ');
        }
        let data: Vec<u8> = self
            .tensors
            .iter()
            .flat_map(|t| t.3.iter().copied())
            .collect();
        Self::raw(&json, &data)
    }

    /// A file of exactly this JSON header and data.
    pub fn raw(json: &str, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + json.len() + data.len());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(data);
        out
    }
}

/// A small valid safetensors file used by documentation examples: `__metadata__` `format` =
/// `pt`, an F32 tensor `w` of shape [2, 2] = [1, 2, 3, 4] and a U8 tensor `b` = [7, 8, 9].
pub fn safetensors_sample() -> Vec<u8> {
    let f32s: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("w", "F32", &[2, 2], &f32s)
        .tensor("b", "U8", &[3], &[7, 8, 9])
        .build()
}
