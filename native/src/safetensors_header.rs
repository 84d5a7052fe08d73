//! Reading a safetensors file's header into owned memory: its first bytes, then exactly the
//! 8 + N the length asks for, once N is checked against the file's length and the limit.

use std::fs::File;
use std::path::Path;

use weightmap_core::safetensors::SafetensorsIndex;
use weightmap_core::Error as ParseError;

use crate::error::{Error, Result};
use crate::header::HeaderBytes;
use crate::sys;

/// The first read: most headers fit (a 10,000-tensor header is about 1 MB).
const FIRST_READ: usize = 64 << 10;

/// Reads the header of `file` (`file_len` bytes long) into owned memory and parses it.
///
/// # Errors
/// [`Error::Parse`] for an invalid header (a file that ends before its header does reports
/// [`ParseError::Truncated`] with its length), [`Error::HeaderTooLarge`] for a header longer
/// than `limit`, [`Error::Io`] if a read fails.
pub(crate) fn read_safetensors_header(
    path: &Path,
    file: &File,
    file_len: u64,
    limit: u64,
) -> Result<(HeaderBytes, SafetensorsIndex)> {
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let first = usize::try_from(file_len)
        .unwrap_or(usize::MAX)
        .min(FIRST_READ);
    let mut bytes = vec![0u8; first];
    let n = sys::read_into(file, &mut bytes, 0).map_err(io)?;
    bytes.truncate(n);
    loop {
        let needed = match SafetensorsIndex::parse_header(&bytes) {
            Ok(index) => {
                bytes.truncate(usize::try_from(index.data_offset()).unwrap_or(bytes.len()));
                tracing::debug!(path = %path.display(), header = bytes.len(), "safetensors header read into memory");
                return Ok((HeaderBytes::Heap(bytes.into_boxed_slice()), index));
            }
            Err(ParseError::Truncated { needed, .. }) if needed > limit => {
                return Err(Error::HeaderTooLarge {
                    path: path.into(),
                    needed,
                    limit,
                })
            }
            Err(ParseError::Truncated { needed, .. })
                if needed > bytes.len() as u64 && needed <= file_len =>
            {
                needed
            }
            Err(ParseError::Truncated {
                needed,
                section,
                within,
                ..
            }) => {
                // The file ends before its header does.
                return Err(Error::Parse {
                    path: path.into(),
                    source: ParseError::Truncated {
                        section,
                        needed,
                        have: bytes.len() as u64,
                        within,
                    },
                });
            }
            Err(source) => {
                return Err(Error::Parse {
                    path: path.into(),
                    source,
                })
            }
        };
        // ok: needed <= file_len and <= limit, checked above
        let have = bytes.len();
        bytes.resize(needed as usize, 0);
        let got = sys::read_into(file, bytes.get_mut(have..).unwrap_or(&mut []), have as u64)
            .map_err(io)?;
        // A short read: the file shrank; the parse reports it.
        bytes.truncate(have + got);
        if got == 0 {
            return Err(Error::Parse {
                path: path.into(),
                source: ParseError::Truncated {
                    section: weightmap_core::Section::JsonHeader,
                    needed,
                    have: have as u64,
                    within: weightmap_core::Name::NONE,
                },
            });
        }
    }
}
