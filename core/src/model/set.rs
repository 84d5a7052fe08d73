//! `Model<D>`: a model as one or more files of one format, behind one API.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::data::ModelData;
use crate::error::{Error, Name, Result};
use crate::gguf::Gguf;
use crate::model::checks;
use crate::model::entry::{ModelEntry, ModelValue};
use crate::model::file::ModelFile;
use crate::model::format::Format;
use crate::model::tensor::ModelTensor;
use crate::safetensors::{Safetensors, ShardIndex};
use crate::tensor::handle::TensorHandle;
use crate::tensor::view::TensorView;

/// One file of a model: its name (as a shard index or split set names it; empty for a model
/// of one file parsed from memory) and its parse.
#[derive(Debug)]
pub struct Shard<D> {
    name: String,
    file: ModelFile<D>,
}

impl<D> Shard<D> {
    /// The file's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed file.
    pub fn file(&self) -> &ModelFile<D> {
        &self.file
    }

    /// The parsed file, taken out.
    pub fn into_file(self) -> ModelFile<D> {
        self.file
    }
}

/// A model: a GGUF or safetensors file, a GGUF split set, or a sharded safetensors model,
/// behind one API of tensors (name, type, shape, shard, byte range), typed views, owned
/// handles and metadata.
///
/// ```
/// # let (gguf_bytes, st_bytes) = (weightmap_core::testing::sample_file(), weightmap_core::testing::safetensors_sample());
/// use weightmap_core::{Format, Model};
/// for bytes in [gguf_bytes, st_bytes] {
///     let model = Model::parse(bytes)?; // the format is told by the first bytes
///     for t in model.tensors() {
///         println!("{} {} {:?} in shard {}", t.name(), t.dtype(), t.dims(), t.shard());
///     }
/// }
/// let model = Model::parse(weightmap_core::testing::safetensors_sample())?;
/// assert_eq!(model.format(), Format::Safetensors);
/// assert_eq!(model.tensor("w")?.to_vec::<f32>()?, [1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(model.get("format").and_then(|v| v.as_str()), Some("pt"));
/// # Ok::<(), weightmap_core::Error>(())
/// ```
///
/// Tensors of a sharded model come from the mapping of their own file: a view or handle
/// never spans two files. Shards are checked against each other when the model is made:
/// every tensor in exactly one shard, split numbers and counts in order, a shard index that
/// lists every tensor where it is.
#[derive(Debug)]
pub struct Model<D> {
    format: Format,
    shards: Vec<Shard<D>>,
    /// Where each shard's tensors start in the model's order (one more entry: the total).
    starts: Vec<usize>,
    /// `(hash of the name, tensor number in the model)`, sorted; empty for one shard.
    names: Vec<(u64, u32)>,
    index: Option<ShardIndex>,
}

impl<D: ModelData> Model<D> {
    /// Parses a whole model file of either format (told by its first bytes).
    ///
    /// # Errors
    /// The errors of [`ModelFile::parse`], and [`Error::SplitFileCount`] for one file of a
    /// GGUF split set (open the set with [`Model::from_gguf_splits`]).
    pub fn parse(data: D) -> Result<Self> {
        Self::from_file(String::new(), ModelFile::parse(data)?)
    }

    /// Parses the header of data that may hold only a prefix of the file.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), but for tensor data.
    pub fn parse_header(data: D) -> Result<Self> {
        Self::from_file(String::new(), ModelFile::parse_header(data)?)
    }

    /// A model of one parsed file called `name`.
    ///
    /// # Errors
    /// [`Error::SplitFileCount`] for a GGUF file that says it is one split of several.
    pub fn from_file(name: String, file: ModelFile<D>) -> Result<Self> {
        if let ModelFile::Gguf(gguf) = &file {
            checks::single_gguf(gguf)?;
        }
        let format = file.format();
        Self::new(format, alloc::vec![Shard { name, file }], None)
    }

    /// A model of one GGUF file.
    ///
    /// # Errors
    /// As [`from_file`](Self::from_file).
    pub fn from_gguf(gguf: Gguf<D>) -> Result<Self> {
        Self::from_file(String::new(), ModelFile::Gguf(gguf))
    }

    /// A model of exactly one GGUF file, even one split of a set: the tensors and metadata
    /// of that file alone, as a reader of single files (the official `GGUFReader`) shows
    /// them. The set's other files are neither opened nor checked.
    pub fn from_lone_gguf(gguf: Gguf<D>) -> Self {
        let shard = Shard {
            name: String::new(),
            file: ModelFile::Gguf(gguf),
        };
        // One shard: no names to check across files, so nothing can fail.
        Model {
            format: Format::Gguf,
            starts: alloc::vec![0, shard.file.tensor_count()],
            shards: alloc::vec![shard],
            names: Vec::new(),
            index: None,
        }
    }

