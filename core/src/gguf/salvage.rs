//! What a refused file still shows: the header, metadata entries and tensor infos read before
//! the parser's error, for tools that report broken files (`weightmap inspect`) rather than
//! load them.
//!
//! Real files in the wild are broken in ways the parser rightly refuses (two tensors at one
//! offset, a key written twice); showing what came before the error tells their owner where
//! to look. Nothing here is trusted for loading: [`Gguf::parse`](crate::Gguf::parse) and
//! [`GgufView::parse`] stay the only ways to a model.

use alloc::vec::Vec;

use crate::error::Error;
use crate::gguf::header::Header;
use crate::gguf::index::GgufIndex;
use crate::gguf::layout::{walk, Layout, Pass};
use crate::gguf::metadata::MetadataEntry;
use crate::gguf::tensor_info::TensorInfo;

/// The parts of a header read before the parser stopped, and why it stopped.
///
/// ```
/// use weightmap_core::{testing::Builder, Error, Salvage};
///
/// // Two tensors at the same offset: refused by the parser, yet both are shown.
/// let mut builder = Builder::default()
///     .kv_str("general.architecture", "llama")
///     .tensor("a", &[4], 0, &[0; 16])
///     .tensor("b", &[4], 0, &[0; 16]);
/// builder.tensors[1].offset = 0;
/// let file = builder.build();
/// let salvage = Salvage::of(&file);
/// assert_eq!(salvage.metadata.len(), 1);
/// assert_eq!(salvage.tensors.len(), 2);
/// assert!(matches!(salvage.error, Some(Error::OverlappingTensors { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct Salvage<'data> {
    /// The fixed header, if its 24 bytes were valid.
    pub header: Option<Header>,
    /// Where the sections lie, if the whole header was walked.
    pub layout: Option<Layout>,
    /// The metadata entries read whole and valid, in file order (at most
    /// [`MAX_ITEMS`](Self::MAX_ITEMS)).
    pub metadata: Vec<MetadataEntry<'data>>,
    /// The tensor infos read whole and valid, in file order (at most
    /// [`MAX_ITEMS`](Self::MAX_ITEMS)).
    pub tensors: Vec<TensorInfo<'data>>,
    /// How many entries and tensor infos were read in all, kept or not.
    pub seen: (u64, u64),
    /// Why the parser refuses the file; `None` if it does not. [`Error::Truncated`] when
    /// `bytes` ends inside the header: a longer prefix may show more.
    pub error: Option<Error>,
}

impl<'data> Salvage<'data> {
    /// The most entries, and the most tensor infos, kept: what a report can show, bounded by a
    /// constant rather than by a count read from the file.
    pub const MAX_ITEMS: usize = 1 << 16;

    /// Walks `bytes` (a file, or a prefix of one) as the parser does, keeping what it reads
    /// until the first error; a header walked whole is then checked as a whole (duplicate
    /// names, overlapping tensors). Tensor data is not looked at: `bytes` may end with the
    /// header.
    pub fn of(bytes: &'data [u8]) -> Self {
        let mut metadata = Vec::new();
        let mut tensors = Vec::new();
        let mut seen = (0u64, 0u64);
        let mut pass = Pass::default();
        let walked = walk(
            bytes,
            &mut pass,
            |entry| {
                seen.0 += 1;
                if metadata.len() < Self::MAX_ITEMS {
                    metadata.push(entry);
                }
                Ok(())
            },
            |info| {
                seen.1 += 1;
                if tensors.len() < Self::MAX_ITEMS {
                    tensors.push(info);
                }
                Ok(())
            },
        );
        let (layout, error) = match walked {
            Ok(layout) => (Some(layout), GgufIndex::parse_header(bytes).err()),
            Err(e) => (None, Some(e)),
        };
        Salvage {
            header: Header::parse(bytes).ok(),
            layout,
            metadata,
            tensors,
            seen,
            error,
        }
    }

    /// Whether the walk stopped only because `bytes` ended: a longer prefix of the file may
    /// get further.
    pub fn wants_more(&self) -> bool {
        matches!(self.error, Some(Error::Truncated { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{sample_file, Builder};
    use crate::GgufView;

    #[test]
    fn a_valid_file_is_salvaged_whole_without_error() {
        let file = sample_file();
        let salvage = Salvage::of(&file);
        let view = GgufView::parse(&file).unwrap();
        assert!(salvage.error.is_none());
        assert_eq!(salvage.metadata.len(), view.metadata_len());
        assert_eq!(salvage.tensors.len(), view.tensor_count());
        assert_eq!(salvage.layout.as_ref(), Some(view.layout()));
    }

    #[test]
    fn entries_before_a_bad_one_are_kept() {
        let mut file = Builder::default()
            .kv_u32("a.first", 1)
            .kv_u32("b.second", 2)
            .kv_u32("c.third", 3)
            .build();
        // Turn the third entry's value type into an unknown one.
        let at = file
            .windows(7)
            .position(|w| w == b"c.third")
            .map(|p| p + 7)
            .unwrap();
        file[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
        let salvage = Salvage::of(&file);
        let keys: Vec<&str> = salvage.metadata.iter().map(|e| e.key()).collect();
        assert_eq!(keys, ["a.first", "b.second"]);
        assert!(salvage.tensors.is_empty());
        assert!(matches!(
            salvage.error,
            Some(Error::UnknownValueType { type_id: 99, .. })
        ));
        assert!(salvage.header.is_some() && salvage.layout.is_none());
    }

    #[test]
    fn a_prefix_asks_for_more_and_a_bad_magic_keeps_nothing() {
        let file = sample_file();
        let salvage = Salvage::of(&file[..file.len() / 4]);
        assert!(salvage.wants_more());
        let salvage = Salvage::of(b"GGML\x03\0\0\0");
        assert!(salvage.header.is_none() && salvage.metadata.is_empty());
        assert!(matches!(salvage.error, Some(Error::BadMagic { .. })));
        assert!(!salvage.wants_more());
    }

    #[test]
    fn overlapping_tensors_are_all_shown() {
        let mut builder = Builder::default();
        for name in ["x", "y", "z"] {
            builder = builder.tensor(name, &[8], 0, &[0; 32]);
        }
        for t in &mut builder.tensors {
            t.offset = 0;
        }
        let file = builder.build();
        let salvage = Salvage::of(&file);
        assert_eq!(salvage.tensors.len(), 3);
        assert_eq!(salvage.seen, (0, 3));
        assert!(salvage.layout.is_some());
        assert!(matches!(
            salvage.error,
            Some(Error::OverlappingTensors { .. })
        ));
    }
}
