//! A tracing subscriber that follows the mappings of the files in one directory through
//! weightmap's `mapped` and `unmapped` DEBUG events: how many were made, how many were alive at
//! once, and a hook that runs inside each unmapping (`MmapFile`'s drop emits the event just
//! before the munmap), for tests that check what other threads can do meanwhile.
//!
//! Tracing caches per-callsite interest process-wide, so a test using it runs in a child
//! process of its own ([`super::rerun_as_child`]) and installs it as the global default.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span;

/// Mapping counts since [`Mappings::install`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Mappings made.
    pub opens: u64,
    /// Mappings unmapped.
    pub unmaps: u64,
    /// Mappings alive now.
    pub live: u64,
    /// Most mappings alive at once.
    pub peak: u64,
}

type Hook = Box<dyn Fn(&str) + Send + Sync>;

/// The subscriber.
pub struct Mappings {
    dir: String,
    tally: Mutex<Tally>,
    on_unmap: Hook,
}

impl Mappings {
    /// Installs a subscriber for the mappings of files under `dir` as the process's global
    /// default; `on_unmap` runs with the file's path inside each unmapping. Panics if a global
    /// subscriber is already set.
    pub fn install(dir: &Path, on_unmap: impl Fn(&str) + Send + Sync + 'static) -> Arc<Self> {
        let mappings = Arc::new(Mappings {
            dir: dir.display().to_string(),
            tally: Mutex::new(Tally::default()),
            on_unmap: Box::new(on_unmap),
        });
        tracing::subscriber::set_global_default(Arc::clone(&mappings))
            .expect("a test using Mappings runs in a process of its own");
        mappings
    }

    /// The counts so far.
    pub fn tally(&self) -> Tally {
        *self.tally.lock().unwrap()
    }
}

/// The fields of an event that matter here.
#[derive(Default)]
struct Fields {
    message: String,
    path: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "path" => self.path = format!("{value:?}"),
            _ => {}
        }
    }
}

impl tracing::Subscriber for Mappings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with("weightmap_native")
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if !fields.path.starts_with(&self.dir) {
            return;
        }
        match fields.message.as_str() {
            "mapped" => {
                let mut tally = self.tally.lock().unwrap();
                tally.opens += 1;
                tally.live += 1;
                tally.peak = tally.peak.max(tally.live);
            }
            "unmapped" => {
                {
                    let mut tally = self.tally.lock().unwrap();
                    tally.unmaps += 1;
                    tally.live = tally.live.saturating_sub(1);
                }
                // Outside the tally's lock: the hook may map or unmap files itself.
                (self.on_unmap)(&fields.path);
            }
            _ => {}
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}
