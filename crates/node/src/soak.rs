//! `livepeer bench soak`: many concurrent real-time pushes for minutes through a gateway and
//! two orchestrators, one of which is SIGKILLed and restarted during the run.
//!
//! The orchestrators are this binary run as child processes (`livepeer -orchestrator
//! -transcoder`, each on a fixed port of 127.0.0.1, so a restart comes back where the
//! gateway's `-orchAddr` list points); the gateway runs in this process. Every stream pushes
//! ~2 s MPEG-TS segments of the bikes clip at real-time pace (one every segment duration),
//! each with its `Content-Duration`. A push that fails counts as failed beyond the gateway's
//! retry budget (the gateway already retried and swapped orchestrators inside it). Resident
//! memory of the gateway (this process) and of each orchestrator is sampled every 10 s.
//!
//! Figures go in `docs/benchmarks.md`; nothing here asserts a timing.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use livepeer_gateway::{GatewayConfig, GatewayService};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::cli::BenchSoakArgs;

/// How often memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// One orchestrator child process on a fixed port.
struct OrchProcess {
    port: u16,
    preset: String,
    data_dir: PathBuf,
    child: Option<Child>,
}

impl OrchProcess {
    async fn start(&mut self) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let child = Command::new(exe)
            .args(["-orchestrator", "-transcoder", "-serviceAddr"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args([
                "-maxSessions",
                "64",
                "-x264Preset",
                &self.preset,
                "-dataDir",
            ])
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start an orchestrator")?;
        self.child = Some(child);
        // Ready once its port accepts connections.
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("the orchestrator on port {} never listened", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL: no drain, no cleanup, as a crash.
            let _ = child.kill().await;
        }
    }

    fn rss_mib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id()?;
        rss_mib(&format!("/proc/{pid}/status"))
    }
}

fn rss_mib(status_path: &str) -> Option<u64> {
    std::fs::read_to_string(status_path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
}

/// A free port of 127.0.0.1 (bound and released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Push outcomes, shared by the streams.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    latency_ms: std::sync::Mutex<Vec<u64>>,
    failures: std::sync::Mutex<Vec<String>>,
}

