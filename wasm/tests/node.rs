//! The JavaScript API, run in Node by wasm-bindgen-test-runner:
//! `cargo test -p weightmap-wasm --target wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]

use half::{bf16, f16};
use js_sys::{Array, BigInt, Float32Array, Object, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;
use weightmap_core::testing::Builder;
use weightmap_core::{dequant, Endian, GgmlType, Gguf, TensorType};
use weightmap_wasm::{
    parse_header, tensor_stats, GgufFile, HeaderParser, ModelFile, Stats, TensorStatsBuilder,
};

/// Written by the official gguf writer (gguf 0.19.0): F32, F16, Q8_0 and Q4_K tensors.
const TINY: &[u8] = include_bytes!("../../samples/tiny-llama.gguf");

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap()
}

fn num(obj: &JsValue, key: &str) -> f64 {
    get(obj, key)
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

fn message(err: JsValue) -> String {
    err.dyn_into::<js_sys::Error>()
        .expect("a JS Error")
        .message()
        .into()
}

fn open(bytes: &[u8]) -> GgufFile {
    GgufFile::new(&Uint8Array::from(bytes)).unwrap()
}

#[wasm_bindgen_test]
fn header_fields_match_the_core_parser() {
    let file = open(TINY);
    let core = Gguf::parse(TINY).unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), core.alignment());
    assert_eq!(file.data_offset().as_f64(), Some(core.data_offset() as f64));
    assert_eq!(file.required_len().as_f64(), Some(TINY.len() as f64));
    assert_eq!(file.metadata_count(), core.metadata_len());
    assert_eq!(file.tensor_count(), 8);
    assert_eq!(file.architecture().as_deref(), Some("llama"));
    assert!(file.has_tensor_data());
}

#[wasm_bindgen_test]
fn metadata_is_a_plain_object_with_typed_values() {
    let file = open(TINY);
    let meta: JsValue = file.metadata().into();
    assert_eq!(get(&meta, "general.architecture"), "llama");
    assert_eq!(num(&meta, "llama.block_count"), 2.0);
    // FLOAT32 values keep their shortest decimal form.
    assert_eq!(num(&meta, "llama.attention.layer_norm_rms_epsilon"), 1e-5);
    let tokens = get(&meta, "tokenizer.ggml.tokens");
    assert!(Array::is_array(&tokens));
    let tokens: Array = tokens.into();
    assert_eq!(tokens.length(), 64);
    assert!(get(&meta, "tokenizer.ggml.scores").is_instance_of::<Float32Array>());
    assert_eq!(
        Object::keys(&file.metadata()).length() as usize,
        file.metadata_count()
    );
    assert_eq!(file.get("llama.block_count").as_f64(), Some(2.0));
    assert!(file.get("no.such.key").is_undefined());
}

#[wasm_bindgen_test]
fn sixty_four_bit_integers_are_bigints_and_keys_are_own_properties() {
    let bytes = Builder::default()
        .kv_raw(b"big.u64", 10, u64::MAX.to_le_bytes().to_vec())
        .kv_raw(b"big.i64", 11, (-5i64).to_le_bytes().to_vec())
        .kv_raw(b"__proto__", 4, 7u32.to_le_bytes().to_vec())
        .build();
    let file = open(&bytes);
    let meta: JsValue = file.metadata().into();
    assert_eq!(get(&meta, "big.u64"), JsValue::from(BigInt::from(u64::MAX)));
    assert_eq!(get(&meta, "big.i64"), JsValue::from(BigInt::from(-5i64)));
    // An own data property, not the object's prototype.
    let own = Object::get_own_property_descriptor(&file.metadata(), &"__proto__".into());
    assert_eq!(get(&own, "value").as_f64(), Some(7.0));
}

