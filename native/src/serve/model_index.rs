//! Building what the model routes need of a model: its files (a GGUF or safetensors file, a
//! GGUF split set from its first file, a sharded safetensors model from its index), each
//! opened beneath the root and its header read into owned memory; the JSON of `inspect
//! --json`; and a table of where each tensor's bytes are.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};

use weightmap_core::gguf::{Gguf, Split};
use weightmap_core::safetensors::{Safetensors, ShardIndex};
use weightmap_core::{detect, Content, Error as ParseError, Format, Model, ModelFile};

use super::Shared;
use crate::error::Error;
use crate::header::{read_header, HeaderBytes};
use crate::identity::FileIdentity;
use crate::safetensors_header::read_safetensors_header;
use crate::sys;

/// The largest header the server reads to index a model (the library's default is 1 GiB):
/// a request must not make the server read and hold gigabytes.
const MAX_HEADER: u64 = 256 << 20;

/// The largest shard index the server reads.
const MAX_SHARD_INDEX: u64 = 64 << 20;

/// One file of an indexed model: where the mapping cache knows it, and which file it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexedFile {
    pub(crate) raw: String,
    pub(crate) key: PathBuf,
    pub(crate) identity: FileIdentity,
}

/// Where one tensor's bytes are, and what to say about it.
#[derive(Debug)]
pub(crate) struct TensorEntry {
    pub(crate) dtype: &'static str,
    pub(crate) shape: String,
    /// Which of the model's files holds it.
    pub(crate) file: usize,
    /// The tensor's bytes, as offsets in that file.
    pub(crate) span: Range<u64>,
}

/// What a model request needs of a parsed model.
#[derive(Debug)]
pub(crate) struct ModelIndex {
    /// The JSON of `inspect --json`, rendered once.
    pub(crate) json: bytes::Bytes,
    pub(crate) tensors: HashMap<String, TensorEntry>,
    /// The model's files, in the order of its shards.
    pub(crate) files: Vec<IndexedFile>,
}

/// Indexes the model whose (first) file the request path `raw` names, opened as `file`.
/// Returns the index, or the message of why it is not a model, and every file it read (a
/// change to any of them makes the index stale).
pub(crate) fn build(
    state: &Shared,
    raw: &str,
    key: &FsPath,
    file: &File,
    id: &FileIdentity,
) -> (Result<ModelIndex, String>, Vec<IndexedFile>) {
    let mut read = vec![IndexedFile {
        raw: raw.to_owned(),
        key: key.to_path_buf(),
        identity: *id,
    }];
    let model = open(state, raw, key, file, id, &mut read);
    let index = model.and_then(|(model, files)| describe(&model, files));
    (index, read)
}

fn open(
    state: &Shared,
    raw: &str,
    key: &FsPath,
    file: &File,
    id: &FileIdentity,
    read: &mut Vec<IndexedFile>,
) -> Result<(Model<HeaderBytes>, Vec<IndexedFile>), String> {
    let mut first = [0u8; 64];
    let n = sys::read_into(file, &mut first, 0).map_err(|_| "cannot read the file".to_owned())?;
    let content = detect(first.get(..n).unwrap_or(&[])).map_err(|e| e.to_string())?;
    let model = match content {
        Content::Model(Format::Safetensors) => {
            let st = safetensors_header(key, file, id)?;
            Model::from_file(file_name(raw), ModelFile::Safetensors(st)).map_err(message)?
        }
        Content::ShardIndex => {
            let model = open_shards(state, raw, file, read)?;
            // The index is not one of the model's files: its shards are.
            let shards = read.get(1..).unwrap_or(&[]).to_vec();
            return Ok((model, shards));
        }
        _ => {
            let gguf = gguf_header(key, file, id)?;
            match Split::of(&gguf.view()).map_err(message)? {
                Some(split) if split.count > 1 => open_splits(state, raw, gguf, split, read)?,
                _ => Model::from_gguf(gguf).map_err(message)?,
            }
        }
    };
    Ok((model, read.clone()))
}

/// The other files of a GGUF split set, found beside its first.
fn open_splits(
    state: &Shared,
    raw: &str,
    first: Gguf<HeaderBytes>,
    split: Split,
    files: &mut Vec<IndexedFile>,
) -> Result<Model<HeaderBytes>, String> {
    let count = u64::from(split.count);
    let suffix = |no: u64| format!("-{:05}-of-{count:05}.gguf", no + 1);
    let name = file_name(raw);
    let prefix = name.strip_suffix(&suffix(split.no.into())).ok_or_else(|| {
        format!("split 1 of {count}, but the name does not end in -00001-of-{count:05}.gguf")
    })?;
    if split.no != 0 {
        return Err(format!(
            "this is split {} of {count}; the model is indexed from its first split, {prefix}{}",
            split.no + 1,
            suffix(0)
        ));
    }
    let mut splits = vec![(name.clone(), first)];
    for no in 1..count {
        let sibling = beside(raw, &format!("{prefix}{}", suffix(no)));
        let (key, file, id) = state
            .probe(&sibling)
            .ok_or_else(|| format!("split file {} is missing", file_name(&sibling)))?;
        splits.push((file_name(&sibling), gguf_header(&key, &file, &id)?));
        files.push(IndexedFile {
            raw: sibling,
            key,
            identity: id,
        });
    }
    Model::from_gguf_splits(splits).map_err(message)
}

