//! The AI pipelines: their names, capability ids, request schemas and billing units.
//!
//! Sources: go-livepeer `core/capabilities.go` (capability ids and names), ai-runner
//! `runner/openapi.yaml` v0.14.1 (request fields, types, defaults, JSON or multipart),
//! go-livepeer `server/ai_process.go` and `server/ai_http.go` (billing units); summarised in
//! `reference/ai.md` §0 and §1.2–§1.3.

use std::fmt;
use std::str::FromStr;

/// An AI pipeline (one capability each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pipeline {
    /// `text-to-image`, capability 27.
    TextToImage,
    /// `image-to-image`, capability 28.
    ImageToImage,
    /// `image-to-video`, capability 29.
    ImageToVideo,
    /// `upscale`, capability 30.
    Upscale,
    /// `audio-to-text`, capability 31.
    AudioToText,
    /// `segment-anything-2`, capability 32.
    SegmentAnything2,
    /// `llm`, capability 33.
    Llm,
    /// `image-to-text`, capability 34.
    ImageToText,
    /// `live-video-to-video`, capability 35.
    LiveVideoToVideo,
    /// `text-to-speech`, capability 36.
    TextToSpeech,
}

/// An unknown pipeline name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a valid pipeline")]
pub struct UnknownPipeline(pub String);

impl Pipeline {
    /// Every pipeline, in capability order.
    pub const ALL: [Pipeline; 10] = [
        Pipeline::TextToImage,
        Pipeline::ImageToImage,
        Pipeline::ImageToVideo,
        Pipeline::Upscale,
        Pipeline::AudioToText,
        Pipeline::SegmentAnything2,
        Pipeline::Llm,
        Pipeline::ImageToText,
        Pipeline::LiveVideoToVideo,
        Pipeline::TextToSpeech,
    ];

    /// The pipeline string of the runner API, aiModels.json and the `Pipeline` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Pipeline::TextToImage => "text-to-image",
            Pipeline::ImageToImage => "image-to-image",
            Pipeline::ImageToVideo => "image-to-video",
            Pipeline::Upscale => "upscale",
            Pipeline::AudioToText => "audio-to-text",
            Pipeline::SegmentAnything2 => "segment-anything-2",
            Pipeline::Llm => "llm",
            Pipeline::ImageToText => "image-to-text",
            Pipeline::LiveVideoToVideo => "live-video-to-video",
            Pipeline::TextToSpeech => "text-to-speech",
        }
    }

    /// The capability id (go-livepeer `core/capabilities.go`, 27–36).
    pub fn capability(self) -> u32 {
        match self {
            Pipeline::TextToImage => 27,
            Pipeline::ImageToImage => 28,
            Pipeline::ImageToVideo => 29,
            Pipeline::Upscale => 30,
            Pipeline::AudioToText => 31,
            Pipeline::SegmentAnything2 => 32,
            Pipeline::Llm => 33,
            Pipeline::ImageToText => 34,
            Pipeline::LiveVideoToVideo => 35,
            Pipeline::TextToSpeech => 36,
        }
    }

    /// The pipeline of a capability id, if it is an AI one.
    pub fn from_capability(capability: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.capability() == capability)
    }

    /// go-livepeer's capability name (`CapabilityNameLookup`): the pipeline string with its
    /// first letter upper-cased and `-` replaced by spaces ("Text to image", "Llm").
    pub fn capability_name(self) -> String {
        let spaced = self.as_str().replace('-', " ");
        let mut chars = spaced.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// The request body's encoding on every hop (runner, orchestrator and gateway routes).
    pub fn body_kind(self) -> BodyKind {
        match self {
            Pipeline::TextToImage
            | Pipeline::Llm
            | Pipeline::TextToSpeech
            | Pipeline::LiveVideoToVideo => BodyKind::Json,
            _ => BodyKind::Multipart,
        }
    }

    /// The request's fields (ai-runner `runner/openapi.yaml` v0.14.1).
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Pipeline::TextToImage => TEXT_TO_IMAGE,
            Pipeline::ImageToImage => IMAGE_TO_IMAGE,
            Pipeline::ImageToVideo => IMAGE_TO_VIDEO,
            Pipeline::Upscale => UPSCALE,
            Pipeline::AudioToText => AUDIO_TO_TEXT,
            Pipeline::SegmentAnything2 => SEGMENT_ANYTHING_2,
            Pipeline::Llm => LLM,
            Pipeline::ImageToText => IMAGE_TO_TEXT,
            Pipeline::LiveVideoToVideo => LIVE_VIDEO_TO_VIDEO,
            Pipeline::TextToSpeech => TEXT_TO_SPEECH,
        }
    }

    /// The field that names the model: `model` for `llm`, `model_id` for the others.
    pub fn model_field(self) -> &'static str {
        match self {
            Pipeline::Llm => "model",
            _ => "model_id",
        }
    }

    /// The multipart field that carries the input file, if the pipeline takes one.
    pub fn file_field(self) -> Option<&'static str> {
        self.fields()
            .iter()
            .find(|f| f.ty == FieldType::File)
            .map(|f| f.name)
    }

    /// The default model id the gateway fills in when none is given (go-livepeer
    /// `server/ai_mediaserver.go` defaults; `reference/ai.md` §1.2).
    pub fn default_model_id(self) -> &'static str {
        match self {
            Pipeline::TextToImage | Pipeline::ImageToImage => "stabilityai/sdxl-turbo",
            Pipeline::ImageToVideo => "stabilityai/stable-video-diffusion-img2vid-xt",
            Pipeline::Upscale => "stabilityai/stable-diffusion-x4-upscaler",
            Pipeline::AudioToText => "openai/whisper-large-v3",
            Pipeline::SegmentAnything2 => "facebook/sam2-hiera-large",
            Pipeline::Llm => "meta-llama/llama-3.1-8B-Instruct",
            Pipeline::ImageToText => "Salesforce/blip-image-captioning-large",
            Pipeline::LiveVideoToVideo => "noop",
            Pipeline::TextToSpeech => "parler-tts/parler-tts-large-v1",
        }
    }

    /// The runner's message for an unexpected failure (ai-runner `routes/*.py`
    /// `default_error_message`).
    pub fn error_message(self) -> &'static str {
        match self {
            Pipeline::TextToImage => "Text-to-image pipeline error.",
            Pipeline::ImageToImage => "Image-to-image pipeline error.",
            Pipeline::ImageToVideo => "Image-to-video pipeline error.",
            Pipeline::Upscale => "Upscale pipeline error.",
            Pipeline::AudioToText => "Audio-to-text pipeline error.",
            Pipeline::SegmentAnything2 => "Segment-anything-2 pipeline error.",
            Pipeline::Llm => "Internal server error during LLM processing.",
            Pipeline::ImageToText => "Image-to-text pipeline error.",
            Pipeline::LiveVideoToVideo => "live-video-to-video pipeline error.",
            Pipeline::TextToSpeech => "Text-to-speech pipeline error.",
        }
    }

    /// The largest input file the runner takes, in bytes (ai-runner: 50 MiB for audio-to-text
    /// and image-to-text; the others take what the orchestrator forwards).
    pub fn max_file_bytes(self) -> Option<usize> {
        match self {
            Pipeline::AudioToText | Pipeline::ImageToText => Some(50 * 1024 * 1024),
            _ => None,
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pipeline {
    type Err = UnknownPipeline;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPipeline(s.to_string()))
    }
}

