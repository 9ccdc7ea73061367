//! The built-in pipelines: which model each serves, and their engines behind the runner API.
//!
//! | pipeline | model id | engine |
//! |---|---|---|
//! | `text-to-speech` | [`tts::MODEL_ID`] | espeak-ng ([`TtsEngine`]) |

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;

use crate::InferenceError;
use crate::models::ModelsDir;
use crate::pipeline::Pipeline;
use crate::request::AiRequest;
use crate::schema::{AudioResponse, MediaUrl};
use crate::server::{Engine, EngineOutput};
use crate::tts::{self, TtsEngine};

/// The model id of `pipeline`'s built-in engine, if it has one.
pub fn builtin_model(pipeline: Pipeline) -> Option<&'static str> {
    match pipeline {
        Pipeline::TextToSpeech => Some(tts::MODEL_ID),
        _ => None,
    }
}

/// Loads the built-in engine for `pipeline` serving `model_id`, reading model files from
/// `models`.
///
/// Errors: [`InferenceError::Load`] when the pipeline has no built-in engine (it needs an
/// external runner `url`), when `model_id` is not the built-in model, or when its files are
/// missing.
pub async fn load_builtin(
    pipeline: Pipeline,
    model_id: &str,
    models: &ModelsDir,
) -> Result<Arc<dyn Engine>, InferenceError> {
    let Some(builtin) = builtin_model(pipeline) else {
        return Err(InferenceError::Load(format!(
            "no built-in runner for {pipeline}; configure an external runner url for it"
        )));
    };
    if model_id != builtin {
        return Err(InferenceError::Load(format!(
            "no built-in model {model_id} for {pipeline}; the built-in model is {builtin}"
        )));
    }
    let _ = models;
    match pipeline {
        Pipeline::TextToSpeech => Ok(Arc::new(TtsPipeline(TtsEngine::load().await?))),
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
