//! `livepeer demo`: an orchestrator (with its local transcoder) and a gateway on loopback in
//! this process, real video pushed through them, and the HLS ladder written to disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use livepeer_gateway::{GatewayConfig, GatewayService};
use livepeer_orchestrator::{LocalTranscoder, OrchestratorConfig, OrchestratorService};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::{DemoArgs, PushArgs};

/// File name of the default demo input, the city clip of the test media.
pub const DEFAULT_DEMO_CLIP: &str = "city-cc0-720x405-25fps.mpg";

/// Where the default clip is looked for, in order: the setup script's `.setup/media` in the
/// current directory and next to the executable's workspace, then `../shared/media`.
pub fn default_input() -> anyhow::Result<PathBuf> {
    let mut candidates = vec![
        PathBuf::from(".setup/media").join(DEFAULT_DEMO_CLIP),
        PathBuf::from("../shared/media").join(DEFAULT_DEMO_CLIP),
    ];
    if let Some(dir) = livepeer_media::testing::media_dir() {
        candidates.insert(0, dir.join(DEFAULT_DEMO_CLIP));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("the demo clip {DEFAULT_DEMO_CLIP} is missing: run `make demo` (its setup step fetches it) or pass --input <file>"))
}

/// A running orchestrator + gateway pair on loopback, for the demo, the benchmark and tests.
pub struct LocalNetwork {
    /// The gateway's base URL, e.g. `http://127.0.0.1:40123`.
    pub gateway_url: String,
    /// The orchestrator's service URI.
    pub orchestrator_uri: String,
    cancel: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl LocalNetwork {
    /// Starts an orchestrator with a local transcoder (x264 `preset`) and a gateway using it
    /// with the ladder `profiles`, both on 127.0.0.1 port 0.
    pub async fn start(profiles: &str, preset: &str) -> anyhow::Result<Self> {
        Self::start_with(profiles, preset, 0).await
    }

    /// As [`LocalNetwork::start`], but with `remote_transcoders` > 0 the orchestrator has no
    /// transcoder of its own: that many remote transcoders of capacity 1 (x264 `preset`, in
    /// this process, over real TLS sockets) register with it, and it admits that many
    /// sessions.
    pub async fn start_with(
        profiles: &str,
        preset: &str,
        remote_transcoders: usize,
    ) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let ffmpeg = livepeer_media::Ffmpeg::locate()?;
        let local = LocalTranscoder::new(ffmpeg, preset.to_string());
        let secret = format!("{:032x}", rand::random::<u128>());
        let orchestrator = OrchestratorService::bind(if remote_transcoders == 0 {
            OrchestratorConfig {
                service_addr: "127.0.0.1:0".into(),
                transcoder: Some(local.clone()),
                ..Default::default()
            }
        } else {
            OrchestratorConfig {
                service_addr: "127.0.0.1:0".into(),
                orch_secret: Some(secret.clone()),
                max_sessions: remote_transcoders,
                ..Default::default()
            }
        })
        .await?;
        let orch_addr = orchestrator.local_addr().to_string();
        let handle = orchestrator.handle();
        let orchestrator_uri = orchestrator.service_uri().to_string();
        let gateway = GatewayService::bind(GatewayConfig {
            http_addr: "127.0.0.1:0".into(),
            orch_addrs: livepeer_gateway::discovery::parse_orch_addrs(&orchestrator_uri)?,
            profiles: livepeer_primitives::profile::parse_transcoding_options(profiles)?,
            ..Default::default()
        })
        .await?;
        let gateway_url = format!("http://{}", gateway.local_addr());
        let mut tasks = tokio::task::JoinSet::new();
        let token = cancel.clone();
        tasks.spawn(async move {
            if let Err(err) = orchestrator.run(token).await {
                tracing::error!(%err, "orchestrator failed");
            }
        });
        let token = cancel.clone();
        tasks.spawn(async move {
            if let Err(err) = gateway.run(token).await {
                tracing::error!(%err, "gateway failed");
            }
        });
        for _ in 0..remote_transcoders {
            let config = livepeer_orchestrator::remote_transcoder::RemoteTranscoderConfig {
                orch_addr: orch_addr.clone(),
                secret: secret.clone(),
                capacity: 1,
                transcoder: local.clone(),
                capabilities: livepeer_orchestrator::software_capabilities(),
                data_dir: None,
                fetch_policy: Default::default(),
            };
            let token = cancel.clone();
            tasks.spawn(async move {
                if let Err(err) = livepeer_orchestrator::remote_transcoder::run(config, token).await
                {
                    tracing::error!(%err, "remote transcoder failed");
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while handle.transcoders().len() < remote_transcoders {
            if std::time::Instant::now() > deadline {
                cancel.cancel();
                bail!("the remote transcoders did not register within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            gateway_url,
            orchestrator_uri,
            cancel,
            tasks,
        })
    }

    /// Stops both services and waits for them.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(crate::SHUTDOWN_TIMEOUT, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
    }
}

/// Runs the demo: on the paid network by default ([`crate::paid_demo`]), off-chain with
/// `--offchain`, the AI demo ([`crate::ai_demo`]) with `--ai`, or real-time AI
/// ([`crate::live_demo`]) with `--live`.
pub async fn run(args: DemoArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    if args.live {
        crate::live_demo::run(args, cancel).await
    } else if args.ai {
        crate::ai_demo::run(args, cancel).await
    } else if args.offchain {
        run_offchain(args, cancel).await
    } else {
        crate::paid_demo::run(args, cancel).await
    }
}

/// Prints the HLS table — each rendition's resolution (probed from its first segment in
/// `out`), segments and bytes — then the push's real-time factor and the `written` files.
pub async fn print_ladder(
    report: &crate::push::PushReport,
    out: &Path,
    written: usize,
) -> anyhow::Result<()> {
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    println!();
    println!(
        "{:<18} {:>11} {:>9} {:>12}",
        "rendition", "resolution", "segments", "bytes"
    );
    for (name, (segments, bytes)) in &report.renditions {
        let first = out.join(&report.manifest).join(name).join("0.ts");
        let resolution = match ffmpeg.probe(&first).await {
            Ok(info) => format!("{}x{}", info.width, info.height),
            Err(_) => "?".into(),
        };
        println!("{name:<18} {resolution:>11} {segments:>9} {bytes:>12}");
    }
    println!();
    println!(
        "{} segments, {:.1} s of video in {:.2} s wall: {:.2}x real time",
        report.segments,
        report.source_duration.as_secs_f64(),
        report.wall.as_secs_f64(),
        report.realtime_factor()
    );
    println!("HLS written to {} ({written} files)", out.display());
    Ok(())
}

/// The off-chain demo: one orchestrator and a gateway in this process, unpaid.
async fn run_offchain(args: DemoArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let input = match &args.input {
        Some(path) => path.clone(),
        None => default_input()?,
    };
    if !input.is_file() {
        bail!("{}: no such file", input.display());
    }
    let network = LocalNetwork::start(
        &args.transcoding_options,
        livepeer_media::DEFAULT_X264_PRESET,
    )
    .await?;
    info!(gateway = %network.gateway_url, orchestrator = %network.orchestrator_uri, "local network up");
    println!(
        "orchestrator {}  gateway {}",
        network.orchestrator_uri, network.gateway_url
    );
    println!("pushing {}", input.display());
    let push = PushArgs {
        file: input.clone(),
        gateway: network.gateway_url.clone(),
        manifest: Some("demo".into()),
        out: None,
        realtime: false,
    };
    let report = match crate::push::push_file(&push, cancel.clone(), true).await {
        Ok(report) => report,
        Err(err) => {
            network.stop().await;
            return Err(err);
        }
    };
    let written = mirror_hls(&network.gateway_url, &report.manifest, &args.out).await;
    let written = match written {
        Ok(w) => w,
        Err(err) => {
            network.stop().await;
            return Err(err);
        }
    };
    print_ladder(&report, &args.out, written).await?;
    println!(
        "playlist: {}/stream/{}.m3u8",
        network.gateway_url, report.manifest
    );
    if !args.exit {
        println!("serving until Ctrl-C");
        cancel.cancelled().await;
    }
    network.stop().await;
    Ok(())
}

/// Copies the gateway's HLS for `manifest` into `out`: `<manifest>.m3u8`,
/// `<manifest>/<profile>.m3u8` and `<manifest>/<profile>/<seq>.ts`, so the folder plays as is.
/// Returns the number of files written.
pub async fn mirror_hls(gateway_url: &str, manifest: &str, out: &Path) -> anyhow::Result<usize> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{gateway_url}/stream/{path}");
        async move {
            let request = Request::get(&url).body(Full::new(Bytes::new()))?;
            let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
                .await
                .with_context(|| format!("GET {url} timed out"))??;
            if response.status() != StatusCode::OK {
                bail!("GET {url}: {}", response.status());
            }
            Ok::<Bytes, anyhow::Error>(response.into_body().collect().await?.to_bytes())
        }
    };
    let mut written = 0;
    let master = get(format!("{manifest}.m3u8")).await?;
    tokio::fs::create_dir_all(out.join(manifest)).await?;
    tokio::fs::write(out.join(format!("{manifest}.m3u8")), &master).await?;
    written += 1;
    let master = String::from_utf8_lossy(&master).into_owned();
    for variant in master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let playlist = get(variant.to_string()).await?;
        tokio::fs::write(out.join(variant), &playlist).await?;
        written += 1;
        let dir = Path::new(variant).parent().unwrap_or(Path::new(""));
        for segment in String::from_utf8_lossy(&playlist)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let rel = dir.join(segment);
            let data = get(rel.to_string_lossy().into_owned()).await?;
            let path = out.join(&rel);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::write(path, &data).await?;
            written += 1;
        }
    }
    Ok(written)
}