#[wasm_bindgen_test]
fn entries_with_a_head_collapse_arrays() {
    let file = open(TINY);
    let entries = file.metadata_entries(Some(3));
    let tokens = entries
        .iter()
        .find(|e| get(e, "key") == "tokenizer.ggml.tokens")
        .unwrap();
    assert_eq!(get(&tokens, "type"), "ARRAY");
    let value = get(&tokens, "value");
    assert_eq!(get(&value, "type"), "STRING");
    assert_eq!(num(&value, "len"), 64.0);
    assert_eq!(Array::from(&get(&value, "head")).length(), 3);
    assert_eq!(entries.length() as usize, file.metadata_count());
}

#[wasm_bindgen_test]
fn tensors_are_listed_in_file_order_with_ranges() {
    let file = open(TINY);
    let core = Gguf::parse(TINY).unwrap();
    let tensors = file.tensors();
    assert_eq!(tensors.length(), 8);
    for (js, info) in tensors.iter().zip(core.tensors()) {
        assert_eq!(get(&js, "name"), info.name());
        assert_eq!(get(&js, "type"), info.ggml_type().name());
        assert_eq!(num(&js, "offset"), info.offset() as f64);
        assert_eq!(num(&js, "size"), info.size() as f64);
        let shape: Vec<f64> = Array::from(&get(&js, "shape"))
            .iter()
            .map(|d| d.as_f64().unwrap())
            .collect();
        let want: Vec<f64> = info.shape().iter().map(|&d| d as f64).collect();
        assert_eq!(shape, want);
        let range = file.tensor_range(info.name()).unwrap();
        let start = core.data_offset() + info.offset();
        assert_eq!(num(&range, "start"), start as f64);
        assert_eq!(num(&range, "end"), (start + info.size()) as f64);
        let bytes = file.tensor_bytes(info.name()).unwrap().to_vec();
        assert_eq!(bytes, core.tensor(info.name()).unwrap().bytes());
    }
}

#[wasm_bindgen_test]
fn f32_and_f16_tensors_convert() {
    let file = open(TINY);
    let core = Gguf::parse(TINY).unwrap();
    let norm = file.tensor_f32("output_norm.weight").unwrap().to_vec();
    assert_eq!(
        norm,
        core.tensor("output_norm.weight").unwrap().as_f32().unwrap()
    );
    let q = file.tensor_f32("blk.0.attn_q.weight").unwrap().to_vec();
    let want: Vec<f32> = core
        .tensor("blk.0.attn_q.weight")
        .unwrap()
        .as_f16()
        .unwrap()
        .iter()
        .map(|v| v.to_f32())
        .collect();
    assert_eq!(q, want);
    let err = message(file.tensor_f32("token_embd.weight").unwrap_err());
    assert!(err.contains("Q8_0"), "{err}");
    let err = message(file.tensor_bytes("missing").unwrap_err());
    assert!(err.contains("missing"), "{err}");
}

#[wasm_bindgen_test]
fn bf16_and_big_endian_files_convert() {
    let values = [0.5f32, -3.0, 1e10, 0.0];
    for endian in [Endian::Little, Endian::Big] {
        let bf: Vec<u8> = values
            .iter()
            .flat_map(|&v| match endian {
                Endian::Little => bf16::from_f32(v).to_le_bytes(),
                Endian::Big => bf16::from_f32(v).to_be_bytes(),
            })
            .collect();
        let hf: Vec<u8> = values
            .iter()
            .flat_map(|&v| match endian {
                Endian::Little => f16::from_f32(v.min(6e4)).to_le_bytes(),
                Endian::Big => f16::from_f32(v.min(6e4)).to_be_bytes(),
            })
            .collect();
        let mut builder = Builder {
            endian,
            ..Builder::default()
        };
        builder = builder
            .tensor("bf", &[4], 30, &bf)
            .tensor("hf", &[4], 1, &hf);
        let file = open(&builder.build());
        let got = file.tensor_f32("bf").unwrap().to_vec();
        let want: Vec<f32> = values.iter().map(|&v| bf16::from_f32(v).to_f32()).collect();
        assert_eq!(got, want, "{endian:?}");
        let got = file.tensor_f32("hf").unwrap().to_vec();
        let want: Vec<f32> = values
            .iter()
            .map(|&v| f16::from_f32(v.min(6e4)).to_f32())
            .collect();
        assert_eq!(got, want, "{endian:?}");
    }
}

