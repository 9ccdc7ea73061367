//! The HTTP routes of the trickle server, status codes, headers and bodies as go-livepeer's
//! `trickle/trickle_server.go` sends them (error bodies as Go's `http.Error` writes them:
//! the text and a newline, `text/plain; charset=utf-8`, `X-Content-Type-Options: nosniff`).
//!
//! # Idle pre-connected POSTs and go-livepeer's `100 Continue` keep-alive
//!
//! go-livepeer's server answers a POST that has not sent its first byte within 10 s with an
//! interim `100 Continue`, again every 10 s, as a keep-alive (the interval cannot be much
//! shorter because Go's HTTP client accepts only a few 1xx responses per request,
//! golang/go#65035, which the code cites). hyper 1, which axum runs on, cannot send an
//! unsolicited interim response: its server writes `100 Continue` only by itself, once, for
//! a request that carried `Expect: 100-continue`, when the handler first reads the body; it
//! has no API for other 1xx responses (informational responses are client-side only,
//! `on_informational`). So this server sends no keep-alive.
//!
//! Go's clients do not need one: go-livepeer's publisher (`trickle/trickle_publisher.go`,
//! `httpClient`) sets no `Timeout` and no `ResponseHeaderTimeout` (only `IdleConnTimeout`,
//! which applies to pooled idle connections, not to a request in flight), so it waits for a
//! pre-connected POST's response as long as it takes. The interim responses only keep bytes
//! moving for middleboxes (proxies, load balancers, NAT) that cut connections idle too long.
//! What this server does instead: an idle POST waits silently until its first byte, until
//! its segment is closed (`DELETE <ch>/<seq>`, a reset, the window overwriting it) or until
//! its channel is closed (`DELETE <ch>`, the node, the idle sweep), and is then answered
//! `200` with `Lp-Trickle-Seq` (and `Lp-Trickle-Closed` if the channel closed) and
//! `Connection: close`. A publisher whose idle connection was cut on the way sees a transport
//! error before sending a byte and re-sends the segment, which is allowed exactly because no
//! byte was sent ([`crate::TricklePublisher`] does).

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONNECTION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use tracing::{debug, warn};

use crate::channel::{ReadOpen, ReadSeq};
use crate::server::{
    ChannelRefusal, SegmentReader, SegmentWrite, TrickleServer, WriteEnd, WriteRefused,
};
use crate::wire::{
    CLOSED_TERMINATED, HEADER_CLOSED, HEADER_EXPECT_CONTENT, HEADER_LATEST, HEADER_RESET,
    HEADER_SEQ, NEXT_PATH, SEQ_CURRENT, SEQ_NEXT, STATUS_ENTRY_NOT_FOUND,
};

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

impl TrickleServer {
    /// The trickle routes, to nest under a base path (the orchestrator nests them at
    /// [`crate::wire::ORCHESTRATOR_BASE_PATH`], so channel `c` is `/ai/trickle/c`):
    ///
    /// | request | answer |
    /// |---|---|
    /// | `POST <ch>` (header `Expect-Content: <mime>`) | 200 if it exists or was created ([`crate::TrickleConfig::autocreate`]), else 404 "Stream not found"; 400 for an invalid name, 503 past [`crate::TrickleConfig::max_channels`] |
    /// | `POST <ch>/<seq>` (`-1` = next write index) | body streamed to readers as it arrives; 200 with `Lp-Trickle-Seq` when it ends (and `Lp-Trickle-Closed` if the channel closed meanwhile: the rest of the body was read and dropped, as it is when only the segment was closed); 200 + `Lp-Trickle-Seq` + `Lp-Trickle-Closed` (if closed) + `Connection: close` for an empty body or a POST still idle when its segment or channel closes; 404 + `Connection: close` if the channel is missing (auto-created with its `Content-Type` if configured); 400 "Invalid idx"; 413 "Segment too large" past [`crate::TrickleConfig::max_segment_bytes`], 503 "Out of segment memory" past [`crate::TrickleConfig::max_buffered_bytes`]; `Lp-Trickle-Reset` closes older segments; a second POST of a written seq replaces it |
    /// | `GET <ch>/<seq>` (`-1` next, `-2` current) | headers once the first byte is there (a segment at the live edge is pre-created, so the GET long-polls), `Lp-Trickle-Seq`, `Content-Type`, `Lp-Trickle-Latest` when not the latest, then the bytes as they arrive; 470 "Entry not found" with `Lp-Trickle-Latest` and `Lp-Trickle-Seq` outside the window; 200 + `Lp-Trickle-Closed` if the channel closed; 404 "Stream not found" |
    /// | `GET <ch>/next` | the next write index as text and in `Lp-Trickle-Latest`, `Lp-Trickle-Closed` if closed; 404 |
    /// | `DELETE <ch>/<seq>` | closes that segment; 400 "Nonexistent segment" if not in the window; 404 |
    /// | `DELETE <ch>` | closes and removes the channel; 400 "Invalid stream" if unknown |
    ///
    /// No `100 Continue` keep-alive is sent to idle POSTs (see the [module docs](crate::routes)
    /// for why and what happens instead). Requests that wait (long-polling GETs, idle POSTs)
    /// end when their segment or channel closes; [`TrickleServer::close_all`] (run by
    /// [`TrickleServer::sweep_service`] on shutdown) ends them all.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{channel}", post(create).delete(delete_channel))
            .route(
                "/{channel}/{seq}",
                post(publish).get(subscribe).delete(delete_segment),
            )
            .with_state(self.clone())
    }
}

