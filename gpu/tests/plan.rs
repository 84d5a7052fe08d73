//! The planner on the host: every tensor byte copied exactly once, alignment, chunk bounds,
//! coalescing, tail chunks, bad options.

use proptest::prelude::*;
use weightmap_core::TensorType;
use weightmap_gpu::{Error, Plan, PlanOptions, TensorEntry};

fn entry(name: &str, start: u64, len: u64) -> TensorEntry {
    TensorEntry {
        name: name.into(),
        dtype: TensorType::I8,
        dims: vec![len],
        shard: 0,
        file_range: start..start + len,
    }
}

#[test]
fn chunks_never_span_two_files() {
    // Three files whose tensors sit at the same offsets: each file is read on its own.
    let mut entries = Vec::new();
    for shard in [2usize, 0, 1] {
        for i in 0..3u64 {
            let mut e = entry(&format!("f{shard}.t{i}"), 100 + i * 1000, 900);
            e.shard = shard;
            entries.push(e);
        }
    }
    let options = PlanOptions {
        chunk_size: 8192,
        ..PlanOptions::default()
    };
    let plan = Plan::new(entries, &options).unwrap();
    assert_eq!(plan.shard_count(), 3);
    let shards: Vec<usize> = plan.tensors().iter().map(|t| t.entry.shard).collect();
    assert_eq!(shards, [0, 0, 0, 1, 1, 1, 2, 2, 2], "file after file");
    assert_eq!(
        plan.chunks().len(),
        3,
        "one chunk per file, no chunk across two"
    );
    for (chunk, shard) in plan.chunks().iter().zip(0..) {
        assert_eq!(chunk.shard, shard);
        // Every copy of the chunk lands in a tensor of the chunk's file.
        for copy in plan.copies(chunk) {
            let t = plan
                .tensors()
                .iter()
                .find(|t| t.arena_range.contains(&copy.arena_offset))
                .unwrap();
            assert_eq!(t.entry.shard, shard);
        }
    }
}

/// Checks every invariant of a plan against its entries; panics with what is wrong.
fn check_plan(entries: &[TensorEntry], plan: &Plan, options: &PlanOptions) {
    let align = options.read_alignment as u64;
    // Placement: aligned, sized, disjoint, inside the arena, in file order.
    let placed = plan.tensors();
    assert_eq!(placed.len(), entries.len());
    let mut previous_end = 0;
    for p in placed {
        assert_eq!(
            p.arena_range.start % options.alignment,
            0,
            "{} misaligned",
            p.entry.name
        );
        assert_eq!(p.arena_range.len() as u64, p.entry.size());
        assert!(
            p.arena_range.start >= previous_end,
            "tensors overlap in the arena"
        );
        assert!(p.arena_range.end <= plan.arena_len());
        previous_end = p.arena_range.end;
    }
    assert!(placed
        .windows(2)
        .all(|w| w[0].entry.file_range.start <= w[1].entry.file_range.start));

    // Copies: each arena byte of a tensor written exactly once, from the right file byte.
    let mut written = vec![0u8; plan.arena_len()];
    let mut last_read_start = 0;
    // Overlapping tensors (which GGUF parsing refuses) may read a range twice, out of order.
    let disjoint = entries
        .windows(2)
        .all(|w| w[0].file_range.end <= w[1].file_range.start);
    for chunk in plan.chunks() {
        assert!(
            chunk.read_len() <= options.chunk_size,
            "chunk longer than the chunk size"
        );
        assert!(chunk.read_len() <= plan.staging_len());
        assert_eq!(chunk.read.start % align, 0);
        assert_eq!(chunk.read.end % align, 0);
        assert!(chunk.read.start <= chunk.needed.start && chunk.needed.end <= chunk.read.end);
        assert!(
            !disjoint || chunk.read.start >= last_read_start,
            "chunks out of file order"
        );
        last_read_start = chunk.read.start;
        let copies = plan.copies(chunk);
        assert!(!copies.is_empty(), "a chunk with nothing to copy");
        for c in copies {
            assert!(c.len > 0);
            let file_start = chunk.read.start + c.staging_offset as u64;
            assert!(
                file_start >= chunk.needed.start && file_start + c.len as u64 <= chunk.needed.end
            );
            for k in 0..c.len {
                let arena = c.arena_offset + k;
                let file = file_start + k as u64;
                let owner = placed
                    .iter()
                    .find(|p| p.arena_range.contains(&arena))
                    .unwrap_or_else(|| panic!("copy writes padding at arena byte {arena}"));
                let expected =
                    owner.entry.file_range.start + (arena - owner.arena_range.start) as u64;
                assert_eq!(file, expected, "arena byte {arena} gets file byte {file}");
                written[arena] += 1;
            }
        }
    }
    assert_eq!(
        plan.staging_len(),
        plan.chunks()
            .iter()
            .map(|c| c.read_len())
            .max()
            .unwrap_or(0)
    );
    for p in placed {
        assert!(
            written[p.arena_range.clone()].iter().all(|&n| n == 1),
            "{} not copied exactly once",
            p.entry.name
        );
    }
    assert_eq!(
        plan.bytes(),
        entries.iter().map(TensorEntry::size).sum::<u64>()
    );
}

