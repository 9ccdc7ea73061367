//! Cancellation and time limits kill the ffmpeg child.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use livepeer_media::{CancellationToken, MediaError, TranscodeOptions, testing};
use livepeer_primitives::profile::parse_transcoding_options;

use crate::ff;

/// A ~53 s 720p MPEG-TS (the BBB clip ten times, stream-copied): long enough that a
/// three-rung transcode at `medium` is still running seconds after it starts.
async fn long_input(dir: &Path) -> PathBuf {
    let path = dir.join("long-input.ts");
    let status = tokio::process::Command::new(ff().ffmpeg_path())
        .args(["-v", "error", "-nostdin", "-stream_loop", "9", "-i"])
        .arg(testing::media_file(testing::BBB_MP4))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&path)
        .status()
        .await
        .expect("run ffmpeg");
    assert!(status.success(), "building the long input failed");
    path
}

/// PIDs of live ffmpeg processes whose command line mentions `marker`.
fn ffmpeg_pids_mentioning(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first().is_some_and(|a0| a0.ends_with("ffmpeg"))
                && args.iter().any(|a| a.contains(marker))
        })
        .collect()
}

/// Waits until exactly one ffmpeg mentioning `marker` runs, and returns its PID.
async fn wait_for_ffmpeg(marker: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let [pid] = ffmpeg_pids_mentioning(marker)[..] {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no ffmpeg process for {marker} appeared"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn cancel_kills_the_child_promptly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = long_input(dir.path()).await;
    let marker = input.to_string_lossy().into_owned();
    let profiles =
        parse_transcoding_options("P720p30fps16x9,P360p30fps16x9,P240p30fps16x9").expect("ladder");
    let opts = TranscodeOptions {
        preset: "medium".into(),
        timeout: Duration::from_secs(300),
        ..Default::default()
    };
    let cancel = CancellationToken::new();
    let job = {
        let (cancel, input) = (cancel.clone(), input.clone());
        tokio::spawn(async move { ff().transcode(&input, &profiles, &opts, &cancel).await })
    };
    let pid = wait_for_ffmpeg(&marker).await;
    // Let it get into the encode.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !job.is_finished(),
        "the transcode finished before it could be cancelled"
    );
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), job)
        .await
        .expect("returned")
        .expect("join");
    assert!(
        matches!(result, Err(MediaError::Cancelled { program: "ffmpeg" })),
        "{result:?}"
    );
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(5),
        "cancel took {:?}",
        cancelled_at.elapsed()
    );
    assert!(gone(pid), "ffmpeg {pid} still exists after cancel");
}

#[tokio::test]
async fn timeout_kills_the_child() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = long_input(dir.path()).await;
    let marker = input.to_string_lossy().into_owned();
    let profiles =
        parse_transcoding_options("P720p30fps16x9,P360p30fps16x9,P240p30fps16x9").expect("ladder");
    let limit = Duration::from_millis(1500);
    let opts = TranscodeOptions {
        preset: "medium".into(),
        timeout: limit,
        ..Default::default()
    };
    let job = {
        let input = input.clone();
        tokio::spawn(async move {
            ff().transcode(&input, &profiles, &opts, &CancellationToken::new())
                .await
        })
    };
    let pid = wait_for_ffmpeg(&marker).await;
    let result = tokio::time::timeout(Duration::from_secs(20), job)
        .await
        .expect("returned")
        .expect("join");
    match result {
        Err(MediaError::Timeout {
            program: "ffmpeg",
            after,
        }) => assert_eq!(after, limit),
        other => panic!("want Timeout, got {other:?}"),
    }
    assert!(gone(pid), "ffmpeg {pid} still exists after the timeout");
}

#[tokio::test]
async fn dropping_the_future_kills_the_child() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = long_input(dir.path()).await;
    let marker = input.to_string_lossy().into_owned();
    let profiles = parse_transcoding_options("P720p30fps16x9").expect("ladder");
    let opts = TranscodeOptions {
        preset: "medium".into(),
        timeout: Duration::from_secs(300),
        ..Default::default()
    };
    let job = {
        let input = input.clone();
        tokio::spawn(async move {
            ff().transcode(&input, &profiles, &opts, &CancellationToken::new())
                .await
        })
    };
    let pid = wait_for_ffmpeg(&marker).await;
    job.abort();
    assert!(job.await.is_err_and(|e| e.is_cancelled()));
    // kill_on_drop sends SIGKILL; tokio reaps the zombie later, so wait for it to stop
    // running (a zombie no longer shows its command line).
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid) || !ffmpeg_pids_mentioning(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "ffmpeg {pid} survived its dropped job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True while `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z")
}
