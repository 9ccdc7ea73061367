//! A long-running ffmpeg that takes a live stream on stdin (or pulls it from a URL) and cuts it into MPEG-TS segments
//! as it goes: RTMP ingest (FLV in, stream copy) and live pipelines (MPEG-TS in, filtered and
//! re-encoded) are both one [`LiveSegmenter`].
//!
//! ffmpeg's segment muxer cuts at the first keyframe after each `segment_time` and, with a CSV
//! segment list on stdout (`-segment_list pipe:1 -segment_list_type csv`), names each segment
//! with its start and end times the moment it is complete; the segment is then read from the
//! job's scratch directory, removed, and handed to the caller's callback. The caller bounds what
//! it feeds ([`LiveSegmenter::bytes_since_cut`], [`LiveSegmenter::since_cut`]).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tracing::debug;

use crate::{Ffmpeg, MediaError, ScratchDir};

/// How long [`LiveSegmenter::finish`] waits for ffmpeg to cut its last segment and exit
/// before killing it.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// ffmpeg error lines kept for a failed segmenter's message.
const STDERR_LINES: usize = 20;

/// One segment the segmenter cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutSegment {
    /// ffmpeg's segment number: 0, 1, 2, … in cut order.
    pub index: u64,
    /// The MPEG-TS bytes.
    pub data: Bytes,
    /// Its start in the stream's timeline (ffmpeg's list), from the first segment's start.
    pub start: Duration,
    /// Its duration (end − start in ffmpeg's list).
    pub duration: Duration,
}

/// The ffmpeg command of a [`LiveSegmenter`].
#[derive(Debug, Clone)]
pub struct LiveSegmenterArgs {
    /// Input options before `-i pipe:0`, e.g. `["-f", "flv"]`.
    pub input: Vec<String>,
    /// Output options before the segment muxer's, e.g. `["-map", "0", "-c", "copy"]`.
    pub output: Vec<String>,
    /// Target segment length: ffmpeg cuts at the first keyframe after it.
    pub segment_time: Duration,
}

/// A live ffmpeg segmenter: write the stream in with [`LiveSegmenter::write`], get each cut
/// segment in the callback given to [`LiveSegmenter::start`], end with
/// [`LiveSegmenter::finish`]. Dropping it kills ffmpeg.
#[derive(Debug)]
pub struct LiveSegmenter {
    child: Child,
    stdin: Option<ChildStdin>,
    since_cut: Arc<AtomicU64>,
    last_cut: Arc<Mutex<Instant>>,
    reader: tokio::task::JoinHandle<()>,
    stderr: tokio::task::JoinHandle<Vec<String>>,
}

impl LiveSegmenter {
    /// Starts ffmpeg with `args`, its segments written under a new scratch directory of
    /// `ffmpeg`'s scratch root; `on_cut` is called (on a task of its own, in cut order) with
    /// every segment.
    ///
    /// Errors: [`MediaError::Io`] (scratch directory), [`MediaError::Spawn`].
    pub async fn start(
        ffmpeg: &Ffmpeg,
        args: LiveSegmenterArgs,
        on_cut: impl FnMut(CutSegment) + Send + 'static,
    ) -> Result<Self, MediaError> {
        Self::spawn(ffmpeg, args, None, on_cut).await
    }

    /// Like [`LiveSegmenter::start`], but ffmpeg reads the stream from `url` itself (an
    /// `rtmp://` pull from a media server) instead of from [`LiveSegmenter::write`]; `args.input`
    /// should name the format and the protocols allowed. ffmpeg exits when the source ends:
    /// [`LiveSegmenter::exited`] waits for that.
    ///
    /// Errors: as [`LiveSegmenter::start`].
    pub async fn pull(
        ffmpeg: &Ffmpeg,
        url: &str,
        args: LiveSegmenterArgs,
        on_cut: impl FnMut(CutSegment) + Send + 'static,
    ) -> Result<Self, MediaError> {
        Self::spawn(ffmpeg, args, Some(url), on_cut).await
    }