/// An error as Go's `http.Error` writes it.
fn go_error(status: StatusCode, text: &str) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, TEXT_PLAIN),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{text}\n"),
    )
        .into_response()
}

fn with_connection_close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONNECTION, http::HeaderValue::from_static("close"));
    response
}

fn refusal(refusal: ChannelRefusal) -> Response {
    match refusal {
        ChannelRefusal::NotFound => go_error(StatusCode::NOT_FOUND, "Stream not found"),
        ChannelRefusal::InvalidName => go_error(StatusCode::BAD_REQUEST, "Invalid channel name"),
        ChannelRefusal::TooMany(_) => {
            go_error(StatusCode::SERVICE_UNAVAILABLE, "Too many channels")
        }
    }
}

fn header_str(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> &str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// `<seq>` as go-livepeer's `strconv.Atoi` reads it (a decimal, optionally signed).
fn parse_seq(seq: &str) -> Option<i64> {
    seq.parse::<i64>().ok()
}

fn invalid_idx() -> Response {
    go_error(StatusCode::BAD_REQUEST, "Invalid idx")
}

/// `POST <ch>`: create.
async fn create(
    State(server): State<TrickleServer>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mime = header_str(&headers, HEADER_EXPECT_CONTENT);
    match server.get_or_create(&name, mime, server.config().autocreate) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(refused) => refusal(refused),
    }
}

/// `DELETE <ch>`.
async fn delete_channel(State(server): State<TrickleServer>, Path(name): Path<String>) -> Response {
    match server.close_channel(&name) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => go_error(StatusCode::BAD_REQUEST, "Invalid stream"),
    }
}

/// `DELETE <ch>/<seq>`.
async fn delete_segment(
    State(server): State<TrickleServer>,
    Path((name, seq)): Path<(String, String)>,
) -> Response {
    let Some(channel) = server.channel(&name) else {
        return go_error(StatusCode::NOT_FOUND, "Stream not found");
    };
    let Some(seq) = parse_seq(&seq).and_then(|seq| u64::try_from(seq).ok()) else {
        return invalid_idx();
    };
    if channel.close_segment(seq) {
        debug!(channel = name, seq, "trickle segment closed by DELETE");
        StatusCode::OK.into_response()
    } else {
        go_error(StatusCode::BAD_REQUEST, "Nonexistent segment")
    }
}

/// The answer to a POST that ended without a byte: go-livepeer's empty-write response.
fn empty_write_response(end: WriteEnd) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(HEADER_SEQ, end.seq)
        .header(CONNECTION, "close");
    if end.channel_closed {
        response = response.header(HEADER_CLOSED, CLOSED_TERMINATED);
    }
    response.body(Body::empty()).unwrap_or_default()
}

enum PostEvent {
    Frame(Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>),
    SegmentClosed,
}

