//! Where the lake's files live: a local folder, or a bucket.
//!
//! Iceberg reads and writes files through its `FileIO`, whose backends are
//! pluggable. A folder uses iceberg-rust's own local backend; a bucket uses
//! [`BucketStorage`], which speaks to the store through the same
//! `object_store` client, credentials and endpoint settings as the landing
//! zone (`ingest::store::Bucket`), so one set of environment variables
//! serves both.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use ingest::store::Bucket;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{LakeError, Result};

/// The lake's root: where tables are, and how to reach them.
#[derive(Debug, Clone)]
pub struct Location {
    /// The URL tables are named under: `file:///abs/path` or `s3://b/prefix`,
    /// no trailing `/`.
    pub root: String,
    /// The folder, for a local lake.
    pub local: Option<PathBuf>,
    pub io: FileIO,
}

impl Location {
    /// `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///path` or a path.
    pub fn open(location: &str) -> Result<Location> {
        match location.split_once("://") {
            Some((scheme, rest)) if scheme != "file" => {
                let _ = scheme;
                let _ = rest;
                let storage = BucketStorage::new(location.trim_end_matches('/'))?;
                let io = FileIOBuilder::new(Arc::new(BucketFactory {
                    url: storage.url.clone(),
                }))
                .build();
                Ok(Location {
                    root: location.trim_end_matches('/').to_string(),
                    local: None,
                    io,
                })
            }
            other => {
                let path = match other {
                    Some((_, rest)) => PathBuf::from(rest),
                    None => PathBuf::from(location),
                };
                let path = absolute(&path)?;
                Ok(Location {
                    root: format!("file://{}", path.display())
                        .trim_end_matches('/')
                        .to_string(),
                    local: Some(path),
                    io: FileIO::new_with_fs(),
                })
            }
        }
    }

    /// Fails fast, before anything is written, when a bucket cannot be
    /// reached, refuses the credentials or does not exist (one listing).
    pub fn check(&self, rt: &tokio::runtime::Runtime) -> Result<()> {
        if self.local.is_some() {
            return Ok(());
        }
        let storage = BucketStorage::new(&self.root)?;
        let bucket = storage
            .bucket()
            .map_err(|e| LakeError::Store(e.message().to_string()))?;
        let prefix = ObjPath::from(bucket.prefix.as_str());
        let store = bucket.store.clone();
        rt.block_on(async move { store.list_with_delimiter(Some(&prefix)).await })
            .map(|_| ())
            .map_err(|e| LakeError::Store(bucket.describe("list", &self.root, &e)))
    }

    /// Where a file named under the root lives locally, for a local lake.
    pub fn local_path(&self, url: &str) -> Option<PathBuf> {
        let root = self.local.as_ref()?;
        let rel = url.strip_prefix(&self.root)?.trim_start_matches('/');
        Some(root.join(rel))
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| LakeError::Store(format!("the working directory: {e}")))?;
    Ok(cwd.join(path))
}

/// An Iceberg storage backend over a bucket. Serializable as its URL (the
/// trait requires it); the client is made on first use.
#[derive(Serialize, Deserialize)]
pub struct BucketStorage {
    url: String,
    #[serde(skip)]
    bucket: Arc<OnceLock<std::result::Result<Arc<Bucket>, String>>>,
}

impl std::fmt::Debug for BucketStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketStorage")
            .field("url", &self.url)
            .finish()
    }
}

impl Clone for BucketStorage {
    fn clone(&self) -> Self {
        BucketStorage {
            url: self.url.clone(),
            bucket: self.bucket.clone(),
        }
    }
}

impl BucketStorage {
    fn new(url: &str) -> Result<BucketStorage> {
        let s = BucketStorage {
            url: url.to_string(),
            bucket: Arc::new(OnceLock::new()),
        };
        s.bucket()
            .map_err(|e| LakeError::Store(e.message().to_string()))?;
        Ok(s)
    }

