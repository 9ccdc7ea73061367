//! A node's own object store (`-objectStore`, `-recordStore`) with the client that writes to it
//! and reads it back: go-tools' `OSSession` for a store whose credentials this node holds.
//!
//! The store's host is the operator's choice, not the network's, so it is reached even on a
//! loopback or private address (a MinIO next to the node); URLs from the network are checked
//! with [`NodeStore::owns`] before this client fetches them, and anything else goes through a
//! [`Fetcher`] with the node's policy.

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use crate::fetch::{FetchPolicy, Fetcher};
use crate::store::{PostTarget, StorageKind, StoreUrl};
use crate::{ObjectStoreError, post};

/// Saves tried per object for recordings (go-tools `SaveRetried` with go-livepeer's 3).
pub const SAVE_ATTEMPTS: usize = 3;

/// A store this node writes with its own credentials.
#[derive(Debug, Clone)]
pub struct NodeStore {
    url: StoreUrl,
    client: Fetcher,
}

impl NodeStore {
    /// The store `url` names.
    pub fn new(url: StoreUrl) -> Self {
        Self {
            url,
            client: Fetcher::new(FetchPolicy::private_networks()),
        }
    }

    /// The parsed URL.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// S3 or GCS (the job capability a gateway asks for: `StorageS3` 5, `StorageGCS` 6).
    pub fn kind(&self) -> StorageKind {
        self.url.kind()
    }

    /// A POST target for keys under `prefix` (go-tools `OSDriver.NewSession(prefix)`), to hand
    /// to an orchestrator in `SegData.storage`.
    pub fn session(&self, prefix: &str) -> PostTarget {
        self.url.session(prefix)
    }

    /// Stores `data` as `<prefix>/<name>` and returns its URL (go-tools `SaveData`).
    ///
    /// Errors: those of [`post::save`]; a refused answer is
    /// [`ObjectStoreError::Upload`] with the store's text (S3's `<Error>` XML).
    pub async fn save(
        &self,
        prefix: &str,
        name: &str,
        data: Bytes,
    ) -> Result<String, ObjectStoreError> {
        post::save(&self.client, &self.session(prefix), name, data).await
    }

    /// [`save`](Self::save), tried up to `attempts` times (go-tools `SaveRetried`).
    ///
    /// Errors: the last attempt's.
    pub async fn save_retried(
        &self,
        prefix: &str,
        name: &str,
        data: Bytes,
        attempts: usize,
    ) -> Result<String, ObjectStoreError> {
        let mut last = None;
        for _ in 0..attempts.max(1) {
            match self.save(prefix, name, data.clone()).await {
                Ok(url) => return Ok(url),
                Err(err) => last = Some(err),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Whether `url` is an object of this store: same scheme, host and port as the store's
    /// host, and a path under its path (go-tools `IsOwn`, which compares string prefixes; here
    /// `https://b.s3.amazonaws.com.evil.example/` is not `https://b.s3.amazonaws.com`'s).
    pub fn owns(&self, url: &str) -> bool {
        let (Ok(own), Ok(url)) = (Url::parse(self.url.host()), Url::parse(url)) else {
            return false;
        };
        let dir = format!("{}/", own.path().trim_end_matches('/'));
        own.scheme() == url.scheme()
            && own.host() == url.host()
            && own.port_or_known_default() == url.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path().starts_with(&dir)
            && !url.path().split('/').any(|s| s == "..")
    }

    /// GETs one of this store's objects by URL, at most `limit_bytes` within `timeout`.
    ///
    /// Errors: [`ObjectStoreError::Refused`] for a URL that is not the store's
    /// ([`owns`](Self::owns)), and those of [`Fetcher::get`].
    pub async fn get(
        &self,
        url: &str,
        limit_bytes: u64,
        timeout: Duration,
    ) -> Result<Bytes, ObjectStoreError> {
        if !self.owns(url) {
            return Err(ObjectStoreError::Refused {
                url: url.chars().take(200).collect(),
                reason: "not an object of this node's store".into(),
            });
        }
        self.client.get(url, limit_bytes, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owns_only_objects_under_the_store_host() {
        let custom = NodeStore::new(
            StoreUrl::parse("s3+http://k:s@127.0.0.1:9000/bkt").expect("a store URL"),
        );
        let aws = NodeStore::new(StoreUrl::parse("s3://k:s@eu-west-1/bkt").expect("a store URL"));
        for (store, url, own) in [
            (&custom, "http://127.0.0.1:9000/bkt/m/source/0.ts", true),
            (&custom, "http://127.0.0.1:9000/bkt2/m/0.ts", false),
            (&custom, "http://127.0.0.1:9001/bkt/m/0.ts", false),
            (&custom, "https://127.0.0.1:9000/bkt/m/0.ts", false),
            (&custom, "http://u:p@127.0.0.1:9000/bkt/m/0.ts", false),
            (&custom, "http://127.0.0.1:9000/bkt/../other/0.ts", false),
            (
                &aws,
                "https://bkt.s3.amazonaws.com/m/s/P144p30fps16x9/0.ts",
                true,
            ),
            (
                &aws,
                "https://bkt.s3.amazonaws.com.evil.example/m/0.ts",
                false,
            ),
            (
                &aws,
                "https://orch.example:8935/stream/s/P144p30fps16x9/0.ts",
                false,
            ),
            (&aws, "not a url", false),
        ] {
            assert_eq!(store.owns(url), own, "{url}");
        }
    }
}
