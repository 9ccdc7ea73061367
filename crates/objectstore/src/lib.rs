//! Object storage as go-livepeer uses it (go-tools `drivers`): a node's own store from
//! `-objectStore`/`-recordStore` URLs, the presigned POST forms it hands to peers in
//! `OSInfo`, uploads with such forms, and bounded downloads of URLs that came from the
//! network.
//!
//! - [`store`]: [`StoreUrl`] (go-tools `ParseOSURL`'s S3 and GCS forms) and [`PostTarget`]
//!   (one `OSInfo`: host, key prefix, policy and signature);
//! - [`post`]: [`save`] an object with a [`PostTarget`] (go-tools `postData`), returning its URL;
//! - [`fetch`]: [`Fetcher`], the HTTP client for URLs from the network, with its
//!   server-side-request-forgery policy ([`FetchPolicy`]), size caps and deadlines;
//! - [`node`]: [`NodeStore`], a store this node writes with its own credentials (a gateway's
//!   `-objectStore` and `-recordStore`) and reads back.

mod error;
pub mod fetch;
pub mod node;
pub mod post;
pub mod store;

pub use error::ObjectStoreError;
pub use fetch::{FetchPolicy, Fetcher, check_url};
pub use node::NodeStore;
pub use post::save;
pub use store::{PostTarget, StorageKind, StoreUrl};

/// Characters of a store's error answer kept in an error.
pub const MAX_ERROR_TEXT_CHARS: usize = 512;
