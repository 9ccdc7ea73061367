//! go-livepeer's flags as data: every flag its `livepeer` command declares, with its go type,
//! its go default and whether this build implements it (`data/go-livepeer-flags.tsv`).
//!
//! A flag this build does not implement is still parsed, with its go type, so that a
//! go-livepeer command line, `LP_` environment or `-config` file is refused with one line naming
//! the flag ("-kafkaUser is not supported yet") rather than clap's "unexpected argument". Set to
//! its go default it changes nothing in go-livepeer either, so it is accepted silently, except
//! for the `unsupported-any` flags, where go-livepeer acts differently on an explicit default
//! than on an unset flag (see go-livepeer `cmd/livepeer/starter/flags.go`
//! `UpdateNilsForUnsetFlags`).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use clap::ArgAction;
use clap::parser::ValueSource;

use crate::cli::{parse_bool_flag, parse_duration};

/// The table, one flag per line (see its header for the columns).
pub const TABLE: &str = include_str!("../data/go-livepeer-flags.tsv");

/// The type a go-livepeer flag is declared with (`fs.Bool`, `fs.String`, `fs.Int`/`fs.Int64`,
/// `fs.Float64`, `fs.Duration`), which sets which values it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoType {
    /// `true`/`false` (and Go's other spellings); alone it means true.
    Bool,
    /// Any text.
    String,
    /// A 64-bit integer, decimal or with a 0x/0o/0b prefix.
    Int,
    /// A floating-point number.
    Float,
    /// A Go duration (`500ms`, `5m0s`).
    Duration,
}

/// What this build does with a go-livepeer flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagStatus {
    /// It works as in go-livepeer.
    Supported,
    /// A deprecated go-livepeer name that works as in go-livepeer.
    Deprecated,
    /// Refused at start-up unless set to its go default.
    Unsupported,
    /// Refused at start-up whenever set.
    UnsupportedAny,
}

/// One row of [`TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoFlag {
    /// The flag's name, without dashes (`orchAddr`).
    pub name: &'static str,
    /// Its go type.
    pub go_type: GoType,
    /// Its go default, as go prints it (`flag.Flag.DefValue`); empty for none.
    pub default: &'static str,
    /// What this build does with it.
    pub status: FlagStatus,
    /// A remark on how it behaves here (for a deprecated flag: the name to use).
    pub note: &'static str,
}

/// The rows of [`TABLE`], in its order. Panics on a malformed table, which the unit tests rule
/// out.
pub fn table() -> &'static [GoFlag] {
    static FLAGS: OnceLock<Vec<GoFlag>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        parse_table(TABLE).unwrap_or_else(|e| panic!("data/go-livepeer-flags.tsv: {e}"))
    })
}

/// The row for `name` (exact, case-sensitive, as Go's flag package looks names up).
pub fn lookup(name: &str) -> Option<&'static GoFlag> {
    table().iter().find(|f| f.name == name)
}

