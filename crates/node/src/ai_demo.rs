//! `livepeer demo --ai`: an AI orchestrator with the four built-in CPU runners (llm,
//! text-to-speech, audio-to-text, image-to-text) and a gateway in front of it; one real
//! request per pipeline through the gateway's public API, each printed with its timing; then
//! (without `--exit`) the pair keeps serving until Ctrl-C so any client of the Livepeer AI API
//! can be pointed at the gateway.
//!
//! Paid by default, as `livepeer demo`: a devnet ([`crate::network`]) whose orchestrator node
//! runs the built-in runners at [`PAID_PRICES`], each request paid in tickets, then the
//! tickets' parameters expired with anvil's mining RPC so the winners are redeemed, and a
//! report of the fees, tickets and the gateway's deposit. `--offchain`: both in this process,
//! no chain.
//!
//! The requests feed each other where they can: the speech synthesized by text-to-speech is
//! what audio-to-text transcribes, and the word error rate against the spoken sentence is
//! printed with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use livepeer_ai::builtin::builtin_model;
use livepeer_ai::config::parse_ai_models;
use livepeer_ai::request::AiRequest;
use livepeer_ai::worker::AiWorker;
use livepeer_ai::{ModelsDir, Pipeline};
use livepeer_gateway::{GatewayConfig, GatewayService};
use livepeer_orchestrator::ai::AiConfig;
use livepeer_orchestrator::{OrchestratorConfig, OrchestratorService};
use tokio_util::sync::CancellationToken;

use crate::ai_cli::{AiArgs, AiOutcome, build_request, gateway_base, send, timing_line};
use crate::cli::DemoArgs;

/// The pipelines with a built-in CPU runner, in the order the demo runs them.
pub const CPU_PIPELINES: [Pipeline; 4] = [
    Pipeline::TextToSpeech,
    Pipeline::AudioToText,
    Pipeline::ImageToText,
    Pipeline::Llm,
];

/// The sentence the demo speaks and then transcribes.
pub const DEMO_SENTENCE: &str =
    "The gateway sends the work to an orchestrator and pays for it with tickets.";
/// The text the demo renders into an image and reads back.
pub const DEMO_IMAGE_TEXT: &str = "LIVEPEER AI ON A CPU";
/// The question the demo asks the LLM.
pub const DEMO_QUESTION: &str = "What is the capital of France? Answer in one word.";
/// The font the demo's image is rendered with (Debian `fonts-dejavu-core`).
pub const DEMO_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The `-aiModels` entries of every built-in runner, warm: `pipeline:model_id:true,…`.
pub fn builtin_models_flag() -> String {
    CPU_PIPELINES
        .iter()
        .filter_map(|p| builtin_model(*p).map(|m| format!("{p}:{m}:true")))
        .collect::<Vec<_>>()
        .join(",")
}

