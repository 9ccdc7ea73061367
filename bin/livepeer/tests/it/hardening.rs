//! The orchestrator binary under abuse, as an operator would see it: its ffmpeg children die
//! with it even when it is SIGKILLed, the scratch files a killed node left are swept at the
//! next start, and a flood of oversized and endless bodies leaves its memory bounded while
//! real segments keep transcoding.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livepeer_gateway::client::OrchestratorClient;
use livepeer_orchestrator::{BODY_READ_TIMEOUT, MAX_SEGMENT_BYTES};
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_testing::orchestrator::endless_body;
use livepeer_testing::process::{children_of, is_dead, rss_of, scratch_roots};
use livepeer_testing::{
    P144, check_renditions, long_segment, new_session, post_segment, profiles, seg_for,
    segment_request, test_segment,
};

/// Peak resident memory the orchestrator may reach in the flood test, bytes. Before the
/// bodies streamed to disk, one 300 MB body peaked it at 613 MB and ten at 2.8–3.6 GB.
const FLOOD_RSS_BOUND: u64 = 256 << 20;

/// A `livepeer -orchestrator -transcoder` process and the URI it serves.
struct Node {
    child: Child,
    uri: String,
    /// What it logged up to the listening line.
    start_log: Vec<String>,
}

impl Node {
    /// Starts the binary with `extra` flags, on a free port of 127.0.0.1, and waits until it
    /// says where it serves.
    fn start(extra: &[&str]) -> Self {
        let mut child = crate::livepeer_command()
            .args([
                "-orchestrator",
                "-transcoder",
                "-serviceAddr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, log) = std::sync::mpsc::channel::<String>();
        let mut start_log = Vec::new();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let uri = loop {
            match log.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("orchestrator listening") => {
                    start_log.push(line.clone());
                    let uri = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("uri="))
                        .expect("the listening line names the URI")
                        .trim_matches('"')
                        .to_string();
                    break uri;
                }
                Ok(line) => start_log.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the orchestrator exited before listening: {start_log:?}")
                }
            }
            assert!(Instant::now() < deadline, "the orchestrator never listened");
        };
        Self {
            child,
            uri,
            start_log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn a_sigkilled_orchestrator_takes_its_ffmpeg_with_it_and_its_scratch_is_swept_next_time() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let dir = data_dir.path().to_str().expect("utf-8 path").to_string();
    let node = Node::start(&["-dataDir", &dir]);
    let rt = runtime();
    let client = OrchestratorClient::new();
    let uri: hyper::Uri = node.uri.parse().expect("a URI");
    let long = rt.block_on(long_segment());
    let token = rt.block_on(new_session(&client, &uri));
    let ladder = profiles(&["P720p30fps16x9", "P360p30fps16x9", "P240p30fps16x9"]);
    let seg = seg_for(&token, 0, &long.data, long.duration, &ladder);
    let _posting = {
        let header = encode_header(&seg).parse().expect("a header value");
        let request = segment_request(&node.uri, Some(header), Some(""), long.data.clone());
        let client = client.clone();
        // It waits for the TranscodeResult (dropping the response would cancel the
        // transcode) and ends in a transport error when the node is killed.
        rt.spawn(async move {
            use http_body_util::BodyExt;
            let response = client.send(request).await.ok()?;
            response.into_body().collect().await.ok().map(|_| ())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let ffmpeg = loop {
        if let Some((pid, _)) = children_of(node.pid())
            .into_iter()
            .find(|(_, name)| name == "ffmpeg")
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the transcode never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let killed = Command::new("kill")
        .args(["-KILL", &node.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_dead(ffmpeg) {
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &ffmpeg.to_string()])
                .status();
            panic!("ffmpeg {ffmpeg} outlived its SIGKILLed orchestrator");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(node);
    // The killed node could not clean up: its scratch root, with the segment, is still there.
    let stale = scratch_roots(data_dir.path());
    assert_eq!(stale.len(), 1, "{stale:?}");

    let again = Node::start(&["-dataDir", &dir]);
    let roots = scratch_roots(data_dir.path());
    assert_eq!(
        roots.len(),
        1,
        "only the new node's scratch root: {roots:?}"
    );
    assert_ne!(roots[0], stale[0], "the stale one is gone");
    let log = again.start_log.join("\n");
    assert!(log.contains("stale scratch"), "the sweep is logged: {log}");
}

#[test]
fn a_flood_of_huge_and_endless_bodies_leaves_memory_bounded_and_real_segments_served() {
    let node = Node::start(&["-httpAddr", "http://127.0.0.1:0", "-maxSessions", "20"]);
    let rt = runtime();
    let client = OrchestratorClient::new();
    let uri: hyper::Uri = node.uri.parse().expect("a URI");
    let clip = rt.block_on(test_segment());
    let ladder = profiles(&[P144]);
    rt.block_on(async {
        // Slow clients that never finish their request head hold connections meanwhile.
        let mut slow = Vec::new();
        let authority = uri.authority().expect("authority").to_string();
        for _ in 0..8 {
            let mut tcp = tokio::net::TcpStream::connect(&authority)
                .await
                .expect("connect");
            use tokio::io::AsyncWriteExt;
            tcp.write_all(b"POST /segment HTTP/1.1\r\nHost: x\r\n")
                .await
                .expect("write");
            slow.push(tcp);
        }
        // Six endless bodies (each cut at 300 MB) and six that declare 1 GB, at once.
        let mut floods = Vec::new();
        for i in 0..12u64 {
            let pulled = Arc::new(AtomicU64::new(0));
            let token = new_session(&client, &uri).await;
            let seg = seg_for(&token, i, &clip.data, clip.duration, &ladder);
            let mut request = hyper::Request::post(format!("{}/segment", node.uri))
                .header(SEGMENT_HEADER, encode_header(&seg))
                .header(PAYMENT_HEADER, "")
                .header(hyper::header::CONTENT_TYPE, "video/MP2T");
            if i % 2 == 1 {
                request = request.header(hyper::header::CONTENT_LENGTH, 1_000_000_000u64);
            }
            let request = request
                .body(endless_body(pulled.clone()))
                .expect("a request");
            let client = client.clone();
            let endless = i % 2 == 0;
            floods.push((
                endless,
                pulled,
                tokio::spawn(async move {
                    let sent = Instant::now();
                    (client.send(request).await, sent.elapsed())
                }),
            ));
        }
        // Meanwhile a real gateway's segments keep transcoding.
        let token = new_session(&client, &uri).await;
        let started = Instant::now();
        let mut served = 0;
        let mut seq = 0;
        while !floods.iter().all(|(_, _, f)| f.is_finished()) || served == 0 {
            let seg = seg_for(&token, 1000 + seq, &clip.data, clip.duration, &ladder);
            let (status, body) = post_segment(&client, &node.uri, &seg, clip.data.clone()).await;
            assert_eq!(
                status,
                hyper::StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&body)
            );
            let result =
                <livepeer_proto::net::TranscodeResult as prost::Message>::decode(body.as_ref())
                    .expect("a TranscodeResult");
            check_renditions(
                &client,
                &node.uri,
                &token,
                (1000 + seq) as i64,
                &result,
                &ladder,
            )
            .await;
            served += 1;
            seq += 1;
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the flood never ended"
            );
        }
        for (endless, pulled, flood) in floods {
            let (response, took) = flood.await.expect("no panic");
            // Either the status arrives, or the stream is reset once the orchestrator stops
            // reading.
            if let Ok(response) = response {
                assert_eq!(
                    response.status(),
                    hyper::StatusCode::INTERNAL_SERVER_ERROR,
                    "an oversized body is refused"
                );
            }
            let pulled = pulled.load(Ordering::Relaxed);
            // An endless body is read up to the byte limit, or for the whole read timeout
            // when a loaded machine cannot move 300 MB in that time; never past the limit
            // (beyond what the transport buffers).
            assert!(
                pulled <= MAX_SEGMENT_BYTES + (64 << 20),
                "a body was read past the limit ({pulled} bytes sent)"
            );
            if endless {
                assert!(
                    pulled >= MAX_SEGMENT_BYTES || took >= BODY_READ_TIMEOUT,
                    "an endless body was cut at {pulled} bytes after {took:?}, before the \
                     limit and the read timeout"
                );
            }
        }
        assert!(served > 0);
        drop(slow);
    });
    let (now, peak) = rss_of(node.pid()).expect("the node's memory");
    eprintln!("flood: peak RSS {} MiB, now {} MiB", peak >> 20, now >> 20);
    assert!(
        peak < FLOOD_RSS_BOUND,
        "peak RSS {} MiB over the {} MiB bound",
        peak >> 20,
        FLOOD_RSS_BOUND >> 20
    );
}