    /// A model of one safetensors file.
    pub fn from_safetensors(st: Safetensors<D>) -> Self {
        let shard = Shard {
            name: String::new(),
            file: ModelFile::Safetensors(st),
        };
        Model {
            format: Format::Safetensors,
            starts: alloc::vec![0, shard.file.tensor_count()],
            shards: alloc::vec![shard],
            names: Vec::new(),
            index: None,
        }
    }

    /// A GGUF model split in files (`NAME-00001-of-0000N.gguf`…), given in order with their
    /// names: checks `split.no` (0, 1, …), `split.count` (the same in each, the number of
    /// files), `split.tensors.count` (the tensors of all files) and that no tensor is in two
    /// files. The model's metadata is the first file's, which carries it.
    ///
    /// # Errors
    /// [`Error::WrongSplit`], [`Error::SplitFileCount`], [`Error::SplitTensorCount`],
    /// [`Error::TensorInTwoShards`], and the errors of [`Split::of`](crate::gguf::Split::of).
    pub fn from_gguf_splits(splits: Vec<(String, Gguf<D>)>) -> Result<Self> {
        checks::gguf_splits(splits.iter().map(|(_, g)| g))?;
        let shards = splits
            .into_iter()
            .map(|(name, g)| Shard {
                name,
                file: ModelFile::Gguf(g),
            })
            .collect();
        Self::new(Format::Gguf, shards, None)
    }

    /// A sharded safetensors model: its index and its shard files, in the order of
    /// [`ShardIndex::shards`]. Checks that every tensor of every shard is in the index, in
    /// that shard, and that the index lists nothing the shards do not hold.
    ///
    /// # Errors
    /// [`Error::TensorInTwoShards`], [`Error::NotInIndex`], [`Error::MissingFromShard`], and
    /// [`Error::SplitFileCount`] when the shards given are not as many as the index names.
    pub fn from_safetensors_shards(index: ShardIndex, shards: Vec<Safetensors<D>>) -> Result<Self> {
        if shards.len() != index.shards().len() {
            return Err(Error::SplitFileCount {
                files: shards.len() as u64,
                count: index.shards().len() as u64,
            });
        }
        let shards = index
            .shards()
            .iter()
            .zip(shards)
            .map(|(name, st)| Shard {
                name: name.clone(),
                file: ModelFile::Safetensors(st),
            })
            .collect();
        let model = Self::new(Format::Safetensors, shards, Some(index))?;
        checks::shard_index(&model)?;
        Ok(model)
    }

    fn new(format: Format, shards: Vec<Shard<D>>, index: Option<ShardIndex>) -> Result<Self> {
        let mut starts = Vec::with_capacity(shards.len() + 1);
        let mut total = 0usize;
        for shard in &shards {
            starts.push(total);
            total = total.saturating_add(shard.file.tensor_count());
        }
        starts.push(total);
        let mut model = Model {
            format,
            shards,
            starts,
            names: Vec::new(),
            index,
        };
        if model.shards.len() > 1 {
            model.names = checks::unique_names(&model)?;
        }
        Ok(model)
    }

    /// The format of its files.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether it has more than one file.
    pub fn is_sharded(&self) -> bool {
        self.shards.len() > 1
    }

    /// Its files, in order.
    pub fn shards(&self) -> &[Shard<D>] {
        &self.shards
    }

    /// The first file (the one a GGUF split set's metadata is in).
    pub fn first(&self) -> Option<&ModelFile<D>> {
        self.shards.first().map(|s| &s.file)
    }

    /// The first file as GGUF, for a GGUF model.
    pub fn as_gguf(&self) -> Option<&Gguf<D>> {
        self.first()?.as_gguf()
    }

    /// The first file as safetensors, for a safetensors model.
    pub fn as_safetensors(&self) -> Option<&Safetensors<D>> {
        self.first()?.as_safetensors()
    }

    /// The shard index of a sharded safetensors model.
    pub fn shard_index(&self) -> Option<&ShardIndex> {
        self.index.as_ref()
    }

    /// The model's files, taken apart.
    pub fn into_shards(self) -> Vec<Shard<D>> {
        self.shards
    }

    /// Number of tensors in all files.
    pub fn tensor_count(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Bytes of all tensors together.
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors()
            .map(|t| t.size())
            .fold(0, u64::saturating_add)
    }

