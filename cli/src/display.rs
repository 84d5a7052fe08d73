//! Text from a model file made fit for a terminal: escaped (a key may hold newlines or
//! terminal escape sequences) and, unless `--full`, shortened (a chat template runs to
//! thousands of characters, a crafted key to megabytes).

use std::fmt::Write;

/// Most characters of a key or tensor name shown, and the widest column they set.
pub const MAX_NAME: usize = 64;

/// Most characters of a string value shown.
pub const MAX_TEXT: usize = 120;

/// How text is fitted for display.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    /// Show everything, shortening nothing.
    pub full: bool,
}

impl Fit {
    /// A key or tensor name: control characters escaped, at most [`MAX_NAME`] characters.
    pub fn name(self, name: &str) -> String {
        self.escaped(name, MAX_NAME, false)
    }

    /// A string value, quoted and escaped, at most [`MAX_TEXT`] characters of it.
    pub fn text(self, text: &str) -> String {
        self.escaped(text, MAX_TEXT, true)
    }

    /// `s` escaped (Rust's `escape_debug`, which leaves printable Unicode alone), cut after
    /// `max` escaped characters with `…` and the count of the rest unless `full`.
    fn escaped(self, s: &str, max: usize, quoted: bool) -> String {
        let mut out = String::new();
        if quoted {
            out.push('"');
        }
        let mut shown = 0usize;
        let mut cut_at = None;
        for (at, c) in s.char_indices() {
            let escaped = c.escape_debug();
            if !self.full && shown + escaped.len() > max {
                cut_at = Some(at);
                break;
            }
            shown += escaped.len();
            out.extend(escaped);
        }
        if quoted {
            out.push('"');
        }
        if let Some(at) = cut_at {
            let rest = s.get(at..).map_or(0, |r| r.chars().count());
            // Writing to a String cannot fail.
            let _ = write!(out, "… ({rest} more characters)");
        }
        out
    }
}

/// The width of a column of `names` as displayed: the widest, at most [`MAX_NAME`] (a longer
/// one, shown in full, simply runs past its column).
pub fn column_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Fit = Fit { full: false };
    const FULL: Fit = Fit { full: true };

    #[test]
    fn short_text_is_only_escaped() {
        assert_eq!(SHORT.name("blk.0.attn_q.weight"), "blk.0.attn_q.weight");
        assert_eq!(SHORT.name("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(SHORT.text("héllo \"x\""), "\"héllo \\\"x\\\"\"");
    }

    #[test]
    fn long_text_is_cut_with_the_count_left() {
        let key = "k".repeat(70_000);
        let shown = SHORT.name(&key);
        assert!(shown.starts_with(&"k".repeat(MAX_NAME)));
        assert!(shown.ends_with("… (69936 more characters)"), "{shown}");
        let template = "é".repeat(12_410);
        let shown = SHORT.text(&template);
        assert!(shown.ends_with("\"… (12290 more characters)"), "{shown}");
        assert_eq!(FULL.text(&template).chars().count(), 12_412);
    }

    #[test]
    fn columns_are_capped() {
        let long = "n".repeat(1000);
        assert_eq!(column_width(["ab", "abc"].into_iter()), 3);
        assert_eq!(column_width([long.as_str()].into_iter()), MAX_NAME);
        assert_eq!(column_width(std::iter::empty()), 0);
    }
}
