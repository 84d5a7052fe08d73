//! Reading the first bytes of an object as its parser asks: a first range of
//! [`HeaderParser::FIRST_READ`], then, if the header goes on, one more request for the rest
//! (exactly the header for safetensors, whose first 8 bytes give its length). A GGUF header's
//! length is only known once it is parsed: its second request asks for up to
//! [`GGUF_SECOND_END`] bytes in all, a third (rarely needed) for the rest of the object, each
//! stopped once the parser is done.

use std::sync::Arc;

use weightmap_core::model::{HeaderIndex, HeaderParser};
use weightmap_core::{detect, Content, Error as ParseError, Format, ModelFile};

use crate::error::{Error, Result};
use crate::location::Location;
use crate::object::{Body, RemoteObject, Traffic};

/// Where a GGUF header's second request ends (when the parser needs no more than that): 7 MiB,
/// room for the longest headers in use (Gemma 3's 262,144-token vocabulary makes 6.5 MB), and
/// a bounded range, so that a server does not push megabytes past the header into the
/// socket's buffers before the reader hangs up.
pub(crate) const GGUF_SECOND_END: u64 = 7 << 20;

/// An object's first bytes, read on demand.
pub(crate) struct Prefix {
    pub(crate) object: RemoteObject,
    pub(crate) bytes: Vec<u8>,
    body: Option<Body>,
    limit: u64,
}

impl Prefix {
    /// Sends the first request.
    pub(crate) async fn open(
        location: Location,
        traffic: Arc<Traffic>,
        limit: u64,
    ) -> Result<Prefix> {
        let first = HeaderParser::FIRST_READ.min(limit.max(64));
        let (object, body) = RemoteObject::first(location, 0..first, traffic).await?;
        Ok(Prefix {
            object,
            bytes: Vec::new(),
            body: Some(body),
            limit,
        })
    }

    /// Reads on until at least `needed` bytes are in (or the object ends). When the current
    /// answer runs out first, a new request asks for the rest: up to `needed` if `exact`, to
    /// the object's end otherwise.
    pub(crate) async fn grow(&mut self, needed: u64, exact: bool) -> Result<()> {
        let size = self.object.size();
        let needed = needed.min(size);
        if needed > self.limit {
            return Err(Error::HeaderTooLarge {
                url: self.object.url().to_owned(),
                needed,
                limit: self.limit,
            });
        }
        while (self.bytes.len() as u64) < needed {
            let have = self.bytes.len() as u64;
            let body = match &mut self.body {
                Some(body) => body,
                None => {
                    let end = if exact {
                        needed
                    } else if have < GGUF_SECOND_END {
                        needed.max(GGUF_SECOND_END).min(size).min(self.limit)
                    } else {
                        size.min(self.limit)
                    };
                    self.body.insert(self.object.open_range(have..end).await?)
                }
            };
            match body.next().await? {
                Some(frame) => {
                    // Never more than the range the answer says it holds.
                    let end = have + frame.len() as u64;
                    if end > body.range.end {
                        return Err(Error::BodyLength {
                            url: self.object.url().to_owned(),
                            range: body.range.clone(),
                            got: end - body.range.start,
                            more: true,
                        });
                    }
                    self.bytes.extend_from_slice(&frame);
                }
                None => {
                    let range = body.range.clone();
                    if have != range.end {
                        return Err(Error::BodyLength {
                            url: self.object.url().to_owned(),
                            got: have.saturating_sub(range.start),
                            range,
                            more: false,
                        });
                    }
                    self.body = None;
                }
            }
        }
        Ok(())
    }

    /// What the object holds, from its first bytes.
    pub(crate) async fn content(&mut self) -> Result<Content> {
        self.grow(64, false).await?;
        detect(&self.bytes).map_err(|e| Error::parse(self.object.url(), e))
    }

    /// The whole object, for a small one (a shard index), up to the limit.
    pub(crate) async fn read_all(mut self) -> Result<(RemoteObject, Vec<u8>)> {
        self.grow(self.object.size(), true).await?;
        Ok((self.object, self.bytes))
    }

    /// Parses the header of a model file, reading as the parser asks, and stops reading as
    /// soon as it is complete.
    pub(crate) async fn parse(
        mut self,
        format: Option<Format>,
    ) -> Result<(RemoteObject, ModelFile<Vec<u8>>)> {
        let mut parser = HeaderParser::new(format);
        let index = loop {
            match parser.parse(&self.bytes) {
                Ok(index) => break index,
                Err(ParseError::Truncated { needed, .. })
                    if needed > self.bytes.len() as u64
                        && (self.bytes.len() as u64) < self.object.size() =>
                {
                    let exact =
                        matches!(detect(&self.bytes), Ok(Content::Model(Format::Safetensors)));
                    self.grow(needed, exact).await?;
                }
                Err(e) => return Err(Error::parse(self.object.url(), e)),
            }
        };
        drop(self.body.take()); // the rest of an answer is not needed
        let complete = self.bytes.len() as u64 == self.object.size();
        let url = self.object.url().to_owned();
        let file = pair(index, self.bytes, complete).map_err(|e| Error::parse(&url, e))?;
        tracing::debug!(url, header = file.data_offset(), "remote header parsed");
        Ok((self.object, file))
    }
}

fn pair(
    index: HeaderIndex,
    bytes: Vec<u8>,
    complete: bool,
) -> weightmap_core::Result<ModelFile<Vec<u8>>> {
    index.pair(bytes, complete)
}
