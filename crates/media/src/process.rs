//! Finding the ffmpeg binaries and running them as supervised child processes.
//!
//! Every child is spawned with `kill_on_drop(true)`, its stdin closed, and its stderr read line
//! by line while it runs: we keep only what we need (error lines for the error message and the
//! lines of ffmpeg's report that give each output's size and frame count), so memory stays
//! bounded whatever the child prints. A job ends when the child exits, when its deadline passes
//! or when its cancellation token fires; in the last two cases the child is killed (SIGKILL)
//! and reaped before the call returns.

use std::{
    collections::{BTreeMap, VecDeque},
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader},
    process::Command,
};
use tokio_util::sync::CancellationToken;

use crate::MediaError;

/// Environment variable naming the ffmpeg binary to use instead of the one on `PATH`.
pub const FFMPEG_ENV: &str = "LIVEPEER_FFMPEG";
/// Environment variable naming the ffprobe binary to use instead of the one on `PATH`.
pub const FFPROBE_ENV: &str = "LIVEPEER_FFPROBE";

/// Error-level lines kept for [`MediaError::Ffmpeg`]'s `stderr_tail`.
const ERROR_LINES_KEPT: usize = 12;
/// Lines of any level kept as a fallback when the child logged no error line.
const TAIL_LINES_KEPT: usize = 8;
/// Longest log line kept, in bytes; longer lines are cut.
const MAX_LINE_BYTES: usize = 2048;
/// Most stdout we collect from a child (ffprobe JSON), in bytes.
const MAX_STDOUT_BYTES: u64 = 16 << 20;

/// The ffmpeg and ffprobe binaries: the front door to everything in this crate.
///
/// Cheap to clone; holds only the two paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    scratch_root: Option<PathBuf>,
}

impl Ffmpeg {
    /// Finds the binaries: `$LIVEPEER_FFMPEG` / `$LIVEPEER_FFPROBE` when set, otherwise
    /// `ffmpeg` / `ffprobe` on `PATH`.
    ///
    /// Errors with [`MediaError::FfmpegNotFound`] when a variable names no file or `PATH` has no
    /// executable of that name. Touches the file system (blocking): call it at start-up.
    pub fn locate() -> Result<Self, MediaError> {
        Ok(Self {
            ffmpeg: find_binary("ffmpeg", FFMPEG_ENV)?,
            ffprobe: find_binary("ffprobe", FFPROBE_ENV)?,
            scratch_root: None,
        })
    }

    /// Uses the given binaries as they are (no checks; a wrong path shows up as
    /// [`MediaError::Spawn`] on first use).
    pub fn with_paths(ffmpeg: impl Into<PathBuf>, ffprobe: impl Into<PathBuf>) -> Self {
        Self {
            ffmpeg: ffmpeg.into(),
            ffprobe: ffprobe.into(),
            scratch_root: None,
        }
    }

