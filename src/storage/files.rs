//! The file store: where attachments' bytes live. A local folder by default, or an
//! S3-compatible object store shared by several nodes, both through the `object_store` crate.

use crate::config::{FileStoreKind, Settings};
use anyhow::Context as _;
use bytes::Bytes;
use object_store::{
    ObjectStore, PutPayload, aws::AmazonS3Builder, local::LocalFileSystem, path::Path,
};
use std::sync::Arc;

/// Attachments' bytes by key; cheap to clone.
#[derive(Clone)]
pub struct FileStore {
    backend: Arc<Backend>,
    /// `local` or `s3`, for logs.
    kind: &'static str,
}

enum Backend {
    Local(LazyLocal),
    S3(object_store::aws::AmazonS3),
}

/// The local folder's store, opened (and the folder created) on first use, so commands that
/// never touch files (`migrate`, `token create`) create no folder.
#[derive(Debug)]
struct LazyLocal {
    dir: String,
    opened: std::sync::OnceLock<LocalFileSystem>,
}

impl LazyLocal {
    fn open(&self) -> object_store::Result<&LocalFileSystem> {
        if let Some(opened) = self.opened.get() {
            return Ok(opened);
        }
        std::fs::create_dir_all(&self.dir).map_err(|error| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(error),
        })?;
        let store = LocalFileSystem::new_with_prefix(&self.dir)?.with_automatic_cleanup(true);
        Ok(self.opened.get_or_init(|| store))
    }
}

impl Backend {
    fn store(&self) -> object_store::Result<&dyn ObjectStore> {
        match self {
            Self::Local(local) => Ok(local.open()?),
            Self::S3(s3) => Ok(s3),
        }
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("kind", &self.kind)
            .finish()
    }
}

impl FileStore {
    /// The store the settings name: the folder `file_dir` (created when first used), or the
    /// bucket `s3_bucket` at `s3_endpoint`.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        match settings.file_store {
            FileStoreKind::Local => Ok(Self {
                backend: Arc::new(Backend::Local(LazyLocal {
                    dir: settings.file_dir.clone(),
                    opened: std::sync::OnceLock::new(),
                })),
                kind: "local",
            }),
            FileStoreKind::S3 => {
                let bucket = settings
                    .s3_bucket
                    .as_deref()
                    .context("FRONTDESK_S3_BUCKET is required with FRONTDESK_FILE_STORE=s3")?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&settings.s3_region)
                    .with_allow_http(settings.s3_allow_http);
                if let Some(endpoint) = &settings.s3_endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(key) = &settings.s3_access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = &settings.s3_secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let store = builder.build().context("configuring the S3 file store")?;
                Ok(Self {
                    backend: Arc::new(Backend::S3(store)),
                    kind: "s3",
                })
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Stores `bytes` under `key`, replacing what was there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> anyhow::Result<()> {
        self.backend
            .store()?
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await
            .with_context(|| format!("storing file {key} in the {} store", self.kind))?;
        Ok(())
    }

    /// The bytes under `key`; none when there are none.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        let store = self.backend.store()?;
        match store.get(&Path::from(key)).await {
            Ok(found) => Ok(Some(found.bytes().await.with_context(|| {
                format!("reading file {key} from the {} store", self.kind)
            })?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(anyhow::Error::new(error)
                .context(format!("reading file {key} from the {} store", self.kind))),
        }
    }

    /// Removes `key`; a key that is already gone is fine.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let store = self.backend.store()?;
        match store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(anyhow::Error::new(error)
                .context(format!("deleting file {key} from the {} store", self.kind))),
        }
    }
}
