//! Puts a model file's page cache into a known state and says how it holds the header: the
//! state compare-parse's figures depend on (see `weightmap_tests::page_cache`).
//!
//! `cargo run --release -p weightmap-tests --example cache_state -- FILE [MODE]`
//!
//! - `report` (the default): only says how the header is held now.
//! - `mapped`: evicts the file, then reads the header back through a plain mapping, one byte
//!   per page, as mmap loaders first read a file (4 KiB pages).
//! - `weightmap`: evicts the file, then opens it with weightmap's zero-copy open, which asks
//!   for the header in huge pages.
//! - `read`: evicts the file, then reads it whole with `read()` in 1 MiB blocks.
//! - `evict`: only evicts the file (and reports nothing, which would read it back), so that
//!   the next open is a cold one.
//!
//! Reading the folio sizes needs root (`/proc/kpageflags`).

use weightmap_native::ModelSource;
use weightmap_tests::page_cache::{evict, folios, reread, Reread};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: cache_state FILE [report|mapped|weightmap|read|evict]";
    let path = args.next().expect(usage);
    let mode = args.next().unwrap_or_else(|| "report".into());
    let header = ModelSource::open(&path).expect("a GGUF file").data_offset() as usize;
    let how = match mode.as_str() {
        "report" => None,
        "mapped" => Some(Reread::Mapped(header)),
        "weightmap" => Some(Reread::Weightmap),
        "read" => Some(Reread::Read),
        "evict" => {
            evict(path.as_ref()).expect("evict");
            return;
        }
        _ => panic!("{usage}"),
    };
    if let Some(how) = how {
        reread(path.as_ref(), how).expect("evict and read back");
    }
    match folios(path.as_ref(), header) {
        Ok(f) => println!("{path}: header ({header} bytes): {f}"),
        Err(e) => println!("{path}: header ({header} bytes): folio sizes unknown: {e}"),
    }
}
