//! Which tensors to upload: all of them, some by name, a range of layers (to shard a model
//! across GPUs), or any predicate.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::plan::TensorEntry;

/// A shared predicate.
type Keep = Arc<dyn Fn(&TensorEntry) -> bool + Send + Sync>;

/// A predicate over the tensor table. The default keeps every tensor.
#[derive(Clone, Default)]
pub struct TensorFilter {
    keep: Option<Keep>,
}

impl TensorFilter {
    /// Keeps every tensor.
    pub fn all() -> Self {
        TensorFilter::default()
    }

    /// Keeps the tensors `keep` accepts.
    pub fn new(keep: impl Fn(&TensorEntry) -> bool + Send + Sync + 'static) -> Self {
        TensorFilter {
            keep: Some(Arc::new(keep)),
        }
    }

    /// Keeps the tensors with these names.
    pub fn names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let names: std::collections::HashSet<String> = names.into_iter().map(Into::into).collect();
        TensorFilter::new(move |t| names.contains(&t.name))
    }

    /// Keeps the tensors of blocks `layers` (named `blk.N.…`, as llama.cpp names them).
    ///
    /// ```
    /// use weightmap_gpu::TensorFilter;
    /// let first_half = TensorFilter::layers(0..13);
    /// assert!(first_half.keeps_name("blk.12.attn_q.weight"));
    /// assert!(!first_half.keeps_name("blk.13.attn_q.weight"));
    /// assert!(!first_half.keeps_name("token_embd.weight"));
    /// ```
    pub fn layers(layers: Range<u32>) -> Self {
        TensorFilter::new(move |t| layer_of(&t.name).is_some_and(|n| layers.contains(&n)))
    }

    /// Keeps what `self` or `other` keeps.
    pub fn or(self, other: TensorFilter) -> Self {
        match (self.keep, other.keep) {
            (None, _) | (_, None) => TensorFilter::all(),
            (Some(a), Some(b)) => TensorFilter::new(move |t| a(t) || b(t)),
        }
    }

    /// Whether the tensor is kept.
    pub fn keeps(&self, entry: &TensorEntry) -> bool {
        self.keep.as_ref().is_none_or(|keep| keep(entry))
    }

    /// Whether a tensor called `name` is kept (for filters that look only at names).
    pub fn keeps_name(&self, name: &str) -> bool {
        self.keeps(&TensorEntry {
            name: name.to_owned(),
            dtype: weightmap_core::TensorType::F32,
            dims: Vec::new(),
            shard: 0,
            file_range: 0..0,
        })
    }
}

impl fmt::Debug for TensorFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.keep.is_some() {
            "TensorFilter(some)"
        } else {
            "TensorFilter(all)"
        })
    }
}

/// The block number in a name like `blk.12.ffn_up.weight`.
fn layer_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("blk.")?;
    let digits = rest.split('.').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
