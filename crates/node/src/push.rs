//! `livepeer push`: cut a file into 2 s MPEG-TS segments, push each to a gateway's
//! `/live/<manifest>/<seq>.ts`, and save the renditions that come back as `multipart/mixed`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use livepeer_gateway::client::error_chain;

use crate::cli::PushArgs;

/// How long one segment push may take before it counts as failed.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// The manifest ID pushed under.
    pub manifest: String,
    /// Segments pushed.
    pub segments: usize,
    /// Source duration pushed.
    pub source_duration: Duration,
    /// Wall time of the whole push, segmenting included.
    pub wall: Duration,
    /// Per rendition name: segments received and their bytes.
    pub renditions: BTreeMap<String, (usize, u64)>,
}

impl PushReport {
    /// Source seconds per wall second (above 1 is faster than real time).
    pub fn realtime_factor(&self) -> f64 {
        self.source_duration.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

/// A manifest ID from a file name: its stem with anything outside `[A-Za-z0-9_-]` made `_`.
pub fn manifest_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("stream");
    let id: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() { "stream".into() } else { id }
}

/// Runs `livepeer push`, printing progress; errors carry a one-line reason.
pub async fn run(args: PushArgs, cancel: CancellationToken) -> anyhow::Result<PushReport> {
    let report = push_file(&args, cancel, true).await?;
    println!(
        "pushed {} segments ({:.1} s of video) in {:.1} s: {:.2}x real time",
        report.segments,
        report.source_duration.as_secs_f64(),
        report.wall.as_secs_f64(),
        report.realtime_factor()
    );
    for (name, (count, bytes)) in &report.renditions {
        println!("  {name}: {count} segments, {bytes} bytes");
    }
    Ok(report)
}

/// Pushes `args.file` to the gateway; `show_progress` draws a progress bar on stderr.
pub async fn push_file(
    args: &PushArgs,
    cancel: CancellationToken,
    show_progress: bool,
) -> anyhow::Result<PushReport> {
    let started = Instant::now();
    let gateway = args.gateway.trim_end_matches('/').to_string();
    let gateway = if gateway.contains("://") {
        gateway
    } else {
        format!("http://{gateway}")
    };
    let manifest = match &args.manifest {
        Some(m) => livepeer_primitives::ManifestId::new(m.clone())?.to_string(),
        None => manifest_from_path(&args.file),
    };
    if !args.file.is_file() {
        bail!("{}: no such file", args.file.display());
    }
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    // Fail fast with one clear line when the gateway is not there.
    let health: Uri = format!("{gateway}/healthz")
        .parse()
        .with_context(|| format!("invalid gateway URL {gateway}"))?;
    let probe = Request::get(health).body(Full::new(Bytes::new()))?;
    match tokio::time::timeout(Duration::from_secs(5), client.request(probe)).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => bail!("cannot reach gateway at {gateway}: {}", error_chain(&err)),
        Err(_) => bail!("cannot reach gateway at {gateway}: no answer within 5 s"),
    }

    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let work = tempfile::tempdir().context("cannot make a temporary directory")?;
    let segments = ffmpeg
        .segment_file_for_ingest(
            &args.file,
            work.path(),
            livepeer_media::DEFAULT_SEGMENT_DURATION,
        )
        .await
        .with_context(|| format!("cannot segment {}", args.file.display()))?;
    if segments.is_empty() {
        bail!("{}: no segments (is it a video?)", args.file.display());
    }

