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

use weightmap_core::{Gguf, ModelData, Value};

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
        Value::Array(a) => a
            .iter()
            .map_while(Result::ok)
            .fold(1u64, |acc, e| acc.wrapping_add(value(&e, deep))),
    }
}

/// The checksum of a parsed file: every key, every value (with `deep`, arrays element by
/// element) and every tensor info.
pub fn of_gguf<D: ModelData>(gguf: &Gguf<D>, deep: bool) -> u64 {
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
