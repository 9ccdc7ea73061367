//! Composition root of the `livepeer` binary: parses the command line, sets up logging, wires
//! the node roles (orchestrator, transcoder, gateway) as named services under one
//! cancellation token, and runs the tools (`push`, `demo`, `bench`).

pub mod ai_cli;
pub mod ai_demo;
pub mod ai_runner;
pub mod availability;
pub mod bench;
pub mod chain;
pub mod cli;
pub mod cli_api;
pub mod cli_client;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod devnet;
pub mod go_flags;
pub mod live_demo;
mod logging;
pub mod network;
pub mod paid_demo;
pub mod push;
pub mod soak;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use livepeer_gateway::{GatewayConfig, GatewayService};
use livepeer_orchestrator::remote_transcoder::RemoteTranscoderConfig;
use livepeer_orchestrator::{LocalTranscoder, OrchestratorConfig, OrchestratorService};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cli::{
    BenchCommand, Cli, Command, MaxSessions, NodeArgs, TicketCommand, TicketInspectArgs,
};

/// How long shutdown waits for services to stop after Ctrl-C.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the binary with the process's arguments, `LP_` environment variables and `-config`
/// file (see [`config`]); the exit code says whether it worked.
pub fn main() -> ExitCode {
    let parsed =
        match config::parse_command_line(std::env::args_os(), &|key| std::env::var(key).ok()) {
            Ok(parsed) => parsed,
            Err(config::CommandLineError::Clap(err)) => err.exit(),
            Err(config::CommandLineError::Config(line)) => {
                eprintln!("error: {line}");
                return ExitCode::FAILURE;
            }
        };
    let cli = parsed.cli;
    if cli.command.is_none() {
        // As go-livepeer: -j, then -version, before anything starts.
        if cli.node.mist_json {
            print!("{}", go_flags::mist_json(&cli::command()));
            return ExitCode::SUCCESS;
        }
        if cli.node.version {
            print!("{}", go_flags::version_text());
            return ExitCode::SUCCESS;
        }
        if let Some(line) = parsed.refused {
            eprintln!("error: {line}");
            return ExitCode::FAILURE;
        }
    }
    logging::init(&cli.node);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line until it is done or interrupted.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    match cli.command {
        Some(Command::Push(args)) => push::run(args, cancel).await.map(|_| ()),
        Some(Command::Demo(args)) => demo::run(args, cancel).await,
        Some(Command::Bench(BenchCommand::Transcode(args))) => bench::transcode(args).await,
        Some(Command::Bench(BenchCommand::Gas)) => bench::gas().await,
        Some(Command::Bench(BenchCommand::Soak(args))) => soak::soak(args, cancel).await,
        Some(Command::Bench(BenchCommand::Paid(args))) => bench::paid(args, cancel).await,
        Some(Command::Bench(BenchCommand::Remote(args))) => bench::remote(args).await,
        Some(Command::Bench(BenchCommand::Ai(args))) => bench::ai(args).await,
        Some(Command::Bench(BenchCommand::Live(args))) => bench::live(args).await,
        Some(Command::Ticket(TicketCommand::Inspect(args))) => inspect_ticket(&args),
        Some(Command::Devnet(args)) => devnet::run(args, cancel).await,
        Some(Command::Cli(args)) => cli_client::run(args).await,
        Some(Command::AiRunner(args)) => ai_runner::run(args, cancel).await,
        Some(Command::Ai(args)) => ai_cli::run(args).await,
        None => run_node(cli.node, cancel).await,
    }
}

/// `livepeer ticket inspect`: prints the report of one ticket read from a file or stdin.
pub fn inspect_ticket(args: &TicketInspectArgs) -> anyhow::Result<()> {
    let json = if args.file == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file))?
    };
    let report = livepeer_pm::inspect_ticket_json(&json)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Cancels `cancel` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutting down");
    cancel.cancel();
}

/// The orchestrator configuration the flags describe.
pub fn orchestrator_config(args: &NodeArgs) -> anyhow::Result<OrchestratorConfig> {
    if args.object_store.is_some() {
        // go-livepeer orchestrators keep renditions in -objectStore when the gateway sends no
        // storage; ours keep them in memory.
        bail!("-objectStore is not supported yet on an orchestrator (it works on -gateway)");
    }
    let transcoder = if args.transcoder {
        Some(LocalTranscoder::new(
            livepeer_media::Ffmpeg::locate()?,
            args.x264_preset.clone(),
        ))
    } else {
        None
    };
    Ok(OrchestratorConfig {
        service_addr: args.service_addr.clone().unwrap_or_else(|| {
            format!("127.0.0.1:{}", livepeer_orchestrator::DEFAULT_SERVICE_PORT)
        }),
        http_addr: args.http_addr.clone(),
        max_sessions: args.max_sessions.count(),
        auto_max_sessions: args.max_sessions == MaxSessions::Auto,
        orch_secret: orch_secret(args)?,
        nodes: match args.nodes.as_deref() {
            Some(list) => parse_nodes(list)?,
            None => Vec::new(),
        },
        transcoder,
        data_dir: args.data_dir.clone(),
        auth_webhook: args
            .auth_webhook_url
            .as_deref()
            .map(livepeer_orchestrator::auth::GatewayAuthWebhook::new)
            .transpose()
            .map_err(|e| anyhow::anyhow!("Error setting auth webhook URL {e}"))?,
        live_payment_interval: args.live_payment_interval,
        ..Default::default()
    })
}