/// `POST <ch>/<seq>`: publish one segment.
async fn publish(
    State(server): State<TrickleServer>,
    Path((name, seq)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (parts, mut body) = request.into_parts();
    let mime = header_str(&parts.headers, CONTENT_TYPE);
    let channel = match server.get_or_create(&name, mime, server.config().autocreate) {
        Ok(channel) => channel,
        // "Wakes up gotrickle preconnects": a pre-connected POST gets its answer at once.
        Err(ChannelRefusal::NotFound) => {
            return with_connection_close(go_error(StatusCode::NOT_FOUND, "Stream not found"));
        }
        Err(refused) => return refusal(refused),
    };
    let seq = match parse_seq(&seq) {
        Some(SEQ_NEXT) => None,
        Some(seq) if seq >= 0 => u64::try_from(seq).ok(),
        _ => return invalid_idx(),
    };
    let reset = !header_str(&parts.headers, HEADER_RESET).is_empty();
    let max_bytes = server.config().max_segment_bytes;
    let Some(mut write) = SegmentWrite::open(channel.clone(), seq, reset, max_bytes) else {
        // Closed between the lookup and now.
        let (next, _) = channel.next_write();
        return empty_write_response(WriteEnd {
            seq: seq.unwrap_or(next),
            empty: true,
            channel_closed: true,
        });
    };
    debug!(channel = name, seq = write.seq(), reset, "trickle POST");
    loop {
        let event = if write.started() {
            PostEvent::Frame(body.frame().await)
        } else {
            tokio::select! {
                frame = body.frame() => PostEvent::Frame(frame),
                () = write.closed() => PostEvent::SegmentClosed,
            }
        };
        let frame = match event {
            PostEvent::SegmentClosed => return empty_write_response(write.finish()),
            PostEvent::Frame(None) => break,
            PostEvent::Frame(Some(Err(err))) => {
                debug!(channel = name, seq = write.seq(), %err, "trickle POST body failed");
                // Dropping the write closes the segment: readers get what arrived.
                drop(write);
                return go_error(StatusCode::INTERNAL_SERVER_ERROR, "Server error");
            }
            PostEvent::Frame(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        match write.write(data, true) {
            Ok(_) => {}
            Err(WriteRefused::ClosedBeforeStart) => return empty_write_response(write.finish()),
            Err(WriteRefused::TooLarge) => {
                debug!(
                    channel = name,
                    seq = write.seq(),
                    max_bytes,
                    "trickle segment too large"
                );
                return with_connection_close(go_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Segment too large",
                ));
            }
            Err(WriteRefused::OutOfMemory) => {
                warn!(
                    channel = name,
                    seq = write.seq(),
                    buffered_bytes = server.buffered_bytes(),
                    "trickle server out of segment memory"
                );
                return with_connection_close(go_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Out of segment memory",
                ));
            }
        }
    }
    let end = write.finish();
    if end.empty {
        return empty_write_response(end);
    }
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(HEADER_SEQ, end.seq);
    if end.channel_closed {
        response = response.header(HEADER_CLOSED, CLOSED_TERMINATED);
    }
    response.body(Body::empty()).unwrap_or_default()
}

/// `GET <ch>/<seq>` and `GET <ch>/next`.
async fn subscribe(
    State(server): State<TrickleServer>,
    Path((name, seq)): Path<(String, String)>,
) -> Response {
    let Some(channel) = server.channel(&name) else {
        return go_error(StatusCode::NOT_FOUND, "Stream not found");
    };
    if seq == NEXT_PATH {
        let (next, closed) = channel.next_write();
        let mut response = Response::builder()
            .header(HEADER_LATEST, next)
            .header(CONTENT_TYPE, TEXT_PLAIN);
        if closed {
            response = response.header(HEADER_CLOSED, CLOSED_TERMINATED);
        }
        return response
            .body(Body::from(next.to_string()))
            .unwrap_or_default();
    }
    let want = match parse_seq(&seq) {
        Some(SEQ_NEXT) => ReadSeq::Next,
        Some(SEQ_CURRENT) => ReadSeq::Current,
        Some(seq) if seq >= 0 => match u64::try_from(seq) {
            Ok(seq) => ReadSeq::Seq(seq),
            Err(_) => return invalid_idx(),
        },
        _ => return invalid_idx(),
    };
    let (segment, latest) = match channel.open_read(want) {
        ReadOpen::Missing {
            seq,
            latest,
            closed,
        } => {
            let status = if closed {
                StatusCode::OK
            } else {
                StatusCode::from_u16(STATUS_ENTRY_NOT_FOUND).unwrap_or(StatusCode::NOT_FOUND)
            };
            let mut response = Response::builder()
                .status(status)
                .header(HEADER_LATEST, latest)
                .header(HEADER_SEQ, seq)
                .header(CONTENT_TYPE, TEXT_PLAIN);
            if closed {
                response = response.header(HEADER_CLOSED, CLOSED_TERMINATED);
            }
            return response
                .body(Body::from("Entry not found"))
                .unwrap_or_default();
        }
        ReadOpen::Found { segment, latest } => (segment, latest),
    };
    let mut reader = SegmentReader::new(&channel, segment, latest);
    let seq = reader.seq();
    // Headers go out with the first byte, so a pre-connected GET long-polls until then.
    let Some(first) = reader.chunk().await else {
        // Closed without a byte (dropped, deleted, or the channel closed).
        let (next, closed) = channel.next_write();
        let mut response = Response::builder()
            .header(HEADER_SEQ, seq)
            .header(HEADER_LATEST, next);
        if closed {
            response = response.header(HEADER_CLOSED, CLOSED_TERMINATED);
        }
        return response.body(Body::empty()).unwrap_or_default();
    };
    let mut response = Response::builder().header(HEADER_SEQ, seq);
    if seq != latest {
        response = response.header(HEADER_LATEST, latest);
    }
    if let Ok(mime) = http::HeaderValue::from_str(channel.mime())
        && !mime.is_empty()
    {
        response = response.header(CONTENT_TYPE, mime);
    }
    let chunks = futures::stream::unfold((Some(first), reader), |(first, mut reader)| async move {
        let chunk = match first {
            Some(chunk) => chunk,
            None => reader.chunk().await?,
        };
        Some((Ok::<_, Infallible>(chunk), (None, reader)))
    });
    response
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| go_error(StatusCode::INTERNAL_SERVER_ERROR, "Server error"))
}
