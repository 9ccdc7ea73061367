//! Shared harnesses for the integration tests of livepeer-rs: real orchestrators and gateways
//! bound on 127.0.0.1 port 0, the real ffmpeg, real segments cut from the test clips, and the
//! HTTP exchanges a gateway or a pushing client makes.
//!
//! A dev-dependency only: production code never depends on this crate.
//!
//! - [`orchestrator`]: [`Orch`] (start, stop, capacity), `/segment` requests as a gateway
//!   builds them, rendition checks by an independent ffprobe;
//! - [`gateway`]: [`Gateway`] (start, stop), an HTTP/1.1 pusher client, multipart answers;
//! - [`media`]: test segments cut from the clips once per test binary;
//! - [`chain`]: a paid orchestrator and gateway over an in-memory chain;
//! - [`s3`]: a real S3 server (s3s-fs, SigV4 and POST policies checked) on 127.0.0.1;
//! - [`process`]: this process's children and memory, for tests that assert no ffmpeg child
//!   is left and that memory stays bounded.

pub mod chain;
pub mod gateway;
pub mod media;
pub mod orchestrator;
pub mod process;
pub mod s3;

use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use livepeer_media::Ffmpeg;
use livepeer_primitives::profile::{
    DEFAULT_TRANSCODING_OPTIONS, VideoProfile, parse_transcoding_options,
};

pub use gateway::{Answer, Gateway, Http, Part, check_pushed, http, parts, push, request};
pub use media::{
    Clip, Segment, bikes, city, city_mpeg2, count_video, long_segment, test_segment, video_size,
};
pub use orchestrator::{
    Orch, check_renditions, get_orchestrator, new_session, post_segment, seg_for, segment_request,
    send, transcode,
};

/// x264 preset of the test orchestrators: the fastest, so suites stay quick on 2 cores.
pub const PRESET: &str = "ultrafast";
/// The cheapest standard rendition, for tests where the ladder does not matter.
pub const P144: &str = "P144p30fps16x9";
/// How long a test waits for a service to stop after cancel.
pub const STOP_LIMIT: Duration = Duration::from_secs(15);

/// The binaries; fails (never skips) when ffmpeg is missing.
pub fn ffmpeg() -> Ffmpeg {
    Ffmpeg::locate().unwrap_or_else(|e| panic!("{e} (run `make test`, which installs ffmpeg)"))
}

/// Standard profiles by name.
pub fn profiles(names: &[&str]) -> Vec<VideoProfile> {
    names
        .iter()
        .map(|n| VideoProfile::standard(n).unwrap_or_else(|| panic!("{n} is standard")))
        .collect()
}

/// One standard profile.
pub fn single(name: &str) -> Vec<VideoProfile> {
    profiles(&[name])
}

/// The default 2-rung ladder (`P240p30fps16x9,P360p30fps16x9`).
pub fn default_ladder() -> Vec<VideoProfile> {
    parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS).expect("default ladder")
}

/// `n` bytes that no demuxer recognises (seeded, so every run sends the same bytes).
pub fn garbage(n: usize) -> Bytes {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6c69_7665_7065_6572);
    let mut data = vec![0u8; n];
    rng.fill(data.as_mut_slice());
    Bytes::from(data)
}

/// An `-orchAddr` entry where nothing listens: a port bound and released at once.
pub fn dead_orchestrator() -> Uri {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("bound address").port();
    drop(listener);
    format!("https://127.0.0.1:{port}/")
        .parse()
        .expect("a valid URI")
}

/// Polls `check` every 50 ms until it returns true, for at most `limit`; returns whether it
/// did.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The segment URIs a media playlist lists, in order.
pub fn playlist_entries(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}