/// `-nodes` as go-livepeer parses it (`parseNodes`): comma-separated, blanks skipped,
/// `https://` added when missing, each a URL in its canonical form.
///
/// Errors: go's "No valid instance URLs parsed from -nodes" for an empty list, "Node URI must
/// start with https" for another scheme, or "Could not parse instance URI".
pub fn parse_nodes(list: &str) -> anyhow::Result<Vec<String>> {
    let mut nodes = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let with_scheme = if entry.contains("://") {
            entry.to_string()
        } else {
            format!("https://{entry}")
        };
        let url = url::Url::parse(&with_scheme)
            .map_err(|e| anyhow::anyhow!("Could not parse instance URI '{with_scheme}': {e}"))?;
        if url.scheme() != "https" {
            bail!("Node URI must start with https '{with_scheme}'");
        }
        // Go's `url.String()` adds no `/` to a URL that had no path.
        let mut canonical = url.to_string();
        if url.path() == "/" && !with_scheme.ends_with('/') {
            canonical.pop();
        }
        nodes.push(canonical);
    }
    if nodes.is_empty() {
        bail!("No valid instance URLs parsed from -nodes");
    }
    Ok(nodes)
}

/// `-orchSecret` as go-livepeer reads it (`common.ReadFromFile`): the trimmed contents of the
/// file it names, or the value itself when no such file exists; unset or empty is `None`.
///
/// Errors: the value names a directory, or a file that cannot be read.
pub fn orch_secret(args: &NodeArgs) -> anyhow::Result<Option<String>> {
    let Some(value) = args.orch_secret.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let path = std::path::Path::new(value);
    let secret = match std::fs::metadata(path) {
        Err(_) => value.to_string(),
        Ok(meta) if meta.is_dir() => bail!("-orchSecret: {value} is a directory"),
        Ok(_) => std::fs::read_to_string(path)
            .with_context(|| format!("-orchSecret: cannot read {value}"))?
            .trim()
            .to_string(),
    };
    Ok(Some(secret).filter(|s| !s.is_empty()))
}

/// go-livepeer's CLI port of a standalone AI worker (`AIWorkerCliPort`).
pub const AI_WORKER_CLI_PORT: u16 = 4935;
/// go-livepeer's CLI port of a remote signer (`RemoteSignerCliPort`).
pub const REMOTE_SIGNER_CLI_PORT: u16 = 3935;
/// go-livepeer's HTTP address of a remote signer (`OrchestratorRpcPort` on loopback).
pub const REMOTE_SIGNER_HTTP_ADDR: &str = "127.0.0.1:8935";

/// The orchestrator a standalone transcoder or AI worker registers with: (`-orchSecret`,
/// the first `-orchAddr` entry without `https://`).
///
/// Errors: go-livepeer's "Missing -orchSecret" / "Missing -orchAddr", a bad address.
pub fn orchestrator_target(args: &NodeArgs) -> anyhow::Result<(String, String)> {
    let Some(secret) = orch_secret(args)? else {
        bail!("Missing -orchSecret");
    };
    let orch_addr = args
        .orch_addr
        .as_deref()
        .and_then(|list| list.split(',').map(str::trim).find(|a| !a.is_empty()))
        .ok_or_else(|| anyhow::anyhow!("Missing -orchAddr"))?;
    // go-livepeer takes the host:port of the first -orchAddr entry and dials it over TLS.
    let orch_addr = orch_addr.strip_prefix("https://").unwrap_or(orch_addr);
    livepeer_orchestrator::remote_transcoder::orchestrator_uri(orch_addr)?;
    Ok((secret, orch_addr.trim_end_matches('/').to_string()))
}

/// The standalone transcoder the flags describe (`-transcoder` without `-orchestrator`).
///
/// Errors: go-livepeer's "Missing -orchSecret" / "Missing -orchAddr"; no ffmpeg.
pub fn remote_transcoder_config(args: &NodeArgs) -> anyhow::Result<RemoteTranscoderConfig> {
    let (secret, orch_addr) = orchestrator_target(args)?;
    let capacity = args.max_sessions.count();
    if capacity == 0 {
        bail!("-maxSessions must be 'auto' or greater than zero");
    }
    Ok(RemoteTranscoderConfig {
        orch_addr,
        secret,
        capacity,
        transcoder: LocalTranscoder::new(
            livepeer_media::Ffmpeg::locate()?,
            args.x264_preset.clone(),
        ),
        capabilities: livepeer_orchestrator::software_capabilities(),
        data_dir: args.data_dir.clone(),
        fetch_policy: Default::default(),
    })
}

