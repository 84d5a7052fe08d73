//! Opening a model, whatever its format and however many files it has: a GGUF or
//! safetensors file, the first file of a GGUF split set, or a sharded safetensors model's
//! `model.safetensors.index.json`. What each file is comes from its first bytes.

use std::path::{Path, PathBuf};

use weightmap_core::gguf::Split;
use weightmap_core::safetensors::{Safetensors, ShardIndex};
use weightmap_core::{detect, Content, Error as ParseError, Format, Model, ModelData, ModelFile};

use crate::error::{Error, Result};
use crate::mmap::{open_regular, MmapFile};
use crate::source::{parse_error, ModelSource, SourceConfig};
use crate::stream::read_to_heap;
use crate::sys;

/// Opens the model at `path` the safe way, whatever its format: each file's header read into
/// owned memory and parsed there, its tensor data mapped (see [`ModelSource`]).
///
/// `path` is a GGUF or safetensors file, the first file of a GGUF split set
/// (`NAME-00001-of-0000N.gguf`: the others are found beside it), or a sharded safetensors
/// model's index (`model.safetensors.index.json`: the shards it names are opened from its
/// folder). Every file is checked against the others (see [`Model`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("model.safetensors");
/// # std::fs::write(&path, weightmap_core::testing::safetensors_sample())?;
/// use weightmap_core::Format;
/// let model = weightmap_native::open(&path)?;
/// assert_eq!(model.format(), Format::Safetensors);
/// assert_eq!(model.tensor("w")?.to_vec::<f32>()?, [1.0, 2.0, 3.0, 4.0]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// The errors of [`ModelSource::open`] for each file (each names its file);
/// [`Error::NotFirstSplit`] for a later file of a split set; [`Error::SplitName`] when the
/// other splits cannot be found by name; [`Error::Parse`] naming the file a set-level check
/// failed on (split numbers and counts, a tensor in two files, a shard index that does not
/// match its shards).
pub fn open(path: impl AsRef<Path>) -> Result<Model<ModelSource>> {
    open_with(path, &SourceConfig::default())
}

/// [`open`] with the choice of backing and the mapping configured (for every file).
///
/// # Errors
/// As [`open`].
pub fn open_with(path: impl AsRef<Path>, config: &SourceConfig) -> Result<Model<ModelSource>> {
    let path = path.as_ref();
    let opener = |p: &Path, format| ModelSource::open_file(p, config, format);
    match peek(path)? {
        Some(Content::ShardIndex) => open_shard_index(path, config.max_header_size, opener),
        _ => assemble(path, opener(path, None)?, opener),
    }
}

/// Opens the model at `path` as [`open`] does, but maps every file whole and parses it in
/// place: the zero-copy path, where names and tensors borrow the mappings themselves
/// ([`ModelSource::open_trusted`] for each GGUF file).
///
/// # Safety
/// As [`MmapFile::open`], for every file of the model: none may be modified or truncated
/// while it is mapped.
///
/// # Errors
/// As [`open`].
pub unsafe fn open_trusted(path: impl AsRef<Path>) -> Result<Model<ModelSource>> {
    // SAFETY: the caller takes on this function's contract, which is open_trusted_with's.
    unsafe { open_trusted_with(path, &SourceConfig::default()) }
}

/// [`open_trusted`] with the mapping configured.
///
/// # Safety
/// As [`open_trusted`].
///
/// # Errors
/// As [`open`].
pub unsafe fn open_trusted_with(
    path: impl AsRef<Path>,
    config: &SourceConfig,
) -> Result<Model<ModelSource>> {
    let path = path.as_ref();
    let opener = |p: &Path, format: Option<Format>| -> Result<ModelFile<ModelSource>> {
        let format = match format {
            Some(format) => Some(format),
            None => match peek(p)? {
                Some(Content::Model(format)) => Some(format),
                _ => None,
            },
        };
        if format == Some(Format::Gguf) {
            // SAFETY: the caller of this function promised the file stays unchanged.
            return unsafe { ModelSource::open_trusted_with(p, config) }.map(ModelFile::Gguf);
        }
        // SAFETY: as above.
        let map = unsafe { MmapFile::open_with(p, &config.mmap) }?;
        let source = ModelSource::trusted(map);
        let header = source.header().unwrap_or(&[]);
        let parsed = match (format, detect(header)) {
            (Some(Format::Safetensors), Ok(Content::Model(Format::Safetensors))) => {
                Safetensors::parse(source).map(ModelFile::Safetensors)
            }
            // Another format where safetensors was asked for.
            (Some(_), _) => Err(ParseError::unknown_format(header)),
            // Neither format by its first bytes: the detection's own error.
            (None, _) => ModelFile::parse(source),
        };
        parsed.map_err(|e| parse_error(p, e))
    };
    match peek(path)? {
        Some(Content::ShardIndex) => open_shard_index(path, config.max_header_size, opener),
        _ => assemble(path, opener(path, None)?, opener),
    }
}

/// What a regular file holds, from its first bytes (`None` for a stream, which cannot be
/// read twice, or a file too short or unknown: opening it says why).
fn peek(path: &Path) -> Result<Option<Content>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::from_open(path.into(), e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let (file, _) = open_regular(path)?;
    let mut first = [0u8; 64];
    let n = sys::read_into(&file, &mut first, 0).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    Ok(detect(first.get(..n).unwrap_or(&[])).ok())
}