/// How a pipeline's request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json`.
    Json,
    /// `multipart/form-data`, one part per field; non-file values are text.
    Multipart,
}

/// A request field's type, as the runner's schema gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A number.
    Num,
    /// A boolean.
    Bool,
    /// An uploaded file (multipart only).
    File,
    /// The LLM's `messages`: an array of `{role, content}` strings.
    Messages,
    /// A JSON object (live-video-to-video `params`).
    Object,
}

/// One field of a request schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Whether the request must carry it (422 "Field required" otherwise).
    pub required: bool,
    /// Its default as JSON text, when it has one.
    pub default: Option<&'static str>,
}

const fn req(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: true,
        default: None,
    }
}

const fn opt(name: &'static str, ty: FieldType, default: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
        default: Some(default),
    }
}

const fn opt_none(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
        default: None,
    }
}

use FieldType::{Bool, File, Int, Messages, Num, Object, Str};

const TEXT_TO_IMAGE: &[FieldSpec] = &[
    opt("model_id", Str, "\"\""),
    opt("loras", Str, "\"\""),
    req("prompt", Str),
    opt("height", Int, "576"),
    opt("width", Int, "1024"),
    opt("guidance_scale", Num, "7.5"),
    opt("negative_prompt", Str, "\"\""),
    opt("safety_check", Bool, "true"),
    opt_none("seed", Int),
    opt("num_inference_steps", Int, "50"),
    opt("num_images_per_prompt", Int, "1"),
];

const IMAGE_TO_IMAGE: &[FieldSpec] = &[
    req("prompt", Str),
    req("image", File),
    opt("model_id", Str, "\"\""),
    opt("loras", Str, "\"\""),
    opt("strength", Num, "0.8"),
    opt("guidance_scale", Num, "7.5"),
    opt("image_guidance_scale", Num, "1.5"),
    opt("negative_prompt", Str, "\"\""),
    opt("safety_check", Bool, "true"),
    opt_none("seed", Int),
    opt("num_inference_steps", Int, "100"),
    opt("num_images_per_prompt", Int, "1"),
];