/// The gateway configuration the flags describe.
pub fn gateway_config(args: &NodeArgs) -> anyhow::Result<GatewayConfig> {
    let orch_addrs =
        livepeer_gateway::discovery::parse_orch_addrs(args.orch_addr.as_deref().unwrap_or(""))?;
    let profiles =
        livepeer_primitives::profile::parse_transcoding_options(&args.transcoding_options)
            .context("-transcodingOptions")?;
    let ai_min_runner_versions = parse_ai_min_runner_versions(&args.ai_min_runner_version)?;
    Ok(GatewayConfig {
        ai_retry_timeout: args.ai_processing_retry_timeout,
        live_payment_interval: args.live_payment_interval,
        live_out_segment_timeout: match args.live_out_segment_timeout {
            Duration::ZERO => livepeer_gateway::live::DEFAULT_OUT_SEGMENT_TIMEOUT,
            timeout => timeout,
        },
        mediamtx_api_password: args.mediamtx_api_password.clone(),
        ai_min_runner_versions,
        http_addr: args
            .http_addr
            .clone()
            .unwrap_or_else(|| livepeer_gateway::DEFAULT_HTTP_ADDR.to_string()),
        rtmp_addr: Some(
            args.rtmp_addr
                .clone()
                .unwrap_or_else(|| livepeer_gateway::DEFAULT_RTMP_ADDR.to_string()),
        ),
        orch_addrs,
        profiles,
        max_attempts: args.max_attempts,
        orch_min_livepeer_version: args.orch_min_livepeer_version.clone(),
        discovery_timeout: args.discovery_timeout,
        extra_nodes: args.extra_nodes,
        max_sessions: args.max_sessions.count(),
        auth_webhook_url: args.auth_webhook_url.clone(),
        orch_webhook_url: args.orch_webhook_url.clone(),
        orch_blocklist: livepeer_gateway::discovery::parse_orch_blocklist(
            args.orch_blocklist.as_deref().unwrap_or(""),
        )?,
        local_verify: args.local_verify,
        object_store: store_flag(args.object_store.as_deref(), "object store")?,
        record_store: store_flag(args.record_store.as_deref(), "recordings object store")?,
        node_id: livepeer_gateway::storage::node_id(args.eth_acct_addr.as_deref()),
        ..Default::default()
    })
}

/// `-objectStore` / `-recordStore` parsed as go-tools `PrepareOSURL` + `ParseOSURL`; the error
/// is go-livepeer's start-up line ("Error creating object store driver: …"; the URL's
/// credentials never appear in it).
fn store_flag(
    url: Option<&str>,
    what: &str,
) -> anyhow::Result<Option<livepeer_objectstore::StoreUrl>> {
    url.map(|url| {
        livepeer_objectstore::StoreUrl::parse(url)
            .map_err(|e| anyhow::anyhow!("Error creating {what} driver: {e}"))
    })
    .transpose()
}

/// Connects to `-ethUrl` and finds the protocol contracts through the Controller (`-ethController`,
/// or the network's built-in one), as go-livepeer does at start-up.
///
/// Every request times out after [`livepeer_eth::devnet::DEFAULT_RPC_TIMEOUT`], so an endpoint
/// that accepts connections and never answers fails start-up instead of hanging it.
///
/// Errors, each one line: no `-ethUrl`, an unknown network without `-ethController`, an invalid
/// address, an unreachable endpoint, one that timed out, or no Controller at the address.
pub async fn connect_chain(
    args: &NodeArgs,
) -> anyhow::Result<livepeer_eth::deployment::ProtocolAddresses> {
    let (url, controller) = chain_endpoint(args)?;
    info!(controller = %controller, "connecting to the Ethereum node at {url}");
    // Reads only: any key will do for the provider.
    let provider =
        livepeer_eth::rpc::signing_provider(url, &livepeer_eth::devnet::LocalKey::random())?;
    let contracts = livepeer_eth::deployment::resolve(&provider, controller)
        .await
        .map_err(|e| match e {
            livepeer_eth::EthError::Rpc { reason, .. } => {
                anyhow::anyhow!("cannot reach the Ethereum node at {url}: {reason}")
            }
            other => other.into(),
        })?;
    info!(controller = %contracts.controller, bonding_manager = %contracts.bonding_manager, ticket_broker = %contracts.ticket_broker, "protocol contracts found");
    Ok(contracts)
}

/// The `-ethUrl` and Controller address (`-ethController`, or the network's built-in one) of an
/// on-chain network.
///
/// Errors, each one line: no `-ethUrl`, an unknown network without `-ethController`, an invalid
/// address.
pub fn chain_endpoint(args: &NodeArgs) -> anyhow::Result<(&str, alloy_primitives::Address)> {
    let Some(url) = args.eth_url.as_deref() else {
        bail!(
            "-network {} needs -ethUrl (an Ethereum JSON-RPC endpoint)",
            args.network
        );
    };
    let controller = match (args.eth_controller.as_deref(), args.network.as_str()) {
        (Some(address), _) => address
            .parse()
            .with_context(|| format!("-ethController {address:?} is not an address"))?,
        (None, "arbitrum-one-mainnet") => livepeer_eth::deployment::ARBITRUM_ONE_CONTROLLER,
        (None, other) => bail!("-network {other} has no built-in Controller; pass -ethController"),
    };
    Ok((url, controller))
}