/// Runs the soak and prints its figures.
pub async fn soak(args: BenchSoakArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let work = tempfile::tempdir()?;
    let clip = args
        .input
        .clone()
        .unwrap_or_else(|| livepeer_media::testing::media_file(livepeer_media::testing::BIKES_MP4));
    let segments = ffmpeg
        .segment_file_for_ingest(&clip, &work.path().join("segments"), Duration::from_secs(2))
        .await
        .with_context(|| format!("cannot segment {}", clip.display()))?;
    let mut source = Vec::new();
    for segment in &segments {
        source.push((
            Bytes::from(tokio::fs::read(&segment.path).await?),
            segment.duration,
        ));
    }
    if source.is_empty() {
        bail!("{} gave no segments", clip.display());
    }
    let source = Arc::new(source);

    let mut orchs = Vec::new();
    for i in 0..2 {
        let data_dir = work.path().join(format!("orch{i}"));
        std::fs::create_dir_all(&data_dir)?;
        let mut orch = OrchProcess {
            port: free_port()?,
            preset: args.preset.clone(),
            data_dir,
            child: None,
        };
        orch.start().await?;
        orchs.push(orch);
    }
    let orch_addrs = orchs
        .iter()
        .map(|o| format!("https://127.0.0.1:{}", o.port).parse())
        .collect::<Result<Vec<hyper::Uri>, _>>()?;
    let profiles = livepeer_primitives::profile::parse_transcoding_options(&args.profiles)?;
    let gateway = GatewayService::bind(GatewayConfig {
        http_addr: "127.0.0.1:0".into(),
        orch_addrs,
        profiles,
        max_sessions: args.streams + 1,
        ..Default::default()
    })
    .await?;
    let base = format!("http://{}", gateway.local_addr());
    let handle = gateway.handle();
    let gateway_cancel = cancel.child_token();
    let gateway_task = tokio::spawn(gateway.run(gateway_cancel.clone()));

    let run_for = Duration::from_secs(args.minutes * 60);
    let started = Instant::now();
    let stop = cancel.child_token();
    let tally = Arc::new(Tally::default());
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    println!(
        "soak: {} streams × {} min through 2 orchestrators ({}, {}); orchestrator 2 is SIGKILLed and restarted {} times",
        args.streams, args.minutes, args.profiles, args.preset, args.restarts
    );
    let mut streams = Vec::new();
    for s in 0..args.streams {
        let (client, base, source, tally, stop) = (
            client.clone(),
            base.clone(),
            source.clone(),
            tally.clone(),
            stop.clone(),
        );
        streams.push(tokio::spawn(async move {
            // Spread the streams' phases over the first segment.
            tokio::time::sleep(Duration::from_millis(100 * s as u64)).await;
            let mut seq = 0u64;
            let mut next = tokio::time::Instant::now();
            while !stop.is_cancelled() {
                let (data, duration) = &source[seq as usize % source.len()];
                let request = Request::post(format!("{base}/live/soak{s}/{seq}.ts"))
                    .header("Content-Duration", duration.as_millis().to_string())
                    .body(Full::new(data.clone()));
                let sent = Instant::now();
                let outcome = match request {
                    Ok(request) => match client.request(request).await {
                        Ok(response) => {
                            let status = response.status();
                            let body = response.into_body().collect().await.map(|b| b.to_bytes());
                            match (status, body) {
                                (StatusCode::OK, Ok(_)) => Ok(()),
                                (status, body) => Err(format!(
                                    "{status} {}",
                                    body.map(|b| String::from_utf8_lossy(&b).trim().to_string())
                                        .unwrap_or_default()
                                )),
                            }
                        }
                        Err(err) => Err(err.to_string()),
                    },
                    Err(err) => Err(err.to_string()),
                };
                match outcome {
                    Ok(()) => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                        tally
                            .latency_ms
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX));
                    }
                    Err(why) => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                        tally
                            .failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("soak{s}/{seq}: {why}"));
                    }
                }
                seq += 1;
                next += *duration;
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }));
    }

    // The kill schedule: evenly spread restarts, each after 30 s down.
    let mut kills: Vec<Duration> = (1..=args.restarts)
        .map(|k| {
            run_for * u32::try_from(k).unwrap_or(1) / u32::try_from(args.restarts + 1).unwrap_or(1)
        })
        .collect();
    let mut restart_at: Option<Duration> = None;
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    while started.elapsed() < run_for && !cancel.is_cancelled() {
        let now = started.elapsed();
        if kills.first().is_some_and(|&k| now >= k) {
            kills.remove(0);
            orchs[1].kill().await;
            println!("{:>6.1} s  orchestrator 2 SIGKILLed", now.as_secs_f64());
            restart_at = Some(now + Duration::from_secs(30));
        }
        if restart_at.is_some_and(|r| now >= r) {
            restart_at = None;
            orchs[1].start().await?;
            println!(
                "{:>6.1} s  orchestrator 2 restarted",
                started.elapsed().as_secs_f64()
            );
        }
        if now >= next_sample {
            next_sample += SAMPLE_EVERY;
            let sample = (
                now,
                rss_mib("/proc/self/status"),
                orchs[0].rss_mib(),
                orchs[1].rss_mib(),
                tally.ok.load(Ordering::Relaxed),
                tally.failed.load(Ordering::Relaxed),
                handle.retained_bytes() >> 20,
            );
            println!(
                "{:>6.1} s  RSS gateway {} MiB (renditions kept {} MiB), orch1 {} MiB, orch2 {} MiB; pushes ok {}, failed {}",
                sample.0.as_secs_f64(),
                sample.1.map_or("-".into(), |v| v.to_string()),
                sample.6,
                sample.2.map_or("-".into(), |v| v.to_string()),
                sample.3.map_or("-".into(), |v| v.to_string()),
                sample.4,
                sample.5
            );
            samples.push(sample);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    for stream in streams {
        let _ = stream.await;
    }
    gateway_cancel.cancel();
    let _ = gateway_task.await;
    for orch in &mut orchs {
        orch.kill().await;
    }

    let ok = tally.ok.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let mut latency = tally
        .latency_ms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    latency.sort_unstable();
    let pct = |p: usize| {
        latency
            .get((latency.len() * p / 100).min(latency.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!();
    println!("pushes: {} ok, {failed} failed beyond the retry budget", ok);
    println!(
        "push latency: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        pct(50),
        pct(95),
        pct(99),
        latency.last().copied().unwrap_or(0)
    );
    let warm = samples.iter().find(|s| s.0 >= Duration::from_secs(60));
    if let (Some(warm), Some(last)) = (warm, samples.last()) {
        println!(
            "gateway RSS after warm-up (1 min) {} MiB with {} MiB of renditions kept, at the end {} MiB with {} MiB kept; orchestrator 1 {} → {} MiB",
            warm.1.unwrap_or(0),
            warm.6,
            last.1.unwrap_or(0),
            last.6,
            warm.2.unwrap_or(0),
            last.2.unwrap_or(0)
        );
    }
    for failure in tally
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .take(20)
    {
        println!("  failed: {failure}");
    }
    Ok(())
}
