//! The properties the fuzz targets check, shared by `fuzz/fuzz_targets/*` (nightly, libFuzzer)
//! and the stable replay of `fuzz/regressions/` (`tests/tests/fuzz_regressions.rs`).
//!
//! Each function panics when a property fails; a panic anywhere (including in the parser) is a
//! finding. The properties:
//! - [`check_parse`]: any bytes parse to `Ok` or a typed error, never a panic; both parsers
//!   agree; on success every key, value, array element, string, tensor and typed view can be
//!   visited, and every tensor lies inside the file.
//! - [`check_prefix`]: every prefix of a file gives the full file's answer, or `Truncated` with
//!   a `needed` beyond the prefix that makes progress, or the full file's error: never a wrong
//!   success.
//! - [`check_ranges`]: the checked offset helpers agree with exact 128-bit arithmetic, and
//!   `MmapFile::multi_range` with slicing.
//! - [`check_structured`]: a GGUF description drawn from the fuzzer's bytes, serialised and
//!   mutated, so inputs reach the tensor table and data section.

use arbitrary::{Arbitrary, Unstructured};
use weightmap_core::testing::{Builder, RawTensor};
use weightmap_core::{
    align_up, checked_range, Array, Endian, Error, GgmlType, Gguf, GgufView, IndexBuilder, Value,
    ValueType,
};

/// Visits every element of an array (recursively), every string as `&str` where valid.
fn walk_array(array: &Array<'_>, budget: &mut u64) {
    let _ = (array.len(), array.element_type(), array.raw_bytes().len());
    if let Some(strings) = array.strings() {
        for s in strings {
            let _ = s.map(str::len);
        }
    }
    for element in array.iter() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        // An element error must end iteration cleanly; nothing to check beyond no panic.
        if let Ok(value) = element {
            walk_value(&value, budget);
        }
    }
    walk_typed(array);
    let last = array.len().saturating_sub(1);
    let _ = (
        array.get(0),
        array.get(last),
        array.get(array.len()),
        array.get(u64::MAX),
    );
}

