//! Metadata values as Python objects: numbers as `int`/`float`, `bool`, strings as `str`,
//! arrays as lists (what the official reader's `contents()` returns), decoded when asked.

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;
use weightmap_core::{Array, ArrayElement, Value, ValueType};

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
