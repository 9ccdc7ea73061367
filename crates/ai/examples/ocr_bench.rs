//! End-to-end OCR timing: loads the engine from the installed models directory, then reads each
//! image given on the command line three times (the first run of a new image size also builds
//! its tract plans) and prints seconds per run and the text.
//!
//! `cargo run --release -p livepeer-ai --example ocr_bench -- <image>...`

use std::time::Instant;

use livepeer_ai::ModelsDir;
use livepeer_ai::ocr::OcrEngine;

fn main() -> anyhow::Result<()> {
    let models = ModelsDir::discover().ok_or_else(|| anyhow::anyhow!("no models directory"))?;
    let started = Instant::now();
    let engine = OcrEngine::load(&models.ocr())?;
    println!("load: {:.2} s", started.elapsed().as_secs_f64());
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        for run in 0..3 {
            let started = Instant::now();
            let text = engine.read_text(&bytes)?;
            println!(
                "{path} run {run}: {:.3} s {text:?}",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