/// An AI orchestrator (built-in runners, off-chain) and a gateway on loopback.
pub struct AiNetwork {
    /// The gateway's base URL, e.g. `http://127.0.0.1:40123`.
    pub gateway_url: String,
    /// The orchestrator's service URI.
    pub orchestrator_uri: String,
    /// The gateway's RTMP address, when started with one.
    pub rtmp: Option<std::net::SocketAddr>,
    worker: Arc<AiWorker>,
    cancel: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl AiNetwork {
    /// Loads the built-in models from `models` (each runner answers `/health` OK before this
    /// returns) and starts the orchestrator and the gateway on 127.0.0.1 port 0.
    pub async fn start(models: &ModelsDir) -> anyhow::Result<Self> {
        Self::start_with(&builtin_models_flag(), models, false).await
    }

    /// As [`AiNetwork::start`] with the runners of `ai_models` (the `-aiModels` inline form)
    /// and, with `rtmp`, the gateway taking RTMP on 127.0.0.1 port 0.
    pub async fn start_with(
        ai_models: &str,
        models: &ModelsDir,
        rtmp: bool,
    ) -> anyhow::Result<Self> {
        Self::start_transcoding(ai_models, models, rtmp, None).await
    }

    /// As [`AiNetwork::start_with`], and with `transcode` = (ladder, x264 preset) the
    /// orchestrator also transcodes (a local ffmpeg transcoder) and the gateway asks for that
    /// ladder, so one network serves live transcoding and real-time AI.
    pub async fn start_transcoding(
        ai_models: &str,
        models: &ModelsDir,
        rtmp: bool,
        transcode: Option<(&str, &str)>,
    ) -> anyhow::Result<Self> {
        let (transcoder, profiles) = match transcode {
            Some((profiles, preset)) => (
                Some(livepeer_orchestrator::LocalTranscoder::new(
                    livepeer_media::Ffmpeg::locate()?,
                    preset.to_string(),
                )),
                Some(livepeer_primitives::profile::parse_transcoding_options(
                    profiles,
                )?),
            ),
            None => (None, None),
        };
        let configs = parse_ai_models(ai_models)?;
        let worker = Arc::new(AiWorker::start(&configs, models).await.context(
            "cannot start the built-in AI runners (run `make demo` to install the models)",
        )?);
        let orchestrator = OrchestratorService::bind(OrchestratorConfig {
            service_addr: "127.0.0.1:0".into(),
            ai: Some(AiConfig {
                worker: worker.clone(),
                prices: Vec::new(),
            }),
            transcoder,
            ..Default::default()
        })
        .await?;
        let orchestrator_uri = orchestrator.service_uri().to_string();
        let gateway = GatewayService::bind(GatewayConfig {
            http_addr: "127.0.0.1:0".into(),
            orch_addrs: livepeer_gateway::discovery::parse_orch_addrs(&orchestrator_uri)?,
            rtmp_addr: rtmp.then(|| "127.0.0.1:0".to_string()),
            profiles: profiles.unwrap_or_else(|| GatewayConfig::default().profiles),
            ..Default::default()
        })
        .await?;
        let gateway_url = format!("http://{}", gateway.local_addr());
        let rtmp = gateway.rtmp_addr();
        let cancel = CancellationToken::new();
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
        Ok(Self {
            gateway_url,
            orchestrator_uri,
            rtmp,
            worker,
            cancel,
            tasks,
        })
    }

    /// The built-in runner of `pipeline` (to call it directly, without the network).
    pub fn runner(&self, pipeline: Pipeline) -> Option<Arc<livepeer_ai::worker::Runner>> {
        self.worker
            .runners()
            .iter()
            .find(|r| r.pipeline == pipeline)
            .cloned()
    }

    /// Stops the services and the runners, and waits for them.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(crate::SHUTDOWN_TIMEOUT, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.worker.shutdown().await;
    }
}

/// The `livepeer ai` arguments of one demo request to `gateway`, with results under `out`.
fn demo_args(pipeline: Pipeline, gateway: &str, out: &Path) -> AiArgs {
    AiArgs {
        pipeline,
        prompt: None,
        gateway: gateway.to_string(),
        model: builtin_model(pipeline).map(str::to_string),
        image: None,
        audio: None,
        text: None,
        system: None,
        stream: false,
        params: Vec::new(),
        out: out.to_path_buf(),
        json: false,
    }
}

/// Renders `text` in black on white with ffmpeg's `drawtext` into `path` (PNG).
async fn render_text(text: &str, path: &Path) -> anyhow::Result<()> {
    if !Path::new(DEMO_FONT).is_file() {
        bail!(
            "{DEMO_FONT} is missing: run `make demo` (its setup step installs fonts-dejavu-core)"
        );
    }
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    let text_file = path.with_extension("txt");
    tokio::fs::write(&text_file, text).await?;
    let status = tokio::process::Command::new(ffmpeg.ffmpeg_path())
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=white:s=640x120:d=1")
        .arg("-vf")
        .arg(format!(
            "drawtext=fontfile={DEMO_FONT}:textfile={}:fontsize=40:fontcolor=black:x=30:y=40,format=rgb24",
            text_file.display()
        ))
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .await
        .context("run ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg could not render the demo image");
    }
    Ok(())
}

/// Word error rate of `hypothesis` against `reference`: word-level edit distance over the
/// reference's words, case and punctuation ignored.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (r, h) = (words(reference), words(hypothesis));
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut row = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let cost = usize::from(rw != hw);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[h.len()] as f64 / r.len() as f64
}

/// One demo request: prints `pipeline (model)` and `intro`, sends it (an LLM answer printed
/// as it streams), then prints its timing.
async fn run_one(
    gateway: &url::Url,
    request: &AiRequest,
    out: &Path,
    intro: Option<&str>,
) -> anyhow::Result<AiOutcome> {
    use std::io::Write;
    let pipeline = request.pipeline;
    let stream = request.bool("stream").unwrap_or(false);
    println!("{pipeline} ({})", request.model_id());
    if let Some(intro) = intro {
        println!("  {intro}");
    }
    if stream {
        print!("  answer: ");
    }
    let outcome = send(gateway, request, out, pipeline.as_str(), |delta| {
        if stream {
            print!("{delta}");
            let _ = std::io::stdout().flush();
        }
    })
    .await
    .with_context(|| format!("{pipeline} request"))?;
    if stream {
        println!();
    }
    println!("  took {}", timing_line(&outcome));
    Ok(outcome)
}

