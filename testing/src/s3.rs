//! A real S3 server for tests: `s3s-fs` (the s3s S3 protocol over a directory, from crates.io)
//! served in-process on 127.0.0.1 port 0, with SigV4 authentication (headers, presigned
//! URLs and POST policies) checked against one access key.
//!
//! Objects are readable without credentials, as the `public-read` ACL go-livepeer's POST
//! policies ask for makes them on S3; everything else needs a valid signature. Clock skew is
//! allowed up to two days because go-livepeer's policies carry the date at midnight
//! (`x-amz-date: <today>T000000Z`), which S3 accepts for POST forms.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::task::JoinHandle;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "AKIALIVEPEERTEST";
/// Its secret.
pub const SECRET_KEY: &str = "livepeer/test+secret";

/// A running S3 server with one bucket.
pub struct S3Server {
    /// `127.0.0.1:<port>`.
    pub addr: SocketAddr,
    /// The bucket created at start.
    pub bucket: String,
    dir: tempfile::TempDir,
    task: JoinHandle<()>,
}

/// Anonymous reads, signed everything else.
struct PublicRead;

#[async_trait::async_trait]
impl S3Access for PublicRead {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> s3s::S3Result<()> {
        let read = matches!(cx.s3_op().name(), "GetObject" | "HeadObject");
        if cx.credentials().is_some() || read {
            Ok(())
        } else {
            Err(s3s::s3_error!(AccessDenied, "Signature is required"))
        }
    }
}

impl S3Server {
    /// Starts a server with an empty `bucket`.
    pub async fn start(bucket: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join(bucket)).expect("the bucket directory");
        let fs = s3s_fs::FileSystem::new(dir.path()).expect("s3s-fs over the directory");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        builder.set_access(PublicRead);
        let mut config = s3s::config::S3Config::default();
        config.presigned_url_max_skew_time_secs = 2 * 24 * 3600;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            config,
        ))));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    break;
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            addr,
            bucket: bucket.to_string(),
            dir,
            task,
        }
    }

    /// The `-objectStore` URL of the bucket with `access_key:secret` (URL-encoded here).
    pub fn store_url_with(&self, access_key: &str, secret: &str) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        format!(
            "s3+http://{}:{}@{}/{}",
            enc(access_key),
            enc(secret),
            self.addr,
            self.bucket
        )
    }

    /// The `-objectStore` URL of the bucket with the server's credentials.
    pub fn store_url(&self) -> String {
        self.store_url_with(ACCESS_KEY, SECRET_KEY)
    }

    /// Where objects are read: `http://127.0.0.1:<port>/<bucket>`.
    pub fn base_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.bucket)
    }

    /// The file holding object `key`.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir.path().join(&self.bucket).join(key)
    }

    /// The object `key`'s bytes, if it exists (read from the server's directory).
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.object_path(key)).ok()
    }

    /// Every object key in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else if let Ok(rel) = path.strip_prefix(root) {
                    let key = rel.to_string_lossy().into_owned();
                    // s3s-fs keeps its metadata and uploads in dot-files.
                    if !key.split('/').any(|c| c.starts_with('.')) {
                        out.push(key);
                    }
                }
            }
        }
        let root = self.dir.path().join(&self.bucket);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
