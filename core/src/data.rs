//! `ModelData`: the bytes of a model file plus optional hints about how they will be used.
//!
//! Anything that can hand out the file as `&[u8]` is model data: a slice, a `Vec<u8>`, a
//! memory map (`weightmap-native`), a buffer filled from a browser `Blob` (`weightmap-wasm`).
//! A source may also hold only the tensor data, from a file offset on, beside a private copy
//! of the file's header (the safe way to map a file others may write). The hint methods do
//! nothing by default; a memory-mapped implementation turns them into `madvise` calls.

use core::ops::Range;

/// How a range of the data is about to be accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Advice {
    /// No particular pattern.
    #[default]
    Normal,
    /// Read front to back: read ahead aggressively.
    Sequential,
    /// Scattered reads: do not read ahead.
    Random,
    /// Will be read soon: start loading now.
    WillNeed,
}

/// Where the bytes of a [`ModelData`] live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backing {
    /// Ordinary memory owned by the process (a `Vec`, a slice, a static).
    Memory,
    /// A memory-mapped file: pages load on first touch and can be given back.
    Mmap,
}

/// The bytes of a model file, with optional access hints.
///
/// ```
/// use weightmap_core::{Advice, Backing, ModelData};
/// let data: Vec<u8> = b"GGUF".to_vec();
/// assert_eq!(data.bytes(), b"GGUF");
/// data.advise(0..4, Advice::Sequential); // a no-op for heap memory
/// assert_eq!(data.backing(), Backing::Memory);
/// ```
pub trait ModelData {
    /// The bytes: the whole file, or the part of it from [`offset`](Self::offset) on.
    ///
    /// Must return the same bytes (same address and length) on every call.
    fn bytes(&self) -> &[u8];

    /// File offset of the first byte of [`bytes`](Self::bytes): 0 when they hold the whole
    /// file (the default).
    fn offset(&self) -> u64 {
        0
    }

    /// The file's first bytes (at least its header), for parsers to read metadata, names and
    /// strings from: bytes that cannot change while `self` lives, so a `&str` checked once
    /// stays valid.
    ///
    /// The default is [`bytes`](Self::bytes) when they start at the file's first byte: memory
    /// this process owns, or a mapping whose file the opener promised to keep unchanged. A
    /// source whose bytes another process may change (a shared mapping of a file anyone may
    /// write) returns a private copy of the header, or `None` when it has none; parsers then
    /// refuse to parse ([`Error::NoTrustedHeader`](crate::Error::NoTrustedHeader)) and read
    /// only tensor data from [`bytes`](Self::bytes), as numbers.
    fn header(&self) -> Option<&[u8]> {
        (self.offset() == 0).then(|| self.bytes())
    }

    /// Hints how `range` (positions in [`bytes`](Self::bytes)) will be accessed. Implementations that cannot act on it ignore it;
    /// failures are not reported here (the implementing type offers fallible versions).
    fn advise(&self, range: Range<usize>, advice: Advice) {
        let _ = (range, advice);
    }

    /// Says `range` (positions in [`bytes`](Self::bytes)) will not be read again soon, so its memory may be given back to the
    /// system (for a mapped file, `MADV_DONTNEED`). Later reads still see the same bytes.
    fn release(&self, range: Range<usize>) {
        let _ = range;
    }

    /// Where the bytes live.
    fn backing(&self) -> Backing {
        Backing::Memory
    }

    /// Whether every byte read so far was the file's: `false` once a guarded mapping found its
    /// file truncated under it (weightmap-native's truncation guard), after which reads of the
    /// lost pages return zeros. Check it after using bytes borrowed from the data, and discard
    /// what was computed from them if it turned false. Always `true` for data in memory.
    fn is_intact(&self) -> bool {
        true
    }

    /// Length of [`bytes`](Self::bytes).
    fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether the data is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ModelData for [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> ModelData for [u8; N] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

macro_rules! forward_model_data {
    ($($(#[$attr:meta])* [$($gen:tt)*] $ty:ty;)*) => {$(
        $(#[$attr])*
        impl<$($gen)*> ModelData for $ty {
            fn bytes(&self) -> &[u8] {
                (**self).bytes()
            }
            fn offset(&self) -> u64 {
                (**self).offset()
            }
            fn header(&self) -> Option<&[u8]> {
                (**self).header()
            }
            fn advise(&self, range: Range<usize>, advice: Advice) {
                (**self).advise(range, advice)
            }
            fn release(&self, range: Range<usize>) {
                (**self).release(range)
            }
            fn backing(&self) -> Backing {
                (**self).backing()
            }
            fn is_intact(&self) -> bool {
                (**self).is_intact()
            }
        }
    )*};
}

forward_model_data! {
    ['a, T: ModelData + ?Sized] &'a T;
    #[cfg(feature = "alloc")]
    [T: ModelData + ?Sized] alloc::boxed::Box<T>;
    #[cfg(feature = "alloc")]
    [T: ModelData + ?Sized] alloc::sync::Arc<T>;
    #[cfg(feature = "alloc")]
    [T: ModelData + ?Sized] alloc::rc::Rc<T>;
}

#[cfg(feature = "alloc")]
impl ModelData for alloc::vec::Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{boxed::Box, sync::Arc, vec};

    fn first<D: ModelData + ?Sized>(d: &D) -> Option<u8> {
        d.bytes().first().copied()
    }

    #[test]
    fn common_containers_are_model_data() {
        let v = vec![7u8, 8];
        assert_eq!(first(&v), Some(7));
        assert_eq!(first(&v[..]), Some(7));
        assert_eq!(first(&Box::<[u8]>::from(&v[..])), Some(7));
        assert_eq!(first(&Arc::<[u8]>::from(&v[..])), Some(7));
        assert_eq!(first(&&v), Some(7));
        assert_eq!(first(&[9u8, 1]), Some(9));
        assert_eq!(v.len(), 2);
        assert!(!ModelData::is_empty(&v));
        v.release(0..1);
        assert_eq!(v.bytes(), &[7, 8]);
    }
}