/// go-livepeer's default data directory: `<home>/.lpData/<network>` (`StartLivepeer`), with
/// `home` from `$HOME`, else the user's home directory; `None` when there is neither.
pub fn default_data_dir(network: &str, home: Option<PathBuf>) -> Option<PathBuf> {
    let home = home
        .filter(|h| !h.as_os_str().is_empty())
        .or_else(std::env::home_dir)?;
    Some(home.join(".lpData").join(network))
}

/// Opens the node's account as `-ethAcctAddr`, `-ethKeystorePath` (default
/// `<dataDir>/`[`livepeer_eth::accounts::DEFAULT_KEYSTORE_DIR`]) and `-ethPassword` say, creating
/// one in an empty keystore (see [`livepeer_eth::accounts::open_account`]); `None`, with a
/// warning, when neither `-ethKeystorePath` nor `-dataDir` gives a keystore.
///
/// Errors, each one line: an invalid `-ethAcctAddr`, an unreadable `-ethPassword` file, and
/// every [`livepeer_eth::accounts::open_account`] error (wrong password, missing account,
/// several keys, unreadable key file, no password and no terminal).
pub async fn open_account(
    args: &NodeArgs,
) -> anyhow::Result<Option<livepeer_eth::accounts::Account>> {
    let keystore = match (&args.eth_keystore_path, &args.data_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(data_dir)) => data_dir.join(livepeer_eth::accounts::DEFAULT_KEYSTORE_DIR),
        (None, None) => {
            warn!(
                "no -dataDir or -ethKeystorePath, so no keystore: continuing without an account (read-only)"
            );
            return Ok(None);
        }
    };
    let address = args
        .eth_acct_addr
        .as_deref()
        .map(|a| {
            a.parse()
                .with_context(|| format!("-ethAcctAddr {a:?} is not an address"))
        })
        .transpose()?;
    let password = args
        .eth_password
        .as_deref()
        .map(livepeer_eth::accounts::password_from_flag)
        .transpose()?;
    let account = livepeer_eth::accounts::open_account(livepeer_eth::accounts::AccountConfig {
        address,
        keystore,
        password,
    })
    .await?;
    info!(address = %account.address(), key_file = %account.path.display(), "using account {}", account.address());
    Ok(Some(account))
}

/// `-monitor`'s metrics for this node (go-livepeer `InitCensus`): labelled with its role and
/// go's node ID, `-maxSessions` and (gateway) `-maxPricePerUnit` recorded at start; `None`
/// without `-monitor`.
pub fn node_metrics(args: &NodeArgs, gateway: bool) -> Option<livepeer_monitor::Metrics> {
    if !args.monitor {
        return None;
    }
    let node_type = if args.orchestrator {
        livepeer_monitor::NodeType::Orchestrator
    } else if gateway {
        livepeer_monitor::NodeType::Gateway
    } else {
        livepeer_monitor::NodeType::Default
    };
    let metrics = livepeer_monitor::Metrics::new(livepeer_monitor::MetricsConfig {
        node_type,
        node_id: livepeer_gateway::storage::node_id(args.eth_acct_addr.as_deref()),
        per_stream: args.metrics_per_stream,
        client_ip: args.metrics_client_ip,
        version: livepeer_primitives::LIVEPEER_VERSION.to_string(),
    });
    metrics.set_max_sessions(args.max_sessions.count() as u64);
    if gateway
        && let Ok(Some(max)) = livepeer_gateway::selection::max_price_from_flags(
            &args.max_price_per_unit,
            &args.pixels_per_unit,
        )
    {
        metrics.set_max_transcoding_price(max.num() as f64 / max.den() as f64);
    }
    Some(metrics)
}

