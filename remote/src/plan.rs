//! Turning tensor reads into requests: reads sorted by file and offset, adjacent ones merged
//! into one request up to the part size, longer ones split into parts of that size.

use std::ops::Range;

/// One read asked for: bytes `range` of file `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) file: usize,
    pub(crate) range: Range<u64>,
}

/// One request: a range of one file, and the pieces of reads it fills, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) file: usize,
    pub(crate) range: Range<u64>,
    /// (which read, how many of its bytes), in order: each read's pieces come in the order
    /// of its bytes, across parts too.
    pub(crate) pieces: Vec<(usize, usize)>,
}

/// The requests for `wanted`, each at most `part_size` bytes (at least 1).
pub(crate) fn plan(wanted: &[Wanted], part_size: u64) -> Vec<Part> {
    let part_size = part_size.max(1);
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&i| (wanted[i].file, wanted[i].range.start, wanted[i].range.end));
    let mut parts: Vec<Part> = Vec::new();
    for i in order {
        let Wanted { file, range } = &wanted[i];
        let mut at = range.start;
        while at < range.end {
            let room = match parts.last() {
                Some(p) if p.file == *file && p.range.end == at => {
                    part_size.saturating_sub(p.range.end - p.range.start)
                }
                _ => 0,
            };
            if room == 0 {
                parts.push(Part {
                    file: *file,
                    range: at..at,
                    pieces: Vec::new(),
                });
            }
            let room = if room == 0 { part_size } else { room };
            let take = room.min(range.end - at);
            let part = parts.last_mut().expect("a part was just pushed or found");
            part.range.end += take;
            // ok: `take` is at most one read's length, which fits the caller's buffer
            part.pieces.push((i, take as usize));
            at += take;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(file: usize, range: Range<u64>) -> Wanted {
        Wanted { file, range }
    }

    #[test]
    fn adjacent_reads_merge_up_to_the_part_size_and_long_ones_split() {
        let wanted = [
            w(0, 10..20),
            w(0, 0..10),
            w(0, 20..45),
            w(1, 0..5),
            w(0, 50..52),
        ];
        let parts = plan(&wanted, 16);
        let shape: Vec<_> = parts.iter().map(|p| (p.file, p.range.clone())).collect();
        assert_eq!(
            shape,
            [(0, 0..16), (0, 16..32), (0, 32..45), (0, 50..52), (1, 0..5)]
        );
        assert_eq!(parts[0].pieces, [(1, 10), (0, 6)]);
        assert_eq!(parts[1].pieces, [(0, 4), (2, 12)]);
        assert_eq!(parts[2].pieces, [(2, 13)]);
        // Every read's bytes are covered once.
        for (i, want) in wanted.iter().enumerate() {
            let got: usize = parts
                .iter()
                .flat_map(|p| &p.pieces)
                .filter(|(r, _)| *r == i)
                .map(|(_, n)| n)
                .sum();
            assert_eq!(got as u64, want.range.end - want.range.start);
        }
    }

    #[test]
    fn empty_and_overlapping_reads() {
        let parts = plan(&[w(0, 5..5), w(0, 0..8), w(0, 4..8)], 100);
        let shape: Vec<_> = parts.iter().map(|p| p.range.clone()).collect();
        assert_eq!(shape, [0..8, 4..8]);
        assert!(plan(&[], 8).is_empty());
        assert_eq!(plan(&[w(0, 0..3)], 0).len(), 3);
    }
}
