//! One header parser for both formats, for reads that grow as the parser asks: a file read
//! chunk by chunk from a stream, a browser `Blob` or an object store. The format is told from
//! the first bytes, then that format's parser goes on (GGUF's from where it stopped,
//! safetensors' once it has its 8 + N bytes).

use crate::gguf::{Gguf, GgufIndex, IndexBuilder};
use crate::safetensors::{Safetensors, SafetensorsIndex};
use crate::{detect, Content, Error, Format, ModelData, ModelFile, Name, Result, Section};

/// The parsed header of a file of either format, not yet paired with its bytes.
#[derive(Debug)]
pub enum HeaderIndex {
    /// A GGUF header: metadata and tensor table.
    Gguf(GgufIndex),
    /// A safetensors header.
    Safetensors(SafetensorsIndex),
}

impl HeaderIndex {
    /// Pairs the index with the bytes it was parsed from: all of the file (`complete`), or only
    /// its first bytes (then tensor views are [`Error::Truncated`]; tensor ranges still say
    /// where each tensor lies in the file).
    ///
    /// # Errors
    /// As `Gguf::from_index` and `Safetensors::from_index` (or their `from_header_index`):
    /// data that is not the bytes the index was parsed from.
    pub fn pair<D: ModelData>(self, data: D, complete: bool) -> Result<ModelFile<D>> {
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

    /// The format of the header.
    pub fn format(&self) -> Format {
        match self {
            HeaderIndex::Gguf(_) => Format::Gguf,
            HeaderIndex::Safetensors(_) => Format::Safetensors,
        }
    }

    /// Where the data section starts: the header's length in the file.
    pub fn data_offset(&self) -> u64 {
        match self {
            HeaderIndex::Gguf(i) => i.layout().data_offset,
            HeaderIndex::Safetensors(i) => i.data_offset(),
        }
    }
}

/// A header parse that goes on as the prefix of the file grows.
///
/// ```
/// use weightmap_core::{model::HeaderParser, Error};
///
/// let file = weightmap_core::testing::safetensors_sample();
/// let mut parser = HeaderParser::new(None);
/// let mut have = 0;
/// let index = loop {
///     match parser.parse(&file[..have]) {
///         Ok(index) => break index,
///         // Read on to at least `needed` bytes (here: exactly that).
///         Err(Error::Truncated { needed, .. }) => have = needed as usize,
///         Err(e) => return Err(e),
///     }
/// };
/// let model = index.pair(file[..have].to_vec(), false)?;
/// assert_eq!(model.tensor_count(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Default)]
pub struct HeaderParser {
    gguf: Option<IndexBuilder>,
    format: Option<Format>,
}

impl HeaderParser {
    /// The first read of a header whose size is not known yet: 1 MiB holds most headers
    /// without a vocabulary, and a safetensors file's first 8 bytes say the rest.
    pub const FIRST_READ: u64 = 1 << 20;

    /// A parser of files of any format (`None`), or of `format` only.
    pub fn new(format: Option<Format>) -> Self {
        HeaderParser { gguf: None, format }
    }

