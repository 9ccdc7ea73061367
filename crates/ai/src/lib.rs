//! The ai-runner HTTP API (`reference/ai.md` §1): built-in CPU runners with real models, the
//! runner client for external runners, and `aiModels.json`.
//!
//! - [`models`]: where the built-in runners' model files are ([`ModelsDir`]).
//! - [`speech`]: the speech recognizer (Whisper tiny.en on candle) and ffmpeg audio decoding.
//! - [`InferenceError`]: what the built-in engines report.

mod error;
pub mod models;
pub mod speech;

pub use error::InferenceError;
pub use models::ModelsDir;
