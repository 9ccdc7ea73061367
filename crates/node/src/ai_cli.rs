//! `livepeer ai <pipeline>`: one request to a gateway's AI API (`reference/ai.md` §1.1) from a
//! shell. The answer's text is printed (an LLM stream as it arrives), its media (images,
//! audio, video, whether URLs or data URLs) saved under `--out`, and the timing reported.
//!
//! The request is checked here against the pipeline's schema first (the same field specs the
//! runner uses), so a typo in a `--param` name is a clear local error rather than a 400.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use futures::StreamExt;
use livepeer_ai::Pipeline;
use livepeer_ai::client::{REQUEST_TIMEOUT, RunnerClientError, RunnerReply, send_request};
use livepeer_ai::pipeline::FieldType;
use livepeer_ai::request::{AiRequest, Upload};
use livepeer_ai::results::{decode_data_url, extension, for_each_url};
use livepeer_ai::schema::LlmTokenUsage;
use livepeer_gateway::ai::MAX_AI_REQUEST_BYTES;
use serde_json::{Map, Value, json};

/// Largest result file fetched from the gateway, bytes.
pub const MAX_RESULT_FILE_BYTES: usize = 256 * 1024 * 1024;

/// `livepeer ai <pipeline>`
#[derive(Debug, Clone, Args)]
pub struct AiArgs {
    /// The pipeline: llm, text-to-speech, audio-to-text, image-to-text, text-to-image,
    /// image-to-image, image-to-video, upscale, segment-anything-2.
    pub pipeline: Pipeline,
    /// The prompt: the user message of `llm`, the text of `text-to-speech`, the `prompt` of
    /// the image pipelines.
    pub prompt: Option<String>,
    /// The gateway's HTTP address (`host:port` or a URL).
    #[arg(long, default_value = livepeer_gateway::DEFAULT_HTTP_ADDR)]
    pub gateway: String,
    /// The model id (default: the gateway's default for the pipeline).
    #[arg(long)]
    pub model: Option<String>,
    /// The input image (image-to-text, image-to-image, image-to-video, upscale,
    /// segment-anything-2).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// The input audio (audio-to-text): any format ffmpeg decodes.
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// The text to speak (text-to-speech; same as the prompt).
    #[arg(long)]
    pub text: Option<String>,
    /// A system message before the prompt (llm).
    #[arg(long)]
    pub system: Option<String>,
    /// Stream the answer as it is generated (llm).
    #[arg(long)]
    pub stream: bool,
    /// Any other field of the pipeline's request, `name=value` (the value as JSON when it
    /// parses, else as a string), e.g. `--param max_tokens=64 --param temperature=0`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Where result files are saved.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Print the gateway's JSON answer as it came instead of its text.
    #[arg(long)]
    pub json: bool,
}

/// What one request gave.
#[derive(Debug, Clone)]
pub struct AiOutcome {
    /// The gateway's JSON answer (for a stream: the last chunk, with the whole text as its
    /// message).
    pub json: Value,
    /// The answer's text: the LLM's message, or the text of audio-to-text and image-to-text.
    pub text: Option<String>,
    /// The result files saved, in the answer's order.
    pub files: Vec<PathBuf>,
    /// From sending the request to the end of the answer (result files excluded).
    pub elapsed: Duration,
    /// For an LLM stream: until the first token arrived.
    pub first_token: Option<Duration>,
    /// For an LLM: the token counts the runner reported.
    pub usage: Option<LlmTokenUsage>,
}