#[wasm_bindgen_test]
fn header_only_parsing_asks_for_more_then_decodes_ranges() {
    let mut have = 16;
    let header = loop {
        let result = parse_header(&Uint8Array::from(&TINY[..have])).unwrap();
        let needed = get(&result, "needed");
        if needed.is_undefined() {
            break get(&result, "file");
        }
        let needed = needed.as_f64().unwrap() as usize;
        assert!(needed > have && needed <= TINY.len());
        have = needed;
    };
    assert!(have < TINY.len(), "the header is a prefix");
    assert!(get(&header, "hasTensorData").is_falsy());
    assert_eq!(num(&header, "tensorCount"), 8.0);
    // The class methods, through JS: the object came back as a GgufFile.
    let call = |name: &str, args: &Array| {
        let f: js_sys::Function = get(&header, name).into();
        f.apply(&header, args)
    };
    let err = message(call("tensorBytes", &Array::of1(&"output_norm.weight".into())).unwrap_err());
    assert!(
        err.contains("output_norm") && err.contains("past the end"),
        "{err}"
    );
    let range = call("tensorRange", &Array::of1(&"output_norm.weight".into())).unwrap();
    let (start, end) = (num(&range, "start") as usize, num(&range, "end") as usize);
    let bytes = Uint8Array::from(&TINY[start..end]);
    let values = call(
        "decodeF32",
        &Array::of2(&"output_norm.weight".into(), &bytes),
    )
    .unwrap();
    let values: Float32Array = values.into();
    let core = Gguf::parse(TINY).unwrap();
    assert_eq!(
        values.to_vec(),
        core.tensor("output_norm.weight").unwrap().as_f32().unwrap()
    );
    let short = Uint8Array::from(&TINY[start..end - 4]);
    let err = call(
        "decodeF32",
        &Array::of2(&"output_norm.weight".into(), &short),
    )
    .unwrap_err();
    assert!(message(err).contains("were given"));
}

