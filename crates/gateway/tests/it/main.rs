//! Integration tests of livepeer-gateway: a real gateway on 127.0.0.1 port 0 in front of real
//! orchestrators (livepeer-orchestrator with the local ffmpeg, over TLS), fed real segments of
//! the test clips by HTTP push, and read back over its HLS routes.

mod failover;
mod hls;
mod push;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap};
use hyper::{Method, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::{GatewayConfig, GatewayResult, GatewayService};
use livepeer_media::{Ffmpeg, testing};
use livepeer_orchestrator::{
    LocalTranscoder, OrchestratorConfig, OrchestratorResult, OrchestratorService,
};
use livepeer_primitives::profile::{
    DEFAULT_TRANSCODING_OPTIONS, VideoProfile, parse_transcoding_options,
};
use livepeer_proto::net;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// x264 preset of the test orchestrators: the fastest, so the suite stays quick on 2 cores.
const PRESET: &str = "ultrafast";
/// The cheapest standard rendition, for tests where the ladder does not matter.
pub(crate) const P144: &str = "P144p30fps16x9";

/// The binaries; fails (never skips) when ffmpeg is missing.
pub(crate) fn ffmpeg() -> Ffmpeg {
    Ffmpeg::locate().unwrap_or_else(|e| panic!("{e} (run `make test`, which installs ffmpeg)"))
}

/// How long a test waits for a service to stop after cancel.
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// A running orchestrator.
pub(crate) struct Orch {
    /// Its service URI, e.g. `https://127.0.0.1:41234`.
    pub(crate) uri: Uri,
    cancel: CancellationToken,
    task: JoinHandle<OrchestratorResult<()>>,
}

impl Orch {
    /// An orchestrator on 127.0.0.1 port 0 (TLS) admitting `max_sessions` sessions.
    pub(crate) async fn start(max_sessions: usize) -> Self {
        let service = OrchestratorService::bind(OrchestratorConfig {
            service_addr: "127.0.0.1:0".into(),
            max_sessions,
            transcoder: Some(LocalTranscoder::new(ffmpeg(), PRESET.into())),
            ..Default::default()
        })
        .await
        .expect("orchestrator binds 127.0.0.1:0");
        let uri = service.service_uri().parse().expect("service URI");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(service.run(cancel.clone()));
        Self { uri, cancel, task }
    }

    /// Cancels the orchestrator and checks that it stops cleanly.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(STOP_LIMIT, self.task)
            .await
            .expect("the orchestrator stops after cancel")
            .expect("the orchestrator task does not panic")
            .expect("the orchestrator stops without an error");
    }

    /// Whether the orchestrator refuses new sessions with "OrchestratorCapped".
    pub(crate) async fn is_capped(&self) -> bool {
        match OrchestratorClient::new()
            .get_orchestrator(&self.uri, net::OrchestratorRequest::default())
            .await
        {
            Ok(_) => false,
            Err(err) if err.to_string().contains("OrchestratorCapped") => true,
            Err(err) => panic!("GetOrchestrator failed otherwise: {err}"),
        }
    }
}

/// An `-orchAddr` entry where nothing listens: a port bound and released at once.
pub(crate) fn dead_orchestrator() -> Uri {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("bound address").port();
    drop(listener);
    format!("https://127.0.0.1:{port}/")
        .parse()
        .expect("a valid URI")
}

/// The default 2-rung ladder (`P240p30fps16x9,P360p30fps16x9`).
pub(crate) fn default_ladder() -> Vec<VideoProfile> {
    parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS).expect("default ladder")
}

/// One standard profile.
pub(crate) fn single(name: &str) -> Vec<VideoProfile> {
    vec![VideoProfile::standard(name).expect("standard profile")]
}

/// A running gateway.
pub(crate) struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    cancel: CancellationToken,
    task: JoinHandle<GatewayResult<()>>,
}

impl Gateway {
    /// A gateway on 127.0.0.1 port 0 using `orch_addrs` and the ladder `profiles`.
    pub(crate) async fn start(orch_addrs: Vec<Uri>, profiles: Vec<VideoProfile>) -> Self {
        Self::start_with(orch_addrs, profiles, |_| {}).await
    }

