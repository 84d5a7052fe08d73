//! Metadata values as Python objects: numbers as `int`/`float`, `bool`, strings as `str`,
//! arrays as lists (what the official reader's `contents()` returns), decoded when asked.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::IntoPyObjectExt;
use weightmap_core::{Array, ArrayElement, Endian, Value, ValueType};

use crate::errors;

/// `value` as a Python object.
pub(crate) fn to_py<'py>(
    py: Python<'py>,
    key: &str,
    value: Value<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Uint8(v) => v.into_bound_py_any(py),
        Value::Int8(v) => v.into_bound_py_any(py),
        Value::Uint16(v) => v.into_bound_py_any(py),
        Value::Int16(v) => v.into_bound_py_any(py),
        Value::Uint32(v) => v.into_bound_py_any(py),
        Value::Int32(v) => v.into_bound_py_any(py),
        Value::Uint64(v) => v.into_bound_py_any(py),
        Value::Int64(v) => v.into_bound_py_any(py),
        Value::Float32(v) => f64::from(v).into_bound_py_any(py),
        Value::Float64(v) => v.into_bound_py_any(py),
        Value::Bool(v) => v.into_bound_py_any(py),
        Value::String(s) => s
            .to_str()
            .map_err(errors::core_to_py)?
            .into_bound_py_any(py),
        Value::Array(a) => array(py, key, a).map(Bound::into_any),
    }
}

/// The elements of `a` as a list, each array element type on its fast path.
fn array<'py>(py: Python<'py>, key: &str, a: Array<'_>) -> PyResult<Bound<'py, PyList>> {
    fn numbers<'py, T>(py: Python<'py>, a: &Array<'_>) -> Option<PyResult<Bound<'py, PyList>>>
    where
        T: ArrayElement + IntoPyObject<'py>,
    {
        a.values::<T>().map(|values| PyList::new(py, values))
    }
    let list = match a.element_type() {
        ValueType::Uint8 => numbers::<u8>(py, &a),
        ValueType::Int8 => numbers::<i8>(py, &a),
        ValueType::Uint16 => numbers::<u16>(py, &a),
        ValueType::Int16 => numbers::<i16>(py, &a),
        ValueType::Uint32 => numbers::<u32>(py, &a),
        ValueType::Int32 => numbers::<i32>(py, &a),
        ValueType::Uint64 => numbers::<u64>(py, &a),
        ValueType::Int64 => numbers::<i64>(py, &a),
        ValueType::Float64 => numbers::<f64>(py, &a),
        ValueType::Bool => numbers::<bool>(py, &a),
        ValueType::Float32 => a
            .values::<f32>()
            .map(|values| PyList::new(py, values.map(f64::from))),
        ValueType::String => a.strings().map(|strings| {
            let strings: Vec<&str> = strings
                .collect::<weightmap_core::Result<_>>()
                .map_err(errors::core_to_py)?;
            PyList::new(py, strings)
        }),
        _ => None,
    };
    if let Some(list) = list {
        return list;
    }
    // Nested arrays: element by element.
    let list = PyList::empty(py);
    for element in a.iter() {
        list.append(to_py(py, key, element.map_err(errors::core_to_py)?)?)?;
    }
    Ok(list)
}

/// The official reader's `types` of a field: the value's type id, and for an array the
/// types of its first element after it (nothing more when it is empty).
pub(crate) fn types(value: &Value<'_>) -> PyResult<Vec<u32>> {
    let mut types = vec![value.value_type() as u32];
    let mut current = *value;
    while let Value::Array(a) = current {
        match a.get(0) {
            Some(first) => {
                types.push(first.value_type() as u32);
                current = first;
            }
            None => break,
        }
    }
    Ok(types)
}

/// A leaf of a nested array: its value (`None` for a string) and its stored bytes.
pub(crate) type Leaf<'py> = (Option<Bound<'py, PyAny>>, Bound<'py, PyBytes>);

/// The leaves of a nested array, depth first, as the official reader's `contents()` sees
/// them: each leaf's value (`None` for a string) and its stored bytes (a string's without
/// its length; a number's in the file's byte order).
pub(crate) fn leaves<'py>(
    py: Python<'py>,
    key: &str,
    array: Array<'_>,
) -> PyResult<Vec<Leaf<'py>>> {
    let big = array.endian() == Endian::Big;
    let mut out = Vec::new();
    // An explicit stack: nesting depth comes from the file.
    let mut stack = vec![array.iter()];
    while let Some(top) = stack.last_mut() {
        let Some(element) = top.next() else {
            stack.pop();
            continue;
        };
        let element = element.map_err(errors::core_to_py)?;
        if let Value::Array(inner) = element {
            stack.push(inner.iter());
            continue;
        }
        let stored = stored_bytes(&element, big);
        let value = match element {
            Value::String(_) => None,
            scalar => Some(to_py(py, key, scalar)?),
        };
        out.push((value, PyBytes::new(py, &stored)));
    }
    Ok(out)
}

/// A scalar's or string's bytes as the file stores them (a string without its length).
fn stored_bytes(value: &Value<'_>, big: bool) -> Vec<u8> {
    macro_rules! ordered {
        ($v:expr) => {
            if big {
                $v.to_be_bytes().to_vec()
            } else {
                $v.to_le_bytes().to_vec()
            }
        };
    }
    match *value {
        Value::Uint8(v) => vec![v],
        Value::Int8(v) => ordered!(v),
        Value::Uint16(v) => ordered!(v),
        Value::Int16(v) => ordered!(v),
        Value::Uint32(v) => ordered!(v),
        Value::Int32(v) => ordered!(v),
        Value::Uint64(v) => ordered!(v),
        Value::Int64(v) => ordered!(v),
        Value::Float32(v) => ordered!(v),
        Value::Float64(v) => ordered!(v),
        Value::Bool(v) => vec![u8::from(v)],
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Array(_) => Vec::new(),
    }
}
