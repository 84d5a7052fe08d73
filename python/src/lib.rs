//! `weightmap._native`: the Rust half of the `weightmap` Python package. It opens models the
//! safe way (header copied, tensor data mapped with the truncation guard), hands out tensor
//! bytes through the buffer protocol (read-only, each buffer keeping its model alive), decodes
//! metadata values on request and tensors to float32 with the GIL released. The Python half
//! (`weightmap/`) builds `open`, `GGUFReader` and `safe_open` on it.

mod buffer;
mod errors;
mod model;
mod values;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_class::<buffer::Buffer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