#[wasm_bindgen_test]
fn malformed_files_are_errors_with_the_parser_text() {
    let err = message(
        GgufFile::new(&Uint8Array::from(&b"GGML\x03\0\0\0"[..]))
            .err()
            .unwrap(),
    );
    assert!(err.contains("not a GGUF file"), "{err}");
    // 4 bytes do not tell the format yet; 9 do.
    let short = parse_header(&Uint8Array::from(&b"NOPE"[..])).unwrap();
    assert_eq!(num(&short, "needed"), 9.0);
    let err = message(parse_header(&Uint8Array::from(&b"NOPE, not a model"[..])).unwrap_err());
    assert!(err.contains("not a GGUF or safetensors file"), "{err}");
    // A whole-file parse of a prefix is refused: its tensors are not all there.
    let err = GgufFile::new(&Uint8Array::from(&TINY[..TINY.len() - 1]))
        .err()
        .unwrap();
    let err = message(err);
    assert!(err.contains("past the end"), "{err}");
    let mut corrupt = TINY.to_vec();
    corrupt[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // tensor count
    assert!(GgufFile::new(&Uint8Array::from(&corrupt[..])).is_err());
    assert!(parse_header(&Uint8Array::from(&corrupt[..])).is_err());
}

#[wasm_bindgen_test]
fn stats_of_a_tensor() {
    let values = Float32Array::from(&[1.0f32, 2.0, 3.0, 4.0, f32::NAN][..]);
    let s = tensor_stats(&values, Some(3));
    assert_eq!(
        (num(&s, "min"), num(&s, "max"), num(&s, "mean")),
        (1.0, 4.0, 2.5)
    );
    assert_eq!(
        (num(&s, "count"), num(&s, "finite"), num(&s, "nan")),
        (5.0, 4.0, 1.0)
    );
    let hist: Uint32Array = get(&s, "histogram").into();
    assert_eq!(hist.to_vec(), [1, 1, 2]);
    let default_bins: Uint32Array = get(&tensor_stats(&values, None), "histogram").into();
    assert_eq!(default_bins.length(), 64);
}

#[wasm_bindgen_test]
fn header_parser_resumes_from_chunks_of_any_size() {
    let header_len = Gguf::parse(TINY).unwrap().layout().tensor_info_end as usize;
    for chunk in [1, 7, 24, 100, 4096, TINY.len()] {
        let mut parser = HeaderParser::new();
        let mut at = 0;
        let done = loop {
            let end = (at + chunk).min(TINY.len());
            if parser.push(&Uint8Array::from(&TINY[at..end])).unwrap() {
                break end;
            }
            assert!(parser.needed().as_f64().unwrap() as usize > end);
            at = end;
            assert_eq!(parser.length() as usize, at);
        };
        assert!(
            done >= header_len && done < header_len + chunk.max(1) + 64,
            "chunk {chunk}"
        );
        let file = parser.finish().unwrap();
        assert_eq!(file.tensor_count(), 8, "chunk {chunk}");
        assert_eq!(Object::keys(&file.metadata()).length(), 21);
        assert!(!file.has_tensor_data() || done == TINY.len());
    }
}

#[wasm_bindgen_test]
fn header_parser_errors_are_final_and_finish_needs_a_whole_header() {
    let mut parser = HeaderParser::new();
    assert!(!parser.push(&Uint8Array::from(&TINY[..100])).unwrap());
    let err = message(parser.finish().err().unwrap());
    assert!(err.contains("not complete"), "{err}");

    let mut parser = HeaderParser::new();
    let mut bad = TINY[..64].to_vec();
    bad[4] = 9; // version 9
    let err = message(parser.push(&Uint8Array::from(&bad[..])).unwrap_err());
    assert!(err.contains("version"), "{err}");
    let again = message(parser.push(&Uint8Array::from(&TINY[64..])).unwrap_err());
    assert!(again.contains("already failed"), "{again}");
}

fn string_array(items: &[&[u8]]) -> Vec<u8> {
    let mut v = 8u32.to_le_bytes().to_vec(); // element type STRING
    v.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for s in items {
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
        v.extend_from_slice(s);
    }
    v
}

#[wasm_bindgen_test]
fn string_arrays_keep_every_character_and_replace_invalid_utf8() {
    let good: [&[u8]; 6] = [
        b"",
        "▁hello".as_bytes(),
        "😀".as_bytes(),
        b"a",
        "é\u{10FFFF}".as_bytes(),
        b"",
    ];
    let bad: [&[u8]; 3] = [b"ok", b"\xff\xfe", "ü".as_bytes()];
    let bytes = Builder::default()
        .kv_raw(b"good", 9, string_array(&good))
        .kv_raw(b"bad", 9, string_array(&bad))
        .build();
    let file = open(&bytes);
    let strings = |key: &str| -> Vec<String> {
        Array::from(&file.get(key))
            .iter()
            .map(|s| s.as_string().unwrap())
            .collect()
    };
    let want: Vec<String> = good
        .iter()
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    assert_eq!(strings("good"), want);
    assert_eq!(strings("bad"), ["ok", "\u{FFFD}\u{FFFD}", "ü"]);
}

#[wasm_bindgen_test]
fn long_arrays_convert_across_chunks() {
    let n = 20_001u32;
    let mut value = 5u32.to_le_bytes().to_vec(); // element type UINT32
    value.extend_from_slice(&u64::from(n).to_le_bytes());
    for i in 0..n {
        value.extend_from_slice(&(i * 3).to_le_bytes());
    }
    let file = open(&Builder::default().kv_raw(b"long", 9, value).build());
    let got: Uint32Array = file.get("long").into();
    let want: Vec<u32> = (0..n).map(|i| i * 3).collect();
    assert_eq!(got.to_vec(), want);

    let values: Vec<f32> = (0..200_003)
        .map(|i| ((i * 7919) % 10007) as f32 / 7.0)
        .collect();
    let s = tensor_stats(&Float32Array::from(&values[..]), Some(100));
    let want = weightmap_wasm::Stats::of(&values, 100);
    assert_eq!(num(&s, "mean"), want.mean);
    assert_eq!(num(&s, "std"), want.std);
    let hist: Uint32Array = get(&s, "histogram").into();
    assert_eq!(hist.to_vec(), want.histogram);
}

#[wasm_bindgen_test]
fn next_read_end_asks_for_what_is_needed_and_refuses_short_files() {
    let mib = f64::from(1u32 << 20);
    let mut parser = HeaderParser::new();
    assert_eq!(parser.next_read_end(1e10).unwrap(), mib); // first read: 1 MiB
    assert_eq!(parser.next_read_end(100.0).unwrap(), 100.0); // never past the end
    assert!(!parser.push(&Uint8Array::from(&TINY[..100])).unwrap());
    // Twice what was read, or 1 MiB, whichever is more, unless the parser needs more.
    assert_eq!(parser.next_read_end(1e10).unwrap(), mib);
    let needed = parser.needed().as_f64().unwrap();
    assert!(needed > 100.0);
    assert_eq!(parser.next_read_end(needed + 10.0).unwrap(), needed + 10.0);
    let err = message(parser.next_read_end(needed - 1.0).unwrap_err());
    assert!(
        err.contains("truncated") && err.contains(&format!("needs {needed} bytes")),
        "{err}"
    );

    let mut empty = HeaderParser::new();
    assert_eq!(empty.next_read_end(0.0).unwrap(), 0.0);
    assert!(!empty.push(&Uint8Array::new_with_length(0)).unwrap());
    // 9 bytes tell the format (GGUF's magic, or safetensors' length and first JSON byte).
    assert!(message(empty.next_read_end(0.0).unwrap_err()).contains("needs 9 bytes"));
    assert!(empty.next_read_end(f64::NAN).is_err());
}

/// A safetensors file with F32, BF16, I64 and F4 tensors and metadata.
fn safetensors_file() -> Vec<u8> {
    let f32s: Vec<u8> = [1.5f32, -2.0, 0.25, 8.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bf16s: Vec<u8> = [1.0f32, -0.5]
        .iter()
        .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
        .collect();
    weightmap_core::testing::SafetensorsBuilder::default()
        .meta("format", "pt")
        .tensor("w", "F32", &[2, 2], &f32s)
        .tensor("b", "BF16", &[2], &bf16s)
        .tensor("ids", "I64", &[1], &7i64.to_le_bytes())
        .tensor("packed", "F4", &[4], &[0x12, 0x34])
        .build()
}

#[wasm_bindgen_test]
fn safetensors_files_read_through_the_same_api() {
    let bytes = safetensors_file();
    let file = ModelFile::new(&Uint8Array::from(&bytes[..])).unwrap();
    assert_eq!(file.format(), "safetensors");
    assert_eq!((file.version(), file.alignment()), (None, None));
    assert_eq!(file.tensor_count(), 4);
    assert_eq!(file.metadata_count(), 1);
    assert_eq!(get(&file.metadata().into(), "format"), "pt");
    let entry = file.metadata_entries(Some(8)).get(0);
    assert_eq!(
        (get(&entry, "type"), get(&entry, "value")),
        ("STRING".into(), "pt".into())
    );
    let tensors = file.tensors();
    let w = tensors.get(0);
    assert_eq!(get(&w, "name"), "w");
    assert_eq!(get(&w, "type"), "F32");
    let shape: Array = get(&w, "shape").into();
    assert_eq!(
        (shape.get(0).as_f64(), shape.get(1).as_f64()),
        (Some(2.0), Some(2.0)),
        "row-major"
    );
    assert_eq!(
        file.tensor_f32("w").unwrap().to_vec(),
        [1.5, -2.0, 0.25, 8.0]
    );
    assert_eq!(file.tensor_f32("b").unwrap().to_vec(), [1.0, -0.5]);
    let err = message(file.tensor_f32("ids").unwrap_err());
    assert!(err.contains("I64"), "{err}");
    assert_eq!(file.tensor_bytes("packed").unwrap().to_vec(), [0x12, 0x34]);
    let range = file.tensor_range("w").unwrap();
    assert_eq!(num(&range, "end") - num(&range, "start"), 16.0);
    // GgufFile is GGUF's only.
    assert!(GgufFile::new(&Uint8Array::from(&bytes[..])).is_err());
    // And ModelFile reads GGUF too.
    let gguf = ModelFile::new(&Uint8Array::from(TINY)).unwrap();
    assert_eq!((gguf.format(), gguf.version()), ("gguf".into(), Some(3)));
}

#[wasm_bindgen_test]
fn safetensors_headers_read_in_chunks_or_by_parse_header() {
    let bytes = safetensors_file();
    let data_offset = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for chunk in [1, 3, 8, 50, bytes.len()] {
        let mut parser = HeaderParser::new();
        let mut at = 0;
        loop {
            let end = (at + chunk).min(bytes.len());
            if parser.push(&Uint8Array::from(&bytes[at..end])).unwrap() {
                assert!(end >= data_offset, "chunk {chunk}");
                break;
            }
            assert!(parser.needed().as_f64().unwrap() as usize > end);
            at = end;
        }
        assert_eq!(parser.format().as_deref(), Some("safetensors"));
        let file = parser.finish().unwrap();
        assert_eq!(file.tensor_count(), 4, "chunk {chunk}");
    }
    // parseHeader asks for 8 bytes, then for the whole header.
    let mut have = 0;
    let mut asked = Vec::new();
    let header = loop {
        let result = parse_header(&Uint8Array::from(&bytes[..have])).unwrap();
        let needed = get(&result, "needed");
        if needed.is_undefined() {
            break get(&result, "file");
        }
        have = needed.as_f64().unwrap() as usize;
        asked.push(have);
    };
    assert_eq!(asked.last(), Some(&data_offset));
    assert_eq!(get(&header, "format"), "safetensors");
    assert!(get(&header, "hasTensorData").is_falsy());
    let bad = weightmap_core::testing::SafetensorsBuilder::raw("[1]", &[]);
    let err = message(parse_header(&Uint8Array::from(&bad[..])).unwrap_err());
    assert!(err.contains("JSON header"), "{err}");
}

/// Feeds a builder the slices of `file` it asks for; returns its statistics and the reads.
fn stats_by_reads(mut builder: TensorStatsBuilder, file: &[u8]) -> (JsValue, Vec<(usize, usize)>) {
    let mut reads = Vec::new();
    let mut progress = builder.progress();
    loop {
        let next = builder.next_read();
        assert!(!builder.done() && !next.is_undefined());
        let (start, end) = (num(&next, "start") as usize, num(&next, "end") as usize);
        reads.push((start, end));
        let done = builder.push(&Uint8Array::from(&file[start..end])).unwrap();
        assert!(builder.progress() > progress);
        progress = builder.progress();
        if done {
            break;
        }
    }
    assert!(builder.done() && builder.next_read().is_undefined());
    assert_eq!(builder.progress(), 1.0);
    (builder.finish().unwrap(), reads)
}

/// The JS statistics are `want`'s, bit for bit (NaN where `want` has NaN).
fn assert_stats(js: &JsValue, want: &Stats, what: &str) {
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    for (key, v) in [
        ("count", want.count as f64),
        ("finite", want.finite as f64),
        ("nan", want.nan as f64),
        ("infinite", want.infinite as f64),
        ("min", want.min),
        ("max", want.max),
        ("mean", want.mean),
        ("std", want.std),
    ] {
        assert!(
            same(num(js, key), v),
            "{what}: {key} {} != {v}",
            num(js, key)
        );
    }
    let hist: Uint32Array = get(js, "histogram").into();
    assert_eq!(hist.to_vec(), want.histogram, "{what}");
}

/// Pseudo-random bytes (an LCG: the same every run).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 56) as u8
        })
        .collect()
}

