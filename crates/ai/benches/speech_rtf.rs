//! Real-time factor of the speech recognizer: seconds of compute per second of audio, on
//! espeak-ng speech (a ~6 s sentence pair and a ~45 s paragraph, two 30 s windows).
//!
//! `cargo bench -p livepeer-ai --bench speech_rtf` (release), or
//! `cargo test -p livepeer-ai --bench speech_rtf` (the dev profile the tests run in).

use std::process::Command;
use std::time::{Duration, Instant};

use livepeer_ai::ModelsDir;
use livepeer_ai::speech::{self, SpeechRecognizer, Timestamps};

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let rec = SpeechRecognizer::load(&ModelsDir::discover().expect("models dir").whisper())
        .expect("load");
    println!("load: {:.2} s", t0.elapsed().as_secs_f64());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let texts = [
        "short",
        "Please call me tomorrow morning at the office. The meeting starts at ten.",
        "long",
        "The weather today is sunny with a light breeze from the west. Many people are walking \
         in the park and children are playing near the lake. The library opens at nine in the \
         morning and closes at six in the evening. Remember to bring your books back before the \
         end of the month. After lunch we will take the train to the city and visit the museum. \
         The new bridge across the river was finished last summer. Our neighbours planted apple \
         trees in their garden this spring. Dinner will be ready at seven, so please do not be late.",
    ];
    for pair in texts.chunks(2) {
        let (name, text) = (pair[0], pair[1]);
        let wav = dir.path().join(format!("{name}.wav"));
        assert!(
            Command::new("espeak-ng")
                .arg("-w")
                .arg(&wav)
                .arg(text)
                .status()
                .expect("espeak-ng")
                .success()
        );
        let bytes = std::fs::read(&wav).expect("wav");
        let t = Instant::now();
        let pcm = rt
            .block_on(speech::decode_audio(&bytes, Duration::from_secs(600)))
            .expect("decode");
        let decode_s = t.elapsed().as_secs_f64();
        let audio_s = pcm.len() as f64 / f64::from(speech::SAMPLE_RATE_HZ);
        for ts in [Timestamps::Segment, Timestamps::None] {
            let t = Instant::now();
            let out = rec.transcribe(&pcm, ts).expect("transcribe");
            let s = t.elapsed().as_secs_f64();
            println!(
                "{name}: {audio_s:.1} s audio, ffmpeg {decode_s:.3} s, transcribe ({ts:?}) {s:.2} s, \
                 RTF {:.3}, {} chunks",
                s / audio_s,
                out.chunks.len()
            );
        }
    }
}
