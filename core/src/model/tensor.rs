//! `ModelTensor`: one tensor of a model, whatever its format and whichever shard holds it.

use core::ops::Range;

use crate::model::format::Format;
use crate::tensor::dtype::TensorType;
use crate::tensor::view::Dims;

/// A tensor's name, type, shape and place: which shard file holds it and where its bytes are
/// in that file. Borrowed from the model for `'data`; no bytes of the tensor are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelTensor<'data> {
    pub(crate) name: &'data str,
    pub(crate) dtype: TensorType,
    pub(crate) dims: Dims,
    pub(crate) format: Format,
    pub(crate) shard: u32,
    pub(crate) position: u32,
    /// Relative to the data section of its file.
    pub(crate) offset: u64,
    pub(crate) size: u64,
    /// Where its file's data section starts.
    pub(crate) data_offset: u64,
}

impl<'data> ModelTensor<'data> {
    /// A GGUF tensor info as a model tensor of shard 0, for a file whose data section starts
    /// at `data_offset` (tools that show what could be read of a refused file use it).
    pub fn of_gguf(info: &crate::gguf::TensorInfo<'data>, data_offset: u64) -> Self {
        ModelTensor {
            name: info.name(),
            dtype: info.ggml_type().into(),
            dims: Dims::from_ggml(info.shape()),
            format: Format::Gguf,
            shard: 0,
            position: 0,
            offset: info.offset(),
            size: info.size(),
            data_offset,
        }
    }

    /// The tensor's name.
    pub fn name(&self) -> &'data str {
        self.name
    }

    /// The element type.
    pub fn dtype(&self) -> TensorType {
        self.dtype
    }

    /// Dimensions, row-major (outermost first), whatever the format.
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }

    /// The shape in the order the file stores it: GGUF's `ne[0]` first (the reverse of
    /// [`dims`](Self::dims)), safetensors' row-major.
    pub fn file_shape(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        let reversed = self.format == Format::Gguf;
        let dims = self.dims();
        (0..dims.len()).map(move |i| {
            let at = if reversed { dims.len() - 1 - i } else { i };
            dims.get(at).copied().unwrap_or(0)
        })
    }

    /// Number of elements (1 for a scalar).
    pub fn n_elements(&self) -> u64 {
        self.dims.n_elements()
    }

    /// The format of the file it is in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Which shard file holds it (0 for a model of one file).
    pub fn shard(&self) -> usize {
        self.shard as usize
    }

    /// Its position among its shard's tensors.
    pub fn position(&self) -> usize {
        self.position as usize
    }

    /// Where its bytes start, relative to the data section of its file (GGUF's tensor offset,
    /// safetensors' first `data_offsets`).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of its bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its bytes in its shard file, as absolute offsets (for a ranged read of just this
    /// tensor).
    pub fn file_range(&self) -> Range<u64> {
        // The parsers checked that every tensor's end fits in a u64.
        let start = self.data_offset.saturating_add(self.offset);
        start..start.saturating_add(self.size)
    }
}
