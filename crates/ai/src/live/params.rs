//! The built-in live pipelines, their `params`, and the ffmpeg command each runs: pure
//! functions, so the command is tested without a stream.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use livepeer_media::live::LiveSegmenterArgs;
use serde_json::{Map, Value};

/// The side of the effects pipeline's output unless `params` give `width`/`height`
/// (ai-runner `live/trickle/frame.py` `DEFAULT_WIDTH`/`DEFAULT_HEIGHT`).
pub const DEFAULT_SIDE: u32 = 512;
/// Smallest `width`/`height` (ai-runner `BaseParams`: `ge=384`).
pub const MIN_SIDE: u32 = 384;
/// Largest `width`/`height` (ai-runner `BaseParams`: `le=1024`).
pub const MAX_SIDE: u32 = 1024;
/// `width`/`height` must be a multiple of this (ai-runner `BaseParams`: `multiple_of=64`).
pub const SIDE_MULTIPLE: u32 = 64;
/// Target length of an output segment: ffmpeg cuts at the first keyframe after it, and
/// keyframes are forced this often, so output segments are about this long (ai-runner's
/// encoder uses 2 s GOPs; shorter segments keep the output's latency low).
pub const OUTPUT_SEGMENT_TIME: Duration = Duration::from_secs(1);
/// How much of the input ffmpeg reads before it starts (`-analyzeduration`; ai-runner's
/// decoder probes 2.5 s).
pub const ANALYZE_DURATION: Duration = Duration::from_secs(1);
/// Output audio bitrate, bits per second (AAC; ai-runner encodes Opus, which RTMP outputs
/// cannot carry without re-encoding).
pub const AUDIO_BITRATE: u32 = 96_000;

/// A built-in live pipeline (the `model_id` of a live-video-to-video request: ai-runner's
/// live pipeline name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiveModel {
    /// `noop`: the picture as it came (its size and frame rate), decoded and re-encoded
    /// (ai-runner's `noop`, the pipeline third-party clients start by default; ai-runner's
    /// also crops to 512x512 and caps the rate at 24 fps, ours changes nothing).
    Noop,
    /// `effects`: a real-time ffmpeg filter on every frame ([`Effect`], `cartoon` unless
    /// `params` name another), scaled to cover `width` x `height` (512x512 unless given) and
    /// center-cropped, as ai-runner's decoder fits frames to its pipelines.
    Effects,
}

impl LiveModel {
    /// Every built-in live pipeline.
    pub const ALL: [LiveModel; 2] = [LiveModel::Noop, LiveModel::Effects];

    /// The model id.
    pub const fn as_str(self) -> &'static str {
        match self {
            LiveModel::Noop => "noop",
            LiveModel::Effects => "effects",
        }
    }
}

impl fmt::Display for LiveModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model id that is no built-in live pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no built-in live pipeline {0}; the built-in ones are noop and effects")]
pub struct UnknownLiveModel(pub String);

impl FromStr for LiveModel {
    type Err = UnknownLiveModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownLiveModel(s.to_string()))
    }
}

/// The picture effect of the `effects` pipeline (`params.effect`), each one ffmpeg filter
/// chain that changes every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Effect {
    /// `cartoon`: colours posterized (`lutyuv`: luma in steps of 40, chroma in steps of 16)
    /// under ink lines (`edgedetect` → `negate` → `erosion`, multiplied onto the luma with
    /// `blend`).
    #[default]
    Cartoon,
    /// `edges`: white edges on black (`edgedetect`, Canny, thresholds 0.03/0.09), grey.
    Edges,
    /// `sketch`: dark pencil lines on white (`edges` negated and thickened with `erosion`).
    Sketch,
    /// `negate`: the colours inverted (`negate`).
    Negate,
    /// `pixelate`: 16x16 blocks of their mean colour (`pixelize`).
    Pixelate,
}

impl Effect {
    /// Every effect.
    pub const ALL: [Effect; 5] = [
        Effect::Cartoon,
        Effect::Edges,
        Effect::Sketch,
        Effect::Negate,
        Effect::Pixelate,
    ];

