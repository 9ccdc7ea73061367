//! Greedy decoding speed of the built-in LLM engine (SmolLM2-135M-Instruct Q4_1, CPU).
//!
//! `cargo run --release -p livepeer-ai --example llm_bench [max_tokens]` (default 128), with the
//! models directory found as the tests find it (`$LIVEPEER_AI_MODELS` or `.setup/models`).
//! Prints the load time, the prompt's prefill time and the decoding rate. Set
//! `CANDLE_NUM_THREADS` to choose candle's thread count (see the `llm` module docs).

use std::time::Instant;

use livepeer_ai::ModelsDir;
use livepeer_ai::llm::{ChatMessage, LlmEngine, SamplingParams};

fn main() -> anyhow::Result<()> {
    let max_tokens: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 128,
    };
    let models = ModelsDir::discover().ok_or_else(|| anyhow::anyhow!("no models directory"))?;
    let start = Instant::now();
    let engine = LlmEngine::load(&models.llm_gguf())?;
    println!("load: {:.2} s", start.elapsed().as_secs_f64());

    let messages = [ChatMessage::new(
        "user",
        "Write a long story about a dragon who learns to bake bread.",
    )];
    // Ask for exactly max_tokens: greedy, and time the first token apart (prefill).
    let params = SamplingParams::greedy(max_tokens);
    let start = Instant::now();
    let mut first = None;
    let completion = engine.generate(&messages, &params, &mut |_| {
        first.get_or_insert_with(Instant::now);
        true
    })?;
    let end = Instant::now();
    let first = first.unwrap_or(end);
    let prefill = first.duration_since(start).as_secs_f64();
    let decode = end.duration_since(first).as_secs_f64();
    let decoded = completion.completion_tokens.saturating_sub(1);
    println!(
        "prompt: {} tokens, time to first token {:.3} s",
        completion.prompt_tokens, prefill
    );
    println!(
        "decode: {decoded} tokens in {decode:.2} s = {:.1} tokens/s (finish {})",
        f64::from(decoded) / decode,
        completion.finish_reason.as_str()
    );
    println!("text: {:?}", completion.text);
    Ok(())
}