    /// Puts every job's work files under `root` (a [`crate::ScratchRoot`]'s path, which the
    /// caller keeps alive) instead of the system temp directory. Paths under it are removed
    /// from every error message this handle returns.
    pub fn with_scratch_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.scratch_root = Some(root.into());
        self
    }

    /// The scratch root set by [`Ffmpeg::with_scratch_root`], if any.
    pub fn scratch_root(&self) -> Option<&Path> {
        self.scratch_root.as_deref()
    }

    /// A new job directory under the scratch root (or the system temp directory).
    pub(crate) async fn scratch_dir(&self) -> Result<crate::ScratchDir, MediaError> {
        crate::ScratchDir::new_in(self.scratch_root()).await
    }

    /// `err` with the paths of `job_dir` and of the scratch root replaced by file names.
    pub(crate) fn redact(&self, err: MediaError, job_dir: &Path) -> MediaError {
        let err = err.redact(job_dir);
        match self.scratch_root() {
            Some(root) => err.redact(root),
            None => err,
        }
    }

    /// Path of the ffmpeg binary.
    pub fn ffmpeg_path(&self) -> &Path {
        &self.ffmpeg
    }

    /// Path of the ffprobe binary.
    pub fn ffprobe_path(&self) -> &Path {
        &self.ffprobe
    }

    /// ffmpeg's version string, the third word of `ffmpeg -version` (e.g. `5.1.9-0+deb12u1`).
    ///
    /// Errors: [`MediaError::Spawn`], [`MediaError::Ffmpeg`], [`MediaError::Timeout`] (10 s), or
    /// [`MediaError::Probe`] when the output has no version line.
    pub async fn version(&self) -> Result<String, MediaError> {
        let job = Job {
            program: "ffmpeg",
            path: &self.ffmpeg,
            capture_stdout: true,
        };
        let out = job
            .run(
                ["-hide_banner", "-version"],
                Some(Duration::from_secs(10)),
                None,
            )
            .await?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .next()
            .and_then(|line| line.strip_prefix("ffmpeg version "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .ok_or_else(|| MediaError::Probe {
                detail: format!("no version line in `ffmpeg -version`: {text:.200}"),
            })
    }

    pub(crate) fn ffmpeg_job(&self) -> Job<'_> {
        Job {
            program: "ffmpeg",
            path: &self.ffmpeg,
            capture_stdout: false,
        }
    }

    pub(crate) fn ffprobe_job(&self) -> Job<'_> {
        Job {
            program: "ffprobe",
            path: &self.ffprobe,
            capture_stdout: true,
        }
    }
}

/// `$env_var` if set, else the first executable `name` on `PATH`.
fn find_binary(name: &'static str, env_var: &'static str) -> Result<PathBuf, MediaError> {
    find_binary_in(
        name,
        env_var,
        std::env::var_os(env_var),
        std::env::var_os("PATH"),
    )
}

/// [`find_binary`] with the two environment values passed in.
fn find_binary_in(
    name: &'static str,
    env_var: &'static str,
    env_value: Option<OsString>,
    path_var: Option<OsString>,
) -> Result<PathBuf, MediaError> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(MediaError::FfmpegNotFound {
                program: name,
                env_var,
                searched: format!("{env_var}={} is not an executable file", path.display()),
            })
        };
    }
    let path_var = path_var.unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| MediaError::FfmpegNotFound {
            program: name,
            env_var,
            searched: format!("not on PATH={}", path_var.to_string_lossy()),
        })
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// One run of a binary.
pub(crate) struct Job<'a> {
    program: &'static str,
    path: &'a Path,
    capture_stdout: bool,
}

/// What a successful run left behind.
pub(crate) struct JobOutput {
    pub stdout: Vec<u8>,
    pub log: LogDigest,
}

enum Outcome {
    Exited(std::io::Result<ExitStatus>, Vec<u8>, LogDigest),
    Cancelled,
    TimedOut(Duration),
}