/// Runs the roles the flags select until `cancel` fires.
pub async fn run_node(mut args: NodeArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    if args.remote_signer && (args.gateway || args.broadcaster || args.orchestrator) {
        bail!(
            "-remoteSigner is a role of its own: choose one of -remoteSigner, -gateway and -orchestrator"
        );
    }
    if args.remote_discovery && !args.remote_signer {
        bail!("-remoteDiscovery is a remote signer's: pass -remoteSigner too");
    }
    if args.remote_signer && args.network == "offchain" {
        bail!("Remote signer mode requires on-chain network");
    }
    // A remote signer is a gateway's account and payments behind the signer's routes only.
    let gateway = args.gateway || args.broadcaster || args.remote_signer;
    if args.broadcaster {
        warn!("-broadcaster is deprecated; use -gateway");
    }
    if gateway && args.orchestrator {
        bail!("choose one of -gateway and -orchestrator");
    }
    if args.max_sessions == MaxSessions::Auto {
        if !args.orchestrator {
            bail!("-maxSessions must be 'auto' or greater than zero");
        }
        if args.transcoder {
            bail!(
                "-maxSessions 'auto' cannot be used when both -orchestrator and -transcoder are specified"
            );
        }
    }
    let standalone_transcoder = args.transcoder && !args.orchestrator && !gateway;
    // As go-livepeer's starter: -transcoder wins over -aiWorker on a node with neither role.
    let standalone_ai_worker =
        args.ai_worker && !args.orchestrator && !gateway && !standalone_transcoder;
    let round_services_only =
        !gateway && !args.orchestrator && (args.reward == Some(true) || args.initialize_round);
    if round_services_only && args.network == "offchain" {
        bail!(
            "-reward and -initializeRound without a role run only the round services, which need an on-chain -network with -ethUrl"
        );
    }
    if !gateway
        && !args.orchestrator
        && !round_services_only
        && !standalone_transcoder
        && !standalone_ai_worker
    {
        bail!(
            "no role selected: use -gateway, or -orchestrator (add -transcoder to transcode locally); see --help"
        );
    }
    let cli_addr = match &args.cli_addr {
        Some(addr) => Some(cli_api::parse_cli_addr(addr)?),
        None if standalone_ai_worker => Some(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            AI_WORKER_CLI_PORT,
        ))),
        None if args.remote_signer => Some(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            REMOTE_SIGNER_CLI_PORT,
        ))),
        None => cli_api::default_cli_addr(args.orchestrator, gateway, args.transcoder),
    };
    if let Some(addr) = cli_addr {
        cli_api::check_public_bind(addr, args.allow_public_cli_addr)?;
    }
    // A standalone transcoder or AI worker works for its orchestrator and needs no chain.
    let on_chain_node =
        args.network != "offchain" && !standalone_transcoder && !standalone_ai_worker;
    if on_chain_node {
        // Settings first: nothing is read or created for a node that cannot start.
        chain_endpoint(&args)?;
    }
    let transcoder_config = if standalone_transcoder {
        Some(remote_transcoder_config(&args)?)
    } else {
        None
    };
    // Checked before the runners start: a worker that cannot register need not load models.
    let ai_worker_target = if standalone_ai_worker {
        Some(orchestrator_target(&args)?)
    } else {
        None
    };
    let data_dir = match args.data_dir.take() {
        Some(dir) => dir,
        None => default_data_dir(&args.network, std::env::var_os("HOME").map(PathBuf::from))
            .context(
                "no home directory for the default -dataDir ~/.lpData/<network>; pass -dataDir",
            )?,
    };
    if !data_dir.exists() {
        info!(data_dir = %data_dir.display(), "creating the data directory");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create -dataDir {}", data_dir.display()))?;
    }
    args.data_dir = Some(data_dir);
    let metrics = node_metrics(&args, gateway);
    let mut services = JoinSet::new();
    let mut on_chain: Option<chain::OnChain> = None;
    if on_chain_node {
        // The account first: a wrong password or a missing key fails before any connection.
        let account = open_account(&args).await?;
        // Ctrl-C or SIGTERM while the chain is still being reached stops at once: the node has
        // not started, so this is an error (exit status 1), not a clean shutdown.
        let interrupted = || {
            anyhow::anyhow!(
                "interrupted while connecting to the Ethereum node at {}; the node did not start",
                args.eth_url.as_deref().unwrap_or_default()
            )
        };
        let contracts = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(interrupted()),
            found = connect_chain(&args) => found?,
        };
        let Some(account) = account else {
            bail!(
                "-network {} needs an account: give -dataDir (keystore in <dataDir>/keystore) or -ethKeystorePath",
                args.network
            );
        };
        if account.created {
            warn!(address = %account.address(), "a new account was created: fund 0x{:x} with ETH before it can pay or be paid", account.address());
        }
        let url = args.eth_url.clone().unwrap_or_default();
        let connected = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(interrupted()),
            found = chain::connect(&args, &url, contracts.controller, &account, &mut services, &cancel) => found?,
        };
        on_chain = Some(connected);
    }
    if round_services_only && let Some(chain) = &on_chain {
        info!(
            reward = args.reward == Some(true),
            initialize_round = args.initialize_round,
            "no role: running the round services only"
        );
        chain::spawn_round_services(
            &args,
            chain,
            false,
            metrics.as_ref(),
            &mut services,
            &cancel,
        );
    }
    let mut view = cli_api::NodeView {
        network: args.network.clone(),
        address: on_chain.as_ref().map(|c| c.node.address()),
        orchestrator: None,
        gateway: None,
        operator: on_chain
            .as_ref()
            .map(|c| livepeer_eth::services::Operator::new(c.node.clone())),
        signer: on_chain.as_ref().map(|c| c.signer.clone()),
        local_transcoding: args.orchestrator && args.transcoder,
        metrics: metrics.clone(),
        chain: on_chain.as_ref().map(|c| c.node.clone()),
    };
    let ai_worker = if (args.orchestrator && args.ai_worker) || standalone_ai_worker {
        Some(Arc::new(start_ai_worker(&args).await?))
    } else {
        None
    };
    if args.orchestrator {
        if !args.transcoder && !args.ai_worker && orch_secret(&args)?.is_none() {
            bail!(
                "Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for orchestrator+transcoder mode"
            );
        }
        if args
            .http_addr
            .as_deref()
            .is_some_and(|a| a.starts_with("http://"))
        {
            info!("serving cleartext h2c (-httpAddr has http://)");
        }
        let mut config = orchestrator_config(&args)?;
        config.metrics = metrics.clone();
        if let Some(worker) = &ai_worker {
            config.ai = Some(ai_config(&args, worker.clone(), on_chain.is_some())?);
        } else if on_chain.is_some() && args.ai_models.as_deref().is_some_and(|m| !m.is_empty()) {
            // Remote AI workers serve the models; this node prices them.
            config.remote_ai_prices = ai_prices(&args)?;
        }
        if let Some(chain) = &on_chain {
            config.payments = Some(
                chain::orchestrator_payments(
                    &args,
                    chain,
                    metrics.as_ref(),
                    &mut services,
                    &cancel,
                )
                .await?,
            );
        }
        let service = OrchestratorService::bind(config).await?;
        info!(
            uri = service.service_uri(),
            transcoder = args.transcoder,
            "orchestrator ready"
        );
        let service_uri = service.service_uri().to_string();
        view.orchestrator = Some((service_uri.clone(), service.handle()));
        let token = cancel.clone();
        services.spawn(async move {
            (
                "orchestrator",
                service.run(token).await.map_err(anyhow::Error::from),
            )
        });
        if args.startup_availability_check {
            let signer = on_chain.as_ref().map(|c| c.signer.clone());
            let checked = availability::check_orchestrator_availability(
                &livepeer_gateway::client::OrchestratorClient::new(),
                &service_uri,
                signer.as_deref(),
            )
            .await;
            if let Err(err) = checked {
                error!("{err}");
                cancel.cancel();
                let drain = async { while services.join_next().await.is_some() {} };
                let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, drain).await;
                return Err(err);
            }
            info!(uri = %service_uri, "orchestrator answers at its service address");
        }
    }
    if gateway {
        let mut config = gateway_config(&args)?;
        config.metrics = metrics.clone();
        if args.remote_signer {
            config.remote_signer = true;
            config.remote_discovery = args.remote_discovery;
            config.remote_discovery_refresh = args.live_ai_cap_report_interval;
            config.rtmp_addr = None;
            if args.http_addr.is_none() {
                config.http_addr = REMOTE_SIGNER_HTTP_ADDR.to_string();
            }
            let loopback = config
                .http_addr
                .trim_start_matches("http://")
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback());
            if !loopback && !args.remote_signer_allow_no_auth {
                bail!(
                    "Refusing to start: remote signer on public -httpAddr {} signs payments from this node's deposit for any caller; pass -remoteSignerAllowNoAuth to override",
                    config.http_addr
                );
            }
            warn!(
                "the remote signer has no auth: /generate-live-payment signs payments from this node's deposit for anyone who reaches it"
            );
        }
        if let Some(chain) = &on_chain {
            config.payments = Some(chain::gateway_payments(&args, chain).await?);
        } else if config.orch_addrs.is_empty() && config.orch_webhook_url.is_none() {
            bail!(
                "-gateway needs -orchAddr (a comma-separated list of orchestrators) or -orchWebhookUrl in -network offchain"
            );
        }
        let service = match GatewayService::bind(config.clone()).await {
            // go-livepeer binds 127.0.0.1:1935 on every gateway; with the default taken (another
            // gateway on this machine), run without RTMP rather than not at all.
            Err(livepeer_gateway::GatewayError::Bind { addr, source })
                if args.rtmp_addr.is_none()
                    && addr == livepeer_gateway::DEFAULT_RTMP_ADDR
                    && source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                warn!(%addr, "RTMP ingest off: the default -rtmpAddr is taken; set -rtmpAddr to take RTMP");
                config.rtmp_addr = None;
                GatewayService::bind(config).await?
            }
            bound => bound?,
        };
        if let Some(addr) = service.rtmp_addr() {
            info!("Video Ingest Endpoint - rtmp://{addr}");
        }
        if let Some(flag) = args
            .max_price_per_capability
            .as_deref()
            .filter(|f| !f.is_empty())
        {
            let handle = service.handle();
            for (pipeline, model, price) in parse_max_price_per_capability(flag)? {
                handle.set_capability_max_price(&pipeline, &model, price);
            }
        }
        info!(addr = %service.local_addr(), "gateway ready");
        view.gateway = Some(service.handle());
        let token = cancel.clone();
        services.spawn(async move {
            (
                "gateway",
                service.run(token).await.map_err(anyhow::Error::from),
            )
        });
    }
    if let Some(config) = transcoder_config {
        info!(
            orchestrator = %config.orch_addr,
            capacity = config.capacity,
            "transcoder ready"
        );
        let token = cancel.clone();
        services.spawn(async move {
            (
                "transcoder",
                livepeer_orchestrator::remote_transcoder::run(config, token)
                    .await
                    .map_err(anyhow::Error::from),
            )
        });
    }
    if let (Some((secret, orch_addr)), Some(worker)) = (ai_worker_target, &ai_worker) {
        info!(orchestrator = %orch_addr, "AI worker ready");
        let config = livepeer_orchestrator::remote_ai_worker::RemoteAiWorkerConfig {
            orch_addr,
            secret,
            worker: worker.clone(),
        };
        let token = cancel.clone();
        services.spawn(async move {
            (
                "ai worker",
                livepeer_orchestrator::remote_ai_worker::run(config, token)
                    .await
                    .map_err(anyhow::Error::from),
            )
        });
    }
    if let Some(addr) = cli_addr {
        match cli_api::bind(addr, view, cancel.clone()).await {
            Ok((local, serve)) => {
                info!(addr = %local, "CLI API listening");
                services.spawn(async move {
                    serve.await;
                    ("cli api", Ok(()))
                });
            }
            // As go-livepeer, which logs the listen error and runs on without its CLI API.
            Err(err) => error!("{err:#}; running without the CLI API"),
        }
    }
    let mut failed = None;
    while let Some(done) = services.join_next().await {
        match done {
            Ok((name, Ok(()))) => info!(service = name, "stopped"),
            Ok((name, Err(err))) => {
                error!(service = name, %err, "service failed");
                failed.get_or_insert(err);
                cancel.cancel();
            }
            Err(err) => {
                failed.get_or_insert(err.into());
                cancel.cancel();
            }
        }
        if cancel.is_cancelled() {
            let drain = async { while services.join_next().await.is_some() {} };
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, drain).await.is_err() {
                warn!("services did not stop within {SHUTDOWN_TIMEOUT:?}");
            }
            break;
        }
    }
    if let Some(worker) = ai_worker {
        worker.shutdown().await;
    }
    failed.map_or(Ok(()), Err)
}

