//! Logging: `tracing` to stderr, human-readable by default, JSON with `-logFormat json`.

use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, NodeArgs};

/// The level for a glog-style `-v` verbosity: ≤ 3 info, 4–5 debug, ≥ 6 trace.
pub fn level_for_verbosity(v: u8) -> &'static str {
    match v {
        0..=3 => "info",
        4..=5 => "debug",
        _ => "trace",
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `-v`.
pub fn init(args: &NodeArgs) {
    let level = level_for_verbosity(args.verbosity);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // Our crates at the chosen level, dependencies one notch quieter.
        EnvFilter::new(format!("warn,livepeer={level},livepeer_node={level},livepeer_orchestrator={level},livepeer_gateway={level},livepeer_media={level}"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
