//! `ModelFile<D>`: one parsed file of either format, with the format-neutral accessors the
//! model layer builds on. One variant per format, and one macro to hand each call to it.

use alloc::sync::Arc;
use core::ops::Range;

use crate::data::ModelData;
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::model::entry::{ModelEntry, ModelValue};
use crate::model::format::{detect, Content, Format};
use crate::model::tensor::ModelTensor;
use crate::safetensors::Safetensors;
use crate::tensor::handle::TensorHandle;
use crate::tensor::view::{Dims, TensorView};

/// One parsed model file: GGUF or safetensors.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelFile<D> {
    /// A GGUF file.
    Gguf(Gguf<D>),
    /// A safetensors file.
    Safetensors(Safetensors<D>),
}

/// Hands a call to the file of either format.
macro_rules! with_file {
    ($file:expr, $f:ident => $body:expr) => {
        match $file {
            ModelFile::Gguf($f) => $body,
            ModelFile::Safetensors($f) => $body,
        }
    };
}

impl<D: ModelData> ModelFile<D> {
    /// Parses a whole file of either format, told by its first bytes.
    ///
    /// # Errors
    /// [`Error::UnknownFormat`] (a shard index is not a model file either), and the errors of
    /// [`Gguf::parse`] and [`Safetensors::parse`].
    pub fn parse(data: D) -> Result<Self> {
        match detect(data.header().ok_or(Error::NoTrustedHeader)?)? {
            Content::Model(Format::Gguf) => Gguf::parse(data).map(ModelFile::Gguf),
            Content::Model(Format::Safetensors) => {
                Safetensors::parse(data).map(ModelFile::Safetensors)
            }
            Content::ShardIndex => Err(not_a_model(&data)),
        }
    }

    /// Parses the header of data that may hold only a prefix of the file.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), but for tensor data.
    pub fn parse_header(data: D) -> Result<Self> {
        match detect(data.header().ok_or(Error::NoTrustedHeader)?)? {
            Content::Model(Format::Gguf) => Gguf::parse_header(data).map(ModelFile::Gguf),
            Content::Model(Format::Safetensors) => {
                Safetensors::parse_header(data).map(ModelFile::Safetensors)
            }
            Content::ShardIndex => Err(not_a_model(&data)),
        }
    }

    /// The format.
    pub fn format(&self) -> Format {
        match self {
            ModelFile::Gguf(_) => Format::Gguf,
            ModelFile::Safetensors(_) => Format::Safetensors,
        }
    }

    /// The GGUF file, if it is one.
    pub fn as_gguf(&self) -> Option<&Gguf<D>> {
        match self {
            ModelFile::Gguf(g) => Some(g),
            ModelFile::Safetensors(_) => None,
        }
    }

    /// The safetensors file, if it is one.
    pub fn as_safetensors(&self) -> Option<&Safetensors<D>> {
        match self {
            ModelFile::Safetensors(s) => Some(s),
            ModelFile::Gguf(_) => None,
        }
    }

    /// The model data.
    pub fn data(&self) -> &D {
        with_file!(self, f => f.data())
    }

    /// Gives the model data back.
    pub fn into_data(self) -> D {
        with_file!(self, f => f.into_data())
    }

    /// Where the data section starts.
    pub fn data_offset(&self) -> u64 {
        with_file!(self, f => f.data_offset())
    }