#[wasm_bindgen_test]
fn quantized_tensor_stats_stream_through_reads_of_whole_blocks() {
    // 260,000 Q8_0 blocks (8.8 MB, two 8 MiB reads a pass) of random bytes, NaN and infinite
    // scales included; a few Q4_K and Q6_K blocks; the official writer's Q8_0 and Q4_K tensors.
    let q8 = noise(260_000 * 34, 1);
    let q4k = noise(3 * 144, 2);
    let q6k = noise(5 * 210, 3);
    let bytes = Builder::default()
        .tensor("q8", &[32 * 1000, 260], GgmlType::Q8_0.id(), &q8)
        .tensor("q4k", &[256 * 3], GgmlType::Q4_K.id(), &q4k)
        .tensor("q6k", &[256 * 5], GgmlType::Q6_K.id(), &q6k)
        .build();
    for (file, names) in [
        (&bytes[..], &["q8", "q4k", "q6k"][..]),
        (TINY, &["token_embd.weight", "blk.0.ffn_down.weight"][..]),
    ] {
        let core = Gguf::parse(file).unwrap();
        let js = open(file);
        for &name in names {
            let view = core.tensor(name).unwrap();
            let want = Stats::of(&view.to_f32().unwrap(), 50);
            let (got, reads) =
                stats_by_reads(js.tensor_stats_builder(name, Some(50)).unwrap(), file);
            assert_stats(&got, &want, name);
            // Both passes read the tensor's bytes in order, each read whole blocks.
            let range = js.tensor_range(name).unwrap();
            let (start, end) = (num(&range, "start") as usize, num(&range, "end") as usize);
            let block = view.dtype().type_size() as usize;
            let pass: Vec<_> = reads.iter().take(reads.len() / 2).collect();
            assert_eq!(reads.len() % 2, 0, "{name}: two passes");
            assert_eq!(&reads[..pass.len()], &reads[pass.len()..], "{name}");
            assert_eq!((pass[0].0, pass[pass.len() - 1].1), (start, end), "{name}");
            assert!(pass.windows(2).all(|w| w[0].1 == w[1].0), "{name}");
            assert!(pass
                .iter()
                .all(|r| (r.1 - r.0) % block == 0 && r.1 - r.0 <= 8 << 20));
            if name == "q8" {
                assert_eq!(pass.len(), 2);
                assert!(want.nan > 0 && want.infinite > 0, "special scales decoded");
            }
        }
    }
    assert!(TINY.len() < 8 << 20);
}