    async fn spawn(
        ffmpeg: &Ffmpeg,
        args: LiveSegmenterArgs,
        url: Option<&str>,
        on_cut: impl FnMut(CutSegment) + Send + 'static,
    ) -> Result<Self, MediaError> {
        let scratch = ScratchDir::new_in(ffmpeg.scratch_root()).await?;
        let mut command = tokio::process::Command::new(ffmpeg.ffmpeg_path());
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(&args.input)
            .args(["-i", url.unwrap_or("pipe:0")])
            .args(&args.output)
            .args(["-f", "segment", "-segment_format", "mpegts"])
            .args([
                "-segment_time",
                &format!("{:.3}", args.segment_time.as_secs_f64()),
            ])
            .args(["-segment_list", "pipe:1", "-segment_list_type", "csv"])
            .arg(scratch.path().join("%d.ts"))
            .stdin(if url.is_some() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| MediaError::Spawn {
            program: ffmpeg.ffmpeg_path().to_path_buf(),
            source,
        })?;
        let stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(MediaError::Spawn {
                program: ffmpeg.ffmpeg_path().to_path_buf(),
                source: std::io::Error::other("ffmpeg's pipes are missing"),
            });
        };
        if url.is_none() && stdin.is_none() {
            return Err(MediaError::Spawn {
                program: ffmpeg.ffmpeg_path().to_path_buf(),
                source: std::io::Error::other("ffmpeg's stdin is missing"),
            });
        }
        let since_cut = Arc::new(AtomicU64::new(0));
        let last_cut = Arc::new(Mutex::new(Instant::now()));
        let reader = tokio::spawn(read_cuts(
            stdout,
            scratch,
            on_cut,
            since_cut.clone(),
            last_cut.clone(),
        ));
        let stderr = tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if kept.len() < STDERR_LINES {
                    kept.push(line);
                }
            }
            kept
        });
        Ok(Self {
            child,
            stdin,
            since_cut,
            last_cut,
            reader,
            stderr,
        })
    }

    /// Waits until ffmpeg exits by itself (a pulled source ended or failed); then
    /// [`LiveSegmenter::finish`] collects the last segments and the outcome.
    pub async fn exited(&mut self) {
        let _ = self.child.wait().await;
    }

    /// Feeds `data` to ffmpeg (waits while ffmpeg's pipe is full).
    ///
    /// Errors: [`MediaError::Io`] when ffmpeg stopped reading (it exited).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), MediaError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(());
        };
        self.since_cut
            .fetch_add(data.len() as u64, Ordering::AcqRel);
        stdin
            .write_all(data)
            .await
            .map_err(|e| MediaError::io("write to", "ffmpeg stdin", e))
    }

    /// Bytes written since the last cut (or the start).
    pub fn bytes_since_cut(&self) -> u64 {
        self.since_cut.load(Ordering::Acquire)
    }

    /// Time since the last cut (or the start).
    pub fn since_cut(&self) -> Duration {
        self.last_cut
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// A shared view of [`LiveSegmenter::since_cut`] for a watchdog task.
    pub fn cut_clock(&self) -> CutClock {
        CutClock(self.last_cut.clone())
    }

    /// Ends the input: ffmpeg cuts its last segment and exits (killed after
    /// [`FINISH_TIMEOUT`]); returns once every segment went to the callback.
    ///
    /// Errors: [`MediaError::Ffmpeg`] when ffmpeg exited with an error (its error lines), e.g.
    /// on input it could not demux; the segments cut before are delivered all the same.
    pub async fn finish(mut self) -> Result<(), MediaError> {
        drop(self.stdin.take());
        let status = match tokio::time::timeout(FINISH_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            Ok(Err(_)) => None,
            Err(_) => {
                let _ = self.child.kill().await;
                None
            }
        };
        let _ = (&mut self.reader).await;
        let lines = (&mut self.stderr).await.unwrap_or_default();
        match status {
            Some(status) if !status.success() => Err(MediaError::Ffmpeg {
                program: "ffmpeg",
                status,
                stderr_tail: lines.join("\n"),
            }),
            _ => Ok(()),
        }
    }
}

/// When a [`LiveSegmenter`] last cut.
#[derive(Debug, Clone)]
pub struct CutClock(Arc<Mutex<Instant>>);

impl CutClock {
    /// Time since the last cut (or the segmenter's start).
    pub fn elapsed(&self) -> Duration {
        self.0.lock().map(|t| t.elapsed()).unwrap_or_default()
    }
}

async fn read_cuts(
    stdout: tokio::process::ChildStdout,
    scratch: ScratchDir,
    mut on_cut: impl FnMut(CutSegment) + Send + 'static,
    since_cut: Arc<AtomicU64>,
    last_cut: Arc<Mutex<Instant>>,
) {
    let mut lines = BufReader::new(stdout).lines();
    let mut origin = None;
    while let Ok(Some(line)) = lines.next_line().await {
        since_cut.store(0, Ordering::Release);
        if let Ok(mut t) = last_cut.lock() {
            *t = Instant::now();
        }
        let Some(entry) = parse_list_line(&line) else {
            debug!(%line, "unexpected segment list line");
            continue;
        };
        let path: PathBuf = scratch.path().join(format!("{}.ts", entry.index));
        let data = match tokio::fs::read(&path).await {
            Ok(data) => Bytes::from(data),
            Err(err) => {
                debug!(%err, "cut segment not readable");
                continue;
            }
        };
        let _ = tokio::fs::remove_file(&path).await;
        if data.is_empty() {
            continue;
        }
        let origin = *origin.get_or_insert(entry.start);
        on_cut(CutSegment {
            index: entry.index,
            data,
            start: secs(entry.start - origin),
            duration: secs(entry.end - entry.start),
        });
    }
    scratch.remove().await;
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default()
}

/// One line of ffmpeg's CSV segment list.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ListEntry {
    index: u64,
    start: f64,
    end: f64,
}

/// `<n>.ts,<start s>,<end s>`; the name must be exactly `<n>.ts` (it is joined to the scratch
/// directory).
fn parse_list_line(line: &str) -> Option<ListEntry> {
    let mut fields = line.trim().split(',');
    let file = fields.next()?;
    let start: f64 = fields.next()?.parse().ok()?;
    let end: f64 = fields.next()?.parse().ok()?;
    let digits = file.strip_suffix(".ts")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ListEntry {
        index: digits.parse().ok()?,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_list_lines() {
        assert_eq!(
            parse_list_line("3.ts,7.560000,9.760000\n"),
            Some(ListEntry {
                index: 3,
                start: 7.56,
                end: 9.76
            })
        );
        for bad in [
            "../x.ts,0,1",
            "a.ts,0,1",
            "3.ts,x,1",
            "3.ts",
            ".ts,0,1",
            "3.mp4,0,1",
        ] {
            assert_eq!(parse_list_line(bad), None, "{bad}");
        }
    }
}
