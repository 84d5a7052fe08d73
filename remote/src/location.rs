//! From a URL to an object store and the object's path in it.

use std::sync::{Arc, Once};
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

use crate::error::{Error, Result};
use crate::Options;

/// An object: the store that holds it, its path there, and its URL (for messages).
#[derive(Debug, Clone)]
pub struct Location {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: Path,
    url: Url,
}

impl Location {
    /// The store and path of `url`: `s3://bucket/key` (and `s3a://`), `gs://bucket/key`,
    /// `az://container/key` (and `abfs(s)://`, `azure://`), `http(s)://host/path` and
    /// `file:///path`. Cloud credentials, regions and endpoints come from the usual
    /// environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`), as object_store's
    /// `from_env` builders read them; an S3-compatible server is `AWS_ENDPOINT_URL` (with
    /// `AWS_ALLOW_HTTP=true` for plain HTTP).
    ///
    /// # Errors
    /// [`Error::Url`] for a URL that does not parse, of another scheme, or without an object
    /// path; [`Error::Store`] when the store cannot be configured (missing bucket, bad
    /// credentials configuration).
    pub fn parse(url: &str, options: &Options) -> Result<Location> {
        let bad = |reason: &str| Error::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = Url::parse(url).map_err(|e| bad(&format!("not a URL ({e})")))?;
        let (scheme, key) = ObjectStoreScheme::parse(&parsed).map_err(|_| {
            bad("not a URL this reads: use s3://, gs://, az://, http(s):// or file://")
        })?;
        let store_error = |source| Error::Store {
            url: url.to_owned(),
            what: "configuring the store".to_owned(),
            source,
        };
        let path = if scheme == ObjectStoreScheme::Local {
            let file = parsed
                .to_file_path()
                .map_err(|_| bad("not a local file path"))?;
            Path::from_absolute_path(&file).map_err(|e| bad(&e.to_string()))?
        } else {
            Path::from_url_path(key).map_err(|e| bad(&e.to_string()))?
        };
        if path.filename().is_none() {
            return Err(bad("the URL names no object (its path is empty)"));
        }
        install_crypto();
        let client = client_settings(options);
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::Local => Arc::new(LocalFileSystem::new()),
            ObjectStoreScheme::AmazonS3 => {
                let mut b = AmazonS3Builder::from_env().with_url(url);
                for (key, value) in &client {
                    b = b.with_config(AmazonS3ConfigKey::Client(*key), value);
                }
                for (key, value) in &options.store_options {
                    let key: AmazonS3ConfigKey = key.parse().map_err(|_| bad(&unknown_key(key)))?;
                    b = b.with_config(key, value);
                }
                Arc::new(b.with_retry(retry(options)).build().map_err(store_error)?)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_url(url);
                for (key, value) in &client {
                    b = b.with_config(GoogleConfigKey::Client(*key), value);
                }
                for (key, value) in &options.store_options {
                    let key: GoogleConfigKey = key.parse().map_err(|_| bad(&unknown_key(key)))?;
                    b = b.with_config(key, value);
                }
                Arc::new(b.with_retry(retry(options)).build().map_err(store_error)?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(url);
                for (key, value) in &client {
                    b = b.with_config(AzureConfigKey::Client(*key), value);
                }
                for (key, value) in &options.store_options {
                    let key: AzureConfigKey = key.parse().map_err(|_| bad(&unknown_key(key)))?;
                    b = b.with_config(key, value);
                }
                Arc::new(b.with_retry(retry(options)).build().map_err(store_error)?)
            }
            ObjectStoreScheme::Http => {
                let mut settings = ClientOptions::new().with_allow_http(true);
                for (key, value) in &client {
                    settings = settings.with_config(*key, value);
                }
                for (key, value) in &options.store_options {
                    let key: ClientConfigKey = key.parse().map_err(|_| bad(&unknown_key(key)))?;
                    settings = settings.with_config(key, value);
                }
                let origin = &parsed[..url::Position::BeforePath];
                let b = HttpBuilder::new()
                    .with_url(origin)
                    .with_client_options(settings)
                    .with_retry(retry(options));
                Arc::new(b.build().map_err(store_error)?)
            }
            _ => {
                return Err(bad(
                    "not a URL this reads: use s3://, gs://, az://, http(s):// or file://",
                ))
            }
        };
        Ok(Location {
            store,
            path,
            url: parsed,
        })
    }

    /// The URL, for messages and reports.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The object's file name (the last part of its path).
    pub fn file_name(&self) -> &str {
        self.path.filename().unwrap_or("")
    }

    /// The object named `name` beside this one, in the same store: a shard of a shard index,
    /// a later file of a GGUF split set. `name` must be a plain file name (the shard index
    /// and the split naming check that).
    pub fn sibling(&self, name: &str) -> Result<Location> {
        let bad = |reason: String| Error::Url {
            url: self.url.to_string(),
            reason,
        };
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(bad(format!("\"{name}\" is not a plain file name")));
        }
        let mut parts: Vec<_> = self.path.parts().collect();
        parts.pop();
        let path = Path::from_iter(parts).join(name);
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|()| bad("the URL has no path".to_owned()))?
            .pop()
            .push(name);
        Ok(Location {
            store: Arc::clone(&self.store),
            path,
            url,
        })
    }
}

fn unknown_key(key: &str) -> String {
    format!("the store option \"{key}\" is not one this URL's store knows")
}

/// The client settings every store gets from [`Options`].
fn client_settings(options: &Options) -> Vec<(ClientConfigKey, String)> {
    let secs = |d: Duration| format!("{}ms", d.as_millis());
    vec![
        (
            ClientConfigKey::ConnectTimeout,
            secs(options.connect_timeout),
        ),
        (ClientConfigKey::ReadTimeout, secs(options.read_timeout)),
        (ClientConfigKey::Timeout, secs(options.request_timeout)),
    ]
}

fn retry(options: &Options) -> RetryConfig {
    RetryConfig {
        max_retries: options.retries,
        retry_timeout: options.request_timeout,
        ..RetryConfig::default()
    }
}

/// rustls needs a process-wide crypto provider: ring, the one this crate builds with (an
/// application that installed another keeps it).
fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_each_store_and_their_siblings() {
        let options = Options::default();
        let http = Location::parse(
            "http://127.0.0.1:9/models/a%20b/m.safetensors.index.json",
            &options,
        )
        .unwrap();
        assert_eq!(http.path.as_ref(), "models/a b/m.safetensors.index.json");
        let shard = http.sibling("m-00001-of-00002.safetensors").unwrap();
        assert_eq!(
            shard.path.as_ref(),
            "models/a b/m-00001-of-00002.safetensors"
        );
        assert_eq!(
            shard.url(),
            "http://127.0.0.1:9/models/a%20b/m-00001-of-00002.safetensors"
        );
        let file = Location::parse("file:///tmp/x/model.gguf", &options).unwrap();
        assert_eq!(file.path.as_ref(), "tmp/x/model.gguf");
        assert_eq!(file.file_name(), "model.gguf");
        for bad in ["ftp://host/x", "not a url", "http://host/", "s3://bucket"] {
            assert!(
                matches!(Location::parse(bad, &options), Err(Error::Url { .. })),
                "{bad}"
            );
        }
        for name in ["", "..", "a/b", "a\\b"] {
            assert!(http.sibling(name).is_err(), "{name:?}");
        }
    }
}
