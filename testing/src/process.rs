//! This process, as a test sees it from `/proc`: which child processes it has (so a test can
//! assert that no ffmpeg is left behind) and how much memory it holds.

use std::path::Path;

/// A child process: its pid and the file name of its executable's first argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Process ID.
    pub pid: u32,
    /// `argv[0]`'s file name, e.g. `ffmpeg`.
    pub program: String,
    /// The whole command line, arguments joined by spaces.
    pub command: String,
}

/// The live (non-zombie) descendants of this process, read from `/proc/*/stat`.
pub fn descendants() -> Vec<Child> {
    let me = std::process::id();
    let mut table = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((ppid, state)) = stat(&entry.path()) {
            table.push((pid, ppid, state));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![me];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, state) in &table {
            if ppid == parent {
                frontier.push(pid);
                if state != 'Z' {
                    let command = cmdline(pid);
                    let program = command
                        .split(' ')
                        .next()
                        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
                        .unwrap_or_default();
                    found.push(Child {
                        pid,
                        program,
                        command,
                    });
                }
            }
        }
    }
    found
}

/// The descendants running `program` (matched on `argv[0]`'s file name, or on any argument's
/// file name when the program was started through a wrapper such as `setpriv`).
pub fn descendants_running(program: &str) -> Vec<Child> {
    descendants()
        .into_iter()
        .filter(|c| {
            c.program == program
                || c.command
                    .split(' ')
                    .any(|arg| arg.rsplit('/').next() == Some(program))
        })
        .collect()
}

/// The pids whose parent is `parent`, with their command names (`comm`), from `/proc`.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let text = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (open, close) = (text.find('(')?, text.rfind(')')?);
            let (ppid, _) = stat(&entry.path())?;
            (ppid == parent).then(|| (pid, text[open + 1..close].to_owned()))
        })
        .collect()
}

/// Whether `pid` is gone or a zombie waiting to be reaped (in a container, PID 1 may never
/// reap orphans).
pub fn is_dead(pid: u32) -> bool {
    stat(Path::new(&format!("/proc/{pid}"))).is_none_or(|(_, state)| matches!(state, 'Z' | 'X'))
}

/// The scratch roots (`livepeer-scratch-*`) a node made under `dir`.
pub fn scratch_roots(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(livepeer_media::SCRATCH_PREFIX)
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `dir` holds exactly one scratch root and nothing but its lock file is in it: no
/// job's files are left.
pub fn scratch_is_idle(dir: &Path) -> bool {
    let roots = scratch_roots(dir);
    roots.len() == 1
        && std::fs::read_dir(&roots[0])
            .map(|entries| entries.flatten().all(|e| e.file_name() == ".lock"))
            .unwrap_or(false)
}

/// This process's resident set size and its peak, in bytes (`VmRSS`, `VmHWM`).
pub fn rss_bytes() -> (u64, u64) {
    rss_of(std::process::id()).unwrap_or_default()
}

/// Resident set size and its peak of process `pid`, in bytes, if it exists.
pub fn rss_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn stat(dir: &Path) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(dir.join("stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the
    // last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