    let bar = if show_progress {
        ProgressBar::new(segments.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} segments {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut report = PushReport {
        manifest: manifest.clone(),
        ..Default::default()
    };
    let push_started = Instant::now();
    for segment in &segments {
        if cancel.is_cancelled() {
            bail!("interrupted after {} segments", report.segments);
        }
        if args.realtime {
            let due = push_started + report.source_duration;
            tokio::time::sleep_until(due.into()).await;
        }
        let data = Bytes::from(tokio::fs::read(&segment.path).await?);
        let url = format!("{gateway}/live/{manifest}/{}.ts", segment.seq);
        let request = Request::post(&url)
            .header("Content-Duration", segment.duration.as_millis().to_string())
            .header(hyper::header::ACCEPT, "multipart/mixed")
            .header(hyper::header::CONTENT_TYPE, "video/MP2T")
            .body(Full::new(data))?;
        let response = tokio::time::timeout(PUSH_TIMEOUT, client.request(request))
            .await
            .map_err(|_| {
                anyhow!(
                    "segment {} failed: no answer within {PUSH_TIMEOUT:?}",
                    segment.seq
                )
            })?
            .map_err(|e| anyhow!("segment {} failed: {}", segment.seq, error_chain(&e)))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = response.into_body().collect().await?.to_bytes();
        if status != StatusCode::OK {
            bail!(
                "segment {} failed: {} {}",
                segment.seq,
                status.as_u16(),
                String::from_utf8_lossy(&body).trim()
            );
        }
        let parts = parse_multipart(&content_type, body)
            .await
            .with_context(|| format!("segment {}", segment.seq))?;
        for (rendition, data) in parts {
            let entry = report.renditions.entry(rendition.clone()).or_default();
            entry.0 += 1;
            entry.1 += data.len() as u64;
            if let Some(out) = &args.out {
                let dir = out.join(&rendition);
                tokio::fs::create_dir_all(&dir).await?;
                tokio::fs::write(dir.join(format!("{}.ts", segment.seq)), &data).await?;
            }
        }
        report.segments += 1;
        report.source_duration += segment.duration;
        bar.inc(1);
        let rt =
            report.source_duration.as_secs_f64() / push_started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{rt:.2}x real time"));
    }
    bar.finish_and_clear();
    // Tell the gateway the push is over, so its playlists become VOD.
    let end: Uri = format!("{gateway}/live/{manifest}").parse()?;
    let end = Request::delete(end).body(Full::new(Bytes::new()))?;
    if let Ok(Ok(response)) =
        tokio::time::timeout(Duration::from_secs(5), client.request(end)).await
    {
        let _ = response.into_body().collect().await;
    }
    report.wall = started.elapsed();
    Ok(report)
}

/// The renditions in a gateway's `multipart/mixed` answer, as (name, bytes).
pub async fn parse_multipart(
    content_type: &str,
    body: Bytes,
) -> anyhow::Result<Vec<(String, Bytes)>> {
    let mime: mime::Mime = content_type
        .parse()
        .map_err(|e| anyhow!("expected a multipart/mixed answer, got {content_type:?}: {e}"))?;
    let boundary = match (mime.type_(), mime.get_param(mime::BOUNDARY)) {
        (mime::MULTIPART, Some(boundary)) => boundary.to_string(),
        _ => bail!("expected a multipart/mixed answer, got {content_type:?}"),
    };
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await? {
        let name = field
            .headers()
            .get("Rendition-Name")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("a part has no Rendition-Name"))?
            .to_string();
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            bail!("unsafe rendition name {name:?}");
        }
        parts.push((name, field.bytes().await?));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_from_file_names() {
        assert_eq!(
            manifest_from_path(Path::new("/x/city-cc0-720x405-25fps.mpg")),
            "city-cc0-720x405-25fps"
        );
        assert_eq!(
            manifest_from_path(Path::new("my clip.v2.mp4")),
            "my_clip_v2"
        );
    }

    #[tokio::test]
    async fn multipart_answers_parse_and_unsafe_names_fail() {
        let data = Bytes::from_static(b"ts bytes");
        let boundary = livepeer_gateway::multipart::new_boundary();
        let ok = livepeer_gateway::multipart::encode(
            &boundary,
            &[livepeer_gateway::multipart::Part {
                rendition: "P240p30fps16x9",
                seq: 0,
                extension: ".ts",
                mime: "video/mp2t",
                data: &data,
            }],
        );
        let ct = livepeer_gateway::multipart::content_type(&boundary);
        assert_eq!(
            parse_multipart(&ct, ok).await.expect("parses"),
            vec![("P240p30fps16x9".to_string(), data.clone())]
        );
        let bad = livepeer_gateway::multipart::encode(
            &boundary,
            &[livepeer_gateway::multipart::Part {
                rendition: "../x",
                seq: 0,
                extension: ".ts",
                mime: "video/mp2t",
                data: &data,
            }],
        );
        assert!(parse_multipart(&ct, bad).await.is_err());
        assert!(parse_multipart("text/plain", Bytes::new()).await.is_err());
    }
}