    fn bucket(&self) -> iceberg::Result<Arc<Bucket>> {
        self.bucket
            .get_or_init(|| {
                Bucket::open(&self.url)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| iceberg::Error::new(iceberg::ErrorKind::Unexpected, e))
    }

    /// The object key of a full URL (`s3://bucket/prefix/x` → `prefix/x`).
    fn key(&self, bucket: &Bucket, path: &str) -> iceberg::Result<ObjPath> {
        let rest = path
            .strip_prefix(&bucket.root)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| {
                iceberg::Error::new(
                    iceberg::ErrorKind::DataInvalid,
                    format!("{path} is not in {}", bucket.root),
                )
            })?;
        Ok(ObjPath::from(rest))
    }

    fn fail(bucket: &Bucket, what: &str, path: &str, e: object_store::Error) -> iceberg::Error {
        let kind = if matches!(e, object_store::Error::NotFound { .. }) {
            iceberg::ErrorKind::DataInvalid
        } else {
            iceberg::ErrorKind::Unexpected
        };
        iceberg::Error::new(kind, bucket.describe(what, path, &e))
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for BucketStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let b = self.bucket()?;
        match b.store.head(&self.key(&b, path)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Self::fail(&b, "check", path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let b = self.bucket()?;
        let meta = b
            .store
            .head(&self.key(&b, path)?)
            .await
            .map_err(|e| Self::fail(&b, "read", path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let b = self.bucket()?;
        let got = b
            .store
            .get(&self.key(&b, path)?)
            .await
            .map_err(|e| Self::fail(&b, "read", path, e))?;
        got.bytes()
            .await
            .map_err(|e| Self::fail(&b, "read", path, e))
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let b = self.bucket()?;
        let key = self.key(&b, path)?;
        Ok(Box::new(BucketRead {
            bucket: b,
            key,
            path: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        let b = self.bucket()?;
        b.store
            .put(&self.key(&b, path)?, PutPayload::from(bs))
            .await
            .map_err(|e| Self::fail(&b, "write", path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        Ok(Box::new(BucketWrite {
            storage: self.clone(),
            path: path.to_string(),
            buffer: Vec::new(),
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        let b = self.bucket()?;
        match b.store.delete(&self.key(&b, path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::fail(&b, "delete", path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let b = self.bucket()?;
        let prefix = self.key(&b, path.trim_end_matches('/'))?;
        let keys: Vec<ObjPath> = b
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| Self::fail(&b, "list", path, e))?;
        for key in keys {
            match b.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Self::fail(&b, "delete", path, e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

struct BucketRead {
    bucket: Arc<Bucket>,
    key: ObjPath,
    path: String,
}

#[async_trait]
impl FileRead for BucketRead {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.bucket
            .store
            .get_range(&self.key, range)
            .await
            .map_err(|e| BucketStorage::fail(&self.bucket, "read", &self.path, e))
    }
}

/// Collects what is written and sends it as one PUT on close: a reader
/// never sees part of a file, and a crash before close leaves nothing.
struct BucketWrite {
    storage: BucketStorage,
    path: String,
    buffer: Vec<u8>,
    closed: bool,
}

#[async_trait]
impl FileWrite for BucketWrite {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        self.buffer.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        if self.closed {
            return Err(iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                format!("{} closed twice", self.path),
            ));
        }
        self.closed = true;
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        self.storage.write(&self.path, bytes).await
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct BucketFactory {
    url: String,
}

#[typetag::serde]
impl StorageFactory for BucketFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(BucketStorage {
            url: self.url.clone(),
            bucket: Arc::new(OnceLock::new()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_folder_is_named_by_its_absolute_url() {
        let loc = Location::open("lake").unwrap();
        assert!(loc.root.starts_with("file:///"), "{}", loc.root);
        assert!(loc.root.ends_with("/lake"));
        let p = loc
            .local_path(&format!("{}/silver/flights/x.parquet", loc.root))
            .unwrap();
        assert!(p.ends_with("lake/silver/flights/x.parquet"));
    }
}