/// `-aiMinRunnerVersion`: `[{"model_id","pipeline","minVersion"}]`.
pub fn parse_ai_min_runner_versions(json: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        model_id: String,
        pipeline: String,
        #[serde(rename = "minVersion")]
        min_version: String,
    }
    let entries: Vec<Entry> =
        serde_json::from_str(if json.trim().is_empty() { "[]" } else { json }).context(
            "-aiMinRunnerVersion must be a JSON list of {model_id, pipeline, minVersion}",
        )?;
    Ok(entries
        .into_iter()
        .map(|e| (e.pipeline, e.model_id, e.min_version))
        .collect())
}

/// `-maxPricePerCapability` (JSON, or a file holding it, go-livepeer
/// `cmd/livepeer/starter` `capabilities_prices`): (pipeline, model or `default`, max price per
/// unit). Only wei prices are taken.
pub fn parse_max_price_per_capability(
    flag: &str,
) -> anyhow::Result<Vec<(String, String, livepeer_pm::PricePerPixel)>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        pipeline: String,
        #[serde(default)]
        model_id: String,
        price_per_unit: serde_json::Value,
        #[serde(default)]
        pixels_per_unit: Option<serde_json::Value>,
        #[serde(default)]
        currency: String,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        capabilities_prices: Vec<Entry>,
    }
    let text = if std::path::Path::new(flag).is_file() {
        std::fs::read_to_string(flag).with_context(|| format!("cannot read {flag}"))?
    } else {
        flag.to_string()
    };
    let doc: Doc =
        serde_json::from_str(&text).context("-maxPricePerCapability is not valid JSON")?;
    let int = |v: &serde_json::Value, what: &str| -> anyhow::Result<u64> {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .with_context(|| {
                format!("-maxPricePerCapability {what} {v} is not a non-negative integer")
            })
    };
    doc.capabilities_prices
        .into_iter()
        .map(|e| {
            if !e.currency.is_empty() && !e.currency.eq_ignore_ascii_case("wei") {
                bail!(
                    "-maxPricePerCapability currency {:?} is not supported (only wei)",
                    e.currency
                );
            }
            e.pipeline
                .parse::<livepeer_ai::Pipeline>()
                .map_err(|err| anyhow::anyhow!("-maxPricePerCapability: {err}"))?;
            let pixels = match &e.pixels_per_unit {
                Some(v) => int(v, "pixels_per_unit")?,
                None => 1,
            };
            let price =
                livepeer_pm::PricePerPixel::new(int(&e.price_per_unit, "price_per_unit")?, pixels)
                    .map_err(|err| anyhow::anyhow!("-maxPricePerCapability: {err}"))?;
            let model = if e.model_id.is_empty() {
                "default".to_string()
            } else {
                e.model_id
            };
            Ok((e.pipeline, model, price))
        })
        .collect()
}

