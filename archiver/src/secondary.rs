//! The optional object-store secondary: each archived payload is written through to an
//! S3-compatible bucket or a local directory (the `object_store` crate) under
//! `<prefix>/payloads/<data_root>`, and read back when no storage node can serve it.
//! What comes back is trusted no more than a storage node: the reader checks it against
//! the storage root the index recorded.

use std::sync::Arc;

use alloy_primitives::B256;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::ArchiverError;

/// Where the secondary is.
#[derive(Clone, Debug, Default)]
pub struct SecondaryConfig {
    /// `s3://bucket[/prefix]` or `file:///absolute/dir`.
    pub url: String,
    /// An S3-compatible endpoint (MinIO, moto, R2, …) instead of AWS.
    pub endpoint: Option<String>,
    /// Allow plain HTTP to the endpoint (local servers).
    pub allow_http: bool,
    /// Region (default from `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Access key id and secret, for programs that embed the archiver (the binary reads
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    pub credentials: Option<(String, String)>,
}

/// A write-through copy of every archived payload.
#[derive(Clone)]
pub struct Secondary {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
}

impl std::fmt::Debug for Secondary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secondary").field("url", &self.url).finish()
    }
}

impl Secondary {
    /// Opens the secondary `config` describes. S3 credentials come from the usual
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` environment variables.
    pub fn open(config: &SecondaryConfig) -> Result<Self, ArchiverError> {
        let bad = |e: String| ArchiverError::Config(format!("secondary {}: {e}", config.url));
        let (store, prefix): (Arc<dyn ObjectStore>, Path) =
            if let Some(rest) = config.url.strip_prefix("s3://") {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("no bucket".into()));
                }
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(e) = &config.endpoint {
                    b = b.with_endpoint(e);
                }
                if config.allow_http {
                    b = b.with_allow_http(true);
                }
                let region = config
                    .region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .unwrap_or_else(|| "us-east-1".into());
                b = b.with_region(region);
                if let Some((id, secret)) = &config.credentials {
                    b = b.with_access_key_id(id).with_secret_access_key(secret);
                }
                let s3 = b.build().map_err(|e| bad(e.to_string()))?;
                (Arc::new(s3), Path::from(prefix))
            } else if let Some(dir) = config.url.strip_prefix("file://") {
                std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
                let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(e.to_string()))?;
                (Arc::new(fs), Path::from(""))
            } else {
                return Err(bad("expected s3://bucket[/prefix] or file:///dir".into()));
            };
        Ok(Self {
            store,
            prefix,
            url: config.url.clone(),
        })
    }

    fn path(&self, data_root: &B256) -> Path {
        self.prefix
            .clone()
            .join("payloads")
            .join(format!("{data_root}"))
    }

    /// Writes `payload` under `data_root` (an overwrite writes the same bytes).
    pub async fn put(&self, data_root: &B256, payload: &[u8]) -> Result<(), ArchiverError> {
        self.store
            .put(
                &self.path(data_root),
                PutPayload::from(bytes::Bytes::copy_from_slice(payload)),
            )
            .await
            .map_err(|e| ArchiverError::Unavailable(format!("secondary {}: {e}", self.url)))?;
        Ok(())
    }

    /// Reads the payload of `data_root`, refusing an object whose size is not `size`
    /// before reading it.
    pub async fn get(&self, data_root: &B256, size: u64) -> Result<Vec<u8>, ArchiverError> {
        let path = self.path(data_root);
        let got = self.store.get(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => {
                ArchiverError::NotFound(format!("secondary {}: no {path}", self.url))
            }
            e => ArchiverError::Unavailable(format!("secondary {}: {e}", self.url)),
        })?;
        if got.meta.size != size {
            return Err(ArchiverError::Corrupt(format!(
                "secondary {}: {path} holds {} bytes, {size} were archived",
                self.url, got.meta.size
            )));
        }
        let bytes = got
            .bytes()
            .await
            .map_err(|e| ArchiverError::Unavailable(format!("secondary {}: {e}", self.url)))?;
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn filesystem_roundtrip_and_size_check() {
        let dir = zg_node_kit::TempDir::new("secondary");
        let s = Secondary::open(&SecondaryConfig {
            url: format!("file://{}", dir.0.display()),
            ..SecondaryConfig::default()
        })
        .unwrap();
        let root = B256::repeat_byte(7);
        assert!(matches!(
            s.get(&root, 3).await,
            Err(ArchiverError::NotFound(_))
        ));
        s.put(&root, b"abc").await.unwrap();
        assert_eq!(s.get(&root, 3).await.unwrap(), b"abc");
        assert!(matches!(
            s.get(&root, 4).await,
            Err(ArchiverError::Corrupt(_))
        ));
        assert!(
            Secondary::open(&SecondaryConfig {
                url: "ftp://x".into(),
                ..SecondaryConfig::default()
            })
            .is_err()
        );
    }
}
