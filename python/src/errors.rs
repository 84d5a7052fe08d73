//! weightmap's errors as the Python exceptions of `weightmap.errors`, one hierarchy under
//! `weightmap.Error`, each also the builtin a caller of the official readers catches
//! (`OSError`, `FileNotFoundError`, `ValueError`).

use pyo3::prelude::*;
use weightmap_native::Error;

/// The `weightmap.errors` class for `error`, raised with its message.
pub(crate) fn to_py(error: Error) -> PyErr {
    let class = match &error {
        Error::FileNotFound { .. } => "FileNotFound",
        Error::PermissionDenied { .. } => "PermissionDenied",
        Error::Changed { .. } => "FileChanged",
        Error::Parse { .. } | Error::NotFirstSplit { .. } | Error::SplitName { .. } => {
            "FormatError"
        }
        Error::HeaderTooLarge { .. } | Error::HeapLimit { .. } | Error::FileTooLarge { .. } => {
            "FormatError"
        }
        _ => "FileError",
    };
    raise(class, error.to_string())
}

/// A core error (decoding, a tensor's bytes) as a Python exception.
pub(crate) fn core_to_py(error: weightmap_core::Error) -> PyErr {
    use weightmap_core::Error as E;
    let class = match &error {
        E::NoDecoder { .. } | E::ForeignByteOrder { .. } | E::DecodeLength { .. } => "DecodeError",
        E::TensorNotFound { .. } => "TensorNotFound",
        E::OutOfMemory { .. } => "OutOfMemory",
        _ => "FormatError",
    };
    raise(class, error.to_string())
}

/// An instance of `weightmap.errors.<class>` carrying `message`.
pub(crate) fn raise(class: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("weightmap.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((message.clone(),)));
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        }
    })
}
