//! Where the node's flags come from, as go-livepeer reads them (`cmd/livepeer/livepeer.go`
//! parses with peterbourgon/ff v3: `ff.WithEnvVarPrefix("LP")`, `ff.WithConfigFileFlag("config")`,
//! `ff.PlainParser`):
//!
//! 1. the command line;
//! 2. for a flag not on the command line, the environment variable `LP_<FLAG NAME UPPER-CASED>`
//!    (`LP_ORCHADDR`), when it is set and not empty; variables that match no flag are ignored;
//! 3. for a flag set by neither, the `-config` file (named on the command line or by
//!    `LP_CONFIG`), in ff's plain format: one flag per line, its name, a space, and the rest of
//!    the line as the value (a name alone means `true`); blank lines and lines starting with
//!    `#` are skipped, and ` #` starts a comment after a value. A name may also be written as
//!    its environment variable (`LP_ORCHADDR x`). A name that is no flag, or a file that cannot
//!    be read, is an error.
//!
//! This applies to the node (no subcommand); the subcommands read their command line only.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::FromArgMatches;
use clap::parser::ValueSource;

use crate::cli::{Cli, command, normalize_args};

/// Where a flag's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    CommandLine,
    /// This environment variable.
    Env(String),
    /// This `-config` file.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine => f.write_str("the command line"),
            Origin::Env(key) => f.write_str(key),
            Origin::File(path) => write!(f, "-config {}", path.display()),
        }
    }
}

/// A parsed command line with its environment and config file applied.
#[derive(Debug)]
pub struct NodeCommandLine {
    /// What to run.
    pub cli: Cli,
    /// One line naming each go-livepeer flag that is set but not supported by this build
    /// (`-kafkaUser is not supported yet`), or `None`; the node must not start when it is set.
    pub refused: Option<String>,
}

/// Why the command line cannot be used.
#[derive(Debug)]
pub enum CommandLineError {
    /// clap's own report (also `--help`, which is not an error: clap prints it and exits 0).
    Clap(clap::Error),
    /// A bad environment variable or config file: one line.
    Config(String),
}

/// One flag of the node's command: its clap id, its names and its environment variables.
struct NodeFlag {
    id: String,
    long: String,
    names: Vec<String>,
    env_keys: Vec<String>,
}

/// ff's environment variable for a flag name: upper-cased, `-`, `.` and `/` as `_`, after
/// `LP_`.
pub fn env_key(name: &str) -> String {
    let key: String = name
        .to_uppercase()
        .chars()
        .map(|c| if matches!(c, '-' | '.' | '/') { '_' } else { c })
        .collect();
    format!("LP_{key}")
}

/// One `name value` line of a plain config file, as ff's `PlainParser` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainLine {
    /// 1-based line number.
    pub line: usize,
    /// The flag name as written.
    pub name: String,
    /// Its value (`true` for a name alone).
    pub value: String,
}

