//! The object-store errors.

/// Everything that can go wrong reading or writing object storage.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// An `-objectStore`/`-recordStore` URL that cannot be used (go-tools
    /// `drivers.ParseOSURL`'s errors, same wording where it has one).
    #[error("invalid object store URL: {reason}")]
    InvalidStoreUrl {
        /// What is wrong with it (credentials never appear here).
        reason: String,
    },
    /// A URL from the network that the fetch policy refuses: not http(s), credentials in it,
    /// or a host that is (or resolves to) a refused address.
    #[error("refused URL {url:?}: {reason}")]
    Refused {
        /// The URL, cut to a readable length.
        url: String,
        /// Why.
        reason: String,
    },
    /// A transport failure or a deadline passed.
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// A download answered with a status other than 200 (go-livepeer's error is the status).
    #[error("{status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status line, e.g. "404 Not Found".
        status: String,
    },
    /// A body longer than its limit.
    #[error("{url}: body over the {limit_bytes}-byte limit")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit_bytes: u64,
    },
    /// The store refused an upload; `message` is what it answered (go-tools `postData` makes
    /// its error from the body, e.g. S3's `<Error><Code>InvalidAccessKeyId</Code>…`).
    #[error("{message}")]
    Upload {
        /// The store's answer, cut to [`MAX_ERROR_TEXT_CHARS`](crate::MAX_ERROR_TEXT_CHARS).
        message: String,
    },
    /// The key file of a `gs://` store cannot be read or used.
    #[error("gcs key: {0}")]
    GcsKey(String),
}
