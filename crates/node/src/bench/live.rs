//! `livepeer bench live`: what live video costs on this machine. One orchestrator (a local
//! x264 transcoder and the built-in `noop` live runner) and a gateway taking RTMP run in this
//! process ([`AiNetwork::start_transcoding`]). It measures
//! 1. glass-to-glass latency of live transcoding: the city clip broadcast in real time over
//!    RTMP, and how long after its last frame was broadcast each rendition segment became
//!    playable in the gateway's HLS (first segment and median);
//! 2. the same for live-video-to-video through `noop` (RTMP in → trickle → runner → trickle
//!    → the stream's HLS), which bounds the frame-in to frame-out latency from above by the
//!    segment's length;
//! 3. how many concurrent 720p30 `noop` sessions the orchestrator sustains: 1, 2, 3, … streams
//!    of a 1280x720 30 fps clip (the bbb test clip, looped, re-encoded once before the runs
//!    and then broadcast stream-copied), all at once; a level is sustained when every stream
//!    gets at least 98 % of its frames back with a median latency of at most
//!    [`SUSTAINED_LATENCY`]. It stops at the first level that is not.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use livepeer_ai::ModelsDir;

use crate::ai_demo::AiNetwork;
use crate::cli::BenchLiveArgs;
use crate::live_demo::{Broadcast, LiveReport, broadcast};

/// The rendition the transcoding latency is measured on.
pub const LATENCY_PROFILE: &str = "P240p30fps16x9";
/// The median glass-to-glass latency a sustained level stays within.
pub const SUSTAINED_LATENCY: Duration = Duration::from_secs(6);
/// The 720p clip the concurrency runs are made from.
const CLIP_720P: &str = "bbb-cc-by-1280x720-25fps.mp4";
/// A sustained level brings back at least this share of every stream's frames.
const SUSTAINED_FRAMES: f64 = 0.98;

/// Runs the benchmark (module docs) and prints its tables.
pub async fn live(args: BenchLiveArgs) -> anyhow::Result<()> {
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let city = crate::demo::default_input()?;
    let bbb = livepeer_media::testing::media_dir()
        .map(|d| d.join(CLIP_720P))
        .filter(|p| p.is_file())
        .with_context(|| format!("the test clip {CLIP_720P} is missing: run `make setup`"))?;
    let models = ModelsDir::discover().unwrap_or_else(|| ModelsDir::new("."));
    // One `noop` runner per concurrent session (a live runner serves one stream).
    let runners = vec!["live-video-to-video:noop:true"; args.max_sessions.max(1)].join(",");
    let network = AiNetwork::start_transcoding(
        &runners,
        &models,
        true,
        Some((LATENCY_PROFILE, "ultrafast")),
    )
    .await?;
    let result = run(&ffmpeg, &network, &city, &bbb, &args).await;
    network.stop().await;
    result
}

async fn run(
    ffmpeg: &livepeer_media::Ffmpeg,
    network: &AiNetwork,
    city: &Path,
    bbb: &Path,
    args: &BenchLiveArgs,
) -> anyhow::Result<()> {
    let rtmp = network.rtmp.context("the gateway has no RTMP listener")?;
    let gateway_url = network.gateway_url.as_str();
    println!("glass-to-glass latency, the city clip (720x405 25 fps) broadcast in real time");
    println!(
        "{:<28} {:>8} {:>7} {:>15} {:>16}",
        "path", "segments", "frames", "first latency", "median latency"
    );
    let transcoded = broadcast(
        ffmpeg,
        &Broadcast {
            input: city,
            rtmp,
            gateway_url,
            name: "bench-transcode".into(),
            pipeline: None,
            rendition: LATENCY_PROFILE,
            encode: true,
        },
    )
    .await
    .context("the live transcoding run")?;
    print_latency(&format!("RTMP -> HLS {LATENCY_PROFILE}"), &transcoded);
    let lv2v = broadcast(
        ffmpeg,
        &Broadcast {
            input: city,
            rtmp,
            gateway_url,
            name: "bench-lv2v".into(),
            pipeline: Some("noop"),
            rendition: "source",
            encode: true,
        },
    )
    .await
    .context("the live-video-to-video run")?;
    print_latency("RTMP -> noop -> HLS", &lv2v);

    let dir = tempfile::tempdir()?;
    let clip = dir.path().join("720p30.flv");
    make_720p30(ffmpeg, bbb, args.seconds, &clip).await?;
    println!();
    println!(
        "concurrent 720p30 noop sessions ({} s of 1280x720 30 fps each, stream-copied)",
        args.seconds
    );
    println!(
        "{:>8} {:>14} {:>16} {:>17} {:>10}",
        "sessions", "frames back", "output fps min", "median latency", "sustained"
    );
    let mut sustained = 0;
    for sessions in 1..=args.max_sessions {
        let runs = (0..sessions).map(|i| {
            let clip = clip.clone();
            async move {
                broadcast(
                    ffmpeg,
                    &Broadcast {
                        input: &clip,
                        rtmp,
                        gateway_url,
                        name: format!("bench-{sessions}-{i}"),
                        pipeline: Some("noop"),
                        rendition: "source",
                        encode: false,
                    },
                )
                .await
            }
        });
        let reports: Vec<LiveReport> = futures::future::join_all(runs)
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()
            .with_context(|| format!("{sessions} concurrent sessions"))?;
        let sent = (args.seconds * 30) as f64;
        let worst_frames = reports.iter().map(|r| r.frames).min().unwrap_or(0) as f64;
        let min_fps = reports
            .iter()
            .map(|r| r.frames as f64 / r.seconds.max(1e-9))
            .fold(f64::INFINITY, f64::min);
        let worst_latency = reports.iter().map(|r| r.median_latency).fold(0.0, f64::max);
        let ok = worst_frames >= sent * SUSTAINED_FRAMES
            && worst_latency <= SUSTAINED_LATENCY.as_secs_f64();
        println!(
            "{:>8} {:>13.1}% {:>16.1} {:>15.2} s {:>10}",
            sessions,
            100.0 * worst_frames / sent,
            min_fps,
            worst_latency,
            if ok { "yes" } else { "no" }
        );
        if !ok {
            break;
        }
        sustained = sessions;
    }
    println!("sustained: {sustained} concurrent 720p30 noop sessions");
    Ok(())
}

fn print_latency(path: &str, r: &LiveReport) {
    println!(
        "{:<28} {:>8} {:>7} {:>13.2} s {:>14.2} s",
        path, r.segments, r.frames, r.first_latency, r.median_latency
    );
}

/// `seconds` of the 720p clip at 30 fps (looped as needed), x264 with a keyframe a second,
/// no audio, as FLV for stream-copied RTMP broadcasts.
async fn make_720p30(
    ffmpeg: &livepeer_media::Ffmpeg,
    source: &Path,
    seconds: u32,
    out: &Path,
) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(ffmpeg.ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(source)
        // The fps filter duplicates frames up to 30 fps (`-r 30` on FLV, a VFR format,
        // would only retime the 25 fps source).
        .args(["-t", &seconds.to_string(), "-vf", "fps=30", "-an"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "30"])
        .args(["-pix_fmt", "yuv420p", "-f", "flv"])
        .arg(out)
        .status()
        .await
        .context("cannot start ffmpeg")?;
    anyhow::ensure!(status.success(), "making the 720p30 clip failed ({status})");
    Ok(())
}
