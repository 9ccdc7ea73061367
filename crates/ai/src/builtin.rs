//! The built-in pipelines: which model each serves, and their engines behind the runner API.
//!
//! | pipeline | model id | engine |
//! |---|---|---|
//! | `llm` | [`LlmEngine::MODEL_ID`] | SmolLM2-135M-Instruct GGUF on candle ([`LlmEngine`]) |
//! | `audio-to-text` | [`SpeechRecognizer::MODEL_ID`] | Whisper tiny.en on candle ([`SpeechRecognizer`]) |
//! | `image-to-text` | [`OcrEngine::MODEL_ID`] | PP-OCRv4 on tract ([`OcrEngine`]) |
//! | `text-to-speech` | [`tts::MODEL_ID`] | espeak-ng ([`TtsEngine`]) |
//! | `live-video-to-video` | `noop` (default), `effects` | one ffmpeg per stream ([`LiveEngine`], [`crate::live`]) |
//!
//! CPU-bound engines run on tokio's blocking pool, one request per task.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;

use tokio::sync::mpsc;

use livepeer_media::Ffmpeg;

use crate::InferenceError;
use crate::live::{LiveConfig, LiveEngine, LiveModel};
use crate::llm::{ChatMessage, LlmEngine, SamplingParams};
use crate::models::ModelsDir;
use crate::ocr::OcrEngine;
use crate::pipeline::Pipeline;
use crate::request::AiRequest;
use crate::schema::ImageToTextResponse;
use crate::schema::{AudioResponse, MediaUrl};
use crate::schema::{LlmChoice, LlmMessage, LlmResponse, LlmTokenUsage};
use crate::schema::{TextChunk, TextResponse};
use crate::server::completion_id;
use crate::server::{Engine, EngineOutput};
use crate::speech::{SpeechRecognizer, Timestamps, decode_audio};
use crate::tts::{self, TtsEngine};

/// The model id of `pipeline`'s built-in engine (its default one, `noop` for
/// live-video-to-video), if it has one.
pub fn builtin_model(pipeline: Pipeline) -> Option<&'static str> {
    builtin_models(pipeline).first().copied()
}

/// Every model id `pipeline`'s built-in engines serve, the default first; empty when it has
/// none.
pub fn builtin_models(pipeline: Pipeline) -> &'static [&'static str] {
    const LIVE: [&str; 2] = [LiveModel::Noop.as_str(), LiveModel::Effects.as_str()];
    match pipeline {
        Pipeline::TextToSpeech => &[tts::MODEL_ID],
        Pipeline::Llm => &[LlmEngine::MODEL_ID],
        Pipeline::ImageToText => &[OcrEngine::MODEL_ID],
        Pipeline::AudioToText => &[SpeechRecognizer::MODEL_ID],
        Pipeline::LiveVideoToVideo => &LIVE,
        _ => &[],
    }
}

/// Loads the built-in engine for `pipeline` serving `model_id`, reading model files from
/// `models`.
///
/// Errors: [`InferenceError::Load`] when the pipeline has no built-in engine (it needs an
/// external runner `url`), when `model_id` is not a built-in model, or when its files (or
/// ffmpeg, for live-video-to-video) are missing.
pub async fn load_builtin(
    pipeline: Pipeline,
    model_id: &str,
    models: &ModelsDir,
) -> Result<Arc<dyn Engine>, InferenceError> {
    let builtin = builtin_models(pipeline);
    if builtin.is_empty() {
        return Err(InferenceError::Load(format!(
            "no built-in runner for {pipeline}; configure an external runner url for it"
        )));
    }
    if !builtin.contains(&model_id) {
        return Err(InferenceError::Load(format!(
            "no built-in model {model_id} for {pipeline}; the built-in models are {}",
            builtin.join(", ")
        )));
    }
    match pipeline {
        Pipeline::LiveVideoToVideo => {
            let model: LiveModel = model_id
                .parse()
                .map_err(|e: crate::live::UnknownLiveModel| InferenceError::Load(e.to_string()))?;
            let ffmpeg = blocking(|| {
                Ffmpeg::locate().map_err(|e| InferenceError::Load(format!("ffmpeg: {e}")))
            })
            .await?;
            Ok(Arc::new(LiveEngine::new(
                model,
                ffmpeg,
                LiveConfig::default(),
            )?))
        }
        Pipeline::TextToSpeech => Ok(Arc::new(TtsPipeline(TtsEngine::load().await?))),
        Pipeline::Llm => {
            let path = models.llm_gguf();
            let engine = blocking(move || LlmEngine::load(&path)).await?;
            Ok(Arc::new(LlmPipeline(Arc::new(engine))))
        }
        Pipeline::AudioToText => {
            let dir = models.whisper();
            let engine = blocking(move || SpeechRecognizer::load(&dir)).await?;
            Ok(Arc::new(SpeechPipeline(Arc::new(engine))))
        }
        Pipeline::ImageToText => {
            let dir = models.ocr();
            let engine = blocking(move || OcrEngine::load(&dir)).await?;
            Ok(Arc::new(OcrPipeline(Arc::new(engine))))
        }
        _ => Err(InferenceError::Load(format!(
            "no built-in runner for {pipeline}"
        ))),
    }
}

/// `data:<mime>;base64,<bytes>` (ai-runner `routes/utils.py` `audio_to_data_url`,
/// `image_to_data_url`).
pub fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// text-to-speech with espeak-ng: `AudioResponse` with a WAV data URL.
struct TtsPipeline(TtsEngine);