/// The model of one opened file: the file alone, or, for the first of a GGUF split set, the
/// whole set.
fn assemble<F>(path: &Path, file: ModelFile<ModelSource>, open: F) -> Result<Model<ModelSource>>
where
    F: Fn(&Path, Option<Format>) -> Result<ModelFile<ModelSource>>,
{
    let name = file_name(path);
    let ModelFile::Gguf(first) = file else {
        return Model::from_file(name, file).map_err(|e| parse_error(path, e));
    };
    let split = Split::of(&first.view()).map_err(|e| parse_error(path, e))?;
    let Some(split) = split.filter(|s| s.count > 1) else {
        return Model::from_gguf(first).map_err(|e| parse_error(path, e));
    };
    let paths = split_paths(path, split)?;
    let mut splits = vec![(name, first)];
    for later in paths.iter().skip(1) {
        let ModelFile::Gguf(gguf) = open(later, Some(Format::Gguf))? else {
            return Err(parse_error(later, ParseError::BadMagic { found: [0; 4] }));
        };
        // Each file's own keys, checked here so that the error names that file.
        Split::of_later(&gguf.view()).map_err(|e| parse_error(later, e))?;
        splits.push((file_name(later), gguf));
    }
    Model::from_gguf_splits(splits).map_err(|e| {
        let at = e.shard().and_then(|at| paths.get(at));
        parse_error(at.map_or(path, PathBuf::as_path), e)
    })
}

/// The paths of every file of the split set whose file `path` is, as llama.cpp names them:
/// `PREFIX-00001-of-00004.gguf` to `PREFIX-00004-of-00004.gguf`.
fn split_paths(path: &Path, split: Split) -> Result<Vec<PathBuf>> {
    let count = u64::from(split.count);
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let Some(names) = split.file_names(file) else {
        return Err(Error::SplitName {
            path: path.into(),
            count,
        });
    };
    let paths: Vec<PathBuf> = names.iter().map(|n| path.with_file_name(n)).collect();
    if split.no != 0 {
        return Err(Error::NotFirstSplit {
            path: path.into(),
            no: split.no.into(),
            count,
            first: paths.first().cloned().unwrap_or_default(),
        });
    }
    Ok(paths)
}

/// Opens a sharded safetensors model from its index: reads the index (at most `limit`
/// bytes), then each shard it names, from the index's folder.
fn open_shard_index<F>(path: &Path, limit: u64, open: F) -> Result<Model<ModelSource>>
where
    F: Fn(&Path, Option<Format>) -> Result<ModelFile<ModelSource>>,
{
    let bytes = read_to_heap(path, None, limit)?;
    let index = ShardIndex::parse(&bytes).map_err(|e| parse_error(path, e))?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let paths: Vec<PathBuf> = index.shards().iter().map(|s| folder.join(s)).collect();
    let mut shards = Vec::with_capacity(paths.len());
    for shard in &paths {
        match open(shard, Some(Format::Safetensors))? {
            ModelFile::Safetensors(st) => shards.push(st),
            _ => {
                let found = [0; 8];
                return Err(parse_error(shard, ParseError::UnknownFormat { found }));
            }
        }
    }
    tracing::debug!(path = %path.display(), shards = shards.len(), "shard index opened");
    Model::from_safetensors_shards(index, shards).map_err(|e| {
        let shard = e.shard().and_then(|at| paths.get(at));
        parse_error(shard.map_or(path, PathBuf::as_path), e)
    })
}

/// The files of the model at `path` without opening them: the shards a shard index names
/// (beside it), every file of a GGUF split set from its first (the first file's header is
/// read), or `path` itself for any other file, model or not.
///
/// # Errors
/// For a shard index or a GGUF split, the errors of reading and parsing it; any other file
/// is not looked into beyond its first bytes.
pub fn model_files(path: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let path = path.as_ref();
    let config = SourceConfig {
        header_only: true,
        ..SourceConfig::default()
    };
    match peek(path)? {
        Some(Content::ShardIndex) => {
            let bytes = read_to_heap(path, None, config.max_header_size)?;
            let index = ShardIndex::parse(&bytes).map_err(|e| parse_error(path, e))?;
            let folder = path.parent().unwrap_or(Path::new(""));
            Ok(index.shards().iter().map(|s| folder.join(s)).collect())
        }
        Some(Content::Model(Format::Gguf)) => {
            let gguf = ModelSource::open_with(path, &config)?;
            match Split::of(&gguf.view()).map_err(|e| parse_error(path, e))? {
                Some(split) if split.count > 1 => split_paths(path, split),
                _ => Ok(vec![path.to_path_buf()]),
            }
        }
        _ => Ok(vec![path.to_path_buf()]),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The files of a model opened by path: for each shard, its path beside the one opened.
pub fn shard_paths<D: ModelData>(opened: &Path, model: &Model<D>) -> Vec<PathBuf> {
    if !model.is_sharded() {
        return vec![opened.to_path_buf()];
    }
    model
        .shards()
        .iter()
        .map(|s| opened.with_file_name(s.name()))
        .collect()
}