/// `-aiModels` read, and the AI worker's runners started (built-in models loaded, external
/// runners healthy).
async fn start_ai_worker(args: &NodeArgs) -> anyhow::Result<livepeer_ai::worker::AiWorker> {
    let Some(models_flag) = args.ai_models.as_deref().filter(|m| !m.is_empty()) else {
        bail!("-aiWorker needs -aiModels (a JSON file or pipeline:model_id:warm entries)");
    };
    let configs = livepeer_ai::config::parse_ai_models(models_flag)?;
    let models_dir = match args
        .ai_models_dir
        .as_ref()
        .filter(|d| !d.as_os_str().is_empty())
    {
        Some(dir) => livepeer_ai::ModelsDir::new(dir),
        None => livepeer_ai::ModelsDir::discover().unwrap_or_else(|| {
            livepeer_ai::ModelsDir::new(args.data_dir.clone().unwrap_or_default().join("models"))
        }),
    };
    info!(models = configs.len(), dir = %models_dir.path().display(), "starting the AI runners");
    livepeer_ai::worker::AiWorker::start(&configs, &models_dir)
        .await
        .context("cannot start the AI runners")
}

/// The orchestrator's AI configuration: the runners, and on chain the prices of -aiModels
/// (an entry's own, else -pricePerUnit/-pixelsPerUnit). Off-chain nothing is priced, as in
/// go-livepeer.
fn ai_config(
    args: &NodeArgs,
    worker: Arc<livepeer_ai::worker::AiWorker>,
    on_chain: bool,
) -> anyhow::Result<livepeer_orchestrator::ai::AiConfig> {
    let prices = if on_chain {
        ai_prices(args)?
    } else {
        Vec::new()
    };
    Ok(livepeer_orchestrator::ai::AiConfig { worker, prices })
}