#[wasm_bindgen_test]
fn big_endian_plain_tensors_are_swapped_and_block_types_refused() {
    let values = [0.5f32, -3.0, 1e4, 0.0, f32::INFINITY];
    let hf: Vec<u8> = values
        .iter()
        .flat_map(|&v| f16::from_f32(v).to_be_bytes())
        .collect();
    let f: Vec<u8> = values.iter().flat_map(|&v| v.to_be_bytes()).collect();
    let ints: Vec<u8> = [-7i32, 9, 1 << 20]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let builder = Builder {
        endian: Endian::Big,
        ..Builder::default()
    };
    let bytes = builder
        .tensor("hf", &[5], GgmlType::F16.id(), &hf)
        .tensor("f", &[5], GgmlType::F32.id(), &f)
        .tensor("i32", &[3], GgmlType::I32.id(), &ints)
        .tensor("i8", &[3], GgmlType::I8.id(), &[0xff, 2, 3])
        .tensor("q8", &[32], GgmlType::Q8_0.id(), &[0; 34])
        .build();
    let file = open(&bytes);
    let want = Stats::of(&values.map(|v| f16::from_f32(v).to_f32()), 8);
    assert_stats(
        &stats_by_reads(file.tensor_stats_builder("hf", Some(8)).unwrap(), &bytes).0,
        &want,
        "hf",
    );
    assert_stats(
        &stats_by_reads(file.tensor_stats_builder("f", Some(8)).unwrap(), &bytes).0,
        &Stats::of(&values, 8),
        "f",
    );
    let want = Stats::of(&[-7.0, 9.0, 1048576.0], 8);
    assert_stats(
        &stats_by_reads(file.tensor_stats_builder("i32", Some(8)).unwrap(), &bytes).0,
        &want,
        "i32",
    );
    let want = Stats::of(&[-1.0, 2.0, 3.0], 64); // the default bins
    assert_stats(
        &stats_by_reads(file.tensor_stats_builder("i8", None).unwrap(), &bytes).0,
        &want,
        "i8",
    );
    let err = message(file.tensor_stats_builder("q8", None).err().unwrap());
    assert!(err.contains("q8") && err.contains("big-endian"), "{err}");
}

