//! The gateway facing bad input and bad orchestrators: push validation, refusals that are the
//! request's fault, capped reads from orchestrators, `-maxSessions`, bounded retained
//! renditions, and MP4 renditions served as MP4.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, StatusCode};
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::{DEFAULT_MAX_ATTEMPTS, MAX_PUSH_BYTES};
use livepeer_primitives::profile::{Format, VideoProfile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::rogue::{Behaviour, Rogue};
use crate::*;

/// Generous bound for "the gateway answers and does not hang"; never a performance claim.
const NO_HANG: Duration = Duration::from_secs(60);

async fn post(
    http: &Http,
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Answer {
    request(
        http,
        Method::POST,
        &format!("{}{path}", gw.base),
        headers,
        body,
    )
    .await
}

async fn end(http: &Http, gw: &Gateway, manifest: &str) {
    let answer = request(
        http,
        Method::DELETE,
        &format!("{}/live/{manifest}", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "DELETE /live/{manifest}");
}

/// Writes `head` and `body` on a raw connection to the gateway and returns the status line
/// of the answer. Write errors are ignored: the gateway may answer and close before the body
/// is all sent.
async fn raw_exchange(gw: &Gateway, head: String, body: &[u8]) -> String {
    let addr = gw.base.trim_start_matches("http://").to_string();
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect to the gateway");
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body).await;
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    tokio::time::timeout(NO_HANG, exchange)
        .await
        .expect("the gateway answers")
}

/// A copy of `profile` renamed `name`.
fn renamed(profile: &VideoProfile, name: &str) -> VideoProfile {
    VideoProfile {
        name: name.into(),
        ..profile.clone()
    }
}

#[tokio::test]
async fn a_push_over_five_minutes_is_422_and_the_orchestrator_stays_in_use() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start(vec![orch.uri.clone()], single(P144)).await;
    let http = http();
    let segment = &bikes().await[1];
    // (Content-Duration, status)
    let cases = [
        ("300001", StatusCode::UNPROCESSABLE_ENTITY),
        ("86400000", StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (duration, status) in cases {
        let answer = post(
            &http,
            &gw,
            "/live/long/0.ts",
            &[("Content-Duration", duration)],
            segment.data.clone(),
        )
        .await;
        assert_eq!(answer.status, status, "{duration}: {}", answer.text());
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(
                answer.text().contains("exceeds the maximum of 300000 ms"),
                "{duration}: {}",
                answer.text()
            );
        }
    }
    // Nothing reached the orchestrator: no stream, no session, no suspension.
    assert_eq!(gw.handle.live_streams(), 0);
    assert!(!orch.is_capped().await, "no session was opened");
    assert_eq!(gw.handle.times_suspended(&orch.uri), 0);

    // The next real segment, of another stream, goes to that same orchestrator.
    let answer = push(&http, &gw, "next", segment).await;
    check_pushed(&answer, segment.seq, &single(P144)).await;
    assert!(
        orch.is_capped().await,
        "the new stream holds its only session"
    );
    assert_eq!(gw.handle.times_suspended(&orch.uri), 0);
    assert!(gw.handle.suspended_orchestrators().is_empty());
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn ladders_a_real_orchestrator_refuses_leave_it_unsuspended() {
    let orch = Orch::with_max_sessions(4).await;
    let http = http();
    let segment = &bikes().await[1];
    let base = VideoProfile::standard(P144).expect("standard");
    let eleven: Vec<VideoProfile> = (0..11).map(|i| renamed(&base, &format!("r{i}"))).collect();
    let cases = [
        ("eleven renditions", eleven),
        (
            "1000 fps",
            vec![VideoProfile {
                fps: 1000,
                ..base.clone()
            }],
        ),
        (
            "a 20000-pixel-wide rendition",
            vec![VideoProfile {
                width: 20_000,
                ..base.clone()
            }],
        ),
    ];
    for (what, ladder) in cases {
        let gw = Gateway::start(vec![orch.uri.clone()], ladder).await;
        let answer = push(&http, &gw, "absurd", segment).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            answer.text()
        );
        assert!(
            answer.text().contains("hit max transcode attempts") && answer.text().contains("403"),
            "{what}: the orchestrator's refusal reaches the pusher: {}",
            answer.text()
        );
        assert_eq!(
            gw.handle.times_suspended(&orch.uri),
            0,
            "{what}: a refused request does not suspend the orchestrator"
        );
        gw.stop().await;
    }
    // It still takes a sane ladder.
    let gw = Gateway::start(vec![orch.uri.clone()], single(P144)).await;
    let answer = push(&http, &gw, "sane", segment).await;
    check_pushed(&answer, segment.seq, &single(P144)).await;
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn refusals_that_name_the_request_demote_but_never_suspend() {
    let http = http();
    let segment = &bikes().await[1];
    let cases = [
        (
            StatusCode::FORBIDDEN,
            "invalid profiles: 11 renditions (at most 10)",
        ),
        (StatusCode::BAD_REQUEST, "insufficient balance"),
        (StatusCode::PAYLOAD_TOO_LARGE, "segment too large"),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type",
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
    ];
    for (status, text) in cases {
        let rogue = Rogue::start(Behaviour::Refuse(status, text)).await;
        let gw = Gateway::start(vec![rogue.uri.clone()], single(P144)).await;
        let answer = push(&http, &gw, "refused", segment).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{status}: {}",
            answer.text()
        );
        assert!(
            answer.text().contains("hit max transcode attempts") && answer.text().contains(text),
            "{status}: {}",
            answer.text()
        );
        assert_eq!(rogue.segments_received(), DEFAULT_MAX_ATTEMPTS, "{status}");
        assert_eq!(
            gw.handle.times_suspended(&rogue.uri),
            0,
            "{status} {text} suspended the orchestrator"
        );
        gw.stop().await;
        rogue.stop().await;
    }

    // "OrchestratorCapped" is the orchestrator's state, not the request's: suspended.
    let rogue = Rogue::start(Behaviour::Refuse(
        StatusCode::FORBIDDEN,
        "OrchestratorCapped",
    ))
    .await;
    let gw = Gateway::start(vec![rogue.uri.clone()], single(P144)).await;
    let answer = push(&http, &gw, "capped", segment).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text()
    );
    assert_eq!(
        gw.handle.times_suspended(&rogue.uri),
        DEFAULT_MAX_ATTEMPTS as u64
    );
    gw.stop().await;
    rogue.stop().await;
}

#[tokio::test]
async fn one_orchestrator_refusing_everything_cannot_fail_a_stream() {
    let rogue = Rogue::start(Behaviour::Refuse(
        StatusCode::FORBIDDEN,
        "I refuse every ladder",
    ))
    .await;
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start(vec![rogue.uri.clone(), orch.uri.clone()], single(P144)).await;
    let http = http();
    for segment in bikes().await {
        let answer = push(&http, &gw, "stubborn", segment).await;
        check_pushed(&answer, segment.seq, &single(P144)).await;
    }
    assert!(
        rogue.segments_received() <= 1,
        "once refused, the rogue goes to the back: {} segments",
        rogue.segments_received()
    );
    assert_eq!(gw.handle.times_suspended(&rogue.uri), 0);
    assert_eq!(gw.handle.times_suspended(&orch.uri), 0);
    gw.stop().await;
    orch.stop().await;
    rogue.stop().await;
}

#[tokio::test]
async fn max_attempts_of_orchestrator_failures_answer_422() {
    let http = http();
    let segment = &bikes().await[1];
    for behaviour in [
        Behaviour::TranscodeError("OrchestratorBusy"),
        Behaviour::Refuse(StatusCode::INTERNAL_SERVER_ERROR, "boom"),
    ] {
        let rogue = Rogue::start(behaviour.clone()).await;
        let gw = Gateway::start(vec![rogue.uri.clone()], single(P144)).await;
        let answer = push(&http, &gw, "failing", segment).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{behaviour:?}: {}",
            answer.text()
        );
        assert!(
            answer.text().contains(&format!(
                "hit max transcode attempts ({DEFAULT_MAX_ATTEMPTS})"
            )),
            "{behaviour:?}: {}",
            answer.text()
        );
        // Suspended after each failure, yet retried: it is the only orchestrator there is.
        assert_eq!(
            rogue.segments_received(),
            DEFAULT_MAX_ATTEMPTS,
            "{behaviour:?}"
        );
        assert_eq!(
            gw.handle.times_suspended(&rogue.uri),
            DEFAULT_MAX_ATTEMPTS as u64,
            "{behaviour:?}"
        );
        gw.stop().await;
        rogue.stop().await;
    }
}