#[async_trait]
impl Engine for TtsPipeline {
    async fn run(&self, request: AiRequest) -> Result<EngineOutput, InferenceError> {
        let wav = self
            .0
            .synthesize(request.str("text"), request.str("description"))
            .await?;
        let response = AudioResponse {
            audio: MediaUrl {
                url: data_url("audio/wav", &wav),
            },
        };
        serde_json::to_value(response)
            .map(EngineOutput::Json)
            .map_err(|e| InferenceError::Inference(e.to_string()))
    }
}

/// Runs CPU-bound `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InferenceError> + Send + 'static,
) -> Result<T, InferenceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| InferenceError::Inference(format!("engine task failed: {e}")))?
}

/// llm with SmolLM2: `LLMResponse` chunks, one per text delta, then one with the finish
/// reason and the exact usage. Intermediate chunks count the deltas so far as completion
/// tokens (a delta is at least one token) and no prompt tokens yet.
struct LlmPipeline(Arc<LlmEngine>);

/// Chunks buffered between the engine and the HTTP answer.
const LLM_CHUNK_BUFFER: usize = 64;

#[async_trait]
impl Engine for LlmPipeline {
    async fn run(&self, request: AiRequest) -> Result<EngineOutput, InferenceError> {
        let messages: Vec<ChatMessage> =
            serde_json::from_value(request.value("messages").unwrap_or_default())
                .map_err(|e| InferenceError::BadInput(format!("messages: {e}")))?;
        let defaults = SamplingParams::default();
        let params = SamplingParams {
            temperature: request.num("temperature").unwrap_or(defaults.temperature),
            top_p: request.num("top_p").unwrap_or(defaults.top_p),
            top_k: request.int("top_k").unwrap_or(defaults.top_k),
            max_tokens: request
                .int("max_tokens")
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    InferenceError::BadInput("max_tokens must be a positive integer".into())
                })?,
            seed: None,
        };
        let engine = self.0.clone();
        let (tx, rx) = mpsc::channel(LLM_CHUNK_BUFFER);
        let id = completion_id();
        let created = unix_now();
        let chunk = move |content: String, usage: LlmTokenUsage, finish: &str| LlmResponse {
            id: id.clone(),
            model: LlmEngine::MODEL_ID.to_string(),
            created,
            usage,
            choices: vec![LlmChoice {
                index: 0,
                finish_reason: finish.to_string(),
                delta: Some(LlmMessage {
                    role: "assistant".into(),
                    content,
                }),
                message: None,
            }],
        };
        tokio::task::spawn_blocking(move || {
            let mut deltas = 0u32;
            let result = engine.generate(&messages, &params, &mut |delta| {
                deltas += 1;
                let usage = LlmTokenUsage {
                    prompt_tokens: 0,
                    completion_tokens: deltas,
                    total_tokens: deltas,
                };
                tx.blocking_send(Ok(chunk(delta.to_string(), usage, "")))
                    .is_ok()
            });
            let last = result.map(|done| {
                let usage = LlmTokenUsage {
                    prompt_tokens: done.prompt_tokens,
                    completion_tokens: done.completion_tokens,
                    total_tokens: done.prompt_tokens + done.completion_tokens,
                };
                chunk(String::new(), usage, done.finish_reason.as_str())
            });
            let _ = tx.blocking_send(last);
        });
        Ok(EngineOutput::LlmStream(rx))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// image-to-text with PP-OCRv4: the text read, lines joined with `\n`
/// (`ImageToTextResponse`). The prompt is not used (OCR reads what is there).
struct OcrPipeline(Arc<OcrEngine>);

#[async_trait]
impl Engine for OcrPipeline {
    async fn run(&self, request: AiRequest) -> Result<EngineOutput, InferenceError> {
        let image = request
            .file
            .map(|f| f.data)
            .ok_or_else(|| InferenceError::BadInput("image is required".into()))?;
        let engine = self.0.clone();
        let text = blocking(move || engine.read_text(&image)).await?;
        serde_json::to_value(ImageToTextResponse { text })
            .map(EngineOutput::Json)
            .map_err(|e| InferenceError::Inference(e.to_string()))
    }
}

/// The longest audio the built-in speech runner takes.
pub const MAX_AUDIO_DURATION: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// audio-to-text with Whisper tiny.en: any ffmpeg-decodable audio (decode failures are
/// `BadInput`, which the runner answers 415), `return_timestamps` as ai-runner reads it,
/// `TextResponse` with timestamped chunks (none for `false`).
struct SpeechPipeline(Arc<SpeechRecognizer>);

#[async_trait]
impl Engine for SpeechPipeline {
    async fn run(&self, request: AiRequest) -> Result<EngineOutput, InferenceError> {
        let timestamps: Timestamps = request.str("return_timestamps").parse()?;
        let audio = request
            .file
            .map(|f| f.data)
            .ok_or_else(|| InferenceError::BadInput("audio is required".into()))?;
        let pcm = decode_audio(&audio, MAX_AUDIO_DURATION).await?;
        let engine = self.0.clone();
        let transcript = blocking(move || engine.transcribe(&pcm, timestamps)).await?;
        let response = TextResponse {
            text: transcript.text,
            chunks: transcript
                .chunks
                .into_iter()
                .map(|c| TextChunk {
                    timestamp: (c.start_s, c.end_s),
                    text: c.text,
                })
                .collect(),
        };
        serde_json::to_value(response)
            .map(EngineOutput::Json)
            .map_err(|e| InferenceError::Inference(e.to_string()))
    }
}