fn layout() -> impl Strategy<Value = (Vec<TensorEntry>, PlanOptions)> {
    let tensors = prop::collection::vec((0u64..5000, 0u64..20_000, 0u64..3), 0..24);
    let options = (0usize..3, prop::bool::ANY, 0usize..3, 0usize..6000);
    (tensors, options).prop_map(|(tensors, (chunk, direct, align, gap))| {
        let mut entries = Vec::new();
        let mut at = 64u64;
        for (i, (gap_before, len, overlap)) in tensors.into_iter().enumerate() {
            // Mostly disjoint, sometimes overlapping the previous tensor.
            let start = if overlap == 0 && i > 0 {
                at.saturating_sub(len / 2)
            } else {
                at + gap_before
            };
            entries.push(entry(&format!("t{i}"), start, len));
            at = at.max(start + len);
        }
        let options = PlanOptions {
            chunk_size: [4096, 12288, 65536][chunk],
            alignment: [256, 512, 4096][align],
            read_alignment: if direct { 4096 } else { 1 },
            max_gap: gap,
        };
        (entries, options)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn every_byte_is_copied_exactly_once((entries, options) in layout()) {
        // Entries in another order: the planner sorts them.
        let mut shuffled = entries.clone();
        shuffled.reverse();
        let plan = Plan::new(shuffled, &options).unwrap();
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| (e.file_range.start, e.file_range.end));
        check_plan(&sorted, &plan, &options);
    }
}

#[test]
fn neighbours_contiguous_in_file_and_arena_are_one_copy() {
    // Four 1 KiB tensors back to back: 1 KiB is a multiple of 256, so file and arena agree.
    let entries: Vec<_> = (0..4)
        .map(|i| entry(&format!("t{i}"), 4096 + i * 1024, 1024))
        .collect();
    let plan = Plan::new(entries.clone(), &PlanOptions::default()).unwrap();
    check_plan(&entries, &plan, &PlanOptions::default());
    assert_eq!(plan.chunks().len(), 1);
    assert_eq!(plan.copies(&plan.chunks()[0]).len(), 1);
    assert_eq!(plan.arena_len(), 4096);

    // 1000-byte tensors 1024 apart in the file: the arena puts them 1024 apart too (1000
    // rounded up to 256), but the 24-byte gaps are not copied: one read, four copies.
    let entries: Vec<_> = (0..4)
        .map(|i| entry(&format!("t{i}"), 4096 + i * 1024, 1000))
        .collect();
    let plan = Plan::new(entries.clone(), &PlanOptions::default()).unwrap();
    check_plan(&entries, &plan, &PlanOptions::default());
    assert_eq!(plan.chunks().len(), 1);
    assert_eq!(plan.copies(&plan.chunks()[0]).len(), 4);
}

#[test]
fn a_large_tensor_spans_chunks_with_a_short_tail() {
    let options = PlanOptions {
        chunk_size: 1 << 20,
        ..PlanOptions::default()
    };
    let entries = vec![entry("big", 100, (5 << 19) + 7)]; // 2.5 MiB + 7
    let plan = Plan::new(entries.clone(), &options).unwrap();
    check_plan(&entries, &plan, &options);
    let lens: Vec<_> = plan.chunks().iter().map(|c| c.read_len()).collect();
    assert_eq!(lens, [1 << 20, 1 << 20, (1 << 19) + 7]);
    assert_eq!(plan.staging_len(), 1 << 20);
}

#[test]
fn distant_tensors_start_new_chunks() {
    let options = PlanOptions {
        max_gap: 100,
        ..PlanOptions::default()
    };
    let entries = vec![entry("a", 0, 10), entry("b", 50, 10), entry("c", 1000, 10)];
    let plan = Plan::new(entries.clone(), &options).unwrap();
    check_plan(&entries, &plan, &options);
    assert_eq!(plan.chunks().len(), 2);
    assert_eq!(plan.chunks()[0].read, 0..60);
    assert_eq!(plan.chunks()[1].read, 1000..1010);
}

#[test]
fn direct_reads_are_block_aligned() {
    let options = PlanOptions {
        read_alignment: 4096,
        chunk_size: 8192,
        ..PlanOptions::default()
    };
    let entries = vec![entry("a", 5000, 10_000)];
    let plan = Plan::new(entries.clone(), &options).unwrap();
    check_plan(&entries, &plan, &options);
    assert_eq!(plan.chunks()[0].read, 4096..12288);
    assert_eq!(plan.chunks()[1].read, 12288..16384);
}

#[test]
fn empty_tables_and_empty_tensors_plan_nothing_to_copy() {
    let plan = Plan::new(Vec::new(), &PlanOptions::default()).unwrap();
    assert_eq!(
        (plan.arena_len(), plan.chunks().len(), plan.staging_len()),
        (0, 0, 0)
    );
    let entries = vec![entry("empty", 64, 0), entry("one", 64, 1)];
    let plan = Plan::new(entries.clone(), &PlanOptions::default()).unwrap();
    check_plan(&entries, &plan, &PlanOptions::default());
    assert_eq!(plan.chunks().len(), 1);
}

#[test]
fn bad_options_and_sizes_are_errors() {
    let default = PlanOptions::default;
    let bad = [
        PlanOptions {
            alignment: 128,
            ..default()
        },
        PlanOptions {
            alignment: 300,
            ..default()
        },
        PlanOptions {
            read_alignment: 3,
            ..default()
        },
        PlanOptions {
            chunk_size: 100,
            ..default()
        },
        PlanOptions {
            chunk_size: 4096 * 3 + 1,
            read_alignment: 4096,
            ..default()
        },
    ];
    for options in bad {
        let result = Plan::new(vec![], &options);
        assert!(
            matches!(result, Err(Error::InvalidOptions(_))),
            "{options:?}"
        );
    }
    let half = u64::MAX / 2;
    let huge = vec![entry("a", 0, half), entry("b", half, half)];
    let err = Plan::new(huge, &PlanOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Plan(_)), "{err}");
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = TensorEntry {
        file_range: 10..5,
        ..entry("x", 0, 0)
    };
    let result = Plan::new(vec![backwards], &PlanOptions::default());
    assert!(matches!(result, Err(Error::Plan(_))));
}
