//! `livepeer ai-runner`: one built-in AI pipeline behind ai-runner's HTTP API, so that a
//! go-livepeer orchestrator (or ours) can use it as an external runner (`aiModels.json`
//! entry with `url`). Configured as the ai-runner container is, by flags or its environment
//! variables (`PIPELINE`, `MODEL_ID`, `HOST`, `PORT`, `AUTH_TOKEN`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use livepeer_ai::builtin::{builtin_model, load_builtin};
use livepeer_ai::server::{self, RunnerConfig, RunnerState};
use livepeer_ai::{ModelsDir, Pipeline};
use tokio_util::sync::CancellationToken;

/// `livepeer ai-runner`
#[derive(Debug, Clone, Args)]
pub struct AiRunnerArgs {
    /// The pipeline to serve (`llm`, `audio-to-text`, `image-to-text`, `text-to-speech`,
    /// `live-video-to-video`).
    #[arg(long, env = "PIPELINE")]
    pub pipeline: Pipeline,
    /// The model id to serve; default: the pipeline's built-in model.
    #[arg(long = "model", env = "MODEL_ID")]
    pub model_id: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// The bearer token requests must carry.
    #[arg(long = "auth-token", env = "AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Where the model packages are (default: `$LIVEPEER_AI_MODELS`, else the repository's
    /// `.setup/models`).
    #[arg(long = "models-dir")]
    pub models_dir: Option<PathBuf>,
}

/// Serves the runner until `cancel` fires. Prints `ai-runner listening on http://<addr>` once
/// bound; the model loads after that (`/health` says `LOADING` meanwhile).
pub async fn run(args: AiRunnerArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let pipeline = args.pipeline;
    let model_id = match args.model_id.filter(|m| !m.is_empty()) {
        Some(m) => m,
        None => builtin_model(pipeline)
            .with_context(|| format!("no built-in runner for {pipeline}"))?
            .to_string(),
    };
    let models = match args.models_dir {
        Some(dir) => ModelsDir::new(dir),
        // The live pipelines are ffmpeg filters: they read no model files.
        None if pipeline == Pipeline::LiveVideoToVideo => {
            ModelsDir::discover().unwrap_or_else(|| ModelsDir::new("."))
        }
        None => ModelsDir::discover()
            .context("no models directory: pass --models-dir or set LIVEPEER_AI_MODELS")?,
    };
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    let state = RunnerState::new(RunnerConfig {
        pipeline,
        model_id: model_id.clone(),
        auth_token: args.auth_token.filter(|t| !t.is_empty()),
        version: server::RUNNER_VERSION.to_string(),
    });
    println!("ai-runner listening on http://{addr}");
    tracing::info!(%pipeline, %model_id, %addr, "ai-runner started; loading the model");
    let loader = {
        let state: Arc<RunnerState> = state.clone();
        async move {
            let engine = load_builtin(pipeline, &model_id, &models).await;
            if engine.is_ok() {
                tracing::info!(%pipeline, %model_id, "model loaded");
            }
            state.set_engine(engine);
        }
    };
    let shutdown = cancel.clone();
    let (served, ()) = tokio::join!(
        server::serve(listener, state, async move { shutdown.cancelled().await }),
        loader
    );
    served.context("ai-runner server failed")
}
