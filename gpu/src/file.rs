//! Uploading a model file in one call: open, plan, pick the source, run the pipeline.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use weightmap_native::{MmapConfig, ModelSource, SourceConfig};

use crate::error::Result;
use crate::filter::TensorFilter;
use crate::model::DeviceModel;
use crate::plan::{Plan, PlanOptions, DIRECT_IO_ALIGNMENT};
use crate::source::{FileSource, MappedSource};
use crate::target::Target;
use crate::upload::{upload_shards, Progress, UploadOptions};

/// How staging buffers are filled from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fill {
    /// `memcpy` out of the file's mapping; pages are released behind the upload.
    Mmap,
    /// `pread` into the staging buffers through the page cache: the default, as fast as
    /// `Mmap` on a warm cache and faster on a cold one (large reads instead of page faults;
    /// see docs/BENCHMARKS.md), and nothing mapped so nothing to release.
    #[default]
    Pread,
    /// `pread` with `O_DIRECT`: from the disk to the staging buffers, bypassing the page
    /// cache (for cold loads of models larger than the cache).
    Direct,
}

/// Everything [`upload_file`] needs to know.
#[derive(Debug, Clone, Default)]
pub struct FileUpload {
    /// Chunking and arena layout.
    pub plan: PlanOptions,
    /// The pipeline.
    pub upload: UploadOptions,
    /// How buffers are filled.
    pub fill: Fill,
    /// Drop each chunk from the page cache once read (`posix_fadvise(DONTNEED)`).
    pub evict_page_cache: bool,
    /// Which tensors to upload.
    pub filter: TensorFilter,
}

/// How [`upload_file`] opens a model: safely (header copied, tensor data mapped: see
/// [`ModelSource::open`]), guarded against truncation (a file cut short during the upload is
/// [`Error::SourceChanged`](crate::Error::SourceChanged), not `SIGBUS`). The kernel's default
/// read-ahead: `MADV_SEQUENTIAL` made cold page faults 4-8x slower here, while the pipeline's
/// own `MADV_WILLNEED` a few chunks ahead keeps reads large.
pub fn source_config() -> SourceConfig {
    SourceConfig {
        mmap: MmapConfig {
            guard: true,
            ..MmapConfig::default()
        },
        ..SourceConfig::default()
    }
}

/// Opens the model at `path` with [`source_config`] (any format: a GGUF or safetensors file,
/// the first file of a GGUF split set, a sharded model's `model.safetensors.index.json`; see
/// [`weightmap_native::open`]), plans the upload of the tensors `options.filter` keeps and runs
/// it into `target`, each file's chunks from that file. The report's `open` phase covers
/// opening, parsing and planning.
///
/// # Errors
/// [`Error::Model`](crate::Error::Model) when a file cannot be opened or parsed, and every
/// error of [`upload_shards`].
pub fn upload_file<T: Target>(
    path: impl AsRef<Path>,
    target: &mut T,
    options: &FileUpload,
    progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<DeviceModel<T::Arena>> {
    let path = path.as_ref();
    let started = Instant::now();
    let model = weightmap_native::open_with(path, &source_config())?;
    let mut plan_options = options.plan.clone();
    if options.fill == Fill::Direct {
        plan_options.read_alignment = plan_options.read_alignment.max(DIRECT_IO_ALIGNMENT);
    }
    let plan = Plan::of_model(&model, &plan_options, |t| options.filter.keeps(t))?;
    let opened = started.elapsed();
    tracing::debug!(path = %path.display(), files = model.shards().len(), tensors = plan.tensors().len(),
        chunks = plan.chunks().len(), arena = plan.arena_len(), fill = ?options.fill, "upload planned");
    let paths = weightmap_native::shard_paths(path, &model);
    let data: Vec<&ModelSource> = model.shards().iter().map(|s| s.file().data()).collect();
    let mut model = match options.fill {
        Fill::Mmap => {
            let sources: Vec<_> = data
                .iter()
                .map(|&d| {
                    let source = MappedSource::new(d);
                    match (options.evict_page_cache, d.as_mmap()) {
                        (true, Some(mmap)) => source.evict_page_cache(mmap.file()),
                        _ => source,
                    }
                })
                .collect();
            upload_shards(&plan, &sources, target, &options.upload, progress)?
        }
        Fill::Pread | Fill::Direct => {
            let sources = data
                .iter()
                .zip(&paths)
                .map(|(d, p)| file_source(d, d.path().unwrap_or(p), options))
                .collect::<Result<Vec<_>>>()?;
            upload_shards(&plan, &sources, target, &options.upload, progress)?
        }
    };
    model.set_open_time(opened);
    Ok(model)
}

/// The `pread` source of one file: the very file that was parsed (the mapping's descriptor,
/// not the path, which a download may have renamed a new file over since).
fn file_source(data: &ModelSource, path: &Path, options: &FileUpload) -> Result<FileSource> {
    let parsed = data.as_mmap().map(|m| m.file());
    let source = match (options.fill, parsed) {
        (Fill::Direct, _) => {
            let source = FileSource::open_direct(path)?;
            if let Some(parsed) = parsed {
                if !source.same_file(parsed)? {
                    return Err(crate::Error::SourceChanged);
                }
            }
            source
        }
        (_, Some(parsed)) => {
            FileSource::from_file(parsed.try_clone().map_err(|source| crate::Error::Io {
                offset: 0,
                len: 0,
                source,
            })?)?
        }
        (_, None) => FileSource::open(path)?,
    };
    Ok(source.evict_page_cache(options.evict_page_cache))
}
