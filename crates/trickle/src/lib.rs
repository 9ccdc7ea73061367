//! Trickle, the segmented publish-subscribe protocol of Livepeer's real-time AI
//! (`reference/ai.md` §4.1; go-livepeer `trickle/`): the server, wire-compatible with
//! go-livepeer's, and its HTTP publisher and subscriber.
//!
//! # The model
//!
//! A *channel* (one URL path segment, e.g. `<mid>-out`) carries segments numbered 0, 1, 2, …
//! Each segment is one HTTP body, published by one streaming `POST <ch>/<seq>` and fanned
//! out while it is still arriving to any number of `GET <ch>/<seq>`: a reader that joins
//! mid-segment gets the bytes from the segment's start, then the live tail. The content is
//! opaque (MPEG-TS video, one JSON message per segment, JSON lines).
//!
//! A channel keeps its last [`SEGMENTS_PER_CHANNEL`] segments in a ring (segment `seq` in
//! slot `seq % 5`); a reader further behind gets status 470 with `Lp-Trickle-Latest` and
//! jumps there. Readers ask for `-1` (the next segment to be written) or `-2` (the current
//! one) to join at the live edge; a GET exactly one ahead of what was written is pre-created
//! and long-polls until the publisher starts it. Both sides *pre-connect*: a publisher sends
//! the POST of `seq + 1` with an empty body while writing `seq`, a subscriber sends the GET
//! of `seq + 1` while reading `seq`, so a segment starts with no connection set-up.
//! A channel ends when it is deleted, closed by the node, or idle for five minutes; its
//! waiting requests then answer `Lp-Trickle-Closed`, and later ones 404 (end of stream).
//!
//! # The parts
//!
//! - [`TrickleServer`]: the channels (a cheaply cloneable handle), [`TrickleServer::router`]
//!   (an `axum::Router` to nest under a base path, e.g. [`wire::ORCHESTRATOR_BASE_PATH`]),
//!   [`TrickleServer::sweep_service`] (the idle sweep), and the in-process API the node uses
//!   on its own channels: [`TrickleServer::create_channel`],
//!   [`TrickleServer::close_channel`], [`LocalPublisher`] and [`LocalSubscriber`] (an
//!   orchestrator creates the four channels of a live session itself and reads the input
//!   channel locally to clock payments);
//! - [`TricklePublisher`] and [`TrickleSubscriber`]: the HTTP clients, over a
//!   `reqwest::Client` the caller supplies (and so its TLS policy);
//! - [`wire`]: header names, the 470 status, special sequence numbers.
//!
//! # Memory and bounds
//!
//! A segment's bytes are stored once, as a list of `Bytes` chunks; every reader gets
//! reference-counted slices of them, never a copy. Everything from the network is bounded:
//! segment size ([`TrickleConfig::max_segment_bytes`], 413 past it), the bytes all segments
//! hold together ([`TrickleConfig::max_buffered_bytes`], 503 past it), channel count
//! ([`TrickleConfig::max_channels`]), channel names ([`is_valid_channel_name`]), and on the
//! client the size of a segment read ([`SubscriberConfig::max_segment_bytes`]). Requests
//! that wait (long-polls, idle pre-connected POSTs) last at most as long as their segment or
//! channel, which the idle sweep bounds.
//!
//! go-livepeer keeps an idle pre-connected POST alive with interim `100 Continue` responses;
//! hyper cannot send those, and go's clients do not need them: see [`routes`].

mod channel;
pub mod client;
mod error;
pub mod routes;
mod segment;
mod server;
pub mod wire;

pub use channel::{MAX_CHANNEL_NAME_BYTES, ReadSeq, SEGMENTS_PER_CHANNEL, is_valid_channel_name};
pub use client::{
    PublishStart, PublisherConfig, SegmentWriter, SubscribedSegment, SubscriberConfig,
    TricklePublisher, TrickleSubscriber,
};
pub use error::{TrickleError, TrickleResult};
pub use server::{
    CHANGEFEED_CHANNEL, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_CHANNELS,
    DEFAULT_MAX_SEGMENT_BYTES, DEFAULT_SWEEP_INTERVAL, LocalPublisher, LocalSegmentWriter,
    LocalSubscriber, SegmentReader, TrickleConfig, TrickleServer,
};
