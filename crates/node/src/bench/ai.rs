//! `livepeer bench ai`: what the network path costs an AI request. On the built-in CPU
//! runners behind an orchestrator and a gateway in this process ([`AiNetwork`]), the same LLM
//! request (greedy, streamed, a fixed number of tokens) is timed through gateway →
//! orchestrator → runner and sent to the runner directly, alternating, and the same speech
//! (synthesized once by the text-to-speech runner) is transcribed both ways. It prints the
//! medians: LLM time to first token and tokens per second of each path and their ratio, and
//! speech-to-text real-time factor (processing time ÷ audio duration) of each.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::StreamExt;
use livepeer_ai::client::{RunnerClient, RunnerReply};
use livepeer_ai::request::Upload;
use livepeer_ai::{AiRequest, ModelsDir, Pipeline};
use serde_json::json;

use crate::ai_cli::{gateway_base, send};
use crate::ai_demo::AiNetwork;
use crate::cli::BenchAiArgs;

/// The benchmark's question.
const PROMPT: &str =
    "Write a short story about a lighthouse keeper who finds a message in a bottle.";
/// The benchmark's speech.
const SPEECH: &str = "The orchestrator runs the model on its runner, and the gateway pays for every second of audio it sends. Tickets win rarely, but their expected value covers the work.";

/// One timed LLM answer.
#[derive(Debug, Clone, Copy)]
struct LlmTiming {
    first_token: Duration,
    total: Duration,
    tokens: u32,
}

impl LlmTiming {
    /// Completion tokens per second of the whole answer.
    fn tokens_per_second(&self) -> f64 {
        f64::from(self.tokens) / self.total.as_secs_f64().max(1e-9)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The streamed LLM request of the benchmark.
fn llm_request(model: &str, max_tokens: u32) -> anyhow::Result<AiRequest> {
    AiRequest::from_value(
        Pipeline::Llm,
        json!({
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": true,
        }),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.body()))
}

/// Times one LLM request sent straight to the runner.
async fn direct_llm(client: &RunnerClient, request: &AiRequest) -> anyhow::Result<LlmTiming> {
    let started = Instant::now();
    let RunnerReply::LlmStream(mut stream) = client.run(request).await? else {
        bail!("the runner did not stream");
    };
    let mut first_token = None;
    let mut tokens = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if chunk
            .choices
            .first()
            .and_then(|c| c.delta.as_ref())
            .is_some_and(|d| !d.content.is_empty())
        {
            first_token.get_or_insert_with(|| started.elapsed());
        }
        tokens = chunk.usage.completion_tokens;
    }
    Ok(LlmTiming {
        first_token: first_token.context("no token came")?,
        total: started.elapsed(),
        tokens,
    })
}

/// Runs the benchmark and prints its table.
pub async fn ai(args: BenchAiArgs) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let models = ModelsDir::discover()
        .context("no AI models directory: run scripts/setup.sh or set LIVEPEER_AI_MODELS")?;
    let network = AiNetwork::start(&models).await?;
    let result = measure(&network, &args).await;
    network.stop().await;
    result
}

async fn measure(network: &AiNetwork, args: &BenchAiArgs) -> anyhow::Result<()> {
    let gateway = gateway_base(&network.gateway_url)?;
    let scratch = tempfile::tempdir()?;
    let runner = |pipeline| {
        network
            .runner(pipeline)
            .with_context(|| format!("no {pipeline} runner"))
    };
    let llm = runner(Pipeline::Llm)?;
    let request = llm_request(&llm.model_id, args.max_tokens)?;

    // LLM: one warm-up each, then alternating measured runs.
    let mut direct = Vec::new();
    let mut through = Vec::new();
    for run in 0..=args.runs {
        let d = direct_llm(llm.client(), &request).await?;
        let started = Instant::now();
        let mut first = None;
        let outcome = send(&gateway, &request, scratch.path(), "llm", |_| {
            first.get_or_insert_with(|| started.elapsed());
        })
        .await?;
        let g = LlmTiming {
            first_token: first.context("no token came through the gateway")?,
            total: outcome.elapsed,
            tokens: outcome
                .usage
                .map(|u| u.completion_tokens)
                .unwrap_or_default(),
        };
        if run > 0 {
            direct.push(d);
            through.push(g);
        }
    }

    // Speech: synthesized once, transcribed both ways.
    let tts = runner(Pipeline::TextToSpeech)?;
    let speech_request = AiRequest::from_value(
        Pipeline::TextToSpeech,
        json!({"model_id": tts.model_id, "text": SPEECH}),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.body()))?;
    let RunnerReply::Json(said) = tts.client().run(&speech_request).await? else {
        bail!("text-to-speech answered a stream");
    };
    let (_, wav) = said["audio"]["url"]
        .as_str()
        .and_then(livepeer_ai::results::decode_data_url)
        .context("text-to-speech returned no audio")?;
    let audio_secs = livepeer_ai::units::audio_duration(&wav)
        .await?
        .as_secs_f64();
    let stt = runner(Pipeline::AudioToText)?;
    let mut transcribe = AiRequest::from_value(
        Pipeline::AudioToText,
        json!({"model_id": stt.model_id, "return_timestamps": "false"}),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.body()))?;
    transcribe.file = Some(Upload {
        filename: "speech.wav".into(),
        content_type: Some("audio/wav".into()),
        data: Bytes::from(wav.to_vec()),
    });
    let mut stt_direct = Vec::new();
    let mut stt_through = Vec::new();
    for run in 0..=args.runs {
        let started = Instant::now();
        stt.client().run(&transcribe).await?;
        let d = started.elapsed().as_secs_f64();
        let outcome = send(&gateway, &transcribe, scratch.path(), "stt", |_| {}).await?;
        if run > 0 {
            stt_direct.push(d / audio_secs);
            stt_through.push(outcome.elapsed.as_secs_f64() / audio_secs);
        }
    }

    let ttft = |v: &[LlmTiming]| median(v.iter().map(|t| t.first_token.as_secs_f64()).collect());
    let tps = |v: &[LlmTiming]| median(v.iter().map(LlmTiming::tokens_per_second).collect());
    let tokens = through.first().map(|t| t.tokens).unwrap_or_default();
    println!(
        "llm {} ({tokens} tokens, greedy, streamed), medians of {} runs",
        llm.model_id, args.runs
    );
    println!("{:<28} {:>14} {:>12}", "path", "first token", "tokens/s");
    println!(
        "{:<28} {:>12.3} s {:>12.2}",
        "runner directly",
        ttft(&direct),
        tps(&direct)
    );
    println!(
        "{:<28} {:>12.3} s {:>12.2}",
        "gateway→orchestrator→runner",
        ttft(&through),
        tps(&through)
    );
    println!(
        "network/direct tokens per second: {:.3}",
        tps(&through) / tps(&direct)
    );
    println!();
    println!(
        "audio-to-text {} on {audio_secs:.2} s of espeak-ng speech, medians of {} runs",
        stt.model_id, args.runs
    );
    println!("{:<28} {:>14}", "path", "real-time factor");
    println!("{:<28} {:>14.3}", "runner directly", median(stt_direct));
    println!(
        "{:<28} {:>14.3}",
        "gateway→orchestrator→runner",
        median(stt_through)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
