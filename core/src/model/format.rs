//! Which format a file is, told by its first bytes, never by its name.

use core::fmt;

use crate::error::{Error, Name, Result, Section};
use crate::gguf::format::MAGIC;
use crate::safetensors::{LENGTH_SIZE, MAX_HEADER_SIZE};

/// The format of a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// GGUF (llama.cpp, ggml).
    Gguf,
    /// safetensors (Hugging Face).
    Safetensors,
}

impl Format {
    /// `"gguf"` or `"safetensors"`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Gguf => "gguf",
            Format::Safetensors => "safetensors",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a file holds, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Content {
    /// A model file of this format.
    Model(Format),
    /// A JSON object: a sharded safetensors model's `model.safetensors.index.json`.
    ShardIndex,
}

/// Tells a file's format from its first bytes (9 are enough, unless a safetensors header
/// starts with whitespace).
///
/// - `GGUF` first: GGUF.
/// - An 8-byte length of 1 to 100,000,000, then `{` after any JSON whitespace, or the first
///   byte of another JSON value (or of a byte-order mark): safetensors (whose parse says
///   what is wrong with a header that is not an object).
/// - `{` after any JSON whitespace: a shard index.
/// - `{` after any whitespace past the first 8 bytes: safetensors whose length is past the
///   cap (parsing it says so).
///
/// ```
/// use weightmap_core::{detect, Content, Format};
/// assert_eq!(detect(b"GGUF\x03\0\0\0")?, Content::Model(Format::Gguf));
/// assert_eq!(detect(b"\x02\0\0\0\0\0\0\0{}")?, Content::Model(Format::Safetensors));
/// assert_eq!(detect(b"{\"weight_map\": {}}")?, Content::ShardIndex);
/// assert!(detect(b"PK\x03\x04 a zip file").is_err());
/// # Ok::<(), weightmap_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::Truncated`] when `prefix` is too short to tell, [`Error::UnknownFormat`].
pub fn detect(prefix: &[u8]) -> Result<Content> {
    if prefix.starts_with(&MAGIC) {
        return Ok(Content::Model(Format::Gguf));
    }
    let after_length = prefix.get(LENGTH_SIZE..).map(first_non_space);
    let length = prefix.first_chunk::<8>().map(|b| u64::from_le_bytes(*b));
    let truncated = |needed: u64| Error::Truncated {
        section: Section::Header,
        needed,
        have: prefix.len() as u64,
        within: Name::NONE,
    };
    let json_start = |b: u8| {
        matches!(
            b,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' | 0xEF
        )
    };
    match (length, after_length) {
        (Some(n), Some(Some(b))) if (1..=MAX_HEADER_SIZE).contains(&n) && json_start(b) => {
            return Ok(Content::Model(Format::Safetensors))
        }
        // Only whitespace so far after a plausible length: the header must be read anyway.
        (Some(n), Some(None)) if n <= MAX_HEADER_SIZE && prefix.len() as u64 - 8 < n => {
            return Err(truncated(8 + n));
        }
        _ => {}
    }
    match first_non_space(prefix) {
        Some(b'{') => return Ok(Content::ShardIndex),
        None if prefix.len() < 4096 => return Err(truncated((prefix.len() as u64 + 1).max(9))),
        _ => {}
    }
    if after_length == Some(Some(b'{')) {
        return Ok(Content::Model(Format::Safetensors));
    }
    if prefix.len() <= LENGTH_SIZE {
        return Err(truncated(LENGTH_SIZE as u64 + 1));
    }
    let mut found = [0u8; 8];
    if let Some(first) = prefix.first_chunk::<8>() {
        found = *first;
    }
    Err(Error::UnknownFormat { found })
}

/// The first byte that is not JSON whitespace, if any.
fn first_non_space(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_formats_apart_by_content() {
        let st = crate::testing::safetensors_sample();
        assert_eq!(detect(&st).unwrap(), Content::Model(Format::Safetensors));
        assert_eq!(
            detect(&st[..9]).unwrap(),
            Content::Model(Format::Safetensors)
        );
        let gguf = crate::testing::sample_file();
        assert_eq!(detect(&gguf[..4]).unwrap(), Content::Model(Format::Gguf));
        // A length past the cap is still safetensors, for the parser to refuse.
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(b'{');
        assert_eq!(detect(&huge).unwrap(), Content::Model(Format::Safetensors));
        // Leading whitespace in the header.
        let mut spaced = 10u64.to_le_bytes().to_vec();
        spaced.extend_from_slice(b"        {}");
        assert_eq!(
            detect(&spaced).unwrap(),
            Content::Model(Format::Safetensors)
        );
        assert!(matches!(
            detect(&spaced[..12]),
            Err(Error::Truncated { needed: 18, .. })
        ));
        assert_eq!(
            detect(b"\n {\"weight_map\":{}}").unwrap(),
            Content::ShardIndex
        );
        assert!(matches!(detect(b""), Err(Error::Truncated { .. })));
        assert!(matches!(detect(b"GG"), Err(Error::Truncated { .. })));
        assert!(
            matches!(detect(b"GGML...!!"), Err(Error::UnknownFormat { found }) if &found == b"GGML...!")
        );
        assert!(matches!(
            detect(&[0u8; 64]),
            Err(Error::UnknownFormat { .. })
        ));
    }
}