    /// As [`Gateway::start`], letting `tweak` adjust the rest of the configuration.
    pub(crate) async fn start_with(
        orch_addrs: Vec<Uri>,
        profiles: Vec<VideoProfile>,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Self {
        let mut config = GatewayConfig {
            http_addr: "127.0.0.1:0".into(),
            orch_addrs,
            profiles,
            ..Default::default()
        };
        tweak(&mut config);
        let service = GatewayService::bind(config)
            .await
            .expect("gateway binds 127.0.0.1:0");
        let addr: SocketAddr = service.local_addr();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(service.run(cancel.clone()));
        Self {
            base: format!("http://{addr}"),
            cancel,
            task,
        }
    }

    /// Cancels the gateway and checks that it stops cleanly.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(STOP_LIMIT, self.task)
            .await
            .expect("the gateway stops after cancel")
            .expect("the gateway task does not panic")
            .expect("the gateway stops without an error");
    }
}

/// One segment of a clip, as a gateway's segmenter cuts it.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    /// Sequence number, from 0.
    pub(crate) seq: u64,
    /// Duration from ffmpeg's segment list, in milliseconds.
    pub(crate) duration_ms: u64,
    /// The MPEG-TS bytes.
    pub(crate) data: Bytes,
}

static BIKES: OnceCell<Vec<Segment>> = OnceCell::const_new();
static CITY: OnceCell<Vec<Segment>> = OnceCell::const_new();

/// The bikes clip (10 s, H.264 640x272) in ~2 s segments (5 of them).
pub(crate) async fn bikes() -> &'static [Segment] {
    BIKES
        .get_or_init(|| cut(testing::BIKES_MP4, "2"))
        .await
        .as_slice()
}

/// The city clip (7.6 s, MPEG-2 720x405) in ~1 s segments (7 or more).
pub(crate) async fn city() -> &'static [Segment] {
    CITY.get_or_init(|| cut(testing::CITY_MPG, "1"))
        .await
        .as_slice()
}

