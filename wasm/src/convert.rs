//! Metadata values (GGUF's typed ones, safetensors' strings), tensor infos and statistics as
//! plain JavaScript values.
//!
//! Numbers follow one rule: a GGUF 64-bit integer (UINT64, INT64) is a `BigInt` whatever its
//! value, so its type survives; every other number is a JS number. Offsets, sizes and shape
//! dimensions are numbers, exact below 2^53 (9 PiB, beyond any real file); a larger one (a
//! hostile header) is a `BigInt` rather than a rounded number.

use js_sys::{
    Array, BigInt, BigInt64Array, BigUint64Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int8Array, Object, Uint16Array, Uint32Array, Uint8Array,
};
use wasm_bindgen::prelude::*;
use weightmap_core::{Array as GgufArray, ModelEntry, ModelTensor, ModelValue, Value, ValueType};

use crate::Stats;

/// Largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A size, offset or dimension: a number, or a `BigInt` beyond 2^53.
pub(crate) fn js_u64(v: u64) -> JsValue {
    if v <= MAX_SAFE_INTEGER {
        JsValue::from_f64(v as f64)
    } else {
        BigInt::from(v).into()
    }
}

/// An `f32` as the JS number with the same shortest decimal form (0.1f32 is 0.1, not
/// 0.10000000149011612), as `weightmap inspect --json` writes it.
fn js_f32(v: f32) -> JsValue {
    if !v.is_finite() {
        return JsValue::from_f64(v.into());
    }
    JsValue::from_f64(v.to_string().parse().unwrap_or(f64::from(v)))
}

/// A metadata value as a JS value; arrays whole.
pub(crate) fn value(value: &Value<'_>) -> JsValue {
    match *value {
        Value::Uint8(v) => v.into(),
        Value::Int8(v) => v.into(),
        Value::Uint16(v) => v.into(),
        Value::Int16(v) => v.into(),
        Value::Uint32(v) => v.into(),
        Value::Int32(v) => v.into(),
        Value::Float32(v) => js_f32(v),
        Value::Float64(v) => v.into(),
        Value::Bool(v) => v.into(),
        Value::Uint64(v) => BigInt::from(v).into(),
        Value::Int64(v) => BigInt::from(v).into(),
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).as_ref().into(),
        Value::Array(a) => array(&a),
    }
}

/// Elements converted per copy into a typed array.
const CHUNK: usize = 8192;

/// A whole array: numeric arrays as the matching typed array (BigInt64Array and
/// BigUint64Array for 64-bit integers), strings, booleans and nested arrays as an `Array`.
fn array(a: &GgufArray<'_>) -> JsValue {
    // Filled a chunk at a time: however long the array, wasm memory holds one chunk of it.
    macro_rules! typed {
        ($($vt:ident => $ty:ty, $js:ident;)*) => {
            match a.element_type() {
                $(ValueType::$vt => {
                    if let Some(values) = a.values::<$ty>() {
                        let Ok(len) = u32::try_from(values.len()) else {
                            return js_sys::Error::new("array too long for a typed array").into();
                        };
                        let out = $js::new_with_length(len);
                        let mut chunk: Vec<$ty> = Vec::with_capacity(CHUNK);
                        let mut at = 0u32;
                        for v in values {
                            chunk.push(v);
                            if chunk.len() == CHUNK {
                                let end = at + CHUNK as u32;
                                out.subarray(at, end).copy_from(&chunk);
                                at = end;
                                chunk.clear();
                            }
                        }
                        out.subarray(at, len).copy_from(&chunk);
                        return out.into();
                    }
                })*
                _ => {}
            }
        };
    }
    typed! {
        Uint8 => u8, Uint8Array;
        Int8 => i8, Int8Array;
        Uint16 => u16, Uint16Array;
        Int16 => i16, Int16Array;
        Uint32 => u32, Uint32Array;
        Int32 => i32, Int32Array;
        Float32 => f32, Float32Array;
        Float64 => f64, Float64Array;
        Uint64 => u64, BigUint64Array;
        Int64 => i64, BigInt64Array;
    }
    if let Some(strings) = string_array(a) {
        return strings;
    }
    head(a, u64::MAX)
}

/// Most UTF-16 units of a string array decoded in one piece; V8's strings stop at 2^29.
const MAX_JOINED: usize = 1 << 28;

#[wasm_bindgen(inline_js = "export function split_at_utf16(joined, ends) {
  const out = new Array(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) { out[i] = joined.slice(start, ends[i]); start = ends[i]; }
  return out;
}")]
extern "C" {
    /// `joined` cut at the UTF-16 offsets `ends`, one string per end.
    fn split_at_utf16(joined: &str, ends: &[u32]) -> Array;
}