#[wasm_bindgen_test]
fn stats_builder_errors_name_the_tensor_and_the_type() {
    // A type without a decoder (while there is one): the message names it.
    let missing = TensorType::ALL
        .iter()
        .filter_map(|t| t.ggml())
        .find(|&g| !dequant::supports(g.into()));
    let mut builder = Builder::default()
        .tensor("w", &[64], GgmlType::Q8_0.id(), &[0; 68])
        .tensor("empty", &[0], GgmlType::F32.id(), &[]);
    if let Some(g) = missing {
        builder = builder.tensor(
            "odd",
            &[g.block_size()],
            g.id(),
            &vec![0; g.type_size() as usize],
        );
    }
    let bytes = builder.build();
    let file = ModelFile::new(&Uint8Array::from(&bytes[..])).unwrap();
    if let Some(g) = missing {
        let err = message(file.tensor_stats_builder("odd", None).err().unwrap());
        assert!(
            err.contains("odd") && err.contains(g.name()) && err.contains("no f32 decoder"),
            "{err}"
        );
    }
    let err = message(file.tensor_stats_builder("nope", None).err().unwrap());
    assert!(err.contains("nope"), "{err}");

    let mut stats = file.tensor_stats_builder("w", None).unwrap();
    let next = stats.next_read();
    let start = num(&next, "start") as usize;
    assert_eq!(num(&next, "end") as usize - start, 68);
    let err = message(
        stats
            .push(&Uint8Array::from(&bytes[start..start + 34]))
            .unwrap_err(),
    );
    assert!(
        err.contains("w") && err.contains("68 bytes, not 34"),
        "{err}"
    );
    assert!(!stats
        .push(&Uint8Array::from(&bytes[start..start + 68]))
        .unwrap());
    let err = message(stats.finish().err().unwrap());
    assert!(err.contains("not complete"), "{err}");

    // An empty tensor is done before any read: no values.
    let empty = file.tensor_stats_builder("empty", None).unwrap();
    assert!(empty.done() && empty.next_read().is_undefined());
    let s = empty.finish().unwrap();
    assert_eq!(num(&s, "count"), 0.0);
    assert!(num(&s, "mean").is_nan());
}
