//! One header parser for both formats, for reads that grow as the parser asks: the format is
//! told from the first bytes, then that format's parser goes on (GGUF's from where it stopped,
//! safetensors' once it has its 8 + N bytes).

use weightmap_core::gguf::{Gguf, GgufIndex, IndexBuilder};
use weightmap_core::safetensors::{Safetensors, SafetensorsIndex};
use weightmap_core::{detect, Content, Error as ParseError, Format, ModelData, ModelFile};

/// The parsed header of a file of either format.
#[derive(Debug)]
pub(crate) enum HeaderIndex {
    Gguf(GgufIndex),
    Safetensors(SafetensorsIndex),
}

impl HeaderIndex {
    /// Pairs the index with the data it was parsed from: all of the file (`complete`), or
    /// only its first bytes.
    pub(crate) fn pair<D: ModelData>(
        self,
        data: D,
        complete: bool,
    ) -> Result<ModelFile<D>, ParseError> {
        match (self, complete) {
            (HeaderIndex::Gguf(i), true) => Gguf::from_index(i, data).map(ModelFile::Gguf),
            (HeaderIndex::Gguf(i), false) => Gguf::from_header_index(i, data).map(ModelFile::Gguf),
            (HeaderIndex::Safetensors(i), true) => {
                Safetensors::from_index(i, data).map(ModelFile::Safetensors)
            }
            (HeaderIndex::Safetensors(i), false) => {
                Safetensors::from_header_index(i, data).map(ModelFile::Safetensors)
            }
        }
    }

    /// Where the data section starts.
    pub(crate) fn data_offset(&self) -> u64 {
        match self {
            HeaderIndex::Gguf(i) => i.layout().data_offset,
            HeaderIndex::Safetensors(i) => i.data_offset(),
        }
    }
}

/// A parse that goes on as the prefix grows.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    gguf: Option<IndexBuilder>,
    format: Option<Format>,
}

impl Parser {
    /// A parser of files of any format (`None`), or of `format` only.
    pub(crate) fn new(format: Option<Format>) -> Self {
        Parser { gguf: None, format }
    }

    /// Parses `prefix` (the file's first bytes) on from where the last call stopped.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] with the bytes needed, and the formats' errors; a shard
    /// index, or a file of another format than the one asked for, is
    /// [`ParseError::UnknownFormat`] (GGUF's [`ParseError::BadMagic`] when GGUF was asked for).
    pub(crate) fn parse(&mut self, prefix: &[u8]) -> Result<HeaderIndex, ParseError> {
        if let Some(builder) = &mut self.gguf {
            return builder.parse(prefix).map(HeaderIndex::Gguf);
        }
        let detected = match (self.format, detect(prefix)) {
            // GGUF asked for: its parser's own errors, a wrong magic included.
            (Some(Format::Gguf), _) => Format::Gguf,
            (_, Err(e)) => return Err(e),
            (Some(wanted), Ok(Content::Model(found))) if wanted != found => {
                return Err(unknown(prefix))
            }
            (_, Ok(Content::Model(found))) => found,
            // A shard index is not a model file.
            (_, Ok(_)) => return Err(unknown(prefix)),
        };
        match detected {
            Format::Safetensors => {
                SafetensorsIndex::parse_header(prefix).map(HeaderIndex::Safetensors)
            }
            _ => {
                let builder = self.gguf.insert(IndexBuilder::new());
                builder.parse(prefix).map(HeaderIndex::Gguf)
            }
        }
    }
}

/// The error for bytes of no format wanted here.
pub(crate) fn unknown(prefix: &[u8]) -> ParseError {
    let mut found = [0u8; 8];
    for (dst, src) in found.iter_mut().zip(prefix) {
        *dst = *src;
    }
    ParseError::UnknownFormat { found }
}
