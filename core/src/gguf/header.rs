//! The fixed 24-byte header: magic, version (which also tells the byte order), and the two
//! counts, read in place with zerocopy.

use zerocopy::byteorder::{BigEndian, ByteOrder, LittleEndian, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::endian::Endian;
use crate::error::{Error, Name, Result, Section};
use crate::gguf::format::{HEADER_SIZE, MAGIC};

/// The fixed header as stored.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader<O: ByteOrder> {
    magic: [u8; 4],
    version: U32<O>,
    n_tensors: U64<O>,
    n_kv: U64<O>,
}

/// What the fixed header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Byte order of every number in the file.
    pub endian: Endian,
    /// Number of tensor infos.
    pub n_tensors: u64,
    /// Number of metadata entries.
    pub n_kv: u64,
}

impl Header {
    /// Reads and checks the 24-byte header.
    ///
    /// # Errors
    /// [`Error::BadMagic`], [`Error::UnsupportedVersion`], or [`Error::Truncated`] when fewer
    /// than 24 bytes are given (asking for only the 4 magic bytes when the bytes present
    /// already differ from them, so a reader learns "not GGUF" as early as possible).
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        let truncated = |needed: usize| Error::Truncated {
            section: Section::Header,
            needed: needed as u64,
            have: bytes.len() as u64,
            within: Name::NONE,
        };
        match bytes.first_chunk::<4>() {
            Some(magic) if *magic != MAGIC => return Err(Error::BadMagic { found: *magic }),
            None if !MAGIC.starts_with(bytes) => return Err(truncated(MAGIC.len())),
            _ => {}
        }
        let (le, _) = RawHeader::<LittleEndian>::ref_from_prefix(bytes)
            .map_err(|_| truncated(HEADER_SIZE))?;
        let version = le.version.get();
        // A big-endian file's version word reads byte-swapped: 3 becomes 0x03000000.
        let header = if version & 0xFFFF == 0 && version != 0 {
            let (be, _) = RawHeader::<BigEndian>::ref_from_prefix(bytes)
                .map_err(|_| truncated(HEADER_SIZE))?;
            Header {
                version: be.version.get(),
                endian: Endian::Big,
                n_tensors: be.n_tensors.get(),
                n_kv: be.n_kv.get(),
            }
        } else {
            Header {
                version,
                endian: Endian::Little,
                n_tensors: le.n_tensors.get(),
                n_kv: le.n_kv.get(),
            }
        };
        if !matches!(header.version, 2 | 3) {
            return Err(Error::UnsupportedVersion {
                version: header.version,
            });
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(endian: Endian, version: u32) -> [u8; 24] {
        let mut h = [0u8; 24];
        h[..4].copy_from_slice(&MAGIC);
        let (v, t, k) = match endian {
            Endian::Little => (
                version.to_le_bytes(),
                2u64.to_le_bytes(),
                3u64.to_le_bytes(),
            ),
            Endian::Big => (
                version.to_be_bytes(),
                2u64.to_be_bytes(),
                3u64.to_be_bytes(),
            ),
        };
        h[4..8].copy_from_slice(&v);
        h[8..16].copy_from_slice(&t);
        h[16..].copy_from_slice(&k);
        h
    }

    #[test]
    fn reads_both_byte_orders() {
        for endian in [Endian::Little, Endian::Big] {
            let h = Header::parse(&header(endian, 3)).unwrap();
            assert_eq!(
                (h.version, h.endian, h.n_tensors, h.n_kv),
                (3, endian, 2, 3)
            );
        }
    }

    #[test]
    fn rejects_versions_and_magic() {
        assert_eq!(
            Header::parse(&header(Endian::Little, 1)),
            Err(Error::UnsupportedVersion { version: 1 })
        );
        assert_eq!(
            Header::parse(b"GGML and more"),
            Err(Error::BadMagic { found: *b"GGML" })
        );
    }

    #[test]
    fn short_input_asks_for_the_magic_first_when_it_already_differs() {
        let needed = |b: &[u8]| match Header::parse(b) {
            Err(Error::Truncated { needed, .. }) => needed,
            other => panic!("{other:?}"),
        };
        assert_eq!(needed(b""), 24);
        assert_eq!(needed(b"GG"), 24);
        assert_eq!(needed(b"GX"), 4);
        assert_eq!(needed(b"GGUF\x03\0"), 24);
    }
}