/// Typed access agrees with the element type and with the per-element values.
fn walk_typed(array: &Array<'_>) {
    fn check<T: weightmap_core::ArrayElement>(
        array: &Array<'_>,
        same: impl Fn(T, Value<'_>) -> bool,
    ) {
        let Some(values) = array.values::<T>() else {
            assert_ne!(array.element_type(), T::VALUE_TYPE);
            return;
        };
        assert_eq!(values.len() as u64, array.len());
        for (typed, value) in values.zip(array.iter()).take(256) {
            assert!(same(typed, value.expect("a fixed-size element")));
        }
    }
    check::<u8>(array, |t, v| v == Value::Uint8(t));
    check::<i32>(array, |t, v| v == Value::Int32(t));
    check::<bool>(array, |t, v| v == Value::Bool(t));
    check::<u64>(array, |t, v| v == Value::Uint64(t));
    // By bit pattern: NaN is not equal to itself.
    check::<f32>(
        array,
        |t, v| matches!(v, Value::Float32(f) if f.to_bits() == t.to_bits()),
    );
    if array.element_type() == ValueType::Uint8 {
        assert_eq!(array.as_slice::<u8>(), Some(array.raw_bytes()));
    }
}

fn walk_value(value: &Value<'_>, budget: &mut u64) {
    let _ = (
        value.value_type(),
        value.to_u64(),
        value.to_i64(),
        value.to_f64(),
        value.as_str(),
        value.as_bool(),
    );
    if let Value::String(s) = value {
        let _ = (s.as_bytes().len(), s.to_str(), s.offset());
    }
    if let Some(array) = value.as_array() {
        walk_array(&array, budget);
    }
}

/// Visits everything an indexed parse exposes; panics if a promise of the API is broken.
fn walk_gguf(gguf: &Gguf<&[u8]>, data: &[u8]) {
    // Arrays hold at most one element per byte of input, so this bounds the walk linearly.
    let mut budget = 4 * data.len() as u64 + 64;
    let _ = (
        gguf.version(),
        gguf.alignment(),
        gguf.architecture(),
        gguf.required_len(),
    );
    assert!(gguf.data_offset() <= data.len() as u64 || gguf.tensor_count() == 0);
    for entry in gguf.metadata() {
        let range = entry.value_range();
        assert!(
            range.start <= range.end && range.end <= data.len() as u64,
            "value range {range:?}"
        );
        assert_eq!(
            gguf.entry_for(entry.key()).map(|e| e.offset()),
            Some(entry.offset())
        );
        walk_value(&entry.value(), &mut budget);
    }
    for info in gguf.tensors() {
        assert_eq!(
            gguf.tensor_info(info.name()).map(|t| t.offset()),
            Some(info.offset())
        );
        let range = gguf
            .tensor_range(&info)
            .expect("a parsed tensor has a range");
        assert!(
            range.end <= data.len(),
            "tensor {} past the end: {range:?}",
            info.name()
        );
        assert_eq!(range.len() as u64, info.size());
        let expected = info.ggml_type().byte_size(info.shape());
        assert_eq!(expected, Some(info.size()), "size of {}", info.name());
        let view = gguf.tensor_view(&info).expect("a parsed tensor has a view");
        assert_eq!(view.bytes().len() as u64, info.size());
        assert_eq!(
            view.bytes().as_ptr(),
            data[range.start..].as_ptr(),
            "no copy"
        );
        let reversed: Vec<u64> = info.shape().iter().rev().copied().collect();
        assert_eq!(view.dims(), &reversed[..]);
        assert_eq!(view.n_elements(), info.n_elements());
        let block = info.ggml_type().type_size();
        if block > 0 {
            assert_eq!(view.blocks().count() as u64 * block, info.size());
        }
        let _ = (
            view.as_f32().map(<[f32]>::len),
            view.as_f16().map(<[half::f16]>::len),
            view.as_bf16().map(<[half::bf16]>::len),
            view.as_f64().map(<[f64]>::len),
            view.as_i8().map(<[i8]>::len),
            view.as_i16().map(<[i16]>::len),
            view.as_i32().map(<[i32]>::len),
            view.as_i64().map(<[i64]>::len),
        );
        if info.ggml_type() == GgmlType::F32 {
            // Typed views fail only for alignment or byte order, never for length.
            match view.as_f32() {
                Ok(v) => assert_eq!(v.len() as u64, info.n_elements()),
                Err(e) => assert!(
                    matches!(
                        e,
                        Error::MisalignedData { .. } | Error::ForeignByteOrder { .. }
                    ),
                    "{e:?}"
                ),
            }
        }
    }
}

/// Arbitrary bytes: parse, compare the two parsers, and walk everything on success.
pub fn check_parse(data: &[u8]) {
    let indexed = Gguf::parse(data);
    let borrowed = GgufView::parse(data);
    match (&indexed, &borrowed) {
        (Ok(gguf), Ok(b)) => {
            assert_eq!(gguf.tensor_count(), b.tensors().count());
            assert_eq!(gguf.metadata_len(), b.metadata().count());
            walk_gguf(gguf, data);
        }
        // The borrowed form has no duplicate or overlap detection: where the indexed parse
        // stops at a duplicate, it goes on and may succeed or fail later in the file.
        (
            Err(
                Error::DuplicateKey { .. }
                | Error::DuplicateTensor { .. }
                | Error::OverlappingTensors { .. },
            ),
            _,
        ) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "the parsers disagree on the error"),
        (a, b) => panic!(
            "the parsers disagree: indexed {:?}, borrowed {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
    // Header-only parsing never accepts what the full parse rejects for a header reason.
    let header = Gguf::parse_header(data);
    if let (Ok(_), Err(e)) = (&indexed, &header) {
        panic!("full parse succeeded but the header-only parse failed: {e:?}");
    }
    if let Err(e) = &indexed {
        let _ = e.to_string();
    }
}

/// The prefix lengths a reader would ask for: start from nothing and follow each
/// `Truncated { needed }` until the answer is final, plus `extra` lengths spread by a hash of
/// the input.
fn reader_lengths(data: &[u8], extra: usize) -> Vec<usize> {
    let mut lengths = vec![0];
    let mut len = 0usize;
    while lengths.len() < 100_000 {
        match Gguf::parse_header(&data[..len]) {
            Err(Error::Truncated { needed, .. }) if needed <= data.len() as u64 => {
                len = needed as usize;
                lengths.push(len);
            }
            _ => break,
        }
    }
    let mut h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    for _ in 0..extra {
        h = h.rotate_left(17).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        lengths.push((h % (data.len() as u64 + 1)) as usize);
    }
    lengths.push(data.len());
    lengths
}

/// The prefix property at the lengths a reader asks for and 16 others (fast enough to fuzz).
pub fn check_prefix(data: &[u8]) {
    let full = Gguf::parse_header(data);
    for len in reader_lengths(data, 16) {
        check_prefix_at(data, &full, len);
    }
    check_resume(data, &full);
}

/// Growing a prefix as the parser asks (or to the whole file, when it asks for more), with one
/// `IndexBuilder` going on from where it stopped each time, ends where a parse of the whole
/// ends: the same index, or the same error.
fn check_resume(data: &[u8], full: &Result<Gguf<&[u8]>, Error>) {
    let mut builder = IndexBuilder::new();
    let mut len = 0usize;
    let resumed = loop {
        match builder.parse(&data[..len]) {
            Err(Error::Truncated { needed, .. }) if len < data.len() => {
                assert!(needed > len as u64, "asked for {needed} at {len}");
                // More than the file holds: the last try is with all of it.
                len = data.len().min(needed as usize);
            }
            other => break other,
        }
    };
    match (&resumed, full) {
        (Ok(index), Ok(whole)) => {
            assert_eq!(index.layout(), whole.layout());
            let view = index.view(data, data, 0);
            let names = |t: weightmap_core::Tensors<'_>| {
                t.map(|i| (i.name().to_owned(), i.offset(), i.size()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(view.tensors()), names(whole.tensors()));
            let keys = |e: weightmap_core::Entries<'_>| {
                e.map(|e| (e.key().to_owned(), e.value_range()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(view.metadata()), keys(whole.metadata()));
        }
        // Asking for more than the file holds: the whole file fails too, as truncated.
        (Err(Error::Truncated { .. }), Err(Error::Truncated { .. })) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "resumed and whole parses fail differently"),
        (a, b) => panic!(
            "resumed {:?}, whole {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
}

/// The prefix property at every length (for tests).
pub fn check_every_prefix(data: &[u8]) {
    let full = Gguf::parse_header(data);
    for len in 0..=data.len() {
        check_prefix_at(data, &full, len);
    }
}

/// The prefix of `len` bytes gives the same answer as the whole (success with the same contents,
/// or the same error), or `Truncated` asking for more than it has, which makes progress.
fn check_prefix_at(data: &[u8], full: &Result<Gguf<&[u8]>, Error>, len: usize) {
    let prefix = &data[..len];
    match (Gguf::parse_header(prefix), full) {
        (Ok(p), Ok(f)) => {
            // Success on a prefix must be the same file as seen whole.
            assert_eq!(p.metadata_len(), f.metadata_len(), "prefix {len}");
            assert_eq!(p.tensor_count(), f.tensor_count(), "prefix {len}");
            assert_eq!(p.data_offset(), f.data_offset(), "prefix {len}");
            let keys = |g: &Gguf<&[u8]>| {
                g.metadata()
                    .map(|e| (e.key().to_owned(), e.value_range()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(&p), keys(f), "prefix {len}");
            for (a, b) in p.tensors().zip(f.tensors()) {
                assert_eq!(
                    (a.name(), a.offset(), a.size()),
                    (b.name(), b.offset(), b.size())
                );
            }
        }
        (Ok(_), Err(e)) => panic!("prefix {len} parsed but the whole file fails with {e:?}"),
        (Err(Error::Truncated { needed, have, .. }), _) => {
            assert_eq!(have, len as u64, "prefix {len}");
            assert!(
                needed > len as u64,
                "prefix {len}: needed {needed} is not more"
            );
            if needed <= data.len() as u64 {
                // Reading what was asked for makes progress.
                if let Err(Error::Truncated { needed: next, .. }) =
                    Gguf::parse_header(&data[..needed as usize])
                {
                    assert!(
                        next > needed,
                        "prefix {len}: asked for {needed}, then {next}"
                    );
                }
            } else {
                // Asking for more than the whole file is wrong only if the whole file parses.
                assert!(
                    full.is_err(),
                    "prefix {len} asks for {needed} bytes past a file that parses"
                );
            }
        }
        (Err(e), Err(f)) => assert_eq!(&e, f, "prefix {len} fails differently"),
        (Err(e), Ok(_)) => panic!("prefix {len} fails with {e:?} but the whole file parses"),
    }
}

/// The checked helpers against 128-bit arithmetic, and `multi_range` against slicing.
pub fn check_ranges(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut pool = Vec::new();
    while let (Ok(offset), Ok(len), Ok(total)) = (
        interesting_u64(&mut u),
        interesting_u64(&mut u),
        interesting_u64(&mut u),
    ) {
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let exact = u128::from(offset) + u128::from(len);
        match checked_range(offset, len, total) {
            Ok(r) => {
                assert!(exact <= total as u128);
                assert_eq!((r.start as u64, r.len() as u64), (offset, len));
            }
            Err(_) => assert!(exact > total as u128),
        }
        // Powers of two only; anything else is None, as is a result past u64::MAX.
        let align = if len % 2 == 0 {
            1u64 << (len % 64)
        } else {
            len
        };
        let exact = u128::from(offset).div_ceil(u128::from(align.max(1))) * u128::from(align);
        match align_up(offset, align) {
            Some(a) => {
                assert!(align.is_power_of_two());
                assert_eq!(u128::from(a), exact);
            }
            None => assert!(!align.is_power_of_two() || exact > u128::from(u64::MAX)),
        }
        let start = (offset % 4096) as usize;
        let end = (len % 4096) as usize;
        let checked = (end as u64)
            .checked_sub(start as u64)
            .and_then(|n| checked_range(start as u64, n, data.len()).ok());
        assert_eq!(checked.and_then(|r| data.get(r)), data.get(start..end));
        pool.push(start..end);
        if pool.len() >= 64 {
            break;
        }
    }
    check_multi_range(&pool);
}

/// A small mapped file shared by every run (its path is removed at once: the mapping stays).
fn mapped_file() -> &'static weightmap_native::MmapFile {
    static FILE: std::sync::OnceLock<weightmap_native::MmapFile> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("weightmap-fuzz-{}.bin", std::process::id()));
        let bytes: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, bytes).expect("write the fuzzing file");
        let file = weightmap_native::MmapFile::open_untrusted(&path).expect("map the fuzzing file");
        let _ = std::fs::remove_file(&path);
        file
    })
}

/// `multi_range` returns exactly the slices, or `InvalidRange` for the first bad range.
fn check_multi_range(ranges: &[std::ops::Range<usize>]) {
    let file = mapped_file();
    let bytes = file.as_slice();
    let expected: Option<Vec<&[u8]>> = ranges.iter().map(|r| bytes.get(r.clone())).collect();
    match (file.multi_range(ranges), expected) {
        (Ok(got), Some(want)) => assert_eq!(got, want),
        (Err(weightmap_native::Error::InvalidRange { range, size, .. }), None) => {
            let first = ranges.iter().find(|r| bytes.get((*r).clone()).is_none());
            let first = first.expect("some range is invalid");
            assert_eq!(range, first.start as u64..first.end as u64);
            assert_eq!(size, 3000);
        }
        (got, want) => panic!(
            "multi_range: {:?} vs {:?}",
            got.map(|v| v.len()),
            want.map(|v| v.len())
        ),
    }
}

/// A u64 biased towards the edges where arithmetic breaks.
fn interesting_u64(u: &mut Unstructured<'_>) -> arbitrary::Result<u64> {
    const EDGES: [u64; 10] = [
        0,
        1,
        4095,
        4096,
        u32::MAX as u64,
        1 << 32,
        i64::MAX as u64,
        u64::MAX - 1,
        u64::MAX,
        usize::MAX as u64 / 2,
    ];
    Ok(match u.int_in_range(0u8..=3)? {
        0 => EDGES[usize::from(u.int_in_range(0u8..=9)?)],
        1 => EDGES[usize::from(u.int_in_range(0u8..=9)?)]
            .wrapping_sub(u64::from(u.arbitrary::<u8>()?)),
        _ => u.arbitrary()?,
    })
}

/// A GGUF file described by the fuzzer: valid-looking parts whose fields it chooses.
#[derive(Debug, Arbitrary)]
pub struct Spec {
    big_endian: bool,
    version: u8,
    alignment: Option<u8>,
    entries: Vec<EntrySpec>,
    tensors: Vec<TensorSpec>,
    n_kv_delta: i8,
    n_tensors_delta: i8,
    /// Byte positions (modulo the length) to overwrite after serialising.
    pokes: Vec<(u16, u8)>,
    truncate: Option<u16>,
}

#[derive(Debug, Arbitrary)]
struct EntrySpec {
    key: Vec<u8>,
    value: ValueSpec,
}

#[derive(Debug, Arbitrary)]
enum ValueSpec {
    U8(u8),
    I32(i32),
    U32(u32),
    F32(u32),
    Bool(u8),
    Str(Vec<u8>),
    U64(u64),
    F64(u64),
    Strings(Vec<Vec<u8>>),
    I16s(Vec<i16>),
    Nested(Vec<Vec<u32>>),
    /// A type id and raw bytes, whatever they are.
    Raw(u32, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct TensorSpec {
    name: Vec<u8>,
    dims: Vec<u16>,
    type_index: u8,
    /// Added to the offset the builder chose (wrapping), to reach misaligned and overlapping
    /// offsets.
    offset_delta: Option<u64>,
    extra_dims: Option<u32>,
}

const TYPE_IDS: [u32; 37] = [
    0,
    1,
    2,
    3,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    26,
    27,
    28,
    29,
    30,
    34,
    35,
    39,
    40,
    41,
    42,
    4,
    0xFFFF_FFFF,
];

impl Spec {
    /// Serialises the description with the test writer.
    pub fn build(&self) -> Vec<u8> {
        let mut b = Builder {
            endian: if self.big_endian {
                Endian::Big
            } else {
                Endian::Little
            },
            version: [3, 2, 1, 0, 4][usize::from(self.version % 5)],
            ..Builder::default()
        };
        if let Some(a) = self.alignment {
            let alignment = [1u32, 8, 16, 32, 64, 4096, 0, 24][usize::from(a % 8)];
            let value = b.u32(alignment).to_vec();
            b = b.kv_raw(b"general.alignment", 4, value);
            if alignment.is_power_of_two() {
                b.alignment = u64::from(alignment);
            }
        }
        for e in self.entries.iter().take(32) {
            let (type_id, value) = encode_value(&b, &e.value);
            b = b.kv_raw(&e.key, type_id, value);
        }
        for t in self.tensors.iter().take(16) {
            let type_id = TYPE_IDS[usize::from(t.type_index) % TYPE_IDS.len()];
            let dims: Vec<u64> = t.dims.iter().take(5).map(|&d| u64::from(d)).collect();
            let size = GgmlType::from_id(type_id)
                .ok()
                .and_then(|ty| ty.byte_size(&dims))
                .filter(|&s| s <= 1 << 16)
                .unwrap_or(0);
            let name = String::from_utf8_lossy(&t.name).into_owned();
            b = b.tensor(&name, &dims, type_id, &vec![0x3C; size as usize]);
            if let Some(last) = b.tensors.last_mut() {
                *last = RawTensor {
                    name: t.name.clone(),
                    n_dims: t.extra_dims.unwrap_or(last.n_dims),
                    offset: last.offset.wrapping_add(t.offset_delta.unwrap_or(0)),
                    ..last.clone()
                };
            }
        }
        b.n_kv = Some((b.entries.len() as u64).wrapping_add_signed(i64::from(self.n_kv_delta)));
        b.n_tensors =
            Some((b.tensors.len() as u64).wrapping_add_signed(i64::from(self.n_tensors_delta)));
        let mut bytes = b.build();
        if !bytes.is_empty() {
            for &(at, v) in self.pokes.iter().take(8) {
                let at = usize::from(at) % bytes.len();
                bytes[at] = v;
            }
        }
        if let Some(t) = self.truncate {
            bytes.truncate(usize::from(t));
        }
        bytes
    }
}

fn encode_value(b: &Builder, v: &ValueSpec) -> (u32, Vec<u8>) {
    let array = |elem: u32, n: usize, body: Vec<u8>| {
        let mut out = b.u32(elem).to_vec();
        out.extend_from_slice(&b.u64(n as u64));
        out.extend(body);
        (9, out)
    };
    match v {
        ValueSpec::U8(x) => (0, vec![*x]),
        ValueSpec::I32(x) => (5, b.u32(*x as u32).to_vec()),
        ValueSpec::U32(x) => (4, b.u32(*x).to_vec()),
        ValueSpec::F32(x) => (6, b.u32(*x).to_vec()),
        ValueSpec::Bool(x) => (7, vec![*x]),
        ValueSpec::Str(s) => (8, b.string(s)),
        ValueSpec::U64(x) => (10, b.u64(*x).to_vec()),
        ValueSpec::F64(x) => (12, b.u64(*x).to_vec()),
        ValueSpec::Strings(items) => array(
            8,
            items.len(),
            items.iter().flat_map(|s| b.string(s)).collect(),
        ),
        ValueSpec::I16s(items) => array(
            3,
            items.len(),
            items
                .iter()
                .flat_map(|&x| match b.endian {
                    Endian::Little => x.to_le_bytes(),
                    Endian::Big => x.to_be_bytes(),
                })
                .collect(),
        ),
        ValueSpec::Nested(rows) => {
            let body = rows
                .iter()
                .flat_map(|row| {
                    let mut inner = b.u32(4).to_vec();
                    inner.extend_from_slice(&b.u64(row.len() as u64));
                    inner.extend(row.iter().flat_map(|&x| b.u32(x)));
                    inner
                })
                .collect();
            array(9, rows.len(), body)
        }
        ValueSpec::Raw(type_id, bytes) => (*type_id, bytes.clone()),
    }
}

/// A structured input: build it, then check it as bytes and as prefixes.
pub fn check_structured(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(spec) = Spec::arbitrary(&mut u) else {
        return;
    };
    let bytes = spec.build();
    check_parse(&bytes);
    if bytes.len() <= 1 << 16 {
        check_prefix(&bytes);
    }
}

/// The f32 decoders on arbitrary bytes as every tensor type: the first byte picks the type,
/// the second how the output's length relates to the bytes' element count. Whole blocks into
/// an exact output decode (and decode the same split at any block); anything else is an
/// error, and nothing panics or reads out of bounds.
pub fn check_dequant(data: &[u8]) {
    use weightmap_core::{dequant, TensorType};
    let [pick, shape, bytes @ ..] = data else {
        return;
    };
    let types = TensorType::ALL;
    let ty = types[usize::from(*pick) % types.len()];
    let (block, size) = (ty.block_size() as usize, ty.type_size() as usize);
    let whole = bytes.len() / size * size;
    let exact = whole / size * block;
    let (input, len) = match shape % 4 {
        0 => (&bytes[..whole], exact),
        1 => (bytes, exact),
        2 => (&bytes[..whole], exact + 1),
        _ => (&bytes[..whole], exact.saturating_sub(1)),
    };
    let mut out = vec![0f32; len];
    let result = dequant::dequantize(ty, input, &mut out);
    let fits = input.len() % size == 0 && len == input.len() / size * block;
    match (dequant::supports(ty), fits) {
        (true, true) => {
            result.unwrap_or_else(|e| panic!("{ty}: {e}"));
            // Any block boundary splits the decode without changing a bit.
            let blocks = input.len() / size;
            let cut = usize::from(*shape) % (blocks + 1);
            let mut split = vec![0f32; len];
            let (a, b) = split.split_at_mut(cut * block);
            dequant::dequantize(ty, &input[..cut * size], a).unwrap();
            dequant::dequantize(ty, &input[cut * size..], b).unwrap();
            // NaN matches NaN (the bits of an arithmetic NaN are left open by Rust).
            let bits = |v: &[f32]| {
                v.iter()
                    .map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() })
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&out), bits(&split), "{ty} split at block {cut}");
        }
        _ => assert!(
            result.is_err(),
            "{ty}: {} bytes into {len} values",
            input.len()
        ),
    }
}
