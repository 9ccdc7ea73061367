//! `livepeer bench remote`: what the remote-transcoder hop costs. For each transcoder count
//! N it pushes N concurrent streams through a gateway to (a) an orchestrator transcoding
//! in-process and (b) a standalone orchestrator whose N remote transcoders (capacity 1 each,
//! in this process, over real TLS sockets: `NotifySegment`, staged input download,
//! multipart `/transcodeResults`) do the work, and prints the segments per second each
//! sustains, their ratio, and the median wall time per segment of each.

use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::bench::{make_segment, median, timed_push};
use crate::cli::BenchRemoteArgs;
use crate::demo::LocalNetwork;

/// Segments per second and per-segment wall times of one run.
struct RunFigures {
    per_second: f64,
    latencies: Vec<Duration>,
}

/// Pushes `streams` concurrent streams of `segments` copies of `data` through `network`.
async fn run(
    network: &LocalNetwork,
    data: &Bytes,
    streams: usize,
    segments: usize,
    label: &str,
) -> anyhow::Result<RunFigures> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    // One warm-up segment per stream opens its session before the clock starts.
    let mut warm = tokio::task::JoinSet::new();
    for stream in 0..streams {
        let (client, data) = (client.clone(), data.clone());
        let url = format!("{}/live/{label}-{stream}/0.ts", network.gateway_url);
        warm.spawn(async move { timed_push(&client, &url, &data).await });
    }
    while let Some(done) = warm.join_next().await {
        done??;
    }
    let started = Instant::now();
    let mut pushes = tokio::task::JoinSet::new();
    for stream in 0..streams {
        let (client, data) = (client.clone(), data.clone());
        let base = format!("{}/live/{label}-{stream}", network.gateway_url);
        pushes.spawn(async move {
            let mut latencies = Vec::with_capacity(segments);
            for seq in 1..=segments {
                latencies.push(timed_push(&client, &format!("{base}/{seq}.ts"), &data).await?);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = pushes.join_next().await {
        latencies.extend(done??);
    }
    let wall = started.elapsed();
    Ok(RunFigures {
        per_second: (streams * segments) as f64 / wall.as_secs_f64(),
        latencies,
    })
}

/// Runs the benchmark and prints its table.
pub async fn remote(args: BenchRemoteArgs) -> anyhow::Result<()> {
    let counts: Vec<usize> = args
        .transcoders
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--transcoders: a comma-separated list of numbers"))?;
    if counts.contains(&0) || args.segments == 0 {
        bail!("--transcoders and --segments must be at least 1");
    }
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let work = tempfile::tempdir()?;
    let segment = work.path().join("segment.ts");
    let source = livepeer_media::testing::media_dir()
        .map(|d| d.join("bbb-cc-by-1280x720-25fps.mp4"))
        .filter(|p| p.is_file());
    make_segment(&ffmpeg, source.as_deref(), &segment).await?;
    let data = Bytes::from(tokio::fs::read(&segment).await?);
    println!(
        "segment: 2 s 1080p30, {} bytes; ladder {} with x264 {}; {} segments per stream after one warm-up",
        data.len(),
        args.profiles,
        args.preset,
        args.segments
    );
    println!(
        "{:>12} {:>16} {:>16} {:>13} {:>18} {:>18} {:>14}",
        "transcoders",
        "in-process seg/s",
        "remote seg/s",
        "remote/in-p.",
        "in-process median",
        "remote median",
        "remote hop"
    );
    for n in counts {
        let local = LocalNetwork::start_with(&args.profiles, &args.preset, 0).await?;
        let a = run(&local, &data, n, args.segments, "local").await;
        local.stop().await;
        let a = a?;
        let remote = LocalNetwork::start_with(&args.profiles, &args.preset, n).await?;
        let b = run(&remote, &data, n, args.segments, "remote").await;
        remote.stop().await;
        let b = b?;
        let (ma, mb) = (median(a.latencies), median(b.latencies));
        println!(
            "{n:>12} {:>16.2} {:>16.2} {:>13.3} {:>15.0} ms {:>15.0} ms {:>+11.0} ms",
            a.per_second,
            b.per_second,
            b.per_second / a.per_second,
            ma.as_secs_f64() * 1e3,
            mb.as_secs_f64() * 1e3,
            (mb.as_secs_f64() - ma.as_secs_f64()) * 1e3
        );
    }
    Ok(())
}
