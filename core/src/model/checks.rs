//! The checks that make a set of files one model: GGUF split keys in order, every tensor in
//! exactly one shard, a shard index that says where every tensor is.

use alloc::vec::Vec;

use crate::data::ModelData;
use crate::error::{Error, Name, Result};
use crate::gguf::{Gguf, Split};
use crate::lookup::{name_hash, sort_unique};
use crate::model::set::Model;

/// A GGUF file opened as a whole model must not be one split of several.
pub(crate) fn single_gguf<D: ModelData>(gguf: &Gguf<D>) -> Result<()> {
    match Split::of(&gguf.view())? {
        Some(split) if split.count > 1 => Err(Error::SplitFileCount {
            files: 1,
            count: split.count.into(),
        }),
        Some(split) if u64::from(split.tensors) != gguf.tensor_count() as u64 => {
            Err(Error::SplitTensorCount {
                declared: split.tensors.into(),
                found: gguf.tensor_count() as u64,
            })
        }
        _ => Ok(()),
    }
}

/// The split keys of files given in order: numbers 0, 1, … of one count, as many files as
/// the count, the tensors of all of them as many as the first says.
pub(crate) fn gguf_splits<'a, D: ModelData + 'a>(
    files: impl ExactSizeIterator<Item = &'a Gguf<D>>,
) -> Result<()> {
    let given = files.len() as u64;
    let mut first: Option<Split> = None;
    let mut found = 0u64;
    for (position, gguf) in files.enumerate() {
        let split = match Split::of(&gguf.view())? {
            Some(split) => split,
            // A file without split keys is a whole model: fine alone.
            None if given == 1 => Split {
                no: 0,
                count: 1,
                tensors: u32::try_from(gguf.tensor_count()).unwrap_or(u32::MAX),
            },
            None => {
                return Err(Error::SplitKeyMissing {
                    key: Name::new(crate::gguf::split::SPLIT_NO.as_bytes()),
                })
            }
        };
        let count = first.map_or(split.count, |f| f.count);
        if u64::from(split.no) != position as u64 || split.count != count {
            return Err(Error::WrongSplit {
                position: position as u64,
                no: split.no.into(),
                count: split.count.into(),
            });
        }
        first.get_or_insert(split);
        found = found.saturating_add(gguf.tensor_count() as u64);
    }
    let Some(first) = first else {
        return Err(Error::SplitFileCount { files: 0, count: 1 });
    };
    if u64::from(first.count) != given {
        return Err(Error::SplitFileCount {
            files: given,
            count: first.count.into(),
        });
    }
    if u64::from(first.tensors) != found {
        return Err(Error::SplitTensorCount {
            declared: first.tensors.into(),
            found,
        });
    }
    Ok(())
}

/// Hashes every tensor name of a model of several files, sorted for lookups, after checking
/// that no name is in two files.
pub(crate) fn unique_names<D: ModelData>(model: &Model<D>) -> Result<Vec<(u64, u32)>> {
    let total = model.tensor_count();
    let number = |n: usize| u32::try_from(n).ok();
    let mut names = Vec::with_capacity(total);
    for (n, t) in model.tensors().enumerate() {
        let n = number(n).ok_or(Error::LengthOverflow {
            section: crate::error::Section::TensorInfo,
            count: total as u64,
            offset: 0,
            within: Name::NONE,
        })?;
        names.push((name_hash(t.name().as_bytes()), n));
    }
    let name_of = |n: u32| model.tensor_number(n as usize).map(|t| t.name().as_bytes());
    if let Some((later, first)) = sort_unique(&mut names, name_of) {
        let shard = |n: usize| model.shard_of(n).map_or(0, |(s, _)| s as u32);
        return Err(Error::TensorInTwoShards {
            name: Name::new(name_of(later as u32).unwrap_or(&[])),
            shard: shard(later),
            first: shard(first),
        });
    }
    Ok(names)
}

/// A sharded safetensors model's index against its shards: every tensor listed, in the shard
/// that holds it, and nothing listed that no shard holds. Duplicates across shards were
/// refused before.
pub(crate) fn shard_index<D: ModelData>(model: &Model<D>) -> Result<()> {
    let Some(index) = model.shard_index() else {
        return Ok(());
    };
    for t in model.tensors() {
        match index.shard_of(t.name()) {
            None => {
                return Err(Error::NotInIndex {
                    name: Name::new(t.name().as_bytes()),
                    shard: t.shard() as u32,
                })
            }
            Some(listed) if listed != t.shard() => {
                return Err(Error::MissingFromShard {
                    name: Name::new(t.name().as_bytes()),
                    shard: listed as u32,
                })
            }
            Some(_) => {}
        }
    }
    // Every tensor is listed where it is, and names are unique: so the index lists more
    // only if some entry names a tensor no shard holds.
    if index.len() != model.tensor_count() {
        if let Some((name, shard)) = index
            .entries()
            .find(|(n, _)| model.tensor_info(n).is_none())
        {
            return Err(Error::MissingFromShard {
                name: Name::new(name.as_bytes()),
                shard: shard as u32,
            });
        }
    }
    Ok(())
}