/// UTF-16 code units of `s`: one per UTF-8 sequence, two for a 4-byte one.
fn utf16_len(s: &str) -> usize {
    s.bytes()
        .map(|b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

/// A whole string array as an `Array` of strings: joined in wasm memory, decoded by JS in one
/// call and cut there, instead of one decode per element. `None` for other arrays, for one
/// with an element that is not UTF-8 (the element-wise path writes U+FFFD), or for one too
/// long to join.
fn string_array(a: &GgufArray<'_>) -> Option<JsValue> {
    let strings = a.strings()?;
    // The raw bytes bound the joined text (the elements without their length prefixes); the
    // reservations are fallible and capped, so a hostile array cannot abort the module.
    let mut joined = String::new();
    joined
        .try_reserve(a.raw_bytes().len().min(3 * MAX_JOINED))
        .ok()?;
    let mut ends = Vec::new();
    ends.try_reserve(usize::try_from(a.len()).unwrap_or(0).min(MAX_JOINED))
        .ok()?;
    let mut units = 0usize;
    for s in strings {
        let text = s.ok()?; // not UTF-8: the element-wise path writes U+FFFD
        units += utf16_len(text);
        if units > MAX_JOINED {
            return None;
        }
        joined.push_str(text);
        ends.push(u32::try_from(units).ok()?);
    }
    Some(split_at_utf16(&joined, &ends).into())
}

/// The first `n` elements of an array as an `Array` of JS values.
fn head(a: &GgufArray<'_>, n: u64) -> JsValue {
    let out = Array::new();
    for v in a.iter().take(usize::try_from(n).unwrap_or(usize::MAX)) {
        match v {
            Ok(v) => {
                out.push(&value(&v));
            }
            Err(_) => break, // the parser checked the array; nothing to show past a failure
        }
    }
    out.into()
}

/// Sets `key` on a plain object: an own data property, even for `__proto__` (which a plain
/// assignment would take as the object's prototype).
pub(crate) fn set(obj: &Object, key: &str, value: &JsValue) {
    if key == "__proto__" {
        let _ = js_sys::Reflect::define_property(obj, &key.into(), &data_property(value));
    } else {
        let _ = js_sys::Reflect::set(obj, &key.into(), value);
    }
}

fn data_property(value: &JsValue) -> Object {
    let d = Object::new();
    for (k, v) in [
        ("value", value.clone()),
        ("writable", true.into()),
        ("enumerable", true.into()),
        ("configurable", true.into()),
    ] {
        let _ = js_sys::Reflect::set(&d, &k.into(), &v);
    }
    d
}

/// A plain object from `(key, value)` pairs.
pub(crate) fn object<'a>(fields: impl IntoIterator<Item = (&'a str, JsValue)>) -> Object {
    let obj = Object::new();
    for (k, v) in fields {
        set(&obj, k, &v);
    }
    obj
}

/// `{key, type, value}` for one entry; with `head`, an array's value is
/// `{type, len, head}` (its element type, length and first `head` elements), the shape
/// `weightmap inspect --json` prints. A safetensors value is a string of type `STRING`.
pub(crate) fn entry(e: &ModelEntry<'_>, head_len: Option<u64>) -> Object {
    let v = e.value();
    let shown = match (v.as_gguf(), head_len) {
        (Some(Value::Array(a)), Some(n)) => object([
            ("type", a.element_type().name().into()),
            ("len", js_u64(a.len())),
            ("head", head(&a, n)),
        ])
        .into(),
        _ => model_value(&v),
    };
    object([
        ("key", e.key().into()),
        ("type", v.type_name().into()),
        ("value", shown),
    ])
}

/// A metadata value of either format as a JS value; arrays whole.
pub(crate) fn model_value(v: &ModelValue<'_>) -> JsValue {
    match v.as_gguf() {
        Some(v) => value(&v),
        None => v.as_str().unwrap_or("").into(),
    }
}

/// `{name, type, shape, offset, size}`: shape in the file's order (GGUF's `ne[0]` first,
/// safetensors' row-major), offset relative to the data section, as `weightmap inspect
/// --json` prints them.
pub(crate) fn tensor(t: &ModelTensor<'_>) -> Object {
    let shape = Array::new();
    for d in t.file_shape() {
        shape.push(&js_u64(d));
    }
    object([
        ("name", t.name().into()),
        ("type", t.dtype().name().into()),
        ("shape", shape.into()),
        ("offset", js_u64(t.offset())),
        ("size", js_u64(t.size())),
    ])
}

/// `{count, finite, nan, infinite, min, max, mean, std, histogram: Uint32Array}`.
pub(crate) fn stats(s: &Stats) -> Object {
    object([
        ("count", js_u64(s.count)),
        ("finite", js_u64(s.finite)),
        ("nan", js_u64(s.nan)),
        ("infinite", js_u64(s.infinite)),
        ("min", s.min.into()),
        ("max", s.max.into()),
        ("mean", s.mean.into()),
        ("std", s.std.into()),
        ("histogram", Uint32Array::from(&s.histogram[..]).into()),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf16_lengths() {
        for s in [
            "",
            "abc",
            "é",
            "▁hello",
            "😀",
            "a😀é▁",
            "\u{10FFFF}\u{7FF}\u{800}",
        ] {
            assert_eq!(super::utf16_len(s), s.encode_utf16().count(), "{s}");
        }
    }
}