    /// Metadata entries of the first file (a GGUF split set keeps its metadata there; each
    /// safetensors shard has its own `__metadata__`, see [`shards`](Self::shards)).
    pub fn metadata(&self) -> impl Iterator<Item = ModelEntry<'_>> + Clone {
        self.first().into_iter().flat_map(ModelFile::metadata)
    }

    /// Number of metadata entries of the first file.
    pub fn metadata_len(&self) -> usize {
        self.first().map_or(0, ModelFile::metadata_len)
    }

    /// The metadata value of `key`, from the first file.
    pub fn get(&self, key: &str) -> Option<ModelValue<'_>> {
        self.first()?.get(key)
    }

    /// Every tensor: each file's in its order, files in order.
    pub fn tensors(&self) -> impl Iterator<Item = ModelTensor<'_>> + Clone {
        self.shards.iter().enumerate().flat_map(|(i, shard)| {
            // ok: shard counts fit in u32 (checked by the formats' own limits)
            (0..shard.file.tensor_count()).filter_map(move |p| shard.file.tensor_at(p, i as u32))
        })
    }

    /// The tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Option<ModelTensor<'_>> {
        let (shard, position) = self.locate(name)?;
        self.shards
            .get(shard)?
            .file
            .tensor_at(position, shard as u32)
    }

    /// Which shard holds `name`, and where among its tensors.
    fn locate(&self, name: &str) -> Option<(usize, usize)> {
        if self.names.is_empty() {
            let position = self.shards.first()?.file.position_of(name)?;
            return Some((0, position));
        }
        let number = crate::lookup::lookup(&self.names, name.as_bytes(), |n| {
            self.tensor_number(n as usize).map(|t| t.name.as_bytes())
        })?;
        self.shard_of(number)
    }

    /// The shard and position of tensor number `n` in the model's order.
    pub(crate) fn shard_of(&self, n: usize) -> Option<(usize, usize)> {
        let shard = self.starts.partition_point(|&s| s <= n).checked_sub(1)?;
        let position = n.checked_sub(*self.starts.get(shard)?)?;
        (shard < self.shards.len()).then_some((shard, position))
    }

    /// Tensor number `n` in the model's order.
    pub(crate) fn tensor_number(&self, n: usize) -> Option<ModelTensor<'_>> {
        let (shard, position) = self.shard_of(n)?;
        self.shards
            .get(shard)?
            .file
            .tensor_at(position, shard as u32)
    }

    /// The tensor called `name` with its bytes, from its shard's data.
    ///
    /// # Errors
    /// [`Error::TensorNotFound`], or [`Error::TensorOutOfBounds`] when its data is not at hand.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let info = self.tensor_info(name).ok_or(not_found(name))?;
        self.tensor_view(&info)
    }

    /// The bytes of a tensor listed by [`tensors`](Self::tensors).
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when its data is not at hand.
    pub fn tensor_view(&self, info: &ModelTensor<'_>) -> Result<TensorView<'_>> {
        let shard = self
            .shards
            .get(info.shard())
            .ok_or(not_found(info.name()))?;
        shard.file.view_at(info.position())
    }

    /// Where a tensor's bytes are in its shard's [`ModelData::bytes`].
    ///
    /// # Errors
    /// As [`tensor_view`](Self::tensor_view).
    pub fn tensor_range(&self, info: &ModelTensor<'_>) -> Result<core::ops::Range<usize>> {
        let shard = self
            .shards
            .get(info.shard())
            .ok_or(not_found(info.name()))?;
        shard.file.range_at(info.position())
    }

    /// The same model with each file's data behind an [`Arc`], for owned handles.
    pub fn into_shared(self) -> Model<Arc<D>> {
        Model {
            format: self.format,
            shards: self
                .shards
                .into_iter()
                .map(|s| Shard {
                    name: s.name,
                    file: s.file.into_shared(),
                })
                .collect(),
            starts: self.starts,
            names: self.names,
            index: self.index,
        }
    }
}

impl<D: ModelData + Send + Sync + 'static> Model<Arc<D>> {
    /// The tensor called `name` as an owned handle that keeps its shard's data alive.
    ///
    /// # Errors
    /// [`Error::TensorNotFound`], or [`Error::TensorOutOfBounds`] for a header-only parse.
    pub fn tensor_handle(&self, name: &str) -> Result<TensorHandle> {
        let info = self.tensor_info(name).ok_or(not_found(name))?;
        self.handle_of(&info)
    }

    /// The owned handle of a tensor listed by [`tensors`](Model::tensors).
    ///
    /// # Errors
    /// As [`tensor_handle`](Self::tensor_handle).
    pub fn handle_of(&self, info: &ModelTensor<'_>) -> Result<TensorHandle> {
        let shard = self
            .shards
            .get(info.shard())
            .ok_or(not_found(info.name()))?;
        shard.file.handle_at(info.position())
    }
}

fn not_found(name: &str) -> Error {
    Error::TensorNotFound {
        name: Name::new(name.as_bytes()),
    }
}
