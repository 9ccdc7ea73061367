//! `livepeer bench transcode`: the cost of the network path over bare ffmpeg.
//!
//! On one 2 s 1080p30 segment and the same ladder and x264 preset, it measures
//! (a) one bare ffmpeg process running exactly the orchestrator's command
//! ([`livepeer_media::ladder_args`]) and (b) the full path: HTTP push to a gateway, discovery
//! already done, `/segment` to an orchestrator over TLS, ffmpeg, rendition downloads, and the
//! multipart answer. It prints the real-time multiple of each (2 s ÷ median wall time) and b/a.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::cli::BenchTranscodeArgs;
use crate::demo::LocalNetwork;

mod ai;
mod live;
mod paid;
mod remote;
pub use ai::ai;
pub use live::live;
pub use paid::paid;
pub use remote::remote;

/// Length of the benchmark segment.
pub const BENCH_SEGMENT: Duration = Duration::from_secs(2);

/// Makes a 2 s 1080p30 MPEG-TS segment like a gateway's ingest (x264 medium, 6 Mb/s, 2 s GOP,
/// AAC when the source has audio) from `source`, or from ffmpeg's `testsrc2` when `None`.
pub async fn make_segment(
    ffmpeg: &livepeer_media::Ffmpeg,
    source: Option<&Path>,
    out: &Path,
) -> anyhow::Result<()> {
    let mut args: Vec<String> = vec![
        "-hide_banner".into(),
        "-loglevel".into(),
        "error".into(),
        "-y".into(),
    ];
    match source {
        Some(path) => {
            args.extend([
                "-stream_loop".into(),
                "1".into(),
                "-i".into(),
                path.display().to_string(),
            ]);
            args.extend([
                "-map".into(),
                "0:v:0".into(),
                "-map".into(),
                "0:a:0?".into(),
            ]);
        }
        None => args.extend([
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            "testsrc2=size=1920x1080:rate=30".into(),
        ]),
    }
    // Start 2 s in, so the segment is mid-stream content.
    args.extend(
        [
            "-ss",
            "2",
            "-t",
            "2",
            "-vf",
            "scale=1920:1080:flags=lanczos,fps=30",
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-b:v",
            "6000k",
            "-maxrate",
            "6000k",
            "-bufsize",
            "12000k",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-f",
            "mpegts",
        ]
        .map(String::from),
    );
    args.push(out.display().to_string());
    let status = tokio::process::Command::new(ffmpeg.ffmpeg_path())
        .args(&args)
        .kill_on_drop(true)
        .status()
        .await
        .context("cannot run ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not make the benchmark segment ({status})");
    }
    Ok(())
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the benchmark and prints its figures.
pub async fn transcode(args: BenchTranscodeArgs) -> anyhow::Result<()> {
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let profiles = livepeer_primitives::profile::parse_transcoding_options(&args.profiles)?;
    let runs = args.runs.max(1);
    let work = tempfile::tempdir()?;
    let segment = work.path().join("segment.ts");
    let source: Option<PathBuf> = match &args.input {
        Some(p) => Some(p.clone()),
        None => livepeer_media::testing::media_dir()
            .map(|d| d.join("bbb-cc-by-1280x720-25fps.mp4"))
            .filter(|p| p.is_file()),
    };
    make_segment(&ffmpeg, source.as_deref(), &segment).await?;
    let data = Bytes::from(tokio::fs::read(&segment).await?);
    let source_name = source
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or("testsrc2".to_string(), |n| n.to_string_lossy().into_owned());
    println!(
        "segment: 2 s 1080p30 from {source_name}, {} bytes",
        data.len()
    );
    println!(
        "ladder: {} with x264 {}; {runs} runs each after a warm-up",
        args.profiles, args.preset
    );

    // (a) bare ffmpeg running the orchestrator's own command line, and (b) the full path,
    // alternated run by run so that both see the same machine load.
    let out_dir = work.path().join("bare");
    tokio::fs::create_dir_all(&out_dir).await?;
    let bare_args = livepeer_media::ladder_args(
        &segment,
        &profiles,
        &out_dir,
        &livepeer_media::TranscodeOptions {
            preset: args.preset.clone(),
            input_format: livepeer_media::InputFormat::MpegTs,
            ..Default::default()
        },
    )?;
    let network = LocalNetwork::start(&args.profiles, &args.preset).await?;
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let (mut bare, mut full) = (Vec::new(), Vec::new());
    let result: anyhow::Result<()> = async {
        for run in 0..=runs {
            let started = Instant::now();
            let output = tokio::process::Command::new(ffmpeg.ffmpeg_path())
                .args(&bare_args)
                .output()
                .await?;
            let elapsed = started.elapsed();
            if !output.status.success() {
                bail!(
                    "bare ffmpeg failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
            }
            if run > 0 {
                bare.push(elapsed);
            }

            let url = format!("{}/live/bench/{run}.ts", network.gateway_url);
            let elapsed = timed_push(&client, &url, &data).await?;
            if run > 0 {
                full.push(elapsed);
            }
        }
        Ok(())
    }
    .await;
    network.stop().await;
    result?;

    let (a, b) = (median(bare), median(full));
    let multiple = |d: Duration| BENCH_SEGMENT.as_secs_f64() / d.as_secs_f64();
    println!(
        "(a) bare ffmpeg:         median {:>7.1} ms  {:.2}x real time",
        a.as_secs_f64() * 1e3,
        multiple(a)
    );
    println!(
        "(b) gateway→orch→ffmpeg: median {:>7.1} ms  {:.2}x real time",
        b.as_secs_f64() * 1e3,
        multiple(b)
    );
    println!(
        "b/a (real-time multiples): {:.3}  (network path costs {:+.1} %)",
        multiple(b) / multiple(a),
        (b.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0
    );
    Ok(())
}

/// `livepeer bench gas`: prints the gas of the calls a node makes most, measured on a fresh
/// devnet, next to go-livepeer's redemption budget on Arbitrum One.
pub async fn gas() -> anyhow::Result<()> {
    let figures = livepeer_eth::gas::measure().await?;
    println!("{:<50} {:>10}", "call", "gas used");
    for f in &figures {
        println!("{:<50} {:>10}", f.call, f.gas_used);
    }
    println!(
        "go-livepeer budgets {} gas for a redemption on Arbitrum One",
        livepeer_eth::gas::ARBITRUM_REDEEM_GAS_BUDGET
    );
    Ok(())
}

/// POSTs a 2 s segment to the push URL `url`, reads the whole multipart answer and returns
/// the wall time from send to last byte.
///
/// Errors: the request fails, or the gateway answers other than 200 (its text is included).
pub(crate) async fn timed_push(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    data: &Bytes,
) -> anyhow::Result<Duration> {
    let request = Request::post(url)
        .header("Content-Duration", "2000")
        .header(hyper::header::ACCEPT, "multipart/mixed")
        .body(Full::new(data.clone()))?;
    let started = Instant::now();
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let elapsed = started.elapsed();
    if status != StatusCode::OK {
        bail!("push failed: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(elapsed)
}
