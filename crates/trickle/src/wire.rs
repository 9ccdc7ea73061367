//! The names and numbers trickle puts on the wire (go-livepeer `trickle/trickle_server.go`).

/// Response header: the segment served or written (`Lp-Trickle-Seq`).
pub const HEADER_SEQ: &str = "Lp-Trickle-Seq";
/// Response header: the channel's next write index (`Lp-Trickle-Latest`).
pub const HEADER_LATEST: &str = "Lp-Trickle-Latest";
/// Response header: the channel is closed (`Lp-Trickle-Closed: terminated`).
pub const HEADER_CLOSED: &str = "Lp-Trickle-Closed";
/// The value of [`HEADER_CLOSED`].
pub const CLOSED_TERMINATED: &str = "terminated";
/// Request header of a POST: the publisher restarted; older segments are closed
/// (`Lp-Trickle-Reset`, any non-empty value).
pub const HEADER_RESET: &str = "Lp-Trickle-Reset";
/// Request header of `POST <ch>` (create): the channel's mime type (`Expect-Content`).
pub const HEADER_EXPECT_CONTENT: &str = "Expect-Content";
/// Status of a GET for a segment outside the window of an open channel ("stream exists but
/// segment doesn't"), with [`HEADER_LATEST`] and [`HEADER_SEQ`]; non-standard.
pub const STATUS_ENTRY_NOT_FOUND: u16 = 470;
/// `<seq>` of a POST or GET: the next segment to be written.
pub const SEQ_NEXT: i64 = -1;
/// `<seq>` of a GET: the most recent segment (possibly in progress).
pub const SEQ_CURRENT: i64 = -2;
/// The path under a channel that answers its next write index (`GET <ch>/next`).
pub const NEXT_PATH: &str = "next";
/// Where an orchestrator serves trickle (go-livepeer's `TrickleHTTPPath`, without the
/// trailing slash, as `axum::Router::nest` takes it).
pub const ORCHESTRATOR_BASE_PATH: &str = "/ai/trickle";
