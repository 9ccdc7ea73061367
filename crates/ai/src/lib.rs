//! The ai-runner HTTP API (`reference/ai.md` §1): built-in CPU runners with real models, the
//! runner client for external runners, and `aiModels.json`.
//!
//! - [`models`]: where the built-in runners' model files are ([`ModelsDir`]).
//! - [`InferenceError`]: what the built-in engines report.

mod error;
pub mod llm;
pub mod models;

pub use error::InferenceError;
pub use models::ModelsDir;
