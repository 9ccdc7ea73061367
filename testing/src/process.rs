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

/// This process's resident set size and its peak, in bytes (`VmRSS`, `VmHWM`).
pub fn rss_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resident set size of process `pid`, in bytes, if it exists.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
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
