//! The local chain: anvil from the pinned npm package `@foundry-rs/anvil-linux-amd64`
//! (installed into `contracts/node_modules` by the setup script).
//!
//! anvil is spawned here rather than through alloy's `Anvil` builder so that it dies with its
//! parent even when the parent is SIGKILLed: on Linux it runs under util-linux's
//! `setpriv --pdeathsig KILL`, which sets `PR_SET_PDEATHSIG` and then execs anvil (so the
//! child's pid is anvil's). The workspace forbids `unsafe`, which rules out `pre_exec` + `prctl`.
//! Without `setpriv` anvil is spawned plainly (logged at debug) and still stops when its
//! [`AnvilInstance`] is dropped.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that spawned the child exits, not only the
//! process. Call [`spawn_anvil`] (and so `Devnet::start`) from a thread that lives as long as
//! the chain should: the main thread, a tokio worker, or a test's own thread; never from inside
//! `spawn_blocking` or a short-lived `std::thread`, whose exit would kill anvil.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use tracing::debug;

use crate::EthError;

/// Environment variable naming the anvil binary to use instead of the pinned one.
pub const ANVIL_ENV: &str = "LIVEPEER_ANVIL";

/// Chain ID of dev chains started here (anvil's default).
pub const DEV_CHAIN_ID: u64 = 31337;

/// Where anvil is looked for, in order: `$LIVEPEER_ANVIL`, `contracts/node_modules/.bin/anvil`
/// under the current directory, under the running package's repository (`$CARGO_MANIFEST_DIR`)
/// and under the current directory's parents, then `anvil` on `PATH`.
pub fn anvil_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(PathBuf::from("contracts/node_modules/.bin/anvil"));
    // The repository's copy, found at run time (`$CARGO_MANIFEST_DIR` under cargo, else the
    // current directory's ancestors), never through a path compiled in: artifacts are shared
    // between checkouts.
    let rel = "contracts/node_modules/.bin/anvil";
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        candidates.push(PathBuf::from(dir).join("../..").join(rel));
    }
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().skip(1).map(|a| a.join(rel)));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("anvil")));
    }
    candidates
}

/// The anvil binary.
///
/// Errors: [`EthError::AnvilNotFound`] naming where it looked and how to install it.
pub fn anvil_path() -> Result<PathBuf, EthError> {
    let mut candidates = anvil_candidates();
    match candidates.iter().position(|p| p.is_file()) {
        Some(found) => Ok(candidates.swap_remove(found)),
        None => Err(EthError::AnvilNotFound {
            searched: candidates,
        }),
    }
}

/// How long anvil may take to print "Listening on" before [`spawn_anvil`] gives up.
pub const ANVIL_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where util-linux's `setpriv` is looked for when it is not on `PATH`.
const SETPRIV_FALLBACK: &str = "/usr/bin/setpriv";

/// Options for a dev chain.
#[derive(Debug, Clone, Default)]
pub struct ChainOptions {
    /// Mine a block every this long; `None` mines one block per transaction (instant).
    pub block_time: Option<Duration>,
    /// Number of funded dev accounts (anvil's default is 10).
    pub accounts: Option<usize>,
}

/// A running anvil. Dropping it kills anvil and reaps it. If this process (strictly, the thread
/// that spawned it) dies first, the kernel kills anvil, when `setpriv` was available
/// ([`AnvilInstance::dies_with_parent`]; see the [module docs](self)).
#[derive(Debug)]
pub struct AnvilInstance {
    child: Child,
    keys: Vec<PrivateKeySigner>,
    addresses: Vec<Address>,
    addr: SocketAddr,
    dies_with_parent: bool,
}

impl AnvilInstance {
    /// The anvil process (its pid is anvil's, also under `setpriv`, which execs it).
    pub fn child(&self) -> &Child {
        &self.child
    }

    /// The funded dev accounts' keys, in anvil's order.
    pub fn keys(&self) -> &[PrivateKeySigner] {
        &self.keys
    }

    /// The funded dev accounts' addresses, in anvil's order.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The address anvil listens on (127.0.0.1 and the port it chose).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port anvil listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The JSON-RPC endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether anvil runs under `setpriv --pdeathsig KILL`, so that it dies with this process.
    pub fn dies_with_parent(&self) -> bool {
        self.dies_with_parent
    }
}

impl Drop for AnvilInstance {
    fn drop(&mut self) {
        // A dev chain keeps no state worth a graceful stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// util-linux's `setpriv`, when it is installed and supports `--pdeathsig` (checked once per
/// process by running `setpriv --pdeathsig KILL -- true`). Other children that must die with
/// this process (the devnet's nodes) are started through it the way anvil is.
pub fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            let on_path = std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|dir| dir.join("setpriv"));
            let found = on_path
                .chain(std::iter::once(PathBuf::from(SETPRIV_FALLBACK)))
                .find(|p| p.is_file())?;
            let works = Command::new(&found)
                .args(["--pdeathsig", "KILL", "--", "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if works {
                Some(found)
            } else {
                debug!(setpriv = %found.display(), "setpriv does not support --pdeathsig");
                None
            }
        })
        .as_deref()
}

/// The anvil command line for `options`: a free port on 127.0.0.1, contracts up to 64 KiB.
fn anvil_args(options: &ChainOptions) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["--host", "127.0.0.1", "--port", "0"]
        .into_iter()
        .chain(["--code-size-limit", "65536"])
        .map(OsString::from)
        .collect();
    if let Some(block_time) = options.block_time {
        args.push("--block-time".into());
        args.push(format!("{}", block_time.as_secs_f64()).into());
    }
    if let Some(n) = options.accounts {
        args.push("--accounts".into());
        args.push(n.to_string().into());
    }
    args
}