    /// Parses `prefix` (the file's first bytes, longer than at the last call or the same) on
    /// from where the last call stopped.
    ///
    /// # Errors
    /// [`Error::Truncated`] with the bytes needed, and the formats' errors; a shard index, or
    /// a file of another format than the one asked for, is [`Error::UnknownFormat`] (GGUF's
    /// [`Error::BadMagic`] when GGUF was asked for).
    pub fn parse(&mut self, prefix: &[u8]) -> Result<HeaderIndex> {
        if let Some(builder) = &mut self.gguf {
            return builder.parse(prefix).map(HeaderIndex::Gguf);
        }
        let detected = match (self.format, detect(prefix)) {
            // GGUF asked for: its parser's own errors, a wrong magic included.
            (Some(Format::Gguf), _) => Format::Gguf,
            (_, Err(e)) => return Err(e),
            (Some(wanted), Ok(Content::Model(found))) if wanted != found => {
                return Err(Error::unknown_format(prefix))
            }
            (_, Ok(Content::Model(found))) => found,
            // A shard index is not a model file.
            (_, Ok(_)) => return Err(Error::unknown_format(prefix)),
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

    /// Where the next read should end, having read `have` bytes of a file of `file_size` after
    /// the parser asked for `needed`: [`FIRST_READ`](Self::FIRST_READ) first, then at least
    /// what the parser needs and at least twice what was read (a 6 MB vocabulary in four
    /// reads, never more than twice the header), never past the file's end.
    ///
    /// # Errors
    /// [`Error::Truncated`] when the file is too short for what the header needs.
    pub fn next_read_end(have: u64, needed: u64, file_size: u64) -> Result<u64> {
        if needed > file_size || (have > 0 && have >= file_size) {
            return Err(Error::Truncated {
                section: Section::Header,
                needed: needed.max(have.saturating_add(1)),
                have: file_size,
                within: Name::NONE,
            });
        }
        let want = needed.max(have.saturating_mul(2)).max(Self::FIRST_READ);
        Ok(want.min(file_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{safetensors_sample, sample_file};

    fn parse_growing(file: &[u8], format: Option<Format>) -> Result<(HeaderIndex, usize)> {
        let mut parser = HeaderParser::new(format);
        let mut have = 0usize;
        loop {
            match parser.parse(&file[..have]) {
                Ok(index) => return Ok((index, have)),
                Err(Error::Truncated { needed, .. }) if (needed as usize) <= file.len() => {
                    assert!(needed as usize > have, "the parser asks for more each time");
                    have = needed as usize;
                }
                Err(e) => return Err(e),
            }
        }
    }

    #[test]
    fn both_formats_grow_to_their_header() {
        for (file, format) in [
            (sample_file(), Format::Gguf),
            (safetensors_sample(), Format::Safetensors),
        ] {
            let (index, have) = parse_growing(&file, None).unwrap();
            assert_eq!(index.format(), format);
            assert!(have as u64 <= index.data_offset() + 64);
            let model = index.pair(file[..have].to_vec(), false).unwrap();
            assert_eq!(model.format(), format);
            let (index, _) = parse_growing(&file, Some(format)).unwrap();
            assert!(index.pair(file.clone(), true).is_ok());
        }
    }

    #[test]
    fn other_formats_than_asked_are_refused() {
        let st = safetensors_sample();
        assert!(matches!(
            parse_growing(&st, Some(Format::Gguf)),
            Err(Error::BadMagic { .. })
        ));
        assert!(matches!(
            parse_growing(&sample_file(), Some(Format::Safetensors)),
            Err(Error::UnknownFormat { .. })
        ));
        let index = br#"{"weight_map": {}}"#;
        assert!(matches!(
            HeaderParser::new(None).parse(index),
            Err(Error::UnknownFormat { .. })
        ));
    }

    #[test]
    fn reads_start_at_a_mebibyte_and_double() {
        let mib = HeaderParser::FIRST_READ;
        assert_eq!(HeaderParser::next_read_end(0, 0, 10 * mib), Ok(mib));
        assert_eq!(HeaderParser::next_read_end(0, 0, 100), Ok(100));
        assert_eq!(
            HeaderParser::next_read_end(mib, mib + 1, 10 * mib),
            Ok(2 * mib)
        );
        assert_eq!(
            HeaderParser::next_read_end(mib, 5 * mib, 10 * mib),
            Ok(5 * mib)
        );
        assert_eq!(
            HeaderParser::next_read_end(8 * mib, 0, 10 * mib),
            Ok(10 * mib)
        );
        assert!(matches!(
            HeaderParser::next_read_end(100, 200, 150),
            Err(Error::Truncated {
                needed: 200,
                have: 150,
                ..
            })
        ));
        assert!(matches!(
            HeaderParser::next_read_end(150, 0, 150),
            Err(Error::Truncated {
                needed: 151,
                have: 150,
                ..
            })
        ));
    }
}