/// Cuts `clip` into MPEG-TS segments of about `seconds` by stream copy (`-f segment`), reading
/// durations from ffmpeg's CSV segment list.
async fn cut(clip: &str, seconds: &str) -> Vec<Segment> {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("list.csv");
    let run = tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(testing::media_file(clip))
        .args(["-map", "0:v:0", "-c", "copy", "-f", "segment"])
        .args(["-segment_time", seconds, "-segment_format", "mpegts"])
        .args(["-segment_list_type", "csv", "-segment_list"])
        .arg(&list)
        .arg(dir.path().join("seg_%03d.ts"))
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(
        run.status.success(),
        "segmenting {clip}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = tokio::fs::read_to_string(&list)
        .await
        .expect("segment list");
    let mut segments = Vec::new();
    for (seq, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let [file, start, end] = fields[..] else {
            panic!("unexpected segment list line {line:?}");
        };
        let secs = |s: &str| s.parse::<f64>().expect("seconds");
        let duration_ms = ((secs(end) - secs(start)) * 1000.0).round() as u64;
        let data = tokio::fs::read(dir.path().join(file))
            .await
            .expect("segment");
        segments.push(Segment {
            seq: seq as u64,
            duration_ms,
            data: Bytes::from(data),
        });
    }
    segments
}

/// A plain HTTP/1.1 client, as ffmpeg or curl pushing to a gateway.
pub(crate) type Http = Client<HttpConnector, Full<Bytes>>;

/// A new HTTP/1.1 client.
pub(crate) fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An answer: status, headers and the whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Sends a request and reads the whole answer.
pub(crate) async fn request(
    http: &Http,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Answer {
    let mut builder = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(body)).expect("a valid request");
    let exchange = async {
        let response = http.request(request).await.expect("the gateway answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body is readable")
            .to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .unwrap_or_else(|_| panic!("{url}: no answer within 60 s"))
}

/// GETs `path` from the gateway.
pub(crate) async fn get(http: &Http, gw: &Gateway, path: &str) -> Answer {
    request(
        http,
        Method::GET,
        &format!("{}{path}", gw.base),
        &[],
        Bytes::new(),
    )
    .await
}

/// Pushes `segment` as `/live/<manifest>/<seq>.ts` with its `Content-Duration`, asking for
/// the renditions back as `multipart/mixed`.
pub(crate) async fn push(http: &Http, gw: &Gateway, manifest: &str, segment: &Segment) -> Answer {
    let duration = segment.duration_ms.to_string();
    request(
        http,
        Method::POST,
        &format!("{}/live/{manifest}/{}.ts", gw.base, segment.seq),
        &[
            ("Content-Duration", duration.as_str()),
            ("Accept", "multipart/mixed"),
        ],
        segment.data.clone(),
    )
    .await
}

/// One part of a multipart push answer.
#[derive(Debug)]
pub(crate) struct Part {
    /// The `Rendition-Name` header.
    pub(crate) rendition: String,
    /// All its headers.
    pub(crate) headers: HeaderMap,
    /// The rendition bytes.
    pub(crate) data: Bytes,
}

/// Parses a `multipart/mixed` push answer with multer.
pub(crate) async fn parts(answer: &Answer) -> Vec<Part> {
    let content_type = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .expect("a content type");
    assert!(
        content_type.starts_with("multipart/mixed"),
        "{content_type}"
    );
    // multer's own `parse_boundary` takes multipart/form-data only.
    let boundary = content_type
        .split(';')
        .find_map(|param| param.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .expect("a boundary parameter");
    let body = answer.body.clone();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.expect("well-formed multipart") {
        let headers = field.headers().clone();
        let rendition = headers
            .get("Rendition-Name")
            .expect("every part has a Rendition-Name")
            .to_str()
            .expect("ASCII rendition name")
            .to_string();
        let data = field.bytes().await.expect("part body");
        parts.push(Part {
            rendition,
            headers,
            data,
        });
    }
    parts
}

/// Checks a push answer for segment `seq`: 200 and one well-formed MPEG-TS part per profile of
/// `ladder`, in ladder order. Returns the parts.
pub(crate) async fn check_pushed(answer: &Answer, seq: u64, ladder: &[VideoProfile]) -> Vec<Part> {
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "push {seq}: {}",
        answer.text()
    );
    let parts = parts(answer).await;
    let names: Vec<&str> = parts.iter().map(|p| p.rendition.as_str()).collect();
    let want: Vec<&str> = ladder.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, want, "push {seq}: one part per rendition");
    for part in &parts {
        let file = format!("{}_{seq}.ts", part.rendition);
        let header = |name: &str| {
            part.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{file}: no {name}"))
                .to_string()
        };
        assert_eq!(
            header("Content-Type"),
            format!("video/mp2t; name=\"{file}\"")
        );
        assert_eq!(
            header("Content-Disposition"),
            format!("attachment; filename=\"{file}\"")
        );
        assert_eq!(header("Content-Length"), part.data.len().to_string());
        assert!(part.data.len() >= 188, "{file}: {} bytes", part.data.len());
        assert_eq!(part.data[0], 0x47, "{file}: MPEG-TS sync byte");
    }
    parts
}

/// Width and height of the first video stream, by ffprobe.
pub(crate) async fn video_size(data: &[u8]) -> (u32, u32) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rendition.ts");
    tokio::fs::write(&path, data)
        .await
        .expect("write rendition");
    let out = tokio::process::Command::new(ffmpeg().ffprobe_path())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .await
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe failed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // MPEG-TS lists the stream under its program too: the first line is enough.
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut fields = line.trim().split(',').map(|f| f.parse::<u32>());
    match (fields.next(), fields.next()) {
        (Some(Ok(w)), Some(Ok(h))) => (w, h),
        _ => panic!("ffprobe gave no size: {text:?}"),
    }
}

/// Polls `check` every 50 ms until it returns true, for at most `limit`; returns whether it
/// did.
pub(crate) async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
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
pub(crate) fn playlist_entries(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}