impl Job<'_> {
    /// Runs the binary to completion; a non-zero exit is [`MediaError::Ffmpeg`]. `deadline`
    /// and `cancel` kill the child early ([`MediaError::Timeout`], [`MediaError::Cancelled`]).
    pub async fn run<I, S>(
        &self,
        args: I,
        deadline: Option<Duration>,
        cancel: Option<&CancellationToken>,
    ) -> Result<JobOutput, MediaError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = match parent_death_wrapper() {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "KILL", "--"]).arg(self.path);
                command
            }
            None => Command::new(self.path),
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(if self.capture_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::debug!(program = self.program, command = ?command.as_std(), "starting");
        let mut child = command.spawn().map_err(|source| MediaError::Spawn {
            program: self.path.to_owned(),
            source,
        })?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        let outcome = {
            let work = async {
                let (status, stdout, log) =
                    tokio::join!(child.wait(), read_capped(stdout), digest_log(stderr));
                Outcome::Exited(status, stdout, log)
            };
            let cancelled = async {
                match cancel {
                    Some(token) => token.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            let timed_out = async {
                match deadline {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                outcome = work => outcome,
                () = cancelled => Outcome::Cancelled,
                () = timed_out => Outcome::TimedOut(deadline.unwrap_or_default()),
            }
        };

        match outcome {
            Outcome::Exited(status, stdout, log) => {
                let status = status.map_err(|source| MediaError::Spawn {
                    program: self.path.to_owned(),
                    source,
                })?;
                if status.success() {
                    Ok(JobOutput { stdout, log })
                } else {
                    tracing::debug!(program = self.program, ?pid, %status, "failed");
                    Err(MediaError::Ffmpeg {
                        program: self.program,
                        status,
                        stderr_tail: log.stderr_tail(),
                    })
                }
            }
            Outcome::Cancelled => {
                kill(&mut child).await;
                tracing::debug!(program = self.program, ?pid, "cancelled; killed");
                Err(MediaError::Cancelled {
                    program: self.program,
                })
            }
            Outcome::TimedOut(after) => {
                kill(&mut child).await;
                tracing::debug!(program = self.program, ?pid, ?after, "timed out; killed");
                Err(MediaError::Timeout {
                    program: self.program,
                    after,
                })
            }
        }
    }
}

/// util-linux's `setpriv`, when this machine has it: children are started as
/// `setpriv --pdeathsig KILL -- <program> <args>`, so the kernel kills them when the thread
/// that spawned them dies, even if this process is SIGKILLed (`kill_on_drop` covers every
/// other exit). Without unsafe code there is no other way to set `PR_SET_PDEATHSIG` for a
/// child. The signal follows the spawning *thread*: jobs are spawned from tokio's runtime
/// threads (which live as long as the runtime), never from `spawn_blocking` threads.
fn parent_death_wrapper() -> Option<&'static Path> {
    static SETPRIV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            let found = ["/usr/bin/setpriv", "/bin/setpriv"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| is_executable(p));
            if found.is_none() {
                tracing::debug!(
                    "setpriv not found: ffmpeg children will not die with a SIGKILLed parent"
                );
            }
            found
        })
        .as_deref()
}

/// SIGKILL and reap, so no zombie is left behind.
async fn kill(child: &mut tokio::process::Child) {
    if let Err(err) = child.kill().await {
        tracing::warn!(%err, "killing child process failed");
    }
}

async fn read_capped(stdout: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(stdout) = stdout {
        // A read error just ends the output early; the exit status tells the story.
        let _ = stdout.take(MAX_STDOUT_BYTES).read_to_end(&mut buf).await;
    }
    buf
}

async fn digest_log(stderr: Option<impl AsyncRead + Unpin>) -> LogDigest {
    let mut digest = LogDigest::default();
    let Some(stderr) = stderr else { return digest };
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => digest.push(&String::from_utf8_lossy(&line)),
        }
    }
    digest
}

/// ffmpeg log level, from the `[level]` tag that `-loglevel level+...` adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Error,
    Warning,
    Other,
}

/// What ffmpeg's report says about one output file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OutputReport {
    /// `(width, height)` of the output's first video stream ("Output #k" header).
    pub size: Option<(u32, u32)>,
    /// Frames encoded into the output's first video stream (end-of-run report at verbose level).
    pub frames: Option<u64>,
}

