//! The ai-runner HTTP API (`reference/ai.md` §1): built-in CPU runners with real models, the
//! runner client for external runners, and `aiModels.json`.
//!
//! - [`llm`]: the LLM engine ([`llm::LlmEngine`], SmolLM2-135M-Instruct GGUF on candle).
//! - [`models`]: where the built-in runners' model files are ([`ModelsDir`]).
//! - [`InferenceError`]: what the built-in engines report.

mod error;
pub mod llm;
pub mod models;

pub use error::InferenceError;
pub use models::ModelsDir;