    /// The name `params.effect` gives.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Cartoon => "cartoon",
            Effect::Edges => "edges",
            Effect::Sketch => "sketch",
            Effect::Negate => "negate",
            Effect::Pixelate => "pixelate",
        }
    }

    /// The ffmpeg filter chain (on `yuv420p` frames; it ends in `yuv420p`).
    pub fn filter(self) -> &'static str {
        match self {
            Effect::Cartoon => concat!(
                "split[cartoon_in][cartoon_lines_in];",
                "[cartoon_lines_in]edgedetect=low=0.03:high=0.09,negate,erosion,format=yuv420p[cartoon_lines];",
                "[cartoon_in]lutyuv=y=trunc(val/40)*40+20:u=trunc(val/16)*16+8:v=trunc(val/16)*16+8[cartoon_flat];",
                "[cartoon_lines][cartoon_flat]blend=c0_mode=multiply:c1_mode=normal:c1_opacity=0:c2_mode=normal:c2_opacity=0"
            ),
            Effect::Edges => "format=gray,edgedetect=low=0.03:high=0.09,format=yuv420p",
            Effect::Sketch => {
                "format=gray,edgedetect=low=0.03:high=0.09,negate,erosion,format=yuv420p"
            }
            Effect::Negate => "negate",
            Effect::Pixelate => "pixelize=w=16:h=16",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one pipeline does with the stream: its model and the settings its `params` give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PipelineSettings {
    /// The pipeline.
    pub model: LiveModel,
    /// The effect (`effects` only).
    pub effect: Effect,
    /// Output width and height in pixels (`effects` only; `noop` keeps the input's).
    pub size: Option<(u32, u32)>,
}

/// Why `params` cannot be used; the message names the field and its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamsError(pub String);

impl PipelineSettings {
    /// The settings `params` (a request's or a control message's JSON object) give `model`.
    /// Fields not named here are ignored, as pydantic ignores them. `noop` takes any object;
    /// `effects` reads:
    /// - `effect`: one of [`Effect::ALL`]'s names (default `cartoon`);
    /// - `width`, `height`: integers (or integral numbers, or numeric strings, as pydantic's
    ///   lax mode takes them) from [`MIN_SIDE`] to [`MAX_SIDE`], multiples of
    ///   [`SIDE_MULTIPLE`] (ai-runner `BaseParams`); default [`DEFAULT_SIDE`].
    ///
    /// Errors: [`ParamsError`] naming the first bad field.
    pub fn from_params(model: LiveModel, params: &Map<String, Value>) -> Result<Self, ParamsError> {
        match model {
            LiveModel::Noop => Ok(Self {
                model,
                effect: Effect::default(),
                size: None,
            }),
            LiveModel::Effects => {
                let effect = match params.get("effect") {
                    None | Some(Value::Null) => Effect::default(),
                    Some(Value::String(name)) => Effect::ALL
                        .into_iter()
                        .find(|e| e.as_str() == name)
                        .ok_or_else(effect_error)?,
                    Some(_) => return Err(effect_error()),
                };
                let width = side(params, "width")?;
                let height = side(params, "height")?;
                Ok(Self {
                    model,
                    effect,
                    size: Some((width, height)),
                })
            }
        }
    }

    /// The ffmpeg command of the live segmenter for these settings (see [`ffmpeg_args`]).
    pub fn ffmpeg_args(&self) -> LiveSegmenterArgs {
        ffmpeg_args(self)
    }
}

fn effect_error() -> ParamsError {
    let names: Vec<&str> = Effect::ALL.iter().map(|e| e.as_str()).collect();
    ParamsError(format!("effect must be one of {}", names.join(", ")))
}

fn side(params: &Map<String, Value>, name: &str) -> Result<u32, ParamsError> {
    let bad = || {
        ParamsError(format!(
            "{name} must be an integer multiple of {SIDE_MULTIPLE} from {MIN_SIDE} to {MAX_SIDE}"
        ))
    };
    let value = match params.get(name) {
        None | Some(Value::Null) => return Ok(DEFAULT_SIDE),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if value.fract() != 0.0 || !(f64::from(MIN_SIDE)..=f64::from(MAX_SIDE)).contains(&value) {
        return Err(bad());
    }
    // In range and integral, so the cast is exact.
    let side = value as u32;
    if !side.is_multiple_of(SIDE_MULTIPLE) {
        return Err(bad());
    }
    Ok(side)
}

/// The key-frame rule: the first frame, then the first at least [`OUTPUT_SEGMENT_TIME`] after
/// the last forced one. Written on the previous forced time rather than the frame count so it
/// holds with input timestamps kept (`-copyts`) whatever they start at.
fn force_key_frames() -> String {
    format!(
        "expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+{:.3}))",
        OUTPUT_SEGMENT_TIME.as_secs_f64()
    )
}

/// The ffmpeg command of one live pipeline: MPEG-TS in on stdin (`-f mpegts`, timestamps
/// kept with `-copyts` so the output's run on across a restart), the first video stream
/// through the pipeline's filter, re-encoded with libx264 `ultrafast`/`zerolatency` (no
/// B-frames, an IDR at least every [`OUTPUT_SEGMENT_TIME`], `yuv420p`), frames passed as
/// they come (`-fps_mode passthrough`: none dropped or duplicated), the first audio stream
/// if any as AAC at [`AUDIO_BITRATE`], cut into segments of about
/// [`OUTPUT_SEGMENT_TIME`].
///
/// `noop`'s filter only crops an odd width or height by one pixel (libx264's 4:2:0 needs
/// even sides); `effects` scales to cover its size, center-crops, then applies its effect.
pub fn ffmpeg_args(settings: &PipelineSettings) -> LiveSegmenterArgs {
    let filter = match (settings.model, settings.size) {
        (LiveModel::Effects, Some((w, h))) => format!(
            "scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,format=yuv420p,{},format=yuv420p",
            settings.effect.filter()
        ),
        _ => "crop=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p".to_string(),
    };
    let input = [
        "-copyts".to_string(),
        "-analyzeduration".to_string(),
        ANALYZE_DURATION.as_micros().to_string(),
        "-f".to_string(),
        "mpegts".to_string(),
    ];
    let output = [
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-vf",
        &filter,
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-bf",
        "0",
        "-forced-idr",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-force_key_frames",
        &force_key_frames(),
        "-c:a",
        "aac",
        "-b:a",
        &AUDIO_BITRATE.to_string(),
        "-ar",
        "48000",
    ]
    .map(str::to_string);
    LiveSegmenterArgs {
        input: input.to_vec(),
        output: output.to_vec(),
        segment_time: OUTPUT_SEGMENT_TIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(model: LiveModel, params: Value) -> Result<PipelineSettings, ParamsError> {
        let Value::Object(map) = params else {
            panic!("not an object")
        };
        PipelineSettings::from_params(model, &map)
    }

    #[test]
    fn model_ids() {
        for m in LiveModel::ALL {
            assert_eq!(m.as_str().parse::<LiveModel>(), Ok(m));
        }
        assert!("streamdiffusion".parse::<LiveModel>().is_err());
    }

    #[test]
    fn effects_params_follow_ai_runner_base_params() {
        let ok = [
            (json!({}), Effect::Cartoon, (512, 512)),
            (
                json!({"effect": null, "prompt": "x"}),
                Effect::Cartoon,
                (512, 512),
            ),
            (json!({"effect": "negate"}), Effect::Negate, (512, 512)),
            (
                json!({"width": 384, "height": 1024}),
                Effect::Cartoon,
                (384, 1024),
            ),
            (
                json!({"width": 640.0, "height": "768"}),
                Effect::Cartoon,
                (640, 768),
            ),
            (
                json!({"effect": "edges", "width": 1024}),
                Effect::Edges,
                (1024, 512),
            ),
        ];
        for (params, effect, size) in ok {
            let s = settings(LiveModel::Effects, params.clone()).expect("valid");
            assert_eq!((s.effect, s.size), (effect, Some(size)), "{params}");
        }
        let bad = [
            (
                json!({"effect": "sepia"}),
                "effect must be one of cartoon, edges, sketch, negate, pixelate",
            ),
            (json!({"effect": 3}), "effect must be one of"),
            (
                json!({"width": 320}),
                "width must be an integer multiple of 64 from 384 to 1024",
            ),
            (json!({"width": 1088}), "width must be"),
            (json!({"height": 500}), "height must be"),
            (json!({"height": 512.5}), "height must be"),
            (json!({"height": "big"}), "height must be"),
            (json!({"width": true}), "width must be"),
            (json!({"width": -512}), "width must be"),
        ];
        for (params, msg) in bad {
            let err = settings(LiveModel::Effects, params.clone()).expect_err("invalid");
            assert!(err.0.starts_with(msg), "{params}: {err}");
        }
        // noop takes anything.
        let noop = settings(LiveModel::Noop, json!({"width": 1, "effect": "sepia"})).expect("noop");
        assert_eq!(noop.size, None);
    }

    #[test]
    fn ffmpeg_commands() {
        let noop = settings(LiveModel::Noop, json!({}))
            .expect("noop")
            .ffmpeg_args();
        assert_eq!(
            noop.input,
            ["-copyts", "-analyzeduration", "1000000", "-f", "mpegts"]
        );
        let out = noop.output.join(" ");
        assert!(out.starts_with("-map 0:v:0 -map 0:a:0? -vf crop=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p -fps_mode passthrough -c:v libx264 -preset ultrafast -tune zerolatency -bf 0"), "{out}");
        assert!(
            out.contains(
                "-force_key_frames expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+1.000))"
            ),
            "{out}"
        );
        assert!(out.ends_with("-c:a aac -b:a 96000 -ar 48000"), "{out}");
        assert_eq!(noop.segment_time, OUTPUT_SEGMENT_TIME);

        let fx = settings(
            LiveModel::Effects,
            json!({"effect": "negate", "width": 640, "height": 384}),
        )
        .expect("effects")
        .ffmpeg_args();
        let vf = &fx.output[fx.output.iter().position(|a| a == "-vf").expect("-vf") + 1];
        assert_eq!(
            vf,
            "scale=640:384:force_original_aspect_ratio=increase,crop=640:384,setsar=1,format=yuv420p,negate,format=yuv420p"
        );
    }
}
