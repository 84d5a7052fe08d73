//! A model in object storage: its headers read into memory (all files of a sharded model,
//! concurrently), its tensors read by range.

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use weightmap_core::gguf::Split;
use weightmap_core::safetensors::ShardIndex;
use weightmap_core::{Content, Format, Model, ModelFile, ModelTensor};

use crate::error::{Error, Result};
use crate::header::Prefix;
use crate::location::Location;
use crate::object::{RemoteObject, Traffic};
use crate::plan::{plan, Wanted};
use crate::Options;

/// A model opened from a URL: the parsed [`Model`] (headers only: its tensor views are
/// [`Truncated`](weightmap_core::Error::Truncated); read tensors with
/// [`tensor`](Self::tensor) and [`read_tensors`](Self::read_tensors)) and the objects it is
/// made of, one per shard.
#[derive(Debug)]
pub struct RemoteModel {
    model: Model<Vec<u8>>,
    objects: Vec<RemoteObject>,
    index: Option<RemoteObject>,
    traffic: Arc<Traffic>,
    options: Options,
}

/// How far a [`RemoteModel::read_tensors`] has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes read into their buffers so far.
    pub done: u64,
    /// Bytes asked for.
    pub total: u64,
}

impl RemoteModel {
    /// Opens the model at `url`: a GGUF or safetensors file, the first file of a GGUF split
    /// set, or a `model.safetensors.index.json` (its shards beside it).
    ///
    /// # Errors
    /// [`Error::Url`] for a URL of no store, [`Error::Store`] for a failed request (the
    /// message names the object), [`Error::Parse`] for a malformed header or index,
    /// [`Error::Split`] for a later split or a split set not named as llama.cpp names it.
    pub async fn open(url: &str, options: &Options) -> Result<RemoteModel> {
        let location = Location::parse(url, options)?;
        let traffic = Arc::new(Traffic::default());
        let limit = options.max_header_bytes;
        let mut prefix = Prefix::open(location, Arc::clone(&traffic), limit).await?;
        let content = prefix.content().await?;
        let (model, objects, index) = match content {
            Content::ShardIndex => {
                let (object, bytes) = prefix.read_all().await?;
                let (model, objects) = open_shards(&object, &bytes, &traffic, options).await?;
                (model, objects, Some(object))
            }
            Content::Model(_) => {
                let (object, file) = prefix.parse(None).await?;
                let (model, objects) = assemble(object, file, &traffic, options).await?;
                (model, objects, None)
            }
            _ => {
                let url = prefix.object.url().to_owned();
                let found = weightmap_core::Error::unknown_format(&prefix.bytes);
                return Err(Error::parse(&url, found));
            }
        };
        tracing::debug!(
            url,
            files = objects.len(),
            requests = traffic.requests(),
            bytes = traffic.bytes(),
            "remote model opened"
        );
        Ok(RemoteModel {
            model,
            objects,
            index,
            traffic,
            options: options.clone(),
        })
    }

    /// The parsed model: metadata, tensors, their shards and byte ranges.
    pub fn model(&self) -> &Model<Vec<u8>> {
        &self.model
    }

    /// The objects of the model, in shard order.
    pub fn objects(&self) -> &[RemoteObject] {
        &self.objects
    }

    /// The shard index object, for a sharded safetensors model.
    pub fn index_object(&self) -> Option<&RemoteObject> {
        self.index.as_ref()
    }

    /// The options it was opened with, which its reads use.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Requests sent and bytes received so far, opening included.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    fn info(&self, name: &str) -> Result<ModelTensor<'_>> {
        self.model.tensor_info(name).ok_or_else(|| Error::NoTensor {
            name: name.to_owned(),
        })
    }

    /// One tensor's bytes, in one request (none for an empty tensor).
    ///
    /// # Errors
    /// [`Error::NoTensor`], and [`RemoteObject::read`]'s.
    pub async fn tensor(&self, name: &str) -> Result<Bytes> {
        let info = self.info(name)?;
        let range = info.file_range();
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.objects[info.shard()].read(range).await
    }

    /// Reads many tensors into the caller's buffers, each exactly its tensor's size:
    /// requests of at most [`Options::part_size`] bytes (adjacent tensors of a file merged
    /// into one, long ones split), [`Options::concurrency`] in flight, each answer copied
    /// frame by frame into its buffers. `progress` is called after each request with the
    /// bytes done; returning `ControlFlow::Break` cancels the requests in flight.
    ///
    /// # Errors
    /// [`Error::NoTensor`], [`Error::BufferSize`], [`Error::Cancelled`], and the errors of
    /// the requests ([`Error::Changed`] for an object replaced meanwhile): the first error
    /// stops the rest; buffers are then partly written.
    pub async fn read_tensors<F>(
        &self,
        reads: Vec<(&str, &mut [u8])>,
        mut progress: F,
    ) -> Result<()>
    where
        F: FnMut(Progress) -> ControlFlow<()>,
    {
        let mut wanted = Vec::with_capacity(reads.len());
        let mut buffers = Vec::with_capacity(reads.len());
        for (name, buffer) in reads {
            let info = self.info(name)?;
            let range = info.file_range();
            if range.end - range.start != buffer.len() as u64 {
                return Err(Error::BufferSize {
                    name: name.to_owned(),
                    expected: range.end - range.start,
                    got: buffer.len() as u64,
                });
            }
            wanted.push(Wanted {
                file: info.shard(),
                range,
            });
            buffers.push(buffer);
        }
        let total: u64 = wanted.iter().map(|w| w.range.end - w.range.start).sum();
        let parts = plan(&wanted, self.options.part_size);
        // Each part's pieces cut from the front of their read's buffer, in order.
        let mut rest: Vec<&mut [u8]> = buffers;
        let mut jobs = Vec::with_capacity(parts.len());
        for part in parts {
            let mut slices = Vec::with_capacity(part.pieces.len());
            for &(read, len) in &part.pieces {
                let buffer = std::mem::take(&mut rest[read]);
                let (piece, after) = buffer.split_at_mut(len);
                rest[read] = after;
                slices.push(piece);
            }
            jobs.push((part, slices));
        }
        let objects = &self.objects;
        let mut running = stream::iter(jobs)
            .map(|(part, slices)| async move {
                let len = part.range.end - part.range.start;
                objects[part.file].read_parts(part.range, slices).await?;
                Ok::<u64, Error>(len)
            })
            .buffer_unordered(self.options.concurrency.max(1));
        let mut done = 0u64;
        while let Some(len) = running.try_next().await? {
            done += len;
            if progress(Progress { done, total }).is_break() {
                return Err(Error::Cancelled { done, total });
            }
        }
        Ok(())
    }
}

