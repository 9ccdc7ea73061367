//! The built-in text-to-speech engine: the real espeak-ng (Debian package `espeak-ng`, a
//! formant synthesizer) run as a child process, writing a WAV file.
//!
//! ai-runner's `TextToSpeechParams.description` steers a neural voice; here it picks the
//! espeak-ng voice: a description that mentions a female speaker gets the `en-us+f3`
//! variant, otherwise `en-us`; "slow"/"fast" set the rate (140 / 200 words a minute, 175
//! otherwise).

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::InferenceError;

/// The model id the built-in text-to-speech runner serves under (espeak-ng has no Hugging Face
/// id; this is its upstream repository).
pub const MODEL_ID: &str = "espeak-ng/espeak-ng";
/// The most characters one request may ask to speak.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// The longest espeak-ng may run for one request.
pub const SYNTHESIS_TIMEOUT: Duration = Duration::from_secs(60);

/// The espeak-ng synthesizer.
#[derive(Debug, Clone)]
pub struct TtsEngine {
    program: PathBuf,
}

impl TtsEngine {
    /// Finds `espeak-ng` on `PATH` and checks it runs.
    ///
    /// Errors: [`InferenceError::Load`] when it is missing (the setup script installs it).
    pub async fn load() -> Result<Self, InferenceError> {
        let program = PathBuf::from("espeak-ng");
        let out = tokio::process::Command::new(&program)
            .arg("--version")
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| InferenceError::Load(format!("espeak-ng: {e}")))?;
        if !out.status.success() {
            return Err(InferenceError::Load("espeak-ng --version failed".into()));
        }
        Ok(Self { program })
    }

    /// Speaks `text` (plain text, not SSML) with the voice `description` picks; returns a
    /// 16-bit mono WAV file at espeak-ng's 22,050 Hz.
    ///
    /// Errors: [`InferenceError::BadInput`] for empty text, [`InferenceError::TooLarge`] over
    /// [`MAX_TEXT_CHARS`], [`InferenceError::Inference`] when espeak-ng fails or times out.
    pub async fn synthesize(
        &self,
        text: &str,
        description: &str,
    ) -> Result<Vec<u8>, InferenceError> {
        if text.trim().is_empty() {
            return Err(InferenceError::BadInput(
                "Text input must be provided.".into(),
            ));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(InferenceError::TooLarge(format!(
                "Text input longer than {MAX_TEXT_CHARS} characters."
            )));
        }
        let voice = voice_for(description);
        let dir = tempfile::tempdir().map_err(|e| InferenceError::Inference(e.to_string()))?;
        let wav = dir.path().join("speech.wav");
        let mut child = tokio::process::Command::new(&self.program)
            .args(["-b", "1", "--stdin", "-v", voice.name, "-s"])
            .arg(voice.rate_wpm.to_string())
            .arg("-w")
            .arg(&wav)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| InferenceError::Inference(format!("espeak-ng: {e}")))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| InferenceError::Inference("espeak-ng stdin".into()))?;
        let input = text.as_bytes().to_vec();
        let run = async move {
            stdin.write_all(&input).await?;
            stdin.shutdown().await?;
            drop(stdin);
            child.wait_with_output().await
        };
        let out = tokio::time::timeout(SYNTHESIS_TIMEOUT, run)
            .await
            .map_err(|_| InferenceError::Inference("espeak-ng timed out".into()))?
            .map_err(|e| InferenceError::Inference(format!("espeak-ng: {e}")))?;
        if !out.status.success() {
            return Err(InferenceError::Inference(format!(
                "espeak-ng failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        tokio::fs::read(&wav)
            .await
            .map_err(|e| InferenceError::Inference(format!("espeak-ng output: {e}")))
    }
}

/// An espeak-ng voice and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voice {
    /// espeak-ng's `-v` value.
    pub name: &'static str,
    /// espeak-ng's `-s` value, words per minute.
    pub rate_wpm: u32,
}

/// The voice a speaker description asks for (see the module docs).
pub fn voice_for(description: &str) -> Voice {
    let d = description.to_ascii_lowercase();
    let has = |w: &str| {
        d.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|x| x == w)
    };
    let female = has("female") || has("woman") || has("girl");
    let rate_wpm = if has("slow") || has("slowly") {
        140
    } else if has("fast") || has("quickly") || has("rapid") {
        200
    } else {
        175
    };
    Voice {
        name: if female { "en-us+f3" } else { "en-us" },
        rate_wpm,
    }
}

/// The text-to-speech billing units: the number of characters (Unicode scalar values) of
/// `text`, the one rule both our gateway and our orchestrator use. go-livepeer's gateway
/// counts bytes and its orchestrator 1000 × runes (`reference/ai.md` §1.5); characters are
/// what a user sees and pays for.
pub fn billing_units(text: &str) -> u64 {
    text.chars().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_pick_voices() {
        let default = voice_for(
            "A male speaker delivers a slightly expressive and animated speech with a moderate speed and pitch.",
        );
        assert_eq!(
            default,
            Voice {
                name: "en-us",
                rate_wpm: 175
            }
        );
        assert_eq!(voice_for("A female speaker talks slowly").name, "en-us+f3");
        assert_eq!(voice_for("A female speaker talks slowly").rate_wpm, 140);
        assert_eq!(voice_for("fast male voice").rate_wpm, 200);
        assert_eq!(voice_for("breakfast").rate_wpm, 175);
    }

    #[test]
    fn units_count_characters() {
        assert_eq!(billing_units("héllo"), 5);
        assert_eq!(billing_units(""), 0);
    }
}
