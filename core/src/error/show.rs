//! Small `Display` helpers for error messages.

use core::fmt;

use super::Name;

/// Shows ` in "name"` for an error's optional context.
pub(super) struct Within<'a>(pub(super) &'a Name);

impl fmt::Display for Within<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, " in \"{}\"", self.0)
    }
}

/// Shows magic bytes as hex, with the text they spell when printable: `0x47 0x47 0x4d 0x4c
/// ("GGML")`.
pub(super) struct Magic<'a>(pub(super) &'a [u8]);

impl fmt::Display for Magic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{b:#04x}")?;
        }
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            f.write_str(" (\"")?;
            for &b in self.0 {
                write!(f, "{}", char::from(b))?;
            }
            f.write_str("\")")?;
        }
        Ok(())
    }
}

/// An end offset, or "2^64" when it overflowed.
pub(super) struct EndOf(pub(super) u64);

impl fmt::Display for EndOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            u64::MAX => f.write_str("2^64: overflow"),
            end => write!(f, "{end}"),
        }
    }
}

pub(super) fn version_hint(version: u32) -> &'static str {
    match version {
        1 => " (version 1 used 32-bit counts; convert the file with a current llama.cpp)",
        0 => " (a version of 0 is not a GGUF file)",
        _ => "",
    }
}

/// Where in a JSON header an error is: `JSON header`, `"w": "shape"`.
pub(super) struct JsonWhere<'a>(pub(super) &'a Name, pub(super) &'a super::Field);

impl fmt::Display for JsonWhere<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.is_empty(), self.1.name()) {
            (true, "") => f.write_str("JSON header"),
            (true, field) => write!(f, "JSON header, field \"{field}\""),
            (false, "") => write!(f, "JSON header, \"{}\"", self.0),
            (false, field) => write!(f, "JSON header, tensor \"{}\" field \"{field}\"", self.0),
        }
    }
}

/// A shard file name in quotes, or "nothing" when it is empty.
pub(super) struct ShardName<'a>(pub(super) &'a Name);

impl fmt::Display for ShardName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(empty)")
        } else {
            write!(f, "\"{}\"", self.0)
        }
    }
}
