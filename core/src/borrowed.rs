//! `GgufRef`: a parsed view of a GGUF file over a borrowed byte slice that needs no allocator.
//!
//! It validates the file in one pass and keeps only the section offsets; listing entries or
//! looking one up walks the (already validated) bytes again. Duplicate keys, duplicate tensor
//! names and overlapping tensors are detected by [`crate::Gguf`], which builds an index.

use crate::cursor::Endian;
use crate::error::{Error, Name, Result};
use crate::range::checked_slice;
use crate::tensor::TensorView;
use crate::value::Value;
use crate::walk::{walk, Layout, MetadataEntry, MetadataWalker, TensorInfo, TensorWalker};

/// A validated GGUF file borrowed from a byte slice, without an index.
///
/// ```
/// # let bytes = weightmap_core::testing::sample_file();
/// use weightmap_core::GgufRef;
/// let gguf = GgufRef::parse(&bytes)?;
/// assert_eq!(gguf.get("general.architecture").and_then(|v| v.as_str()), Some("test"));
/// for tensor in gguf.tensors() {
///     let view = gguf.tensor_view(&tensor)?;
///     assert_eq!(view.bytes().len() as u64, tensor.size());
/// }
/// # Ok::<(), weightmap_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GgufRef<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

impl<'a> GgufRef<'a> {
    /// Parses and validates a whole file, including that every tensor's data lies inside it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let gguf = Self::parse_header(bytes)?;
        for info in gguf.tensors() {
            gguf.layout.data_range(&info, bytes.len())?;
        }
        Ok(gguf)
    }

    /// Parses the header, metadata and tensor table of a file that may be only a prefix of the
    /// real one. A prefix too short for those sections gives [`Error::Truncated`] with the
    /// number of bytes needed; tensor data is checked only when a view is asked for.
    pub fn parse_header(bytes: &'a [u8]) -> Result<Self> {
        let layout = walk(bytes, |_| Ok(()), |_| Ok(()))?;
        Ok(GgufRef { bytes, layout })
    }

    /// Section offsets, version, byte order and alignment.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The bytes parsed.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> impl Iterator<Item = MetadataEntry<'a>> + 'a {
        let walker = MetadataWalker::new(self.bytes, &self.layout.header);
        // Already validated: the walk cannot fail again.
        walker.into_iter().flatten().map_while(Result::ok)
    }

    /// The value of `key`, found by walking the metadata.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.metadata().find(|e| e.key() == key).map(|e| e.value())
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> impl Iterator<Item = TensorInfo<'a>> + 'a {
        let walker = TensorWalker::new(
            self.bytes,
            self.layout.tensor_info_start,
            &self.layout.header,
            self.layout.alignment,
        );
        walker.into_iter().flatten().map_while(Result::ok)
    }

    /// The info of the tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Option<TensorInfo<'a>> {
        self.tensors().find(|t| t.name() == name)
    }

    /// The tensor called `name` with its bytes.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'a>> {
        let info = self.tensor_info(name).ok_or(Error::TensorNotFound {
            name: Name::new(name.as_bytes()),
        })?;
        self.tensor_view(&info)
    }

    /// The bytes of a tensor listed by [`GgufRef::tensors`].
    pub fn tensor_view(&self, info: &TensorInfo<'a>) -> Result<TensorView<'a>> {
        view(self.bytes, &self.layout, info)
    }

    /// Byte order of the file.
    pub fn endian(&self) -> Endian {
        self.layout.header.endian
    }
}

/// Slices a tensor's bytes out of `bytes`, checking its range.
pub(crate) fn view<'a>(
    bytes: &'a [u8],
    layout: &Layout,
    info: &TensorInfo<'a>,
) -> Result<TensorView<'a>> {
    let range = layout.data_range(info, bytes.len())?;
    let data = checked_slice(bytes, range)?;
    Ok(TensorView::new(*info, data, layout.header.endian))
}