#[tokio::test]
async fn seq_past_int64_is_400() {
    // No orchestrator: a push that passed validation gets 503.
    let gw = Gateway::start(Vec::new(), single(P144)).await;
    let http = http();
    let data = bikes().await[1].data.clone();
    for seq in [
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
    ] {
        let answer = post(
            &http,
            &gw,
            &format!("/live/big/{seq}.ts"),
            &[],
            data.clone(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{seq}: {}",
            answer.text()
        );
    }
    assert_eq!(
        get(&http, &gw, "/stream/big.m3u8").await.status,
        StatusCode::NOT_FOUND,
        "no stream was started"
    );
    let answer = post(&http, &gw, "/live/big/9223372036854775807.ts", &[], data).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "i64::MAX is a valid seq"
    );
    gw.stop().await;
}

#[tokio::test]
async fn oversized_and_stalled_push_bodies_are_refused_without_reading_them() {
    // A gateway that waited for the body would hang until the harness gives up.
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.push_read_timeout = Duration::from_secs(3600);
    })
    .await;
    let declared = MAX_PUSH_BYTES + 1;
    let status = raw_exchange(
        &gw,
        format!(
            "POST /live/big/0.ts HTTP/1.1\r\nHost: gw\r\nContent-Duration: 2000\r\n\
             Content-Length: {declared}\r\n\r\n"
        ),
        &[0x47; 1024],
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    gw.stop().await;

    // Without a Content-Length the body is read up to the limit, and no further.
    let limit = 1024 * 1024;
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.max_segment_bytes = limit;
        c.push_read_timeout = Duration::from_secs(3600);
    })
    .await;
    let chunk = vec![0x47; 2 * limit];
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(&chunk);
    // The terminating chunk is never sent: the gateway must stop at the limit by itself.
    let status = raw_exchange(
        &gw,
        "POST /live/chunked/0.ts HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
        &body,
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    gw.stop().await;

    // A body that stops arriving gets 408 once the read timeout passes.
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.push_read_timeout = Duration::from_millis(300);
    })
    .await;
    let status = raw_exchange(
        &gw,
        "POST /live/stalled/0.ts HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n".into(),
        &[0x47; 100],
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    let http = http();
    for manifest in ["big", "chunked", "stalled"] {
        assert_eq!(
            get(&http, &gw, &format!("/stream/{manifest}.m3u8"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn endless_answers_from_an_orchestrator_fail_over_with_bounded_memory() {
    /// Rendition cap of the test gateway (its segment limit).
    const CAP: usize = 8 * 1024 * 1024;
    /// Growth of this process's peak memory allowed while the rogue streams: the cap, HTTP/2
    /// flow-control windows (16 MiB) and the rest of the suite running alongside. An
    /// unbounded read would buffer gigabytes within the 4 s download timeout.
    const BOUND: u64 = 256 * 1024 * 1024;
    let http = http();
    let segments = bikes().await;
    let client = OrchestratorClient::new();
    for behaviour in [Behaviour::EndlessResult, Behaviour::EndlessRendition] {
        // The real orchestrator is busy (its one session taken) while the stream starts, so
        // the stream's first session is the rogue's.
        let orch = Orch::with_max_sessions(1).await;
        let token = new_session(&client, &orch.uri).await;
        let seg = seg_for(
            &token,
            0,
            &segments[0].data,
            Duration::from_millis(segments[0].duration_ms),
            &single(P144),
        );
        transcode(&client, &orch.base, &seg, segments[0].data.clone()).await;
        assert!(orch.is_capped().await);
        let rogue = Rogue::start(Behaviour::Echo).await;
        let gw = Gateway::start_with(
            vec![rogue.uri.clone(), orch.uri.clone()],
            single(P144),
            |c| c.max_segment_bytes = CAP,
        )
        .await;
        let answer = push(&http, &gw, "rogue", &segments[0]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_eq!(rogue.segments_received(), 1);

        // The real orchestrator frees up; the rogue turns endless.
        client
            .end_session(&orch.uri, token)
            .await
            .expect("EndTranscodingSession");
        assert!(!orch.is_capped().await);
        rogue.set(behaviour.clone());
        let (rss_before, peak_before) = process::rss_bytes();
        let answer = push(&http, &gw, "rogue", &segments[1]).await;
        let (_, peak_after) = process::rss_bytes();
        check_pushed(&answer, segments[1].seq, &single(P144)).await;
        assert_eq!(rogue.segments_received(), 2, "{behaviour:?}");
        assert_eq!(
            gw.handle.times_suspended(&rogue.uri),
            1,
            "{behaviour:?}: the rogue is suspended"
        );
        assert_eq!(gw.handle.times_suspended(&orch.uri), 0);
        assert!(
            orch.is_capped().await,
            "{behaviour:?}: the stream moved to the real one"
        );
        assert!(
            peak_after <= peak_before.max(rss_before + BOUND),
            "{behaviour:?}: peak memory grew from {peak_before} to {peak_after} bytes \
             (resident {rss_before} before)"
        );
        gw.stop().await;
        rogue.stop().await;
        orch.stop().await;
    }
}

#[tokio::test]
async fn hundreds_of_manifests_are_refused_beyond_max_sessions() {
    const MAX: usize = 3;
    let orch = Orch::with_max_sessions(MAX + 1).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.max_sessions = MAX;
    })
    .await;
    let http = http();
    let segments = city().await;
    for i in 0..MAX {
        let answer = push(&http, &gw, &format!("s{i}"), &segments[0]).await;
        check_pushed(&answer, 0, &single(P144)).await;
    }
    for i in MAX..MAX + 300 {
        let answer = push(&http, &gw, &format!("s{i}"), &segments[0]).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "s{i}");
        assert!(
            answer.text().contains("Too many streams"),
            "{}",
            answer.text()
        );
    }
    assert_eq!(gw.handle.live_streams(), MAX);
    // The streams already live go on.
    let answer = push(&http, &gw, "s0", &segments[1]).await;
    check_pushed(&answer, 1, &single(P144)).await;
    // An ended stream frees its place; pushing to it again would take a new one.
    end(&http, &gw, "s0").await;
    let answer = push(&http, &gw, "fresh", &segments[0]).await;
    check_pushed(&answer, 0, &single(P144)).await;
    let answer = push(&http, &gw, "s0", &segments[2]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    // The ended stream still plays as VOD.
    let vod = get(&http, &gw, &format!("/stream/s0/{P144}.m3u8")).await;
    assert!(vod.text().ends_with("#EXT-X-ENDLIST\n"), "{}", vod.text());
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn retained_renditions_stay_under_the_per_stream_and_total_caps() {
    let orch = Orch::with_max_sessions(2).await;
    let http = http();
    let segments = bikes().await;
    let ladder = single(P144);

    // Per stream: the oldest segments go once the stream holds more than its cap. Each segment
    // holds its source and its rendition (the source is a track of the stream's HLS).
    let source_bytes: u64 = segments.iter().map(|s| s.data.len() as u64).sum();
    let per_stream: u64 = source_bytes * 3 / 4;
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.max_retained_bytes_per_stream = per_stream;
    })
    .await;
    let mut sizes = Vec::new();
    for segment in segments {
        let answer = push(&http, &gw, "long", segment).await;
        let parts = check_pushed(&answer, segment.seq, &ladder).await;
        sizes.push((parts[0].data.len() + segment.data.len()) as u64);
        assert!(gw.handle.retained_bytes() <= per_stream, "{sizes:?}");
    }
    assert!(
        sizes.iter().sum::<u64>() > per_stream,
        "the clip must outgrow the cap for this test to mean anything: {sizes:?}"
    );
    // What is kept: the newest segments that fit.
    let mut kept = Vec::new();
    let mut total = 0;
    for (segment, size) in segments.iter().zip(&sizes).rev() {
        if total + size > per_stream {
            break;
        }
        total += size;
        kept.insert(0, format!("{P144}/{}.ts", segment.seq));
    }
    assert_eq!(gw.handle.retained_bytes(), total);
    end(&http, &gw, "long").await;
    let vod = get(&http, &gw, &format!("/stream/long/{P144}.m3u8")).await;
    assert_eq!(playlist_entries(&vod.text()), kept, "{sizes:?}");
    let first = get(&http, &gw, &format!("/stream/long/{P144}/0.ts")).await;
    assert_eq!(
        first.status,
        StatusCode::NOT_FOUND,
        "the oldest segment was dropped"
    );
    gw.stop().await;

    // In total: the oldest ended streams go first; the newest stay complete VOD.
    let short = &city().await[0];
    let total_cap: u64 = 4 * short.data.len() as u64;
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.max_retained_bytes = total_cap;
    })
    .await;
    let mut pushed = 0;
    let streams = 30;
    for i in 0..streams {
        let answer = push(&http, &gw, &format!("short{i}"), short).await;
        let parts = check_pushed(&answer, short.seq, &ladder).await;
        pushed += (parts[0].data.len() + short.data.len()) as u64;
        end(&http, &gw, &format!("short{i}")).await;
        assert!(gw.handle.retained_bytes() <= total_cap, "after {i}");
    }
    assert!(pushed > total_cap, "{pushed} bytes pushed in all");
    assert_eq!(
        get(&http, &gw, "/stream/short0.m3u8").await.status,
        StatusCode::NOT_FOUND,
        "the oldest ended stream was dropped"
    );
    let last = format!("short{}", streams - 1);
    let vod = get(&http, &gw, &format!("/stream/{last}/{P144}.m3u8")).await;
    assert!(vod.text().ends_with("#EXT-X-ENDLIST\n"), "{}", vod.text());
    assert_eq!(
        playlist_entries(&vod.text()),
        vec![format!("{P144}/{}.ts", short.seq)]
    );
    let served = get(
        &http,
        &gw,
        &format!("/stream/{last}/{P144}/{}.ts", short.seq),
    )
    .await;
    assert_eq!(served.status, StatusCode::OK);
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn mp4_renditions_are_listed_and_served_as_mp4_and_mp4_pushes_are_415() {
    let orch = Orch::with_max_sessions(1).await;
    let mp4 = VideoProfile {
        format: Format::Mp4,
        ..VideoProfile::standard(P144).expect("standard")
    };
    let gw = Gateway::start(vec![orch.uri.clone()], vec![mp4.clone()]).await;
    let http = http();
    let segment = &bikes().await[0];

    let refused = post(
        &http,
        &gw,
        "/live/mp4/0.mp4",
        &[("Content-Duration", "2000")],
        segment.data.clone(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        refused.text().contains("only MPEG-TS segments"),
        "{}",
        refused.text()
    );

    let answer = push(&http, &gw, "mp4", segment).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let parts = parts(&answer).await;
    assert_eq!(parts.len(), 1);
    let file = format!("{P144}_0.mp4");
    assert_eq!(
        parts[0].headers[CONTENT_TYPE],
        format!("video/mp4; name=\"{file}\"").as_str()
    );
    let playlist = get(&http, &gw, &format!("/stream/mp4/{P144}.m3u8")).await;
    assert_eq!(
        playlist_entries(&playlist.text()),
        vec![format!("{P144}/0.mp4")]
    );
    let served = get(&http, &gw, &format!("/stream/mp4/{P144}/0.mp4")).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers[CONTENT_TYPE], "video/mp4");
    assert_eq!(served.body, parts[0].data);
    assert_eq!(&served.body[4..8], b"ftyp", "an MP4 file");
    let wrong = get(&http, &gw, &format!("/stream/mp4/{P144}/0.ts")).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off_while_real_pushes_are_served() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.server.header_read_timeout = Duration::from_millis(300);
        c.server.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = gw.base.trim_start_matches("http://").to_string();
    // A push whose head never ends, and a connection that sends nothing.
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"POST /live/slow/0.ts HTTP/1.1\r\nHost: gw\r\nContent-Dur")
        .await
        .expect("write");
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    for (what, stream) in [("slow head", &mut slow), ("silent", &mut silent)] {
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(NO_HANG, stream.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "{what}: the connection is closed");
    }
    // Real pushes are served meanwhile and after.
    let http = http();
    let segment = &bikes().await[0];
    check_pushed(&push(&http, &gw, "real", segment).await, 0, &single(P144)).await;
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn push_bodies_in_flight_are_bounded_and_the_budget_frees_up() {
    let orch = Orch::with_max_sessions(2).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.max_inflight_push_bytes = 4 << 20;
        c.push_read_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = gw.base.trim_start_matches("http://").to_string();
    // A pusher that declares 4 MiB and sends a little of it takes the whole budget.
    let mut hog = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    hog.write_all(
        b"POST /live/hog/0.ts HTTP/1.1\r\nHost: gw\r\nContent-Length: 4194304\r\n\r\nsome bytes",
    )
    .await
    .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let http = http();
    let segment = &bikes().await[0];
    let busy = push(&http, &gw, "real", segment).await;
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        busy.text()
    );
    assert!(busy.text().contains("in flight"), "{}", busy.text());
    // The hog's own deadline passes and its room comes back: real pushes go through.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(NO_HANG, hog.read_to_end(&mut rest)).await;
    drop(hog);
    check_pushed(&push(&http, &gw, "real", segment).await, 0, &single(P144)).await;
    gw.stop().await;
    orch.stop().await;
}