    /// How many bytes the whole file must have.
    pub fn required_len(&self) -> u64 {
        with_file!(self, f => f.required_len())
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        with_file!(self, f => f.tensor_count())
    }

    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        match self {
            ModelFile::Gguf(g) => g.metadata_len(),
            ModelFile::Safetensors(s) => s.index().metadata_len(),
        }
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = ModelEntry<'_>> + Clone {
        let (gguf, st) = match self {
            ModelFile::Gguf(g) => (Some(g.metadata()), None),
            ModelFile::Safetensors(s) => (None, Some(s.metadata())),
        };
        let gguf = gguf.into_iter().flatten().map(|e| ModelEntry {
            key: e.key(),
            value: ModelValue::Gguf(e.value()),
            offset: e.offset(),
        });
        let st = st.into_iter().flatten().map(|e| ModelEntry {
            key: e.key(),
            value: ModelValue::Str(e.value()),
            offset: e.offset(),
        });
        Sized(gguf.chain(st), self.metadata_len())
    }

    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<ModelValue<'_>> {
        match self {
            ModelFile::Gguf(g) => g.get(key).map(ModelValue::Gguf),
            ModelFile::Safetensors(s) => s.get(key).map(ModelValue::Str),
        }
    }

    /// The tensor at `position` in file order, as shard `shard` of a model.
    pub fn tensor_at(&self, position: usize, shard: u32) -> Option<ModelTensor<'_>> {
        let data_offset = self.data_offset();
        // ok: positions are below the tensor count, which fits in u32 (both indexes are)
        let position32 = position as u32;
        match self {
            ModelFile::Gguf(g) => {
                let info = g.view().tensor_at(position)?;
                Some(ModelTensor {
                    name: info.name(),
                    dtype: info.ggml_type().into(),
                    dims: Dims::from_ggml(info.shape()),
                    format: Format::Gguf,
                    shard,
                    position: position32,
                    offset: info.offset(),
                    size: info.size(),
                    data_offset,
                })
            }
            ModelFile::Safetensors(s) => {
                let info = s.view().tensor_at(position)?;
                Some(ModelTensor {
                    name: info.name(),
                    dtype: info.dtype(),
                    dims: safetensors_dims(info.shape()),
                    format: Format::Safetensors,
                    shard,
                    position: position32,
                    offset: info.data_offsets().0,
                    size: info.size(),
                    data_offset,
                })
            }
        }
    }

    /// The position of the tensor called `name`.
    pub fn position_of(&self, name: &str) -> Option<usize> {
        match self {
            ModelFile::Gguf(g) => g.view().tensor_position(name),
            ModelFile::Safetensors(s) => s.tensor_info(name).map(|t| t.position()),
        }
    }

    /// The bytes of the tensor at `position`.
    ///
    /// # Errors
    /// [`Error::TensorOutOfBounds`] when its data is not at hand; [`Error::TensorNotFound`]
    /// for a position past the end.
    pub fn view_at(&self, position: usize) -> Result<TensorView<'_>> {
        match self {
            ModelFile::Gguf(g) => {
                let view = g.view();
                view.tensor_view(&view.tensor_at(position).ok_or_else(no_tensor)?)
            }
            ModelFile::Safetensors(s) => {
                let view = s.view();
                view.tensor_view(&view.tensor_at(position).ok_or_else(no_tensor)?)
            }
        }
    }

    /// Where the bytes of the tensor at `position` are in [`ModelData::bytes`].
    ///
    /// # Errors
    /// As [`view_at`](Self::view_at).
    pub fn range_at(&self, position: usize) -> Result<Range<usize>> {
        match self {
            ModelFile::Gguf(g) => {
                let view = g.view();
                view.tensor_range(&view.tensor_at(position).ok_or_else(no_tensor)?)
            }
            ModelFile::Safetensors(s) => {
                let view = s.view();
                view.tensor_range(&view.tensor_at(position).ok_or_else(no_tensor)?)
            }
        }
    }

    /// The same file with its data behind an [`Arc`].
    pub fn into_shared(self) -> ModelFile<Arc<D>> {
        match self {
            ModelFile::Gguf(g) => ModelFile::Gguf(g.into_shared()),
            ModelFile::Safetensors(s) => ModelFile::Safetensors(s.into_shared()),
        }
    }
}

impl<D: ModelData + Send + Sync + 'static> ModelFile<Arc<D>> {
    /// The owned handle of the tensor at `position`.
    ///
    /// # Errors
    /// As [`view_at`](ModelFile::view_at).
    pub fn handle_at(&self, position: usize) -> Result<TensorHandle> {
        match self {
            ModelFile::Gguf(g) => g.handle_of(&g.view().tensor_at(position).ok_or_else(no_tensor)?),
            ModelFile::Safetensors(s) => {
                s.handle_of(&s.view().tensor_at(position).ok_or_else(no_tensor)?)
            }
        }
    }
}

fn safetensors_dims(shape: &[u64]) -> Dims {
    Dims::new(shape).unwrap_or_default()
}

fn no_tensor() -> Error {
    Error::TensorNotFound {
        name: crate::error::Name::NONE,
    }
}

fn not_a_model<D: ModelData>(data: &D) -> Error {
    let mut found = [0u8; 8];
    let header = data.header().unwrap_or(&[]);
    for (dst, src) in found.iter_mut().zip(header) {
        *dst = *src;
    }
    Error::UnknownFormat { found }
}

/// An iterator with a known length (a chain of two iterators of which one is empty).
#[derive(Clone)]
struct Sized<I>(I, usize);

impl<I: Iterator> Iterator for Sized<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let item = self.0.next()?;
        self.1 = self.1.saturating_sub(1);
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator> ExactSizeIterator for Sized<I> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{safetensors_sample, sample_file};

    #[test]
    fn either_format_through_one_type() {
        let gguf = ModelFile::parse(sample_file()).unwrap();
        let st = ModelFile::parse(safetensors_sample()).unwrap();
        assert_eq!(
            (gguf.format(), st.format()),
            (Format::Gguf, Format::Safetensors)
        );
        let norm = gguf
            .tensor_at(gguf.position_of("norm.weight").unwrap(), 0)
            .unwrap();
        assert_eq!(norm.dims(), &[4]);
        // A copy: a Vec<u8> promises no alignment (Miri places it anywhere).
        assert_eq!(
            gguf.view_at(norm.position())
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
        let w = st.tensor_at(st.position_of("w").unwrap(), 0).unwrap();
        assert_eq!((w.dims(), w.file_range()), (&[2u64, 2][..], w.file_range()));
        assert_eq!(w.file_range().end - w.file_range().start, 16);
        assert_eq!(st.get("format").and_then(|v| v.as_str()), Some("pt"));
        assert_eq!(st.metadata().len(), 1);
        assert_eq!(gguf.metadata().len(), 3);
        assert!(matches!(
            ModelFile::parse(b"{\"weight_map\":{}}".to_vec()),
            Err(Error::UnknownFormat { .. })
        ));
    }
}