/// The request `args` describe, checked against the pipeline's schema.
///
/// Errors: a prompt, file or parameter the pipeline does not take, a missing required input,
/// an unreadable or oversized file, and the schema's own complaints (wrong types).
pub fn build_request(args: &AiArgs) -> anyhow::Result<AiRequest> {
    let pipeline = args.pipeline;
    if pipeline == Pipeline::LiveVideoToVideo {
        bail!("live-video-to-video is a live pipeline: it takes a stream, not one request");
    }
    let has_field = |name: &str| pipeline.fields().iter().any(|f| f.name == name);
    let mut params = Map::new();
    if let Some(model) = args.model.as_deref().filter(|m| !m.is_empty()) {
        params.insert(pipeline.model_field().into(), model.into());
    }
    let text = args.text.clone().or_else(|| {
        (pipeline == Pipeline::TextToSpeech)
            .then(|| args.prompt.clone())
            .flatten()
    });
    if let Some(text) = text {
        if pipeline != Pipeline::TextToSpeech {
            bail!("--text is for text-to-speech; {pipeline} takes a prompt");
        }
        params.insert("text".into(), text.into());
    }
    match (pipeline, &args.prompt) {
        (Pipeline::Llm, Some(prompt)) => {
            let mut messages = Vec::new();
            if let Some(system) = &args.system {
                messages.push(json!({"role": "system", "content": system}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            params.insert("messages".into(), Value::Array(messages));
        }
        (Pipeline::Llm, None) => bail!("llm needs a prompt: livepeer ai llm \"your question\""),
        (Pipeline::TextToSpeech, _) => {}
        (_, Some(prompt)) if has_field("prompt") => {
            params.insert("prompt".into(), prompt.clone().into());
        }
        (_, Some(_)) => bail!("{pipeline} takes no prompt"),
        (_, None) => {}
    }
    if args.system.is_some() && pipeline != Pipeline::Llm {
        bail!("--system is for llm");
    }
    if args.stream {
        if pipeline != Pipeline::Llm {
            bail!("--stream is for llm");
        }
        params.insert("stream".into(), true.into());
    }
    for param in &args.params {
        let (name, value) = param
            .split_once('=')
            .with_context(|| format!("--param {param}: expected name=value"))?;
        let spec = pipeline
            .fields()
            .iter()
            .find(|f| f.name == name && f.ty != FieldType::File)
            .with_context(|| {
                let names: Vec<_> = pipeline
                    .fields()
                    .iter()
                    .filter(|f| f.ty != FieldType::File)
                    .map(|f| f.name)
                    .collect();
                format!(
                    "--param {name}: {pipeline} has no such field (its fields: {})",
                    names.join(", ")
                )
            })?;
        let value = match spec.ty {
            FieldType::Str => Value::String(value.to_string()),
            _ => serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into())),
        };
        params.insert(name.to_string(), value);
    }
    let mut request = AiRequest::from_value(pipeline, Value::Object(params))
        .map_err(|e| anyhow::anyhow!("{}", describe_issues(&e.body())))?;
    let file = match pipeline.file_field() {
        Some("audio") => args.audio.as_ref().map(|p| ("--audio", p)),
        Some(_) => args.image.as_ref().map(|p| ("--image", p)),
        None => None,
    };
    match (pipeline.file_field(), file) {
        (Some(field), None) => {
            let flag = if field == "audio" {
                "--audio"
            } else {
                "--image"
            };
            bail!("{pipeline} needs {flag} <file>");
        }
        (Some(_), Some((_, path))) => request.file = Some(read_upload(pipeline, path)?),
        (None, _) => {}
    }
    for (flag, given) in [("--image", &args.image), ("--audio", &args.audio)] {
        let wanted = file.is_some_and(|(f, _)| f == flag);
        if given.is_some() && !wanted {
            bail!("{pipeline} takes no {flag}");
        }
    }
    Ok(request)
}

/// The FastAPI-style validation body as one line: `messages.0.content: Field required; …`.
fn describe_issues(body: &Value) -> String {
    let Some(issues) = body["detail"].as_array() else {
        return body.to_string();
    };
    issues
        .iter()
        .map(|issue| {
            let loc: Vec<String> = issue["loc"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .skip(1)
                        .map(|p| match p {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{}: {}",
                loc.join("."),
                issue["msg"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads an input file of `pipeline`, at most its upload limit (the runner's, else the
/// gateway's request limit), its content type from its extension.
fn read_upload(pipeline: Pipeline, path: &Path) -> anyhow::Result<Upload> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    let limit = pipeline.max_file_bytes().unwrap_or(MAX_AI_REQUEST_BYTES);
    if size > limit as u64 {
        bail!(
            "{}: {size} bytes, over {pipeline}'s {limit}-byte upload limit",
            path.display()
        );
    }
    let data = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let content_type = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "ogg" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "webm" => "audio/webm",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    };
    Ok(Upload {
        filename: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        content_type: Some(content_type.to_string()),
        data: Bytes::from(data),
    })
}

/// The gateway's base URL from `host:port` or a URL.
pub fn gateway_base(gateway: &str) -> anyhow::Result<url::Url> {
    let with_scheme = if gateway.contains("://") {
        gateway.to_string()
    } else {
        format!("http://{gateway}")
    };
    let url = url::Url::parse(&with_scheme).with_context(|| format!("gateway {gateway}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("gateway {gateway}: not an http(s) URL");
    }
    Ok(url)
}

/// Sends `request` to the gateway at `gateway` (`POST /<pipeline>`) and saves the answer's
/// files under `out` as `<name>-<n>.<ext>`; `on_delta` gets each piece of an LLM stream.
///
/// Errors: the gateway's answer `<status>: <error.message>`, transport errors, and files
/// that cannot be fetched or written.
pub async fn send(
    gateway: &url::Url,
    request: &AiRequest,
    out: &Path,
    name: &str,
    mut on_delta: impl FnMut(&str),
) -> anyhow::Result<AiOutcome> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let url = gateway.join(request.pipeline.as_str())?;
    let started = Instant::now();
    let defaulted = request.model_id().is_empty();
    let reply = send_request(http.post(url).timeout(REQUEST_TIMEOUT), request)
        .await
        .map_err(gateway_error)
        .map_err(|e| {
            if defaulted && e.to_string().contains(" 503: ") {
                let pipeline = request.pipeline;
                anyhow::anyhow!(
                    "{e} (no --model given: the gateway asked for its default {pipeline} model, {})",
                    pipeline.default_model_id()
                )
            } else {
                e
            }
        })?;
    let mut outcome = match reply {
        RunnerReply::Json(json) => {
            let text = answer_text(request.pipeline, &json);
            let usage = (request.pipeline == Pipeline::Llm)
                .then(|| serde_json::from_value(json["usage"].clone()).ok())
                .flatten();
            AiOutcome {
                json,
                text,
                files: Vec::new(),
                elapsed: started.elapsed(),
                first_token: None,
                usage,
            }
        }
        RunnerReply::LlmStream(mut stream) => {
            let mut text = String::new();
            let mut first_token = None;
            let mut last = None;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(gateway_error)?;
                if let Some(delta) = chunk
                    .choices
                    .first()
                    .and_then(|c| c.delta.as_ref())
                    .map(|d| d.content.as_str())
                    .filter(|d| !d.is_empty())
                {
                    first_token.get_or_insert_with(|| started.elapsed());
                    text.push_str(delta);
                    on_delta(delta);
                }
                last = Some(chunk);
            }
            let last = last.context("the gateway's stream ended without an answer")?;
            let mut json = serde_json::to_value(&last)?;
            json["choices"][0]["message"] = json!({"role": "assistant", "content": text});
            AiOutcome {
                json,
                usage: Some(last.usage),
                text: Some(text),
                files: Vec::new(),
                elapsed: started.elapsed(),
                first_token,
            }
        }
    };
    let mut urls = Vec::new();
    for_each_url(&mut outcome.json.clone(), &mut |u| urls.push(u.clone()));
    if !urls.is_empty() {
        std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    }
    for (i, u) in urls.iter().enumerate() {
        let (mime, bytes) = match decode_data_url(u) {
            Some(decoded) => decoded,
            None => fetch(&http, &gateway.join(u)?).await?,
        };
        let path = out.join(format!("{name}-{i}.{}", file_extension(&mime, u)));
        std::fs::write(&path, &bytes).with_context(|| format!("{}", path.display()))?;
        outcome.files.push(path);
    }
    Ok(outcome)
}

/// The extension a result is saved under: from its content type, else from its URL when
/// that names a known media type (never anything else the server chooses).
fn file_extension(mime: &str, url: &str) -> &'static str {
    match extension(mime) {
        "bin" => {
            let path = url.split(['?', '#']).next().unwrap_or_default();
            let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            match ext.as_deref() {
                Some("png") => "png",
                Some("jpg" | "jpeg") => "jpg",
                Some("wav") => "wav",
                Some("mp3") => "mp3",
                Some("mp4") => "mp4",
                _ => "bin",
            }
        }
        known => known,
    }
}

/// The text of an answer: the LLM's message, or the `text` of audio-to-text/image-to-text.
fn answer_text(pipeline: Pipeline, json: &Value) -> Option<String> {
    match pipeline {
        Pipeline::Llm => json["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string),
        Pipeline::AudioToText | Pipeline::ImageToText => json["text"].as_str().map(str::to_string),
        _ => None,
    }
}

/// One result file: its content type and bytes, at most [`MAX_RESULT_FILE_BYTES`].
async fn fetch(http: &reqwest::Client, url: &url::Url) -> anyhow::Result<(String, Bytes)> {
    let mut resp = http
        .get(url.clone())
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !resp.status().is_success() {
        bail!("GET {url}: {}", resp.status());
    }
    let mime = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.with_context(|| format!("GET {url}"))? {
        if body.len() + chunk.len() > MAX_RESULT_FILE_BYTES {
            bail!("GET {url}: over {MAX_RESULT_FILE_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok((mime, body.freeze()))
}

/// A gateway error as `<status>: <message>` from its `{"error":{"message"}}` envelope.
fn gateway_error(e: RunnerClientError) -> anyhow::Error {
    match e {
        RunnerClientError::Status { status, msg, body } => {
            let message = body
                .as_ref()
                .and_then(|b| b["error"]["message"].as_str())
                .map(str::to_string)
                .unwrap_or(msg);
            anyhow::anyhow!("the gateway answered {status}: {message}")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

/// One line on the timing of `outcome` (LLM: tokens, time to first token, tokens/s).
pub fn timing_line(outcome: &AiOutcome) -> String {
    let mut line = format!("{:.2} s", outcome.elapsed.as_secs_f64());
    if let Some(usage) = &outcome.usage {
        line.push_str(&format!(
            ", {} prompt + {} completion tokens",
            usage.prompt_tokens, usage.completion_tokens
        ));
        if let Some(first) = outcome.first_token {
            line.push_str(&format!(", first after {:.2} s", first.as_secs_f64()));
        }
        if usage.completion_tokens > 0 {
            line.push_str(&format!(
                ", {:.1} tokens/s",
                f64::from(usage.completion_tokens) / outcome.elapsed.as_secs_f64().max(1e-9)
            ));
        }
    }
    line
}

/// `livepeer ai`: sends the request, prints the text (streamed for `--stream`) or the JSON,
/// the audio-to-text chunks with their timestamps and the saved files, then the timing on
/// stderr.
pub async fn run(args: AiArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let request = build_request(&args)?;
    let gateway = gateway_base(&args.gateway)?;
    let streaming = args.stream && !args.json;
    let outcome = send(
        &gateway,
        &request,
        &args.out,
        args.pipeline.as_str(),
        |delta| {
            if streaming {
                print!("{delta}");
                let _ = std::io::stdout().flush();
            }
        },
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome.json)?);
    } else {
        if streaming {
            println!();
        } else if let Some(text) = &outcome.text {
            println!("{text}");
        }
        if let Some(chunks) = outcome.json["chunks"].as_array() {
            for chunk in chunks {
                let at = &chunk["timestamp"];
                println!(
                    "  [{:>6.2} – {:>6.2}] {}",
                    at[0].as_f64().unwrap_or_default(),
                    at[1].as_f64().unwrap_or_default(),
                    chunk["text"].as_str().unwrap_or_default().trim()
                );
            }
        }
        if outcome.text.is_none() && outcome.files.is_empty() {
            println!("{}", serde_json::to_string_pretty(&outcome.json)?);
        }
    }
    for file in &outcome.files {
        println!("saved {}", file.display());
    }
    eprintln!("{}: {}", args.pipeline, timing_line(&outcome));
    Ok(())
}