const IMAGE_TO_VIDEO: &[FieldSpec] = &[
    req("image", File),
    opt("model_id", Str, "\"\""),
    opt("height", Int, "576"),
    opt("width", Int, "1024"),
    opt("fps", Int, "6"),
    opt("motion_bucket_id", Int, "127"),
    opt("noise_aug_strength", Num, "0.02"),
    opt("safety_check", Bool, "true"),
    opt_none("seed", Int),
    opt("num_inference_steps", Int, "25"),
];

const UPSCALE: &[FieldSpec] = &[
    req("prompt", Str),
    req("image", File),
    opt("model_id", Str, "\"\""),
    opt("safety_check", Bool, "true"),
    opt_none("seed", Int),
    opt("num_inference_steps", Int, "75"),
];

const AUDIO_TO_TEXT: &[FieldSpec] = &[
    req("audio", File),
    opt("model_id", Str, "\"\""),
    opt("return_timestamps", Str, "\"true\""),
    opt("metadata", Str, "\"{}\""),
];

const SEGMENT_ANYTHING_2: &[FieldSpec] = &[
    req("image", File),
    opt("model_id", Str, "\"\""),
    opt_none("point_coords", Str),
    opt_none("point_labels", Str),
    opt_none("box", Str),
    opt_none("mask_input", Str),
    opt("multimask_output", Bool, "true"),
    opt("return_logits", Bool, "true"),
    opt("normalize_coords", Bool, "true"),
];

const LLM: &[FieldSpec] = &[
    req("messages", Messages),
    opt("model", Str, "\"\""),
    opt("temperature", Num, "0.7"),
    opt("max_tokens", Int, "256"),
    opt("top_p", Num, "1.0"),
    opt("top_k", Int, "-1"),
    opt("stream", Bool, "false"),
];

const IMAGE_TO_TEXT: &[FieldSpec] = &[
    req("image", File),
    opt("prompt", Str, "\"\""),
    opt("model_id", Str, "\"\""),
];

const TEXT_TO_SPEECH: &[FieldSpec] = &[
    opt("model_id", Str, "\"\""),
    opt("text", Str, "\"\""),
    opt(
        "description",
        Str,
        "\"A male speaker delivers a slightly expressive and animated speech with a moderate speed and pitch.\"",
    ),
];

const LIVE_VIDEO_TO_VIDEO: &[FieldSpec] = &[
    req("subscribe_url", Str),
    req("publish_url", Str),
    opt("control_url", Str, "\"\""),
    opt("events_url", Str, "\"\""),
    opt("model_id", Str, "\"\""),
    opt("params", Object, "{}"),
    opt("gateway_request_id", Str, "\"\""),
    opt("manifest_id", Str, "\"\""),
    opt("stream_id", Str, "\"\""),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_capabilities_round_trip() {
        for p in Pipeline::ALL {
            assert_eq!(p.as_str().parse::<Pipeline>(), Ok(p));
            assert_eq!(Pipeline::from_capability(p.capability()), Some(p));
        }
        assert_eq!(Pipeline::from_capability(26), None);
        assert_eq!(Pipeline::from_capability(37), None);
        assert!("text-to-music".parse::<Pipeline>().is_err());
    }

    #[test]
    fn capability_names_follow_go() {
        assert_eq!(Pipeline::TextToImage.capability_name(), "Text to image");
        assert_eq!(Pipeline::Llm.capability_name(), "Llm");
        assert_eq!(
            Pipeline::LiveVideoToVideo.capability_name(),
            "Live video to video"
        );
        assert_eq!(
            Pipeline::SegmentAnything2.capability_name(),
            "Segment anything 2"
        );
    }

    #[test]
    fn every_default_is_json_of_its_type() {
        for p in Pipeline::ALL {
            for f in p.fields() {
                let Some(d) = f.default else { continue };
                let v: serde_json::Value = serde_json::from_str(d).expect(f.name);
                let ok = match f.ty {
                    Str => v.is_string(),
                    Int => v.is_i64(),
                    Num => v.is_number(),
                    Bool => v.is_boolean(),
                    Object => v.is_object(),
                    File | Messages => false,
                };
                assert!(ok, "{p} {}", f.name);
            }
            let files = p.fields().iter().filter(|f| f.ty == File).count();
            assert_eq!(files > 0, p.body_kind() == BodyKind::Multipart, "{p}");
        }
    }
}
