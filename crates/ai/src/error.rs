//! Errors of the built-in inference engines.

/// What an inference engine reports when it cannot answer a request.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The model files are missing or unreadable; the runner answers `/health` with `ERROR`.
    #[error("model not loaded: {0}")]
    Load(String),
    /// The request's input cannot be used (undecodable audio or image, empty prompt, ...); the
    /// runner answers 4xx with the text as `detail.msg` (ai-runner maps decode errors to 415).
    #[error("{0}")]
    BadInput(String),
    /// The input is outside what the engine takes (too long, too large); 413 or 400.
    #[error("{0}")]
    TooLarge(String),
    /// Inference failed; the runner answers 500.
    #[error("inference failed: {0}")]
    Inference(String),
}
