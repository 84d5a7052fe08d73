//! `HeapData`: model bytes owned in (WebAssembly) heap memory, aligned for every element type.

use std::fmt;
use std::ops::Range;

use weightmap_core::{Backing, ModelData};

/// A file's bytes, or its first bytes, in heap memory: in a browser, a copy in the module's
/// linear memory of what JavaScript read.
///
/// The storage is 8-byte aligned, so typed views of tensors ([`TensorView::as_f32`],
/// `as_f64`…) never fail for alignment, which a `Vec<u8>` does not promise.
///
/// ```
/// use weightmap_core::{Gguf, ModelData};
/// use weightmap_wasm::HeapData;
///
/// let bytes = weightmap_core::testing::sample_file();
/// let data = HeapData::copy_from(&bytes)?;
/// assert_eq!(data.bytes(), &bytes[..]);
/// let gguf = Gguf::parse(data)?;
/// assert_eq!(gguf.tensor("norm.weight")?.as_f32()?, &[1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`TensorView::as_f32`]: weightmap_core::TensorView::as_f32
#[derive(Clone, Default)]
pub struct HeapData {
    words: Vec<u64>,
    len: usize,
}

/// Heap memory for `len` bytes could not be allocated (a WebAssembly module has at most 4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory {
    /// The bytes asked for.
    pub len: usize,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot allocate {} bytes of memory", self.len)
    }
}

impl std::error::Error for OutOfMemory {}

impl HeapData {
    /// Zeroed storage for `len` bytes, to be filled through [`as_mut_bytes`](Self::as_mut_bytes).
    ///
    /// # Errors
    /// [`OutOfMemory`] when the allocation fails (it is never attempted with an infallible
    /// allocation, which would abort the module).
    pub fn zeroed(len: usize) -> Result<Self, OutOfMemory> {
        let words_len = len.div_ceil(8);
        let mut words = Vec::new();
        words
            .try_reserve_exact(words_len)
            .map_err(|_| OutOfMemory { len })?;
        words.resize(words_len, 0);
        Ok(HeapData { words, len })
    }

    /// A copy of `bytes`.
    ///
    /// # Errors
    /// [`OutOfMemory`] when the allocation fails.
    pub fn copy_from(bytes: &[u8]) -> Result<Self, OutOfMemory> {
        let mut data = Self::zeroed(bytes.len())?;
        data.as_mut_bytes().copy_from_slice(bytes);
        Ok(data)
    }

    /// Grows the bytes by `more` zeroed bytes and returns them to fill, keeping the bytes
    /// before (their storage grows geometrically, so appending chunk after chunk copies each
    /// byte a bounded number of times).
    ///
    /// # Errors
    /// [`OutOfMemory`] when the allocation fails; the data is unchanged then.
    pub fn extend(&mut self, more: usize) -> Result<&mut [u8], OutOfMemory> {
        let len = self
            .len
            .checked_add(more)
            .ok_or(OutOfMemory { len: usize::MAX })?;
        let words_len = len.div_ceil(8);
        if words_len > self.words.len() {
            self.words
                .try_reserve(words_len - self.words.len())
                .map_err(|_| OutOfMemory { len })?;
            self.words.resize(words_len, 0);
        }
        let start = self.len;
        self.len = len;
        Ok(&mut self.as_mut_bytes()[start..])
    }

    /// The bytes, to fill in place.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.words)[..len]
    }
}

impl ModelData for HeapData {
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }

    fn backing(&self) -> Backing {
        Backing::Memory
    }

    fn release(&self, _range: Range<usize>) {
        // Linear memory never shrinks; nothing can be given back.
    }
}

impl fmt::Debug for HeapData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapData").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_at_every_length_and_stay_aligned() {
        for len in 0..20 {
            let src: Vec<u8> = (0..len as u8).collect();
            let data = HeapData::copy_from(&src).unwrap();
            assert_eq!(data.bytes(), &src[..]);
            assert_eq!(data.len(), len);
            assert_eq!(data.bytes().as_ptr() as usize % 8, 0);
        }
    }

    #[test]
    fn extending_keeps_the_bytes_before() {
        let mut data = HeapData::default();
        let mut want = Vec::new();
        for chunk in 0..40u8 {
            let more = usize::from(chunk % 11);
            data.extend(more).unwrap().fill(chunk);
            want.extend(std::iter::repeat_n(chunk, more));
            assert_eq!(data.bytes(), &want[..]);
        }
        assert!(data.extend(usize::MAX).is_err());
        assert_eq!(data.bytes(), &want[..]);
    }

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        assert_eq!(
            HeapData::zeroed(usize::MAX).unwrap_err(),
            OutOfMemory { len: usize::MAX }
        );
    }
}