/// The model of a model file: the file alone, or with the later files of its GGUF split set,
/// their headers read concurrently.
async fn assemble(
    first: RemoteObject,
    file: ModelFile<Vec<u8>>,
    traffic: &Arc<Traffic>,
    options: &Options,
) -> Result<(Model<Vec<u8>>, Vec<RemoteObject>)> {
    let url = first.url().to_owned();
    let name = first.location().file_name().to_owned();
    let parse = |e| Error::parse(&url, e);
    let split = match &file {
        ModelFile::Gguf(gguf) => Split::of(&gguf.view()).map_err(parse)?,
        _ => None,
    };
    let Some(split) = split.filter(|s| s.count > 1) else {
        let model = Model::from_file(name, file).map_err(parse)?;
        return Ok((model, vec![first]));
    };
    let split_error = |reason: String| Error::Split {
        url: url.clone(),
        reason,
    };
    let Some(names) = split.file_names(&name) else {
        return Err(split_error(format!(
            "a split of {} files not named NAME-{:05}-of-{:05}.gguf",
            split.count,
            u32::from(split.no) + 1,
            split.count
        )));
    };
    if split.no != 0 {
        return Err(split_error(format!(
            "split {} of {}: open the first file of the set, {}",
            u32::from(split.no) + 1,
            split.count,
            names[0]
        )));
    }
    let ModelFile::Gguf(gguf) = file else {
        return Err(Error::parse(&url, not_a(Format::Gguf)));
    };
    let later = open_all(&first, &names[1..], Format::Gguf, traffic, options).await?;
    let mut splits = vec![(name, gguf)];
    let mut objects = vec![first];
    for ((object, file), name) in later.into_iter().zip(&names[1..]) {
        let ModelFile::Gguf(gguf) = file else {
            return Err(Error::parse(object.url(), not_a(Format::Gguf)));
        };
        Split::of_later(&gguf.view()).map_err(|e| Error::parse(object.url(), e))?;
        splits.push((name.clone(), gguf));
        objects.push(object);
    }
    let model = Model::from_gguf_splits(splits).map_err(|e| {
        let at = e
            .shard()
            .and_then(|i| objects.get(i))
            .map_or(url.as_str(), |o| o.url());
        Error::parse(at, e)
    })?;
    Ok((model, objects))
}

/// A sharded safetensors model from its index's bytes: each shard's header read
/// concurrently.
async fn open_shards(
    index_object: &RemoteObject,
    bytes: &[u8],
    traffic: &Arc<Traffic>,
    options: &Options,
) -> Result<(Model<Vec<u8>>, Vec<RemoteObject>)> {
    let index = ShardIndex::parse(bytes).map_err(|e| Error::parse(index_object.url(), e))?;
    let names = index.shards().to_vec();
    let opened = open_all(index_object, &names, Format::Safetensors, traffic, options).await?;
    let mut objects = Vec::with_capacity(opened.len());
    let mut shards = Vec::with_capacity(opened.len());
    for (object, file) in opened {
        let ModelFile::Safetensors(st) = file else {
            return Err(Error::parse(object.url(), not_a(Format::Safetensors)));
        };
        shards.push(st);
        objects.push(object);
    }
    let model = Model::from_safetensors_shards(index, shards).map_err(|e| {
        let at = e
            .shard()
            .and_then(|i| objects.get(i))
            .map_or(index_object.url(), |o| o.url());
        Error::parse(at, e)
    })?;
    Ok((model, objects))
}

/// The headers of the objects named `names` beside `beside`, read concurrently, in order.
async fn open_all(
    beside: &RemoteObject,
    names: &[String],
    format: Format,
    traffic: &Arc<Traffic>,
    options: &Options,
) -> Result<Vec<(RemoteObject, ModelFile<Vec<u8>>)>> {
    let locations = names
        .iter()
        .map(|n| beside.location().sibling(n))
        .collect::<Result<Vec<_>>>()?;
    stream::iter(locations)
        .map(|location| async move {
            let prefix =
                Prefix::open(location, Arc::clone(traffic), options.max_header_bytes).await?;
            prefix.parse(Some(format)).await
        })
        .buffered(options.concurrency.max(1))
        .try_collect()
        .await
}

/// The error for a file parsed as another format than the one asked for (the header parser
/// refuses those already: kept for formats added later).
fn not_a(format: Format) -> weightmap_core::Error {
    match format {
        Format::Gguf => weightmap_core::Error::BadMagic { found: [0; 4] },
        _ => weightmap_core::Error::UnknownFormat { found: [0; 8] },
    }
}
