//! The checksum the comparison binaries fold every visited key, value and tensor info into, so
//! the work cannot be optimised away and every parser's result can be cross-checked:
//!
//! * per metadata entry: key length in bytes plus the value weight;
//! * value weight: `1 + raw bits` for a scalar (integers sign-extended to 64 bits, floats by
//!   `to_bits`, bools as 0/1), `1 + byte length` for a string, `1 + the element weights` for
//!   an array in deep mode and `1 + its length` in shallow mode;
//! * per tensor: name length + number of dims + sum of dims + ggml type id + data offset
//!   (relative to the data section).
//!
//! All sums wrap.

use weightmap_core::{Array, ArrayElement, GgufView, Value, ValueType};

/// Weight of a scalar value: one for its presence plus its raw bits.
pub fn scalar(bits: u64) -> u64 {
    bits.wrapping_add(1)
}

/// Weight of a string value: one for its presence plus its length.
pub fn string(len: usize) -> u64 {
    (len as u64).wrapping_add(1)
}

/// Weight of an array whose elements are not visited (the shallow mode): one plus its length.
pub fn shallow_array(len: u64) -> u64 {
    len.wrapping_add(1)
}

/// Weight of one tensor descriptor.
pub fn tensor(
    name_len: usize,
    dims: impl ExactSizeIterator<Item = u64>,
    ty: u32,
    offset: u64,
) -> u64 {
    let rank = dims.len() as u64;
    let dim_sum = dims.fold(0u64, u64::wrapping_add);
    (name_len as u64)
        .wrapping_add(rank)
        .wrapping_add(dim_sum)
        .wrapping_add(u64::from(ty))
        .wrapping_add(offset)
}

/// Weight of a weightmap value; with `deep`, every array element is visited.
pub fn value(v: &Value<'_>, deep: bool) -> u64 {
    match *v {
        Value::Uint8(x) => scalar(x.into()),
        Value::Int8(x) => scalar(i64::from(x) as u64),
        Value::Uint16(x) => scalar(x.into()),
        Value::Int16(x) => scalar(i64::from(x) as u64),
        Value::Uint32(x) => scalar(x.into()),
        Value::Int32(x) => scalar(i64::from(x) as u64),
        Value::Uint64(x) => scalar(x),
        Value::Int64(x) => scalar(x as u64),
        Value::Float32(x) => scalar(x.to_bits().into()),
        Value::Float64(x) => scalar(x.to_bits()),
        Value::Bool(x) => scalar(x.into()),
        Value::String(s) => string(s.as_bytes().len()),
        Value::Array(a) if !deep => shallow_array(a.len()),
        Value::Array(a) => 1u64.wrapping_add(elements(&a)),
    }
}

/// The weights of every element of an array, read the fast way for its element type: numbers
/// as typed values, strings through the windowed UTF-8 check, nested arrays recursively.
pub fn elements(a: &Array<'_>) -> u64 {
    fn sum<T: ArrayElement>(a: &Array<'_>, bits: impl Fn(T) -> u64) -> u64 {
        a.values::<T>()
            .into_iter()
            .flatten()
            .fold(0u64, |acc, v| acc.wrapping_add(scalar(bits(v))))
    }
    match a.element_type() {
        ValueType::Uint8 => sum(a, |v: u8| v.into()),
        ValueType::Int8 => sum(a, |v: i8| i64::from(v) as u64),
        ValueType::Uint16 => sum(a, |v: u16| v.into()),
        ValueType::Int16 => sum(a, |v: i16| i64::from(v) as u64),
        ValueType::Uint32 => sum(a, |v: u32| v.into()),
        ValueType::Int32 => sum(a, |v: i32| i64::from(v) as u64),
        ValueType::Uint64 => sum(a, |v: u64| v),
        ValueType::Int64 => sum(a, |v: i64| v as u64),
        ValueType::Float32 => sum(a, |v: f32| v.to_bits().into()),
        ValueType::Float64 => sum(a, |v: f64| v.to_bits()),
        ValueType::Bool => sum(a, |v: bool| v.into()),
        ValueType::String => a
            .strings()
            .into_iter()
            .flatten()
            .map_while(Result::ok)
            .fold(0u64, |acc, s| acc.wrapping_add(string(s.len()))),
        ValueType::Array => a
            .iter()
            .map_while(Result::ok)
            .fold(0u64, |acc, e| acc.wrapping_add(value(&e, true))),
    }
}

/// The checksum of a parsed file: every key, every value (with `deep`, arrays element by
/// element) and every tensor info.
pub fn of_gguf(gguf: GgufView<'_>, deep: bool) -> u64 {
    let mut sum = 0u64;
    for e in gguf.metadata() {
        sum = sum
            .wrapping_add(e.key().len() as u64)
            .wrapping_add(value(&e.value(), deep));
    }
    for t in gguf.tensors() {
        let weight = tensor(
            t.name().len(),
            t.shape().iter().copied(),
            t.ggml_type().id(),
            t.offset(),
        );
        sum = sum.wrapping_add(weight);
    }
    sum
}