/// Splits a plain config file into its settings (ff v3 `plain_parser.go`): each line trimmed;
/// empty lines and lines starting with `#` skipped; the name is up to the first space, the
/// value the rest trimmed, cut at ` #`; a line with no space is a name whose value is `true`.
pub fn parse_plain(text: &str) -> Vec<PlainLine> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.find(' ') {
            None => (line, "true"),
            Some(at) => {
                let value = line[at..].trim();
                let value = match value.find(" #") {
                    Some(comment) => value[..comment].trim(),
                    None => value,
                };
                (&line[..at], value)
            }
        };
        out.push(PlainLine {
            line: i + 1,
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    out
}

fn node_flags(command: &clap::Command) -> Vec<NodeFlag> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            if long == "help" {
                return None;
            }
            let mut names = vec![long.to_string()];
            names.extend(
                arg.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(str::to_string),
            );
            let mut env_keys: Vec<String> = names.iter().map(|n| env_key(n)).collect();
            env_keys.dedup();
            Some(NodeFlag {
                id: arg.get_id().to_string(),
                long: long.to_string(),
                names,
                env_keys,
            })
        })
        .collect()
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// Parses the process's arguments (`args[0]` is the program) with `env` as the environment,
/// applying `LP_` variables and the `-config` file to the node's flags as go-livepeer does.
///
/// Errors: the command line itself (clap's report), an `LP_` variable or config-file value the
/// flag does not take, an unreadable config file, or a config-file name that is no flag; each
/// of the last three one line naming where it came from.
pub fn parse_command_line<I, T>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NodeCommandLine, CommandLineError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let command = command();
    let argv = normalize_args(args);
    let matches = command
        .clone()
        .try_get_matches_from(&argv)
        .map_err(CommandLineError::Clap)?;
    if matches.subcommand().is_some() {
        let cli = Cli::from_arg_matches(&matches).map_err(CommandLineError::Clap)?;
        return Ok(NodeCommandLine { cli, refused: None });
    }

    let flags = node_flags(&command);
    let on_command_line =
        |flag: &NodeFlag| matches.value_source(&flag.id) == Some(ValueSource::CommandLine);
    let mut origins: Vec<(String, Origin)> = flags
        .iter()
        .filter(|f| on_command_line(f))
        .map(|f| (f.id.clone(), Origin::CommandLine))
        .collect();
    let is_set = |origins: &[(String, Origin)], id: &str| origins.iter().any(|(i, _)| i == id);

    // The environment, for flags not on the command line.
    let mut from_env = Vec::new();
    for flag in &flags {
        if is_set(&origins, &flag.id) {
            continue;
        }
        let found = flag
            .env_keys
            .iter()
            .find_map(|key| env(key).filter(|v| !v.is_empty()).map(|v| (key.clone(), v)));
        if let Some((key, value)) = found {
            from_env.push((flag, value, Origin::Env(key)));
        }
    }
    for (flag, _, origin) in &from_env {
        origins.push((flag.id.clone(), origin.clone()));
    }

    // The config file, for flags set by neither.
    let config_path = matches
        .get_one::<PathBuf>("config")
        .cloned()
        .or_else(|| {
            from_env
                .iter()
                .find(|(f, _, _)| f.long == "config")
                .map(|(_, v, _)| PathBuf::from(v))
        })
        .filter(|p| !p.as_os_str().is_empty());
    let mut from_file = Vec::new();
    if let Some(path) = &config_path {
        for line in read_config(path)? {
            let flag = flags
                .iter()
                .find(|f| f.names.contains(&line.name) || f.env_keys.contains(&line.name))
                .ok_or_else(|| {
                    CommandLineError::Config(format!(
                        "-config {}: line {}: {:?} is not a flag",
                        path.display(),
                        line.line,
                        line.name
                    ))
                })?;
            if is_set(&origins, &flag.id) {
                continue;
            }
            from_file.push((flag, line.value, Origin::File(path.clone())));
        }
    }
    for (flag, _, origin) in &from_file {
        if !is_set(&origins, &flag.id) {
            origins.push((flag.id.clone(), origin.clone()));
        }
    }

    // Each value on its own first, so a bad one is reported with where it came from.
    let program = argv.first().cloned().unwrap_or_else(|| "livepeer".into());
    let mut layered = vec![program];
    for (flag, value, origin) in from_file.iter().chain(&from_env) {
        let arg = OsString::from(format!("--{}={value}", flag.long));
        command
            .clone()
            .try_get_matches_from([layered[0].clone(), arg.clone()])
            .map_err(|e| CommandLineError::Config(format!("{origin}: {}", clap_line(&e))))?;
        layered.push(arg);
    }
    // File first, then environment, then the command line: the last setting of a flag wins.
    layered.extend(argv.into_iter().skip(1));
    let matches = command
        .try_get_matches_from(layered)
        .map_err(CommandLineError::Clap)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(CommandLineError::Clap)?;
    cli.node.forget_empty();

    let refused: Vec<String> = crate::go_flags::refused_flags(&matches)
        .into_iter()
        .map(
            |(name, _)| match origins.iter().find(|(id, _)| id == name).map(|(_, o)| o) {
                Some(origin @ (Origin::Env(_) | Origin::File(_))) => {
                    format!("-{name} is not supported yet (set by {origin})")
                }
                _ => format!("-{name} is not supported yet"),
            },
        )
        .collect();
    Ok(NodeCommandLine {
        cli,
        refused: (!refused.is_empty()).then(|| refused.join("; ")),
    })
}