/// The paid demo's prices, wei per billing unit (ai.md §1.2 units): each request costs about
/// one devnet ticket EV (0.004 ETH), so the run has winners to redeem.
pub const PAID_PRICES: [(Pipeline, u64); 4] = [
    // one unit per character: the 75-character sentence, 0.00375 ETH
    (Pipeline::TextToSpeech, 50_000_000_000_000),
    // 1000 units per whole second of audio: about 5 s, 0.005 ETH
    (Pipeline::AudioToText, 1_000_000_000_000),
    // one unit per pixel of the image
    (Pipeline::ImageToText, 50_000_000_000),
    // one unit per max_tokens: 32, 0.008 ETH
    (Pipeline::Llm, 250_000_000_000_000),
];

/// Runs the AI demo (see the module docs): results under `<out>/ai`.
pub async fn run(args: DemoArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let models = ModelsDir::discover()
        .context("no AI models directory: run `make demo` (its setup step installs the models) or set LIVEPEER_AI_MODELS")?;
    let out: PathBuf = args.out.join("ai");
    tokio::fs::create_dir_all(&out)
        .await
        .with_context(|| format!("{}", out.display()))?;
    if !args.offchain {
        return run_paid(args, cancel, &out).await;
    }
    println!(
        "loading the built-in models from {}",
        models.path().display()
    );
    let started = std::time::Instant::now();
    let network = AiNetwork::start(&models).await?;
    println!("models loaded in {:.1} s", started.elapsed().as_secs_f64());
    println!(
        "orchestrator {}  gateway {}",
        network.orchestrator_uri, network.gateway_url
    );
    let result = requests(&network.gateway_url, &out).await;
    if let Err(err) = result {
        network.stop().await;
        return Err(err);
    }
    if !args.exit {
        serve_until_ctrl_c(&network.gateway_url, &cancel).await;
    }
    network.stop().await;
    Ok(())
}

/// Says how to try the gateway at `gateway_url`, then waits for Ctrl-C (`cancel`).
async fn serve_until_ctrl_c(gateway_url: &str, cancel: &CancellationToken) {
    println!(
        "serving until Ctrl-C; try: livepeer ai llm \"Tell me about Livepeer\" --stream --model {} --gateway {gateway_url}",
        builtin_model(Pipeline::Llm).unwrap_or_default(),
    );
    cancel.cancelled().await;
}

