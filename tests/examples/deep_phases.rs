//! Times, N times, the phases that make up most of compare-parse's deep round on the
//! zero-copy path: the open (`unsafe ModelSource::open_trusted`, parse and index), every
//! string of the vocabulary, the numeric arrays (scores and token types) read twice, and the
//! drop (unmapping). The other keys and the tensor infos, which the round also visits, are
//! left out, and the whole round here includes the second numeric read. Prints the median of
//! each phase and the page faults the first numeric read takes.
//!
//! `cargo run --release -p weightmap-tests --example deep_phases -- FILE [N] [MODE]`
//!
//! - `serial`: opened with no prefaulting helper thread (`SourceConfig::read_ahead` off).
//! - `reap`: the opened model is handed to a thread that drops it, so the unmapping leaves
//!   the timed thread: the figure a background unmapper would give (not what the library
//!   does).
//! - `small-pages`: opened without asking for the header in huge pages
//!   (`SourceConfig::huge_header` off), which matters when the file is not in the page cache:
//!   `deep_phases FILE 1` after evicting it times a cold open.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use weightmap_core::{Array, Gguf};
use weightmap_native::{ModelSource, SourceConfig};
use weightmap_tests::checksum;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: deep_phases FILE [N] [serial|reap|small-pages]");
    let n: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
        .max(1);
    let mode = args.next().unwrap_or_default();
    let reap = mode == "reap";
    let config = SourceConfig {
        read_ahead: mode != "serial",
        huge_header: mode != "small-pages",
        ..SourceConfig::default()
    };
    let (to_reaper, reaper) = mpsc::channel::<Gguf<ModelSource>>();
    std::thread::spawn(move || reaper.into_iter().for_each(drop));

    let phases = [
        "open",
        "tokens",
        "numbers",
        "numbers again",
        "drop",
        "whole round",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); phases.len()];
    let mut faults = Vec::with_capacity(n);
    for _ in 0..n {
        let round = Instant::now();
        let mut timed = |phase: usize, start: Instant| times[phase].push(start.elapsed());

        let start = Instant::now();
        // SAFETY: nothing modifies the profiled file while it is mapped.
        let gguf = unsafe { ModelSource::open_trusted_with(&path, &config) }.expect("valid GGUF");
        timed(0, start);

        let view = gguf.view();
        let array = |key: &str| -> Array<'_> {
            view.get(key)
                .and_then(|v| v.as_array())
                .unwrap_or_else(|| panic!("no array {key}"))
        };
        let (tokens, scores, types) = (
            array("tokenizer.ggml.tokens"),
            array("tokenizer.ggml.scores"),
            array("tokenizer.ggml.token_type"),
        );
        let start = Instant::now();
        std::hint::black_box(checksum::elements(&tokens));
        timed(1, start);
        let before = weightmap_tests::minor_faults().unwrap_or(0);
        for phase in [2, 3] {
            let start = Instant::now();
            std::hint::black_box(checksum::elements(&scores) ^ checksum::elements(&types));
            timed(phase, start);
        }
        faults.push(
            weightmap_tests::minor_faults()
                .unwrap_or(0)
                .saturating_sub(before),
        );

        let start = Instant::now();
        if reap {
            to_reaper.send(gguf).expect("reaper");
        } else {
            drop(gguf);
        }
        timed(4, start);
        timed(5, round);
    }
    for (phase, mut t) in phases.iter().zip(times) {
        t.sort();
        println!("{phase}: median {:.3} ms", t[n / 2].as_secs_f64() * 1e3);
    }
    faults.sort();
    println!(
        "page faults while reading the numeric arrays: median {}",
        faults[n / 2]
    );
}
