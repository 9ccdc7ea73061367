//! The throughput of a built-in live pipeline's ffmpeg: the bikes test clip (10 s, 250 frames,
//! 640x272) cut into 1 s MPEG-TS segments and fed to the pipeline's exact command (the one a
//! stream runs, [`livepeer_ai::live::ffmpeg_args`]) as fast as ffmpeg takes it; prints the
//! output frames per second of wall time for each of three passes. At or above the input's
//! 25 fps the pipeline keeps up with a live stream.
//!
//! `live_fps [model] [effect] [side]`: `effects cartoon 512` unless given (`noop` ignores
//! the rest). Run the built example binary (`target/<profile>/examples/live_fps`) from the
//! repository, so the test media are found.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livepeer_ai::live::ts::TsFrameCounter;
use livepeer_ai::live::{LiveModel, PipelineSettings};
use livepeer_media::Ffmpeg;
use livepeer_media::live::LiveSegmenter;
use livepeer_media::testing::{BIKES_MP4, media_file};

const PASSES: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model: LiveModel = args.first().map_or("effects", String::as_str).parse()?;
    let effect = args.get(1).map_or("cartoon", String::as_str);
    let side: u32 = args.get(2).map_or(Ok(512), |s| s.parse())?;
    let params = serde_json::json!({"effect": effect, "width": side, "height": side});
    let serde_json::Value::Object(params) = params else {
        anyhow::bail!("params");
    };
    let settings = PipelineSettings::from_params(model, &params)?;
    let ffmpeg = Ffmpeg::locate()?;
    let dir = tempfile::tempdir()?;
    let segments = ffmpeg
        .segment_file(&media_file(BIKES_MP4), dir.path(), Duration::from_secs(1))
        .await?;
    let mut input = Vec::new();
    for segment in &segments {
        input.push(tokio::fs::read(&segment.path).await?);
    }
    println!(
        "{model} {settings:?} on {} cores, {} input segments",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        input.len()
    );
    let mut rates = Vec::new();
    for pass in 0..PASSES {
        let frames = Arc::new(AtomicU64::new(0));
        let counted = frames.clone();
        let started = Instant::now();
        let mut segmenter = LiveSegmenter::start(&ffmpeg, settings.ffmpeg_args(), move |cut| {
            counted.fetch_add(TsFrameCounter::new().push(&cut.data), Ordering::AcqRel);
        })
        .await?;
        for data in &input {
            segmenter.write(data).await?;
        }
        segmenter.finish().await?;
        let secs = started.elapsed().as_secs_f64();
        let frames = frames.load(Ordering::Acquire);
        let fps = frames as f64 / secs;
        println!("pass {pass}: {frames} frames in {secs:.2} s = {fps:.1} fps");
        rates.push(fps);
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!("mean: {mean:.1} fps");
    Ok(())
}