/// The paid AI demo (module docs).
async fn run_paid(args: DemoArgs, cancel: CancellationToken, out: &Path) -> anyhow::Result<()> {
    use livepeer_eth::contracts::TicketBroker;

    use crate::paid_demo::{eth, print_redemptions, redeem_winners};

    let dir = tempfile::Builder::new()
        .prefix("livepeer-demo-ai-")
        .tempdir()
        .context("a temporary directory for the devnet")?;
    let entries: Vec<serde_json::Value> = PAID_PRICES
        .iter()
        .filter_map(|(pipeline, price)| {
            builtin_model(*pipeline).map(|model| {
                serde_json::json!({"pipeline": pipeline.to_string(), "model_id": model,
                    "warm": true, "price_per_unit": price, "pixels_per_unit": 1})
            })
        })
        .collect();
    let models_file = dir.path().join("aiModels.json");
    tokio::fs::write(&models_file, serde_json::Value::Array(entries).to_string()).await?;
    println!(
        "starting a devnet: anvil, the protocol contracts, an orchestrator node with the built-in CPU runners and a gateway node, paid on chain"
    );
    let started = std::time::Instant::now();
    let config = crate::network::NetworkConfig {
        orchestrators: 1,
        block_time: None,
        dir: dir.path().join("devnet"),
        x264_preset: livepeer_media::DEFAULT_X264_PRESET.to_string(),
        transcoding_options: args.transcoding_options.clone(),
        max_price_per_unit: 0,
        gateway_funds: crate::network::devnet_gateway_funds(),
        round_length: crate::paid_demo::DEMO_ROUND_LENGTH,
        monitor: false,
        ai_models: Some(models_file.display().to_string()),
        orch_secret: None,
    };
    let network = tokio::select! {
        biased;
        () = cancel.cancelled() => bail!("interrupted while the devnet was starting"),
        network = crate::network::Network::start(&config) => network?,
    };
    let info = network.devnet.info.clone();
    println!(
        "devnet and models up in {:.1} s: chain {} at {}",
        started.elapsed().as_secs_f64(),
        info.chain_id,
        info.rpc_url
    );
    let orchestrator = network
        .nodes
        .iter()
        .find(|n| n.role == "orchestrator")
        .context("no orchestrator node")?;
    let gateway = network
        .nodes
        .iter()
        .find(|n| n.role == "gateway")
        .context("no gateway node")?;
    let orchestrator_uri = info
        .accounts
        .iter()
        .find(|a| a.address == orchestrator.address)
        .and_then(|a| a.service_uri.clone())
        .unwrap_or_default();
    println!(
        "orchestrator {orchestrator_uri}  gateway {}",
        network.gateway_url
    );
    let provider = livepeer_eth::rpc::signing_provider(
        &info.rpc_url,
        &livepeer_eth::devnet::LocalKey::random(),
    )?;
    let broker = TicketBroker::new(info.contracts.ticket_broker, provider.clone());
    let before = broker.getSenderInfo(gateway.address).call().await?;

    requests(&network.gateway_url, out).await?;

    let paid = orchestrator.status().await?["orchestrator"]["payments"].clone();
    let sent = gateway.status().await?["gateway"]["payments"].clone();
    let winners = paid["winners"].as_u64().unwrap_or(0);
    let redeemed = redeem_winners(&provider, info.contracts.ticket_broker, winners).await?;
    let after = broker.getSenderInfo(gateway.address).call().await?;
    let fees: alloy::primitives::U256 = paid["feesWei"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    println!();
    println!("payments");
    println!("  fees charged (units x price)     {}", eth(fees));
    println!(
        "  tickets sent by the gateway      {:>6}",
        sent["ticketsSent"].as_u64().unwrap_or(0)
    );
    println!(
        "  tickets received                 {:>6}",
        paid["ticketsReceived"].as_u64().unwrap_or(0)
    );
    print_redemptions(
        winners,
        &redeemed,
        before.sender.deposit,
        after.sender.deposit,
    );
    if !args.exit {
        serve_until_ctrl_c(&network.gateway_url, &cancel).await;
    }
    drop(network);
    Ok(())
}

/// The demo's four requests through the gateway at `gateway_url`.
async fn requests(gateway_url: &str, out: &Path) -> anyhow::Result<()> {
    let gateway = gateway_base(gateway_url)?;

    let mut args = demo_args(Pipeline::TextToSpeech, gateway_url, out);
    args.text = Some(DEMO_SENTENCE.to_string());
    let speech = run_one(&gateway, &build_request(&args)?, out, None).await?;
    let wav = speech
        .files
        .first()
        .context("text-to-speech returned no audio")?
        .clone();
    let data = tokio::fs::read(&wav).await?;
    let duration = livepeer_ai::units::audio_duration(&data).await?;
    println!(
        "  said \"{DEMO_SENTENCE}\": {} ({:.2} s of audio)",
        wav.display(),
        duration.as_secs_f64()
    );

    let mut args = demo_args(Pipeline::AudioToText, gateway_url, out);
    args.audio = Some(wav);
    let heard = run_one(&gateway, &build_request(&args)?, out, None).await?;
    let text = heard.text.unwrap_or_default();
    println!(
        "  heard \"{}\" (word error rate {:.0} %)",
        text.trim(),
        100.0 * word_error_rate(DEMO_SENTENCE, &text)
    );

    let image = out.join("text.png");
    render_text(DEMO_IMAGE_TEXT, &image).await?;
    let mut args = demo_args(Pipeline::ImageToText, gateway_url, out);
    args.image = Some(image.clone());
    let read = run_one(&gateway, &build_request(&args)?, out, None).await?;
    println!(
        "  read \"{}\" from {} (drawn: \"{DEMO_IMAGE_TEXT}\")",
        read.text.unwrap_or_default().trim(),
        image.display()
    );

    let mut args = demo_args(Pipeline::Llm, gateway_url, out);
    args.prompt = Some(DEMO_QUESTION.to_string());
    args.stream = true;
    args.params = vec!["temperature=0".into(), "max_tokens=32".into()];
    let asked = format!("asked \"{DEMO_QUESTION}\"");
    run_one(&gateway, &build_request(&args)?, out, Some(&asked)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_error_rate_counts_edits_over_reference_words() {
        assert_eq!(word_error_rate("The cat sat.", "the cat sat"), 0.0);
        assert_eq!(word_error_rate("the cat sat", "the bat sat"), 1.0 / 3.0);
        assert_eq!(word_error_rate("the cat sat", "cat sat down"), 2.0 / 3.0);
        assert_eq!(word_error_rate("", ""), 0.0);
    }

    #[test]
    fn the_builtin_models_flag_names_every_cpu_pipeline_warm() {
        let configs = parse_ai_models(&builtin_models_flag()).expect("parses");
        assert_eq!(configs.len(), CPU_PIPELINES.len());
        assert!(configs.iter().all(|c| c.warm));
    }
}