/// The parts of a child's stderr worth keeping.
#[derive(Debug, Default)]
pub(crate) struct LogDigest {
    errors: VecDeque<String>,
    tail: VecDeque<String>,
    section: Section,
    outputs: BTreeMap<usize, OutputReport>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Section {
    #[default]
    Other,
    Output(usize),
}

impl LogDigest {
    /// Feeds one stderr line (with or without its newline).
    pub fn push(&mut self, raw: &str) {
        let raw = raw.trim_end_matches(['\n', '\r']);
        if raw.trim().is_empty() {
            return;
        }
        let (context, level, message) = split_line(raw);
        let shown = truncate(&match context {
            Some(ctx) => format!("[{ctx}] {message}"),
            None => message.to_owned(),
        });
        if level == Level::Error {
            push_bounded(&mut self.errors, shown.clone(), ERROR_LINES_KEPT);
        }
        if level <= Level::Warning {
            push_bounded(&mut self.tail, shown, TAIL_LINES_KEPT);
        }
        if context.is_none() {
            self.parse_report(message);
        }
    }

    /// The child's error lines, or its last warnings if it logged no error, joined by `\n`.
    pub fn stderr_tail(&self) -> String {
        let lines = if self.errors.is_empty() {
            &self.tail
        } else {
            &self.errors
        };
        if lines.is_empty() {
            return "(no error output)".to_owned();
        }
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The report for output file `index` (0-based, in command-line order).
    pub fn output(&self, index: usize) -> OutputReport {
        self.outputs.get(&index).copied().unwrap_or_default()
    }

    fn parse_report(&mut self, message: &str) {
        let text = message.trim_start();
        if text.starts_with("Input #") || text.starts_with("Stream mapping:") {
            self.section = Section::Other;
        } else if let Some(rest) = text.strip_prefix("Output #") {
            if let Some(index) = rest.split(',').next().and_then(|n| n.trim().parse().ok()) {
                self.section = Section::Output(index);
            }
        } else if let Some(rest) = text.strip_prefix("Stream #") {
            // "Stream #1:0: Video: h264, ..., 426x240 (0x0) [SAR 640:639 DAR 16:9], ..."
            if let (Section::Output(index), Some(pos)) = (self.section, rest.find(": Video: ")) {
                let entry = self.outputs.entry(index).or_default();
                if entry.size.is_none() {
                    entry.size = find_size(&rest[pos..]);
                }
            }
        } else if let Some(rest) = text.strip_prefix("Output stream #") {
            // "Output stream #1:0 (video): 73 frames encoded; 73 packets muxed (345662 bytes); "
            let Some((ids, tail)) = rest.split_once(" (video): ") else {
                return;
            };
            let Some(index) = ids.split(':').next().and_then(|n| n.parse::<usize>().ok()) else {
                return;
            };
            let frames = number_before(tail, "frames encoded");
            let entry = self.outputs.entry(index).or_default();
            if entry.frames.is_none() {
                entry.frames = frames;
            }
        }
    }
}

/// The number just before `word`: `number_before("73 frames encoded; ...", "frames encoded")`
/// is 73.
fn number_before(text: &str, word: &str) -> Option<u64> {
    let end = text.find(word)?;
    text[..end].trim().rsplit(' ').next()?.parse().ok()
}

fn push_bounded(queue: &mut VecDeque<String>, line: String, max: usize) {
    if queue.len() == max {
        queue.pop_front();
    }
    queue.push_back(line);
}

fn truncate(line: &str) -> String {
    if line.len() <= MAX_LINE_BYTES {
        return line.to_owned();
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

/// Splits `"[ctx @ 0x..] [level] message"`, `"[level] message"` or a bare message.
fn split_line(line: &str) -> (Option<&str>, Level, &str) {
    let mut rest = line;
    let mut context = None;
    if let Some(inner) = rest.strip_prefix('[')
        && let Some((tag, after)) = inner.split_once("] ")
        && let Some((name, _pointer)) = tag.split_once(" @ ")
    {
        context = Some(name);
        rest = after;
    }
    let levels = [
        ("[panic] ", Level::Error),
        ("[fatal] ", Level::Error),
        ("[error] ", Level::Error),
        ("[warning] ", Level::Warning),
        ("[info] ", Level::Other),
        ("[verbose] ", Level::Other),
        ("[debug] ", Level::Other),
        ("[trace] ", Level::Other),
    ];
    for (tag, level) in levels {
        if let Some(message) = rest.strip_prefix(tag) {
            return (context, level, message);
        }
    }
    // No level tag (a binary run without `level+`): treat it as an error line, so that
    // whatever the child said reaches the error message.
    (context, Level::Error, rest)
}

/// The first `WxH` token (digits `x` digits, preceded by a space and followed by a space,
/// comma or the end) in a stream description.
fn find_size(text: &str) -> Option<(u32, u32)> {
    text.split([' ', ',']).find_map(|token| {
        let (w, h) = token.split_once('x')?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(w) || !all_digits(h) {
            return None;
        }
        let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
        (w > 0 && h > 0).then_some((w, h))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_log_lines() {
        let cases = [
            (
                "[error] in.ts: Invalid data found",
                None,
                Level::Error,
                "in.ts: Invalid data found",
            ),
            (
                "[h264 @ 0x55c4e1d8cc00] [error] error while decoding MB 63 0",
                Some("h264"),
                Level::Error,
                "error while decoding MB 63 0",
            ),
            (
                "[mpegts @ 0x5] [warning] start time not set",
                Some("mpegts"),
                Level::Warning,
                "start time not set",
            ),
            (
                "[verbose]   Output stream #0:0 (video): 5 frames encoded;",
                None,
                Level::Other,
                "  Output stream #0:0 (video): 5 frames encoded;",
            ),
            (
                "[info] Output #1, mpegts, to 'x.ts':",
                None,
                Level::Other,
                "Output #1, mpegts, to 'x.ts':",
            ),
            ("plain message", None, Level::Error, "plain message"),
            ("[weird] tag", None, Level::Error, "[weird] tag"),
        ];
        for (line, ctx, level, msg) in cases {
            assert_eq!(split_line(line), (ctx, level, msg), "{line}");
        }
    }

    #[test]
    fn finds_sizes() {
        let cases = [
            (
                ": Video: h264, 1 reference frame, yuv420p(tv, progressive, left), 426x182 (0x0) [SAR 3640:3621 DAR 40:17], q=2-31",
                Some((426, 182)),
            ),
            (
                ": Video: h264 (Main), 1 reference frame ([27][0][0][0] / 0x001B), yuv420p(progressive, left), 1280x720 [SAR 1:1 DAR 16:9], 25 fps",
                Some((1280, 720)),
            ),
            (
                ": Video: mpeg2video (Main), yuv420p(tv, progressive), 720x405, 104857 kb/s",
                Some((720, 405)),
            ),
            (": Video: h264, none, 0x0", None),
            (": Audio: aac, 48000 Hz", None),
        ];
        for (text, want) in cases {
            assert_eq!(find_size(text), want, "{text}");
        }
    }

    #[test]
    fn parses_ffmpeg_report() {
        let log = "\
[info] Input #0, mpegts, from 'file:in.ts':
[info]   Stream #0:0[0x100]: Video: h264 (High), yuv420p(progressive), 640x272, 25 fps
[info] Stream mapping:
[info]   Stream #0:0 (h264) -> split:default
[info] Output #0, mpegts, to 'file:r0.ts':
[info]   Stream #0:0: Video: h264, 1 reference frame, yuv420p(tv, progressive, left), 426x182 (0x0) [SAR 3640:3621 DAR 40:17], q=2-31, 600 kb/s, 30 fps, 90k tbn
[info]   Stream #0:1(und): Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, 5.1, fltp, 385 kb/s
[info] Output #1, mpegts, to 'file:r1.ts':
[info]   Stream #1:0: Video: h264, 1 reference frame, yuv420p(progressive, left), 640x272 (0x0) [SAR 1:1 DAR 40:17], q=2-31, 1200 kb/s, 30 fps, 90k tbn
[mpegts @ 0x55869fb6ae00] [verbose] service 1 using PCR in pid=256, pcr_period=100ms
[verbose] Input file #0 (file:in.ts):
[verbose]   Input stream #0:0 (video): 61 packets read (128685 bytes); 61 frames decoded;
[verbose] Output file #0 (file:r0.ts):
[verbose]   Output stream #0:0 (video): 73 frames encoded; 73 packets muxed (175408 bytes);
[verbose]   Output stream #0:1 (audio): 249 packets muxed (257269 bytes);
[verbose] Output file #1 (file:r1.ts):
[verbose]   Output stream #1:0 (video): 74 frames encoded; 74 packets muxed (345662 bytes);
";
        let mut digest = LogDigest::default();
        for line in log.lines() {
            digest.push(line);
        }
        assert_eq!(
            digest.output(0),
            OutputReport {
                size: Some((426, 182)),
                frames: Some(73)
            }
        );
        assert_eq!(
            digest.output(1),
            OutputReport {
                size: Some((640, 272)),
                frames: Some(74)
            }
        );
        assert_eq!(digest.output(2), OutputReport::default());
        assert_eq!(digest.stderr_tail(), "(no error output)");
    }

    #[test]
    fn keeps_error_lines_for_the_message() {
        let mut digest = LogDigest::default();
        digest.push("[mpegts @ 0x1] [warning] stream 1 : no TS found at start of file\n");
        assert_eq!(
            digest.stderr_tail(),
            "[mpegts] stream 1 : no TS found at start of file"
        );
        digest.push("[info] Output #0, mpegts, to 'x':\n");
        digest.push("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] [error] moov atom not found\n");
        digest.push("[error] trunc.mp4: Invalid data found when processing input\n");
        assert_eq!(
            digest.stderr_tail(),
            "[mov,mp4,m4a,3gp,3g2,mj2] moov atom not found\ntrunc.mp4: Invalid data found when processing input"
        );
        for i in 0..100 {
            digest.push(&format!("[error] line {i}"));
        }
        let tail = digest.stderr_tail();
        assert_eq!(tail.lines().count(), ERROR_LINES_KEPT);
        assert!(tail.ends_with("line 99"), "{tail}");
        digest.push(&format!("[error] {}", "é".repeat(5000)));
        assert!(digest.stderr_tail().len() < MAX_LINE_BYTES * (ERROR_LINES_KEPT + 1));
    }

    #[test]
    fn binary_lookup() {
        let dir = tempfile::tempdir().expect("temp dir");
        let exe = dir.path().join("ffmpeg");
        std::fs::write(&exe, "#!/bin/sh\n").expect("write");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let path_var =
            std::env::join_paths(["/definitely/not/here".as_ref(), dir.path()]).expect("join");
        let found = |env: Option<&Path>, path: Option<&OsStr>| {
            find_binary_in(
                "ffmpeg",
                FFMPEG_ENV,
                env.map(|p| p.as_os_str().to_owned()),
                path.map(OsStr::to_owned),
            )
        };
        // On PATH, after a missing directory.
        assert_eq!(found(None, Some(&path_var)).expect("on PATH"), exe);
        // The variable wins over PATH.
        assert_eq!(
            found(Some(&exe), Some(OsStr::new(""))).expect("from env"),
            exe
        );
        // A variable naming a missing or non-executable file is an error, not a fallback.
        for bad in [dir.path().join("missing"), plain] {
            match found(Some(&bad), Some(&path_var)) {
                Err(MediaError::FfmpegNotFound {
                    program: "ffmpeg",
                    env_var: FFMPEG_ENV,
                    searched,
                }) => {
                    assert!(searched.contains(FFMPEG_ENV), "{searched}")
                }
                other => panic!("{}: want FfmpegNotFound, got {other:?}", bad.display()),
            }
        }
        assert!(matches!(
            found(None, None),
            Err(MediaError::FfmpegNotFound { .. })
        ));
    }
}
