//! The ai-runner HTTP API (`reference/ai.md` §1): built-in CPU runners with real models, the
//! runner client for external runners, and `aiModels.json`.
//!
//! - [`pipeline`]: the pipelines ([`Pipeline`]): names, capability ids, request schemas;
//! - [`request`]: one request ([`AiRequest`]) parsed and checked as the runner's FastAPI layer
//!   checks it (422 shapes);
//! - [`schema`]: the response bodies;
//! - [`results`]: results kept for the next hop ([`results::ResultStore`], data URLs);
//! - [`server`]: the runner HTTP server over one [`server::Engine`];
//! - [`client`]: the runner client ([`client::RunnerClient`]) for built-in and external runners;
//! - [`builtin`]: the built-in engines and the model each serves;
//! - [`live`]: live-video-to-video: the built-in live pipelines (`noop`, `effects`: ffmpeg
//!   filters), streams over trickle, status events ([`live::LiveEngine`]);
//! - [`worker`]: the runners of one node and their capacity ([`worker::AiWorker`]);
//! - [`units`]: billing units per pipeline;
//! - [`tts`]: text-to-speech with espeak-ng;
//! - [`config`]: `-aiModels` (`aiModels.json` or the inline form);
//! - [`llm`]: the LLM engine ([`llm::LlmEngine`], SmolLM2-135M-Instruct GGUF on candle);
//! - [`ocr`]: the image-to-text engine, PP-OCRv4 on tract ([`ocr::OcrEngine`]);
//! - [`speech`]: the speech recognizer (Whisper tiny.en on candle) and ffmpeg audio decoding;
//! - [`models`]: where the built-in runners' model files are ([`ModelsDir`]).
//! - [`InferenceError`]: what the built-in engines report.

pub mod builtin;
pub mod client;
pub mod config;
mod error;
pub mod live;
pub mod llm;
pub mod models;
pub mod ocr;
pub mod pipeline;
pub mod request;
pub mod results;
pub mod schema;
pub mod server;
pub mod speech;
pub mod tts;
pub mod units;
pub mod video;
pub mod worker;

pub use error::InferenceError;
pub use models::ModelsDir;
pub use pipeline::Pipeline;
pub use request::AiRequest;