/// What anvil printed before it listened.
#[derive(Debug, Default)]
struct Banner {
    keys: Vec<PrivateKeySigner>,
    addr: Option<SocketAddr>,
}

impl Banner {
    /// Takes one line of anvil's start-up output; true once it is listening.
    fn read_line(&mut self, line: &str, in_keys: &mut bool) -> Result<bool, EthError> {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("Listening on") {
            let addr = addr
                .trim()
                .parse()
                .map_err(|e| EthError::AnvilStart(format!("cannot parse {line:?}: {e}")))?;
            self.addr = Some(addr);
            return Ok(true);
        }
        if line.starts_with("Private Keys") {
            *in_keys = true;
        } else if line.starts_with("Wallet") {
            *in_keys = false;
        } else if *in_keys && line.starts_with('(') {
            // "(0) 0xac09…ff80"
            let hex = line.split("0x").nth(1).unwrap_or_default().trim();
            let key = hex
                .parse::<B256>()
                .ok()
                .and_then(|b| PrivateKeySigner::from_bytes(&b).ok())
                .ok_or_else(|| EthError::AnvilStart(format!("cannot parse key line {line:?}")))?;
            self.keys.push(key);
        }
        Ok(false)
    }
}

/// Starts anvil on a free port of 127.0.0.1, under `setpriv --pdeathsig KILL` where available,
/// and waits (at most [`ANVIL_STARTUP_TIMEOUT`]) until it listens. The chain stops when the
/// instance is dropped, or when the calling *thread* exits (see the [module docs](self)).
///
/// Blocks the calling thread while anvil starts (well under a second on a dev machine).
///
/// Errors: [`EthError::AnvilNotFound`]; [`EthError::AnvilStart`] when it cannot be spawned,
/// exits or prints garbage before listening, or does not listen in time.
pub fn spawn_anvil(options: &ChainOptions) -> Result<AnvilInstance, EthError> {
    let anvil = anvil_path()?;
    let setpriv = setpriv();
    let mut command = match setpriv {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&anvil);
            c
        }
        None => {
            debug!(
                "setpriv with --pdeathsig not found: anvil will not die with this process if it is killed"
            );
            Command::new(&anvil)
        }
    };
    command
        .args(anvil_args(options))
        .env("FOUNDRY_DISABLE_NIGHTLY_WARNING", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| EthError::AnvilStart(format!("cannot run {}: {e}", anvil.display())))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| EthError::AnvilStart("no stdout".into()))?;

    // Read the banner on a helper thread, so that a silent anvil cannot block past the
    // deadline. The helper stops reading at "Listening on" (dropping the pipe, as alloy does)
    // or at end of file, which killing anvil forces.
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let listening = line.trim_start().starts_with("Listening on");
            if tx.send(line).is_err() || listening {
                break;
            }
        }
    });
    let deadline = Instant::now() + ANVIL_STARTUP_TIMEOUT;
    let mut banner = Banner::default();
    let mut in_keys = false;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match banner.read_line(&line, &mut in_keys) {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(e),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Err(EthError::AnvilStart(format!(
                    "not listening after {ANVIL_STARTUP_TIMEOUT:?}"
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                break Err(EthError::AnvilStart(format!(
                    "{} exited before listening ({status})",
                    anvil.display()
                )));
            }
        }
    };
    if outcome.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = reader.join();
    outcome?;
    let addr = banner
        .addr
        .ok_or_else(|| EthError::AnvilStart("no listening address".into()))?;
    let addresses = banner.keys.iter().map(PrivateKeySigner::address).collect();
    debug!(%addr, pid = child.id(), dies_with_parent = setpriv.is_some(), "anvil listening");
    Ok(AnvilInstance {
        child,
        keys: banner.keys,
        addresses,
        addr,
        dies_with_parent: setpriv.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANNER: &str = "
    1.7.1 (4072e48705 2026-05-08T07:50:55.527285345Z)

Available Accounts
==================

(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (10000.000000000000000000 ETH)
(1) 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 (10000.000000000000000000 ETH)

Private Keys
==================

(0) 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
(1) 0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d

Wallet
==================
Mnemonic:          test test test test test test test test test test test junk

Chain ID
==================

31337

Listening on 127.0.0.1:40065
";

    #[test]
    fn the_banner_gives_keys_and_the_listening_address() {
        let mut banner = Banner::default();
        let mut in_keys = false;
        let mut listening = false;
        for line in BANNER.lines() {
            assert!(!listening, "lines after Listening on");
            listening = banner.read_line(line, &mut in_keys).expect("parses");
        }
        assert!(listening);
        assert_eq!(banner.addr, Some("127.0.0.1:40065".parse().expect("addr")));
        let addresses: Vec<String> = banner
            .keys
            .iter()
            .map(|k| k.address().to_string())
            .collect();
        assert_eq!(
            addresses,
            [
                "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            ]
        );
    }

    #[test]
    fn a_garbled_banner_is_an_anvil_start_error() {
        let mut in_keys = true;
        assert!(matches!(
            Banner::default().read_line("(0) 0xnothex", &mut in_keys),
            Err(EthError::AnvilStart(_))
        ));
        assert!(matches!(
            Banner::default().read_line("Listening on somewhere", &mut false),
            Err(EthError::AnvilStart(_))
        ));
    }

    #[test]
    fn the_command_line_asks_for_a_free_local_port() {
        let args = anvil_args(&ChainOptions {
            block_time: Some(Duration::from_millis(500)),
            accounts: Some(4),
        });
        let args: Vec<&str> = args.iter().map(|a| a.to_str().expect("utf-8")).collect();
        assert_eq!(
            args,
            [
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--code-size-limit",
                "65536",
                "--block-time",
                "0.5",
                "--accounts",
                "4"
            ]
        );
    }
}
