//! Logging: `tracing` to stderr, human-readable by default, JSON with `-logFormat json`.
//!
//! The level can change while the node runs (the CLI API's `/setLogLevel`, go-livepeer's glog
//! `-v`): see [`set_verbosity`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, NodeArgs};

/// The level for a glog-style `-v` verbosity: ≤ 3 info, 4–5 debug, ≥ 6 trace.
///
/// go-livepeer logs with glog, whose `-v` gates `V(n)` lines: its default 3 shows what it
/// logs at info (`glog.Infof`, `V(common.SHORT)`…), 4–5 add its `V(DEBUG)`/`V(VERBOSE)`
/// lines (our debug), 6 and above everything (our trace). Warnings and errors show at every
/// level, as in glog.
pub fn level_for_verbosity(v: u8) -> &'static str {
    match v {
        0..=3 => "info",
        4..=5 => "debug",
        _ => "trace",
    }
}

/// The filter for verbosity `v`: our crates at its level, dependencies at warn.
fn filter_for(v: u8) -> EnvFilter {
    let level = level_for_verbosity(v);
    EnvFilter::new(format!(
        "warn,livepeer={level},livepeer_node={level},livepeer_orchestrator={level},livepeer_gateway={level},livepeer_media={level},livepeer_eth={level},livepeer_pm={level},livepeer_server={level},livepeer_objectstore={level},livepeer_monitor={level}"
    ))
}

type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

struct LogControl {
    verbosity: AtomicU8,
    reload: Reload,
}

static CONTROL: OnceLock<LogControl> = OnceLock::new();

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `-v` until the level is
/// changed at run time.
pub fn init(args: &NodeArgs) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| filter_for(args.verbosity));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let reload: Option<Reload> = match args.log_format {
        LogFormat::Text => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().ok().map(|()| {
                Box::new(move |f: EnvFilter| handle.reload(f).map_err(|e| e.to_string())) as Reload
            })
        }
        LogFormat::Json => {
            let builder = tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().ok().map(|()| {
                Box::new(move |f: EnvFilter| handle.reload(f).map_err(|e| e.to_string())) as Reload
            })
        }
    };
    if let Some(reload) = reload {
        let _ = CONTROL.set(LogControl {
            verbosity: AtomicU8::new(args.verbosity),
            reload,
        });
    }
}

/// The verbosity in force, glog style; `None` when [`init`] installed no subscriber.
pub fn verbosity() -> Option<u8> {
    CONTROL.get().map(|c| c.verbosity.load(Ordering::Relaxed))
}

/// Changes the verbosity while the node runs (see [`level_for_verbosity`]).
///
/// Errors: no subscriber was installed by [`init`] (go-livepeer's "nil log level"), or the
/// filter could not be swapped.
pub fn set_verbosity(v: u8) -> Result<(), String> {
    let control = CONTROL.get().ok_or_else(|| "nil log level".to_string())?;
    (control.reload)(filter_for(v))?;
    control.verbosity.store(v, Ordering::Relaxed);
    tracing::info!(
        verbosity = v,
        level = level_for_verbosity(v),
        "log level set"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(level_for_verbosity(3), "info");
        assert_eq!(level_for_verbosity(5), "debug");
        assert_eq!(level_for_verbosity(9), "trace");
    }
}