fn read_config(path: &Path) -> Result<Vec<PlainLine>, CommandLineError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandLineError::Config(format!("-config {}: cannot read it: {e}", path.display()))
    })?;
    Ok(parse_plain(&text))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<NodeCommandLine, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |key: &str| env.get(key).cloned();
        let mut argv = vec!["livepeer"];
        argv.extend(args);
        parse_command_line(argv, &lookup).map_err(|e| match e {
            CommandLineError::Clap(e) => clap_line(&e),
            CommandLineError::Config(line) => line,
        })
    }

    #[test]
    fn plain_lines_as_ff_reads_them() {
        let text = "# a comment\n\n  orchAddr a:1,b:2  \ngateway\nnetwork dev # where\nethPassword pass#word\nv  6\nname\tvalue\n";
        let got: Vec<(String, String)> = parse_plain(text)
            .into_iter()
            .map(|l| (l.name, l.value))
            .collect();
        let want = [
            ("orchAddr", "a:1,b:2"),
            ("gateway", "true"),
            ("network", "dev"),
            ("ethPassword", "pass#word"),
            ("v", "6"),
            // Only a space separates the name (as in ff).
            ("name\tvalue", "true"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn command_line_beats_environment_beats_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("livepeer.conf");
        std::fs::write(
            &file,
            "gateway\nnetwork filenet\norchAddr file:1\nmaxAttempts 7\nLP_DISCOVERYTIMEOUT 2s\n",
        )
        .expect("write");
        let config = file.to_str().expect("utf-8");

        let node = parse_with(&["-config", config], &[])
            .expect("parses")
            .cli
            .node;
        assert!(node.gateway, "a name alone is true");
        assert_eq!(node.network, "filenet");
        assert_eq!(node.orch_addr.as_deref(), Some("file:1"));
        assert_eq!(node.max_attempts, 7);
        assert_eq!(node.discovery_timeout, std::time::Duration::from_secs(2));

        let env = [
            ("LP_NETWORK", "envnet"),
            ("LP_ORCHADDR", "env:1"),
            ("LP_NOSUCHFLAG", "x"),
        ];
        let node = parse_with(&["-config", config], &env)
            .expect("parses")
            .cli
            .node;
        assert_eq!(node.network, "envnet");
        assert_eq!(node.orch_addr.as_deref(), Some("env:1"));
        assert_eq!(
            node.max_attempts, 7,
            "the file still fills what env does not"
        );

        let node = parse_with(&["-config", config, "-network", "clinet"], &env)
            .expect("parses")
            .cli
            .node;
        assert_eq!(node.network, "clinet");
        assert_eq!(node.orch_addr.as_deref(), Some("env:1"));

        // LP_CONFIG names the file; an empty variable is no setting.
        let env = [("LP_CONFIG", config), ("LP_NETWORK", "")];
        let node = parse_with(&[], &env).expect("parses").cli.node;
        assert_eq!(node.network, "filenet");
    }

    #[test]
    fn go_command_line_habits() {
        // A flag given twice takes the last value; bools take =false; -datadir is -dataDir.
        let node = parse_with(
            &[
                "-orchAddr",
                "a:1",
                "-orchAddr",
                "b:2",
                "-gateway=false",
                "-datadir",
                "/d",
                "-v",
                "6",
            ],
            &[],
        )
        .expect("parses")
        .cli
        .node;
        assert_eq!(node.orch_addr.as_deref(), Some("b:2"));
        assert!(!node.gateway);
        assert_eq!(node.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(node.verbosity, 6);
        // An empty string is unset, as in go.
        let node = parse_with(&["-dataDir", "", "-cliAddr="], &[])
            .expect("parses")
            .cli
            .node;
        assert_eq!((node.data_dir, node.cli_addr), (None, None));
        let node = parse_with(&["-version"], &[]).expect("parses").cli.node;
        assert!(node.version);
        let node = parse_with(&[], &[("LP_J", "true")])
            .expect("parses")
            .cli
            .node;
        assert!(node.mist_json);
    }

    #[test]
    fn unsupported_flags_are_named_with_where_they_were_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.conf");
        std::fs::write(&file, "verifierUrl http://127.0.0.1:1\nkafkaUser\n").expect("write");
        let config = file.to_str().expect("utf-8");
        let refused = parse_with(&["-kafkaBootstrapServers", "k:9092"], &[])
            .expect("parses")
            .refused;
        assert_eq!(
            refused.as_deref(),
            Some("-kafkaBootstrapServers is not supported yet")
        );
        let refused = parse_with(&["-config", config], &[("LP_REGION", "eu")])
            .expect("parses")
            .refused
            .expect("refused");
        assert_eq!(
            refused,
            format!(
                "-verifierUrl is not supported yet (set by -config {config}); \
                 -region is not supported yet (set by LP_REGION); \
                 -kafkaUser is not supported yet (set by -config {config})"
            )
        );
        // Their go defaults change nothing: accepted.
        let ok = parse_with(
            &[
                "-kafkaUser",
                "",
                "-testTranscoder=true",
                "-livePaymentInterval",
                "5s",
            ],
            &[],
        )
        .expect("parses");
        assert_eq!(ok.refused, None);
        // Values of the wrong go type are refused by the parser, naming the flag.
        let err = parse_with(&["-extraNodes", "many"], &[]).expect_err("not an int");
        assert!(err.contains("--extraNodes"), "{err}");
    }

    #[test]
    fn bad_sources_are_one_line_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.conf");
        std::fs::write(&file, "# ok\nnoSuchFlag 1\n").expect("write");
        let config = file.to_str().expect("utf-8");
        let err = parse_with(&["-config", config], &[]).expect_err("unknown flag");
        assert_eq!(
            err,
            format!("-config {config}: line 2: \"noSuchFlag\" is not a flag")
        );
        let err = parse_with(&["-config", "/no/such/file.conf"], &[]).expect_err("missing");
        assert!(
            err.starts_with("-config /no/such/file.conf: cannot read it"),
            "{err}"
        );
        let err = parse_with(&[], &[("LP_MAXATTEMPTS", "lots")]).expect_err("bad value");
        assert!(
            err.starts_with("LP_MAXATTEMPTS: invalid value 'lots'"),
            "{err}"
        );
    }

    #[test]
    fn subcommands_ignore_the_environment() {
        let parsed =
            parse_with(&["ticket", "inspect", "x.json"], &[("LP_GATEWAY", "yes")]).expect("parses");
        assert!(parsed.cli.command.is_some());
    }
}
