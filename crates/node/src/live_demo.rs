//! `livepeer demo --live`: real-time AI on one machine. An orchestrator with the built-in live
//! runners (`noop` and the CPU `effects` pipeline) and a gateway taking RTMP start in this
//! process; the clip is broadcast in real time over RTMP to the gateway once per pipeline
//! (`rtmp://…/live/demo-<pipeline>?pipeline=<pipeline>`), goes gateway → orchestrator →
//! runner → orchestrator → gateway over trickle, and comes back as the stream's HLS. For
//! each pipeline the demo prints the output's segments, frames and frames per second and the
//! glass-to-glass latency: how long after its last frame was broadcast each output segment
//! became playable (the first segment's and the median). Without `--exit` it then serves
//! until Ctrl-C, printing `orchestrator https://…  gateway http://…` and the RTMP address.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use livepeer_ai::ModelsDir;
use tokio_util::sync::CancellationToken;

use crate::ai_demo::AiNetwork;

use crate::cli::DemoArgs;

/// The live pipelines the demo runs, in order.
pub const LIVE_PIPELINES: [&str; 2] = ["noop", "effects"];
/// How long one broadcast may take to come back whole.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(120);

/// What one pipeline's run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveReport {
    /// The live pipeline.
    pub pipeline: String,
    /// Output segments.
    pub segments: usize,
    /// Output video frames (ffprobe's packet count).
    pub frames: u64,
    /// Output duration (the playlist's), seconds.
    pub seconds: f64,
    /// Latency of the first output segment, seconds.
    pub first_latency: f64,
    /// Median latency over the output segments, seconds.
    pub median_latency: f64,
}

/// Runs the demo (module docs).
pub async fn run(args: DemoArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let input = match &args.input {
        Some(path) => path.clone(),
        None => crate::demo::default_input()?,
    };
    // The live runners load no model files.
    let models = ModelsDir::discover().unwrap_or_else(|| ModelsDir::new(PathBuf::from(".")));
    let flag = LIVE_PIPELINES
        .iter()
        .map(|p| format!("live-video-to-video:{p}:true"))
        .collect::<Vec<_>>()
        .join(",");
    let network = AiNetwork::start_with(&flag, &models, true).await?;
    let (orchestrator_uri, gateway_url) = (&network.orchestrator_uri, &network.gateway_url);
    let rtmp = network.rtmp.context("the gateway has no RTMP listener")?;
    println!("orchestrator {orchestrator_uri}  gateway {gateway_url}  rtmp://{rtmp}");
    println!(
        "{:<9} {:>8} {:>7} {:>10} {:>15} {:>16}",
        "pipeline", "segments", "frames", "output fps", "first latency", "median latency"
    );
    let mut result = Ok(());
    for pipeline in LIVE_PIPELINES {
        match demo_broadcast(&ffmpeg, &input, rtmp, gateway_url, pipeline).await {
            Ok(r) => println!(
                "{:<9} {:>8} {:>7} {:>10.1} {:>13.2} s {:>14.2} s",
                r.pipeline,
                r.segments,
                r.frames,
                r.frames as f64 / r.seconds.max(1e-9),
                r.first_latency,
                r.median_latency
            ),
            Err(err) => {
                result = Err(err.context(format!("the {pipeline} broadcast")));
                break;
            }
        }
    }
    if result.is_ok() && !args.exit {
        println!(
            "serving until Ctrl-C; broadcast with: ffmpeg -re -i <clip> -c:v libx264 -g 25 -f flv 'rtmp://{rtmp}/live/mine?pipeline=effects&params={{\"effect\":\"edges\"}}' and play {gateway_url}/stream/mine.m3u8"
        );
        cancel.cancelled().await;
    }
    network.stop().await;
    result
}

/// One measured real-time RTMP broadcast ([`broadcast`]).
#[derive(Debug, Clone)]
pub struct Broadcast<'a> {
    /// The clip.
    pub input: &'a std::path::Path,
    /// The gateway's RTMP address.
    pub rtmp: std::net::SocketAddr,
    /// The gateway's base URL.
    pub gateway_url: &'a str,
    /// The stream's name (its manifest).
    pub name: String,
    /// The live pipeline, or `None` for a transcoded stream.
    pub pipeline: Option<&'a str>,
    /// The playlist measured: `source` (a live pipeline's output) or a rendition's profile.
    pub rendition: &'a str,
    /// Re-encode the clip with x264 (keyframe every 25 frames, no audio) rather than copy it
    /// as it is.
    pub encode: bool,
}