/// The shards a `model.safetensors.index.json` names, beside it.
fn open_shards(
    state: &Shared,
    raw: &str,
    file: &File,
    files: &mut Vec<IndexedFile>,
) -> Result<Model<HeaderBytes>, String> {
    let mut bytes = Vec::new();
    file.take(MAX_SHARD_INDEX + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| "cannot read the shard index".to_owned())?;
    if bytes.len() as u64 > MAX_SHARD_INDEX {
        return Err(format!(
            "the shard index is longer than the {MAX_SHARD_INDEX} bytes the server reads"
        ));
    }
    let index = ShardIndex::parse(&bytes).map_err(message)?;
    let mut shards = Vec::with_capacity(index.shards().len());
    for name in index.shards() {
        let sibling = beside(raw, name);
        let (key, file, id) = state
            .probe(&sibling)
            .ok_or_else(|| format!("shard file {name} is missing"))?;
        shards.push(safetensors_header(&key, &file, &id)?);
        files.push(IndexedFile {
            raw: sibling,
            key,
            identity: id,
        });
    }
    Model::from_safetensors_shards(index, shards).map_err(message)
}

fn gguf_header(key: &FsPath, file: &File, id: &FileIdentity) -> Result<Gguf<HeaderBytes>, String> {
    let (header, index) = read_header(key, file, id.size, MAX_HEADER).map_err(read_error)?;
    Gguf::from_header_index(index, header).map_err(message)
}

fn safetensors_header(
    key: &FsPath,
    file: &File,
    id: &FileIdentity,
) -> Result<Safetensors<HeaderBytes>, String> {
    let (header, index) =
        read_safetensors_header(key, file, id.size, MAX_HEADER).map_err(read_error)?;
    // Header-only here: the file must still end where the last tensor does.
    if index.required_len() != id.size {
        let e = if id.size > index.required_len() {
            ParseError::TrailingBytes {
                data_end: index.required_len(),
                file_len: id.size,
            }
        } else {
            ParseError::Truncated {
                section: weightmap_core::Section::TensorData,
                needed: index.required_len(),
                have: id.size,
                within: weightmap_core::Name::NONE,
            }
        };
        return Err(e.to_string());
    }
    Safetensors::from_header_index(index, header).map_err(message)
}

/// The JSON and the tensor table of a model whose files are `files`.
fn describe(model: &Model<HeaderBytes>, files: Vec<IndexedFile>) -> Result<ModelIndex, String> {
    let mut tensors = HashMap::with_capacity(model.tensor_count());
    for t in model.tensors() {
        let span = t.file_range();
        let size = files.get(t.shard()).map_or(0, |f| f.identity.size);
        if span.end > size || span.end < span.start {
            return Err(format!(
                "tensor {:?} lies outside its file ({size} bytes)",
                t.name()
            ));
        }
        let shape = format!("{:?}", t.file_shape().collect::<Vec<_>>()).replace(' ', "");
        tensors.insert(
            t.name().to_owned(),
            TensorEntry {
                dtype: t.dtype().name(),
                shape,
                file: t.shard(),
                span,
            },
        );
    }
    let lens: Vec<Option<u64>> = files.iter().map(|f| Some(f.identity.size)).collect();
    let json = crate::report::json(crate::report::of_model(model, &lens));
    Ok(ModelIndex {
        json: bytes::Bytes::from(json.to_string()),
        tensors,
        files,
    })
}

/// The request path of file `name` in the folder of the request path `raw`.
fn beside(raw: &str, name: &str) -> String {
    match raw.rfind('/') {
        Some(at) => format!("{}/{name}", &raw[..at]),
        None => name.to_owned(),
    }
}

fn file_name(raw: &str) -> String {
    raw.rsplit('/').next().unwrap_or(raw).to_owned()
}

/// The parser's message, without the server's path to the file.
fn message(e: ParseError) -> String {
    e.to_string()
}

fn read_error(e: Error) -> String {
    match e {
        Error::Parse { source, .. } => source.to_string(),
        Error::HeaderTooLarge { needed, limit, .. } => {
            format!("the header needs {needed} bytes, more than the {limit} the server reads")
        }
        _ => "cannot read the file".to_owned(),
    }
}