/// On chain, the prices of the -aiModels entries: an entry's own, else
/// -pricePerUnit/-pixelsPerUnit.
fn ai_prices(args: &NodeArgs) -> anyhow::Result<Vec<livepeer_orchestrator::ai::AiPrice>> {
    let configs =
        livepeer_ai::config::parse_ai_models(args.ai_models.as_deref().unwrap_or_default())?;
    let base = chain::pricing(args)?.base;
    livepeer_orchestrator::ai::AiPrice::from_models(&configs, Some(base))
        .map_err(|e| anyhow::anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_parse_as_go_livepeers_parse_nodes() {
        assert_eq!(
            parse_nodes(" a.example:8935, ,https://b.example:9/x ").expect("nodes"),
            ["https://a.example:8935", "https://b.example:9/x"]
        );
        let err = |list| parse_nodes(list).expect_err(list).to_string();
        assert!(err("http://c.example:1").contains("Node URI must start with https"));
        assert!(err(" , ").contains("No valid instance URLs parsed from -nodes"));
        assert!(err("https://[::1").contains("Could not parse instance URI"));
    }

    #[test]
    fn the_default_data_dir_is_go_livepeers() {
        assert_eq!(
            default_data_dir("offchain", Some(PathBuf::from("/home/op"))),
            Some(PathBuf::from("/home/op/.lpData/offchain"))
        );
        assert_eq!(
            default_data_dir("arbitrum-one-mainnet", Some(PathBuf::from("/home/orch"))),
            Some(PathBuf::from("/home/orch/.lpData/arbitrum-one-mainnet"))
        );
    }

    #[test]
    fn store_flags_configure_the_gateway_as_go_livepeer() {
        use clap::Parser as _;
        let args = |extra: &[&str]| {
            let mut cli = crate::cli::Cli::try_parse_from(crate::cli::normalize_args(
                ["livepeer", "-gateway", "-orchAddr", "127.0.0.1:8935"]
                    .into_iter()
                    .chain(extra.iter().copied()),
            ))
            .expect("parses");
            cli.node.forget_empty();
            cli.node
        };
        let config = gateway_config(&args(&[
            "-objectStore",
            "s3+http://key:se%2Fcret@127.0.0.1:9000/streams",
            "-recordStore",
            "s3://key:secret@eu-west-1/records",
            "-ethAcctAddr",
            "0x00000000000000000000000000000000000000aa",
        ]))
        .expect("a gateway");
        let object = config.object_store.expect("the object store");
        assert_eq!(object.host(), "http://127.0.0.1:9000/streams");
        let record = config.record_store.expect("the record store");
        assert_eq!(record.host(), "https://records.s3.amazonaws.com");
        assert!(
            config
                .node_id
                .starts_with("0x00000000000000000000000000000000000000aa-"),
            "{}",
            config.node_id
        );

        let none =
            gateway_config(&args(&["-objectStore", "", "-recordStore="])).expect("a gateway");
        assert!(none.object_store.is_none() && none.record_store.is_none());
        assert_eq!(none.node_id, livepeer_gateway::storage::node_id(None));

        let err = gateway_config(&args(&["-objectStore", "s3://key:hunter2@region/"]))
            .expect_err("no bucket");
        assert_eq!(
            err.to_string(),
            "Error creating object store driver: invalid object store URL: S3 bucket not found in URL path"
        );
        assert!(!err.to_string().contains("hunter2"));
        let err = gateway_config(&args(&["-recordStore", "ftp://x/y"])).expect_err("no driver");
        assert!(
            err.to_string()
                .starts_with("Error creating recordings object store driver: "),
            "{err}"
        );
        let orch = orchestrator_config(&args(&["-objectStore", "s3://k:s@r/b"]))
            .expect_err("not on an orchestrator yet");
        assert!(
            orch.to_string()
                .contains("-objectStore is not supported yet"),
            "{orch}"
        );
    }
}