/// Broadcasts `input` in real time with `pipeline` and measures what comes back.
async fn demo_broadcast(
    ffmpeg: &livepeer_media::Ffmpeg,
    input: &std::path::Path,
    rtmp: std::net::SocketAddr,
    gateway_url: &str,
    pipeline: &str,
) -> anyhow::Result<LiveReport> {
    let mut report = broadcast(
        ffmpeg,
        &Broadcast {
            input,
            rtmp,
            gateway_url,
            name: format!("demo-{pipeline}"),
            pipeline: Some(pipeline),
            rendition: "source",
            encode: true,
        },
    )
    .await?;
    report.pipeline = pipeline.to_string();
    Ok(report)
}

/// Broadcasts `b.input` in real time over RTMP and measures what comes back in the playlist
/// `b.rendition` of the stream: segments, frames, duration, and how long after its last
/// frame was broadcast each segment became playable ([`LiveReport`]; `pipeline` is the
/// stream's name).
///
/// Errors: ffmpeg missing or failing, or no complete output within two minutes.
pub async fn broadcast(
    ffmpeg: &livepeer_media::Ffmpeg,
    b: &Broadcast<'_>,
) -> anyhow::Result<LiveReport> {
    let name = &b.name;
    let started = Instant::now();
    let mut command = tokio::process::Command::new(ffmpeg.ffmpeg_path());
    command
        .args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-i",
        ])
        .arg(b.input);
    if b.encode {
        command
            .args(["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args(["-g", "25", "-an"]);
    } else {
        command.args(["-c", "copy"]);
    }
    let query = b
        .pipeline
        .map(|p| format!("?pipeline={p}"))
        .unwrap_or_default();
    let mut broadcaster = command
        .args(["-f", "flv"])
        .arg(format!("rtmp://{}/live/{name}{query}", b.rtmp))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start ffmpeg")?;
    let http = reqwest::Client::new();
    let gateway_url = b.gateway_url;
    let rendition = b.rendition;
    let playlist_url = format!("{gateway_url}/stream/{name}/{rendition}.m3u8");
    // When each output segment (by sequence number) first showed in the playlist.
    let mut arrivals: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut ended_broadcast = false;
    let deadline = Instant::now() + PIPELINE_TIMEOUT;
    let playlist = loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no complete output within {PIPELINE_TIMEOUT:?}"
        );
        if !ended_broadcast && let Some(status) = broadcaster.try_wait()? {
            ended_broadcast = true;
            anyhow::ensure!(status.success(), "the RTMP broadcast failed ({status})");
        }
        let text = match http.get(&playlist_url).send().await {
            Ok(resp) if resp.status().is_success() => resp.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        for (seq, _) in entries(&text, rendition) {
            arrivals.entry(seq).or_insert_with(|| started.elapsed());
        }
        if text.contains("#EXT-X-ENDLIST") {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = broadcaster.wait().await;
    let all = entries(&playlist, rendition);
    anyhow::ensure!(!all.is_empty(), "no output came back");
    let mut frames = 0;
    for (seq, _) in &all {
        let bytes = http
            .get(format!("{gateway_url}/stream/{name}/{rendition}/{seq}.ts"))
            .send()
            .await?
            .bytes()
            .await?;
        let info = ffmpeg.probe(&bytes[..]).await?;
        frames += info.video_packets.unwrap_or(0);
    }
    // A segment's latency: when it became playable, less when its last frame was broadcast.
    let mut media_end = 0.0;
    let mut latencies = Vec::new();
    for (seq, duration) in &all {
        media_end += duration;
        if let Some(arrived) = arrivals.get(seq) {
            latencies.push(arrived.as_secs_f64() - media_end);
        }
    }
    let first_latency = latencies.first().copied().unwrap_or(0.0);
    latencies.sort_by(f64::total_cmp);
    let median_latency = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
    let segments = all.len();
    let seconds = all.iter().map(|(_, d)| d).sum();
    Ok(LiveReport {
        pipeline: name.clone(),
        segments,
        frames,
        seconds,
        first_latency,
        median_latency,
    })
}

/// The segments of the media playlist of `rendition`: (sequence number, duration in
/// seconds).
fn entries(playlist: &str, rendition: &str) -> Vec<(u64, f64)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d.trim_end_matches(',').parse::<f64>().ok();
        } else if let Some(seq) = line
            .strip_prefix(rendition)
            .and_then(|f| f.strip_prefix('/'))
            .and_then(|f| f.strip_suffix(".ts"))
            .and_then(|n| n.parse::<u64>().ok())
            && let Some(d) = duration.take()
        {
            out.push((seq, d));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_entries() {
        let p = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n#EXTINF:1.000,\nsource/4.ts\n#EXTINF:0.960,\nsource/5.ts\n";
        assert_eq!(entries(p, "source"), vec![(4, 1.0), (5, 0.96)]);
        assert!(entries(p, "P240p30fps16x9").is_empty());
        assert!(entries("#EXTM3U\n", "source").is_empty());
    }
}
