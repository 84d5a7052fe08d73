//! Name lookups shared by the formats' indexes: names hashed once as they are read, the
//! hashes sorted beside positions, duplicates found among equal hashes, lookups by binary
//! search. Comparing names only where hashes agree keeps a parse from reading a byte twice in
//! the common case, and a crafted file of colliding names costs a sort, not quadratic work.

use alloc::vec::Vec;

/// A 64-bit hash of a name, read once. Not cryptographic: colliding names cost a byte
/// comparison, and a crafted file full of them is handled by [`sort_unique`] without
/// quadratic work.
pub(crate) fn name_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |x: u64| {
        let x = (x ^ (x >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        (x ^ (x >> 32)).wrapping_mul(K)
    };
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = word.first_chunk::<8>().copied().unwrap_or_default();
        h = mix(h ^ u64::from_le_bytes(w));
    }
    let mut last = [0u8; 8];
    let rest = words.remainder();
    if let Some(dst) = last.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    mix(h ^ u64::from_le_bytes(last))
}

/// Sorts `pairs` of name hashes and positions in `items`, and returns the first duplicate
/// name with the offsets of its second and first occurrence. `name` gives an item's name and
/// offset.
pub(crate) fn first_duplicate<'h, T>(
    pairs: &mut [(u64, u32)],
    items: &'h [T],
    name: impl Fn(&'h T) -> (&'h [u8], u64),
) -> Option<(&'h [u8], u64, u64)> {
    let (later, first) = sort_unique(pairs, |i| items.get(i as usize).map(|t| name(t).0))?;
    let (text, offset) = name(items.get(later)?);
    Some((text, offset, name(items.get(first)?).1))
}

/// Runs of equal hashes longer than this are checked by sorting copies of the names.
const SMALL_RUN: usize = 8;

/// Sorts `(hash, position)` pairs and finds a duplicate name among equal hashes: `(later,
/// first)` positions of the first duplicate found.
pub(crate) fn sort_unique<'h>(
    pairs: &mut [(u64, u32)],
    name: impl Fn(u32) -> Option<&'h [u8]>,
) -> Option<(usize, usize)> {
    pairs.sort_unstable();
    let mut found: Option<(usize, usize)> = None;
    let mut keep = |later: u32, first: u32| {
        let pair = (later.max(first) as usize, later.min(first) as usize);
        if found.is_none_or(|f| pair.0 < f.0) {
            found = Some(pair);
        }
    };
    for run in pairs.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        if run.len() <= SMALL_RUN {
            for (i, &(_, a)) in run.iter().enumerate() {
                for &(_, b) in run.iter().skip(i + 1) {
                    if name(a) == name(b) {
                        keep(b, a);
                    }
                }
            }
        } else {
            // Many names with one hash (a crafted file): sort owned copies, which cannot
            // change between comparisons, and compare neighbours.
            let mut copies: Vec<(Vec<u8>, u32)> = run
                .iter()
                .map(|&(_, i)| (name(i).unwrap_or(&[]).to_vec(), i))
                .collect();
            copies.sort_unstable();
            for pair in copies.windows(2) {
                if let [(a, i), (b, j)] = pair {
                    if a == b {
                        keep(*j, *i);
                    }
                }
            }
        }
    }
    found
}

/// The position of the name `wanted` among the sorted hashes.
pub(crate) fn lookup<'h>(
    sorted: &[(u64, u32)],
    wanted: &[u8],
    name: impl Fn(u32) -> Option<&'h [u8]>,
) -> Option<usize> {
    let hash = name_hash(wanted);
    let first = sorted.partition_point(|&(h, _)| h < hash);
    sorted
        .get(first..)?
        .iter()
        .take_while(|&&(h, _)| h == hash)
        .find(|&&(_, i)| name(i) == Some(wanted))
        .map(|&(_, i)| i as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_differ_for_near_names() {
        let names = [
            &b"blk.0.attn_q.weight"[..],
            b"blk.0.attn_k.weight",
            b"",
            b"a",
            b"b",
        ];
        for (i, a) in names.iter().enumerate() {
            for b in names.iter().skip(i + 1) {
                assert_ne!(name_hash(a), name_hash(b));
            }
        }
    }

    #[test]
    fn duplicates_are_found_among_colliding_hashes_small_and_large() {
        let names: Vec<Vec<u8>> = (0..40)
            .map(|i| alloc::format!("n{}", i % 20).into_bytes())
            .collect();
        for run in [3usize, 40] {
            // Every pair collides: all hashes equal.
            let mut pairs: Vec<(u64, u32)> = (0..run as u32).map(|i| (7, i)).collect();
            let found = sort_unique(&mut pairs, |i| names.get(i as usize).map(Vec::as_slice));
            let expected = (run > 20).then_some((20, 0));
            assert_eq!(found, expected, "run of {run}");
        }
    }
}
