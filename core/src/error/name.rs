//! `Name`: the first bytes of a key or tensor name, kept inline in errors.

use core::fmt;

/// The first bytes of a key or tensor name, kept inline so errors can name it without
/// allocating and stay 32 bytes.
///
/// Names longer than [`Name::CAPACITY`] bytes are cut and shown with a trailing `…` (the
/// error's byte offset says where the whole name is); bytes that are not UTF-8 are shown as
/// `\xNN` escapes. The empty name means "none".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    bytes: [u8; Name::CAPACITY],
    /// Length kept (low 7 bits) and whether the name was cut (high bit).
    meta: u8,
}

impl Name {
    /// How many bytes of a name are kept.
    pub const CAPACITY: usize = 13;
    const CUT: u8 = 0x80;

    /// No name.
    pub const NONE: Name = Name {
        bytes: [0; Name::CAPACITY],
        meta: 0,
    };

    /// Copies at most [`Name::CAPACITY`] bytes of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut name = Name::NONE;
        let len = bytes.len().min(Self::CAPACITY);
        let (kept, _) = bytes.split_at(len);
        let (dst, _) = name.bytes.split_at_mut(len);
        dst.copy_from_slice(kept);
        // ok: len <= CAPACITY < 128
        name.meta = len as u8 | if bytes.len() > len { Self::CUT } else { 0 };
        name
    }

    /// The bytes kept (a prefix of the original name).
    pub fn as_bytes(&self) -> &[u8] {
        let len = usize::from(self.meta & !Self::CUT);
        self.bytes.get(..len).unwrap_or(&[])
    }

    /// Whether the original name was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.meta & Self::CUT != 0
    }

    /// Whether this is [`Name::NONE`] (no name was read yet).
    pub fn is_empty(&self) -> bool {
        self.meta == 0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.is_truncated() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}
