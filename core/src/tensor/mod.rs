//! The format-neutral tensor types: the element type, borrowed views with typed slices, and
//! owned handles. They know neither GGUF nor safetensors: dimensions are row-major (outermost
//! first), as numpy, PyTorch and safetensors list them.

pub(crate) mod dtype;
#[cfg(feature = "alloc")]
pub(crate) mod handle;
pub(crate) mod view;