fn parse_table(text: &'static str) -> Result<Vec<GoFlag>, String> {
    let mut flags = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: &str| format!("line {}: {what}: {line:?}", i + 1);
        let mut fields = line.split('\t');
        let name = fields
            .next()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| at("no name"))?;
        let go_type = match fields.next() {
            Some("bool") => GoType::Bool,
            Some("string") => GoType::String,
            Some("int") => GoType::Int,
            Some("float") => GoType::Float,
            Some("duration") => GoType::Duration,
            _ => return Err(at("type must be bool, string, int, float or duration")),
        };
        let default = fields.next().ok_or_else(|| at("no default column"))?;
        let status = match fields.next() {
            Some("supported") => FlagStatus::Supported,
            Some("deprecated") => FlagStatus::Deprecated,
            Some("unsupported") => FlagStatus::Unsupported,
            Some("unsupported-any") => FlagStatus::UnsupportedAny,
            _ => {
                return Err(at(
                    "status must be supported, deprecated, unsupported or unsupported-any",
                ));
            }
        };
        let note = fields.next().unwrap_or("");
        if fields.next().is_some() {
            return Err(at("more than five columns"));
        }
        go_type
            .check(default)
            .map_err(|e| at(&format!("default: {e}")))?;
        if flags.iter().any(|f: &GoFlag| f.name == name) {
            return Err(at("listed twice"));
        }
        flags.push(GoFlag {
            name,
            go_type,
            default,
            status,
            note,
        });
    }
    Ok(flags)
}

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)` does: an optional sign, then decimal,
/// `0x`/`0o`/`0b` (or a leading `0`, octal) digits, underscores allowed after a base prefix.
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not an integer");
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex.replace('_', ""))
    } else if let Some(oct) = lower.strip_prefix("0o") {
        (8, oct.replace('_', ""))
    } else if let Some(bin) = lower.strip_prefix("0b") {
        (2, bin.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].replace('_', ""))
    } else {
        (10, lower.clone())
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return Err(bad());
    }
    let magnitude = i128::from_str_radix(&body, radix).map_err(|_| bad())?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| bad())
}

/// A parsed go value, for comparing a setting with a default.
#[derive(Debug, PartialEq)]
enum GoValue {
    Bool(bool),
    String(String),
    Int(i64),
    Float(f64),
    Duration(Duration),
}

impl GoType {
    fn value(self, s: &str) -> Result<GoValue, String> {
        Ok(match self {
            GoType::Bool => GoValue::Bool(parse_bool_flag(s)?),
            GoType::String => GoValue::String(s.to_string()),
            GoType::Int => GoValue::Int(parse_go_int(s)?),
            GoType::Float => {
                GoValue::Float(s.parse().map_err(|_| format!("{s:?} is not a number"))?)
            }
            GoType::Duration => {
                // "0" is Go's one unit-less duration.
                GoValue::Duration(if s == "0" {
                    Duration::ZERO
                } else {
                    parse_duration(s)?
                })
            }
        })
    }

    /// Whether `s` is a value of this type.
    pub fn check(self, s: &str) -> Result<(), String> {
        self.value(s).map(|_| ())
    }

    /// Whether `a` and `b` are the same value of this type (`1s` is `1000ms`, `t` is `true`).
    pub fn same_value(self, a: &str, b: &str) -> bool {
        matches!((self.value(a), self.value(b)), (Ok(x), Ok(y)) if x == y)
    }
}

impl GoFlag {
    /// The hidden clap argument that parses this flag when this build does not implement it.
    pub fn placeholder_arg(&self) -> clap::Arg {
        let arg = clap::Arg::new(self.name)
            .long(self.name)
            .hide(true)
            .action(ArgAction::Set)
            .help(format!("go-livepeer's -{}: not supported yet", self.name));
        match self.go_type {
            GoType::Bool => arg
                .num_args(0..=1)
                .default_missing_value("true")
                .value_parser(parse_bool_flag),
            GoType::String => arg.value_parser(clap::builder::StringValueParser::new()),
            GoType::Int => arg.value_parser(parse_go_int),
            GoType::Float => arg.value_parser(|s: &str| {
                s.parse::<f64>()
                    .map_err(|_| format!("{s:?} is not a number"))
            }),
            GoType::Duration => {
                arg.value_parser(|s: &str| GoType::Duration.value(s).map(|_| s.to_string()))
            }
        }
    }

    /// Whether setting this flag to `value` is refused: an unsupported flag set to anything but
    /// its go default, or an `unsupported-any` flag set at all.
    pub fn refuses(&self, value: &str) -> bool {
        match self.status {
            FlagStatus::Supported | FlagStatus::Deprecated => false,
            FlagStatus::Unsupported => !self.go_type.same_value(value, self.default),
            FlagStatus::UnsupportedAny => true,
        }
    }
}

/// The unsupported flags (those [`crate::cli::command`] adds as placeholders) that `matches`
/// has set to a refused value, in table order: `(name, raw value)`.
pub fn refused_flags(matches: &clap::ArgMatches) -> Vec<(&'static str, String)> {
    let mut refused = Vec::new();
    for flag in table() {
        if matches!(flag.status, FlagStatus::Supported | FlagStatus::Deprecated) {
            continue;
        }
        let Ok(Some(mut raw)) = matches.try_get_raw(flag.name) else {
            continue;
        };
        if matches.value_source(flag.name) != Some(ValueSource::CommandLine) {
            continue;
        }
        let Some(value) = raw.next_back().map(|v| v.to_string_lossy().into_owned()) else {
            continue;
        };
        if flag.refuses(&value) {
            refused.push((flag.name, value));
        }
    }
    refused
}

/// The text below `--help`: where flags come from, and the go-livepeer flags this build does
/// not implement yet.
pub fn help_footer() -> String {
    let mut names: Vec<String> = table()
        .iter()
        .filter(|f| {
            matches!(
                f.status,
                FlagStatus::Unsupported | FlagStatus::UnsupportedAny
            )
        })
        .map(|f| format!("-{}", f.name))
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    let mut lines = vec![String::from("  ")];
    for name in names {
        let line = lines.last_mut().expect("one line");
        if line.len() + name.len() > 98 {
            lines.push(format!("  {name}"));
        } else {
            if line.len() > 2 {
                line.push(' ');
            }
            line.push_str(&name);
        }
    }
    format!(
        "Flags take one dash or two (-orchAddr x, --orchAddr=x). Each can also be set by an\n\
         LP_<FLAGNAME> environment variable (LP_ORCHADDR) or a -config file; the command line\n\
         wins, then the environment, then the file.\n\n\
         go-livepeer flags not supported yet (refused at start-up unless set to their\n\
         go-livepeer default):\n{}",
        lines.join("\n")
    )
}

/// `-version`: what go-livepeer prints, for this build.
pub fn version_text() -> String {
    // Go's names for the architectures, as go-livepeer prints runtime.GOARCH.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!(
        "Livepeer Node Version: {}\nImplementation: livepeer-rs (Rust)\nArchitecture: {arch}\nOperating system: {}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
}

/// `-j`: the MistServer connector descriptor go-livepeer prints (livepeer-data
/// `pkg/mistconnector` `PrintMistConfigJson`): `{"name","desc","friendly","optional","version"}`,
/// `optional` keyed by flag name, each `{name, help, option: "-name", default, type}` where type
/// is `"str"` unless the default is a boolean (then absent). It lists the flags this build
/// supports (go-livepeer's, their deprecated names, and this build's own), not the ones it
/// would refuse. Written as Go's `encoding/json` writes it: sorted keys, `<`, `>` and `&`
/// escaped, no trailing newline.
pub fn mist_json(command: &clap::Command) -> String {
    #[derive(serde::Serialize)]
    struct Optional {
        name: String,
        help: String,
        option: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        default: String,
        #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
        kind: String,
    }
    #[derive(serde::Serialize)]
    struct Descriptor {
        name: &'static str,
        desc: String,
        friendly: &'static str,
        optional: BTreeMap<String, Optional>,
        version: &'static str,
    }
    let mut optional = BTreeMap::new();
    let mut add = |name: &str, help: String, default: String| {
        let is_bool = default.eq_ignore_ascii_case("true") || default.eq_ignore_ascii_case("false");
        optional.insert(
            name.to_string(),
            Optional {
                name: name.to_string(),
                help,
                option: format!("-{name}"),
                kind: if is_bool { String::new() } else { "str".into() },
                default,
            },
        );
    };
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" {
            continue;
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let help = help.lines().next().unwrap_or_default().to_string();
        let go = lookup(long);
        if go.is_some_and(|f| {
            matches!(
                f.status,
                FlagStatus::Unsupported | FlagStatus::UnsupportedAny
            )
        }) {
            continue;
        }
        let default = match go {
            Some(flag) => flag.default.to_string(),
            None => arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(","),
        };
        add(long, help.clone(), default);
        for alias in arg.get_all_aliases().into_iter().flatten() {
            let default = lookup(alias)
                .map(|f| f.default.to_string())
                .unwrap_or_default();
            add(alias, format!("[Deprecated] {help}"), default);
        }
    }
    let descriptor = Descriptor {
        name: "livepeer",
        desc: command
            .get_about()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        friendly: "Livepeer",
        optional,
        version: env!("CARGO_PKG_VERSION"),
    };
    serde_json::to_string(&descriptor)
        .expect("the descriptor serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_go_livepeer_flag_once() {
        let flags = table();
        // 120 from NewLivepeerConfig, and -config, -version, -v, -j from main.
        assert_eq!(flags.len(), 124);
        for name in [
            "orchAddr",
            "kafkaBootstrapServers",
            "FVfailGsbucket",
            "datadir",
            "j",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
        assert_eq!(lookup("discoveryTimeout").map(|f| f.default), Some("500ms"));
        assert_eq!(
            lookup("broadcaster").map(|f| f.status),
            Some(FlagStatus::Deprecated)
        );
    }

    #[test]
    fn the_table_agrees_with_the_flags_the_cli_declares() {
        let command = <crate::cli::Cli as clap::CommandFactory>::command();
        let declared = |name: &str| {
            command.get_arguments().any(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases()
                        .into_iter()
                        .flatten()
                        .any(|al| al == name)
            })
        };
        for flag in table() {
            let works = matches!(flag.status, FlagStatus::Supported | FlagStatus::Deprecated);
            assert_eq!(
                declared(flag.name),
                works,
                "-{}: the table says {:?}; update data/go-livepeer-flags.tsv",
                flag.name,
                flag.status
            );
            if works {
                // The go default is a value our flag takes.
                let args = [
                    "livepeer".to_string(),
                    format!("--{}={}", flag.name, flag.default),
                ];
                crate::cli::command()
                    .try_get_matches_from(args)
                    .unwrap_or_else(|e| panic!("-{}={:?}: {e}", flag.name, flag.default));
            }
        }
    }

    #[test]
    fn go_values() {
        for (s, want) in [
            ("10", 10),
            ("-3", -3),
            ("0x1f", 31),
            ("0o17", 15),
            ("017", 15),
            ("0b101", 5),
            ("0x_ff", 255),
        ] {
            assert_eq!(parse_go_int(s), Ok(want), "{s}");
        }
        for bad in ["", "x", "1.5", "0x", "--1", "99999999999999999999"] {
            assert!(parse_go_int(bad).is_err(), "{bad}");
        }
        assert!(GoType::Duration.same_value("1s", "1000ms"));
        assert!(GoType::Duration.same_value("0", "0s"));
        assert!(GoType::Bool.same_value("t", "true"));
        assert!(GoType::Float.same_value("0.30", "0.3"));
        assert!(!GoType::String.same_value("a", "b"));
        assert!(!GoType::Int.same_value("x", "x"), "not a value");
    }

    #[test]
    fn unsupported_flags_refuse_all_but_their_default() {
        let kafka = lookup("kafkaUser").expect("listed");
        assert!(!kafka.refuses(""));
        assert!(kafka.refuses("me"));
        let test_transcoder = lookup("testTranscoder").expect("listed");
        assert!(!test_transcoder.refuses("true"));
        assert!(test_transcoder.refuses("false"));
        let hevc = lookup("hevcDecoding").expect("listed");
        assert!(
            hevc.refuses("false"),
            "an explicit default differs from unset in go"
        );
        assert!(!lookup("orchAddr").expect("listed").refuses("x"));
    }
}
