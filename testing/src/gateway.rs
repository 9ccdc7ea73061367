//! A real gateway on 127.0.0.1 and the HTTP/1.1 exchanges a pushing client makes with it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap};
use hyper::{Method, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use livepeer_gateway::{GatewayConfig, GatewayHandle, GatewayResult, GatewayService};
use livepeer_primitives::profile::VideoProfile;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::STOP_LIMIT;
use crate::media::Segment;

/// A running gateway.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The RTMP address, when the configuration set `rtmp_addr`.
    pub rtmp: Option<SocketAddr>,
    /// The gateway's state: suspended orchestrators, live streams, retained bytes.
    pub handle: GatewayHandle,
    cancel: CancellationToken,
    task: JoinHandle<GatewayResult<()>>,
}

impl Gateway {
    /// A gateway on 127.0.0.1 port 0 using `orch_addrs` and the ladder `profiles`.
    pub async fn start(orch_addrs: Vec<Uri>, profiles: Vec<VideoProfile>) -> Self {
        Self::start_with(orch_addrs, profiles, |_| {}).await
    }

    /// As [`Gateway::start`], letting `tweak` adjust the rest of the configuration.
    pub async fn start_with(
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
        let rtmp = service.rtmp_addr();
        let handle = service.handle();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(service.run(cancel.clone()));
        Self {
            base: format!("http://{addr}"),
            rtmp,
            handle,
            cancel,
            task,
        }
    }

    /// Cancels the gateway and checks that it stops cleanly.
    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(STOP_LIMIT, self.task)
            .await
            .expect("the gateway stops after cancel")
            .expect("the gateway task does not panic")
            .expect("the gateway stops without an error");
    }
}

/// A plain HTTP/1.1 client, as ffmpeg or curl pushing to a gateway.
pub type Http = Client<HttpConnector, Full<Bytes>>;

/// A new HTTP/1.1 client.
pub fn http() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Sends a request and reads the whole answer.
pub async fn request(
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
pub async fn get(http: &Http, gw: &Gateway, path: &str) -> Answer {
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
pub async fn push(http: &Http, gw: &Gateway, manifest: &str, segment: &Segment) -> Answer {
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
pub struct Part {
    /// The `Rendition-Name` header.
    pub rendition: String,
    /// All its headers.
    pub headers: HeaderMap,
    /// The rendition bytes.
    pub data: Bytes,
}

/// Parses a `multipart/mixed` push answer with multer.
pub async fn parts(answer: &Answer) -> Vec<Part> {
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
pub async fn check_pushed(answer: &Answer, seq: u64, ladder: &[VideoProfile]) -> Vec<Part> {
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
