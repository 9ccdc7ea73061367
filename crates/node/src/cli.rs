//! The command line: go-livepeer's flag names for the node, plus our subcommands.
//!
//! go-livepeer parses flags with Go's `flag` package, so operators write `-orchAddr x` with one
//! dash. [`normalize_args`] rewrites single-dash long flags to the double-dash form clap
//! expects, so an existing go-livepeer command line works unchanged.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// One binary for every Livepeer node role.
#[derive(Debug, Parser)]
#[command(
    name = "livepeer",
    about = "One binary for every Livepeer node role: gateway, orchestrator, transcoder",
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// The node's flags (go-livepeer names; one dash or two).
    #[command(flatten)]
    pub node: NodeArgs,
    /// A tool instead of a node.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Cut a video file into 2 s segments, push them to a gateway and save the renditions.
    Push(PushArgs),
    /// Run an orchestrator and a gateway in this process and push real video through them.
    Demo(DemoArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Probabilistic-micropayment tickets.
    #[command(subcommand)]
    Ticket(TicketCommand),
    /// A whole protocol on this machine: anvil, the contracts, active orchestrators.
    Devnet(DevnetArgs),
    /// Talk to a node's CLI API as go-livepeer's `livepeer_cli` does: status, staking,
    /// orchestrator activation, deposits (a numbered menu with no action on a terminal).
    Cli(crate::cli_client::CliArgs),
    /// Serve one built-in AI pipeline behind ai-runner's HTTP API (an external runner for
    /// an orchestrator's `aiModels.json` `url`).
    AiRunner(crate::ai_runner::AiRunnerArgs),
    /// Send one AI request to a gateway (a prompt, --image, --audio or --text) and print or
    /// save the answer.
    Ai(crate::ai_cli::AiArgs),
}

/// `livepeer devnet`
#[derive(Debug, Clone, Args)]
pub struct DevnetArgs {
    /// Orchestrators to register, bond and activate.
    #[arg(long, default_value_t = 2)]
    pub orchestrators: usize,
    /// Seconds between blocks (default: a block per transaction).
    #[arg(long = "block-time", value_parser = parse_duration)]
    pub block_time: Option<Duration>,
    /// Print the devnet as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Stop the chain and return once it is set up instead of running until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Only the chain and the contracts: start no node processes.
    #[arg(long = "chain-only")]
    pub chain_only: bool,
    /// Where the nodes' data directories, keystores and logs go (default: a temporary
    /// directory, removed at exit).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Blocks per round.
    #[arg(long = "round-length", default_value_t = 50)]
    pub round_length: u64,
    /// The gateway's ladder.
    #[arg(long = "transcodingOptions", default_value = livepeer_primitives::profile::DEFAULT_TRANSCODING_OPTIONS)]
    pub transcoding_options: String,
    /// x264 preset of the orchestrators.
    #[arg(long = "x264Preset", default_value = livepeer_media::DEFAULT_X264_PRESET)]
    pub x264_preset: String,
    /// The gateway's `-maxPricePerUnit`, wei per pixel (0: any price).
    #[arg(long = "maxPricePerUnit", default_value_t = 0)]
    pub max_price_per_unit: u64,
    /// The gateway's TicketBroker deposit, wei (default 100 ETH).
    #[arg(long = "gateway-deposit", default_value = "100000000000000000000")]
    pub gateway_deposit: alloy_primitives::U256,
    /// The gateway's TicketBroker reserve, wei (default 100 ETH).
    #[arg(long = "gateway-reserve", default_value = "100000000000000000000")]
    pub gateway_reserve: alloy_primitives::U256,
    /// Start every node with -monitor (Prometheus metrics at `<cliUrl>/metrics`).
    #[arg(long)]
    pub monitor: bool,
    /// Start every orchestrator with -aiWorker and these -aiModels (a JSON file, whose
    /// entries carry the AI prices, or the inline `pipeline:model_id:warm` form).
    #[arg(long = "aiModels")]
    pub ai_models: Option<String>,
    /// Start every orchestrator with this -orchSecret, for remote transcoders and AI workers
    /// (`livepeer -aiWorker -orchAddr <serviceUri> -orchSecret <this> …`). With --aiModels the
    /// orchestrators then only price those models (no -aiWorker): the workers serve them.
    #[arg(long = "orchSecret")]
    pub orch_secret: Option<String>,
}

/// `livepeer ticket …`
#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// Hash a ticket, recover its signer and, given recipientRand, check it and whether it wins.
    Inspect(TicketInspectArgs),
}

/// `livepeer ticket inspect`
#[derive(Debug, Clone, Args)]
pub struct TicketInspectArgs {
    /// A JSON file with one ticket in the shape of the test vectors (hex strings), or `-` for
    /// standard input.
    #[arg(default_value = "-")]
    pub file: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `livepeer bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Bare ffmpeg ladder against the full gateway → orchestrator → ffmpeg → download path.
    Transcode(BenchTranscodeArgs),
    /// Gas of redeemWinningTicket, reward, bond and fundDepositAndReserve on a fresh devnet.
    Gas,
    /// Concurrent real-time pushes for minutes through two orchestrators, one of them
    /// SIGKILLed and restarted during the run: failed segments and memory over time.
    Soak(BenchSoakArgs),
    /// The gateway → orchestrator path paid with tickets on a devnet against the same path
    /// off-chain: wall time per segment of each, paid/off-chain speed, tickets and winners.
    Paid(BenchPaidArgs),
    /// Segments per second one orchestrator sustains with 1, 2 and 4 remote transcoders
    /// against the same work in-process, and the added time per segment of the remote hop.
    Remote(BenchRemoteArgs),
    /// LLM time to first token and tokens per second, and speech-to-text real-time factor,
    /// through gateway → orchestrator → runner against the runner called directly.
    Ai(BenchAiArgs),
    /// Glass-to-glass latency of live transcoding and of live-video-to-video through `noop`,
    /// and how many concurrent 720p30 `noop` sessions one orchestrator sustains.
    Live(BenchLiveArgs),
}

/// `livepeer bench live`
#[derive(Debug, Clone, Args)]
pub struct BenchLiveArgs {
    /// Seconds of 720p30 video each concurrent session broadcasts.
    #[arg(long, default_value_t = 20)]
    pub seconds: u32,
    /// The most concurrent sessions tried.
    #[arg(long = "max-sessions", default_value_t = 8)]
    pub max_sessions: usize,
}

/// `livepeer bench ai`
#[derive(Debug, Clone, Args)]
pub struct BenchAiArgs {
    /// Measured runs per path (after one warm-up run each), alternated.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Tokens the LLM generates per request.
    #[arg(long = "max-tokens", default_value_t = 64)]
    pub max_tokens: u32,
}

/// `livepeer bench remote`
#[derive(Debug, Clone, Args)]
pub struct BenchRemoteArgs {
    /// Transcoder counts to measure (each also sets the number of concurrent streams).
    #[arg(long, default_value = "1,2,4")]
    pub transcoders: String,
    /// Measured segments per stream (after one warm-up segment).
    #[arg(long, default_value_t = 4)]
    pub segments: usize,
    /// The ladder.
    #[arg(long, default_value = "P360p30fps16x9,P240p30fps16x9")]
    pub profiles: String,
    /// x264 preset for both paths.
    #[arg(long, default_value = "veryfast")]
    pub preset: String,
}

/// Parses a boolean as Go's `strconv.ParseBool` does (the go-livepeer flag values).
pub fn parse_bool_flag(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (use true or false)")),
    }
}

/// Node roles and their settings, with go-livepeer's flag names and defaults
/// (`cmd/livepeer/starter/flags.go`).
#[derive(Debug, Clone, Args, PartialEq)]
pub struct NodeArgs {
    // ---- Roles ------------------------------------------------------------------------
    /// Run as a gateway (takes video in, pays orchestrators, publishes HLS).
    #[arg(long = "gateway", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub gateway: bool,
    /// Run as a remote signer: hold the gateway account's key and sign `GetOrchestrator`
    /// requests and live payments for clients without one (on chain only; `-httpAddr`
    /// default 127.0.0.1:8935).
    #[arg(long = "remoteSigner", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub remote_signer: bool,
    /// Remote signer: serve a non-loopback `-httpAddr` without authentication (anyone who
    /// reaches it is paid for from this account's deposit).
    #[arg(long = "remoteSignerAllowNoAuth", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub remote_signer_allow_no_auth: bool,
    /// Remote signer: also serve `GET /discover-orchestrators`, the orchestrators this node
    /// discovers (-orchWebhookUrl, -orchAddr or the on-chain pool) with their priced
    /// `pipeline/model` capabilities.
    #[arg(long = "remoteDiscovery", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub remote_discovery: bool,
    /// Remote signer: how long a non-empty `/discover-orchestrators` snapshot is kept, e.g.
    /// 25m.
    #[arg(long = "liveAICapReportInterval", help_heading = "Roles", default_value = "25m", value_parser = parse_duration)]
    pub live_ai_cap_report_interval: Duration,
    /// Deprecated name of -gateway.
    #[arg(long = "broadcaster", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag, hide = true)]
    pub broadcaster: bool,
    /// Run as an orchestrator (serves gRPC and HTTP on the service address).
    #[arg(long = "orchestrator", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub orchestrator: bool,
    /// Serve AI pipelines (with -orchestrator: the models of -aiModels on runners this node
    /// starts or reaches).
    #[arg(long = "aiWorker", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub ai_worker: bool,
    /// The AI models served: a JSON file (an array of `{pipeline, model_id, warm, url, token,
    /// capacity, price_per_unit, pixels_per_unit, currency, gateway}`) or the inline form
    /// `pipeline:model_id:warm[,…]`. Entries without `url` run on the built-in runners.
    #[arg(long = "aiModels", help_heading = "Roles")]
    pub ai_models: Option<String>,
    /// Where the built-in runners' model packages are (default: `$LIVEPEER_AI_MODELS`, else
    /// the repository's `.setup/models` when run from a checkout, else `<dataDir>/models`).
    #[arg(long = "aiModelsDir", help_heading = "Roles", value_parser = parse_path)]
    pub ai_models_dir: Option<PathBuf>,
    /// Live video-to-video: how often a session is paid for (gateway) and debited
    /// (orchestrator), e.g. 5s.
    #[arg(long = "livePaymentInterval", help_heading = "Roles", default_value = "5s", value_parser = parse_duration)]
    pub live_payment_interval: Duration,
    /// Gateway: how long a live video-to-video session may go without output while its
    /// input flows before another orchestrator takes it (0: 30s).
    #[arg(long = "liveOutSegmentTimeout", help_heading = "Roles", default_value = "0s", value_parser = parse_duration)]
    pub live_out_segment_timeout: Duration,
    /// Gateway: the password of the MediaMTX control API (user `admin`), used to disconnect
    /// a broadcaster whose live video-to-video stream failed.
    #[arg(
        long = "mediaMTXApiPassword",
        help_heading = "Roles",
        default_value = ""
    )]
    pub mediamtx_api_password: String,
    /// Gateway: after this long no new orchestrator is picked for an AI request.
    #[arg(long = "aiProcessingRetryTimeout", help_heading = "Roles", default_value = "2s", value_parser = parse_duration)]
    pub ai_processing_retry_timeout: Duration,
    /// Gateway: minimum runner versions, JSON `[{"model_id","pipeline","minVersion"}]`.
    #[arg(
        long = "aiMinRunnerVersion",
        help_heading = "Roles",
        default_value = "[]"
    )]
    pub ai_min_runner_version: String,
    /// Gateway: max prices per AI pipeline and model, JSON or a file holding it:
    /// `{"capabilities_prices":[{"pipeline","model_id" ("default": every model),
    /// "price_per_unit","pixels_per_unit"}]}` (wei).
    #[arg(long = "maxPricePerCapability", help_heading = "Payments")]
    pub max_price_per_capability: Option<String>,
    /// Transcode; with -orchestrator, transcode locally in the same process.
    #[arg(long = "transcoder", help_heading = "Roles", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub transcoder: bool,

    // ---- Network ----------------------------------------------------------------------
    /// Network: `offchain` (no chain, no payment), or an on-chain network (e.g.
    /// `arbitrum-one-mainnet`, or any name with -ethController for a dev chain).
    #[arg(long = "network", help_heading = "Network", default_value = "offchain")]
    pub network: String,
    /// Ethereum JSON-RPC endpoint (on-chain networks).
    #[arg(long = "ethUrl", help_heading = "Network")]
    pub eth_url: Option<String>,
    /// Controller address (default: the network's built-in one).
    #[arg(long = "ethController", help_heading = "Network")]
    pub eth_controller: Option<String>,
    /// The Ethereum account to use (default: the keystore's only key; a new account is created
    /// in an empty keystore).
    #[arg(long = "ethAcctAddr", help_heading = "Network")]
    pub eth_acct_addr: Option<String>,
    /// Keystore directory or one key file (default `<dataDir>/keystore`).
    #[arg(long = "ethKeystorePath", help_heading = "Network", value_parser = parse_path)]
    pub eth_keystore_path: Option<PathBuf>,
    /// Password of the account key, or a file whose first line is it (default: asked on the
    /// terminal).
    #[arg(long = "ethPassword", help_heading = "Network")]
    pub eth_password: Option<String>,
    /// Orchestrator: the public address gateways reach (`host:port`, https implied).
    #[arg(long = "serviceAddr", help_heading = "Network")]
    pub service_addr: Option<String>,
    /// Orchestrator: at start-up, call Ping on the service address and stop unless the answer
    /// is this node's own (go-livepeer's check; false skips it).
    #[arg(long = "startupAvailabilityCheck", help_heading = "Network", num_args = 0..=1, default_missing_value = "true", default_value = "true", value_parser = parse_bool_flag)]
    pub startup_availability_check: bool,
    /// Address to serve HTTP on. Gateway default 127.0.0.1:9935; orchestrator default the
    /// service address. An `http://` prefix makes an orchestrator serve cleartext h2c.
    #[arg(long = "httpAddr", help_heading = "Network")]
    pub http_addr: Option<String>,
    /// Gateway: address to take RTMP broadcasts on (`rtmp://<addr>/<stream>`). Default
    /// 127.0.0.1:1935, as go-livepeer; when that default is taken, the gateway runs without
    /// RTMP (with a warning).
    #[arg(long = "rtmpAddr", help_heading = "Network")]
    pub rtmp_addr: Option<String>,
    /// Gateway: comma-separated orchestrator addresses (https and port 8935 implied).
    #[arg(long = "orchAddr", help_heading = "Network")]
    pub orch_addr: Option<String>,
    /// Orchestrator: comma-separated URLs of other instances of this orchestrator, advertised
    /// to gateways (`https://` added when missing; only https is allowed).
    #[arg(long = "nodes", help_heading = "Network")]
    pub nodes: Option<String>,
    /// Gateway: how many of the instance URLs an orchestrator advertises (its `-nodes`) are
    /// probed as orchestrators too.
    #[arg(long = "extraNodes", help_heading = "Network", default_value_t = 0)]
    pub extra_nodes: usize,
    /// Orchestrator: the secret remote transcoders register with (a value, or a file holding
    /// it). Transcoder: the secret to register with the orchestrator at -orchAddr.
    #[arg(long = "orchSecret", help_heading = "Network")]
    pub orch_secret: Option<String>,
    /// Gateway: a URL answering GET with `[{"address": "<url>", "score": <n>}]`, asked
    /// every minute; used instead of -orchAddr. Score 1 or more is trusted, 0 untrusted.
    #[arg(long = "orchWebhookUrl", help_heading = "Network")]
    pub orch_webhook_url: Option<String>,
    /// Gateway: comma-separated orchestrator ETH addresses never used, wherever they were
    /// discovered (matched against the address they answer with).
    #[arg(long = "orchBlocklist", help_heading = "Network")]
    pub orch_blocklist: Option<String>,
    /// Gateway: a URL POSTed `{"url": "<ingest URL>"}` when a push starts a stream; any
    /// status but 200 refuses it (403). Its JSON answer may set the stream's manifestID,
    /// presets, profiles and verificationFreq. Orchestrator: a URL POSTed `{"id": "<gateway
    /// address>"}` on every GetOrchestrator; any status but 200 refuses the gateway, and a
    /// `{"priceInfo": {"pricePerUnit": N, "pixelsPerUnit": M}}` answer is that gateway's
    /// price for 30 minutes.
    #[arg(long = "authWebhookUrl", help_heading = "Network")]
    pub auth_webhook_url: Option<String>,
    /// Gateway: check the renditions' signature (on chain) and recount their pixels
    /// (default: on on chain, off off-chain).
    #[arg(long = "localVerify", help_heading = "Network", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool_flag)]
    pub local_verify: Option<bool>,

    /// On-chain: the orchestrator address, when not the account's own (a separate
    /// transcoder/redeemer account; not supported yet: must equal the account).
    #[arg(long = "ethOrchAddr", help_heading = "Network")]
    pub eth_orch_addr: Option<String>,
    /// Seconds between polls for new blocks (and the gas price).
    #[arg(
        long = "blockPollingInterval",
        help_heading = "Network",
        default_value_t = 5
    )]
    pub block_polling_interval: u64,
    /// Minimum gas price in wei (0: none).
    #[arg(long = "minGasPrice", help_heading = "Network", default_value_t = 0)]
    pub min_gas_price: u128,
    /// Maximum gas price in wei (0: none); no transaction is sent or replaced above it.
    #[arg(long = "maxGasPrice", help_heading = "Network", default_value_t = 0)]
    pub max_gas_price: u128,
    /// Times a stuck transaction is replaced with a higher fee.
    #[arg(
        long = "maxTransactionReplacements",
        help_heading = "Network",
        default_value_t = 1
    )]
    pub max_transaction_replacements: u32,
    /// How long to wait for a transaction's receipt before replacing it (e.g. 5m, 30s).
    #[arg(long = "transactionTimeout", help_heading = "Network", default_value = "5m", value_parser = parse_duration)]
    pub transaction_timeout: Duration,
    /// Orchestrator: call reward() once per round while active (default: on when the
    /// account is a registered orchestrator).
    #[arg(long = "reward", help_heading = "Network", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool_flag)]
    pub reward: Option<bool>,
    /// Initialize a due round after a random delay.
    #[arg(long = "initializeRound", help_heading = "Network", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub initialize_round: bool,
    /// Longest random delay before initializing a due round.
    #[arg(long = "initializeRoundMaxDelay", help_heading = "Network", default_value = "30s", value_parser = parse_duration)]
    pub initialize_round_max_delay: Duration,

    // ---- Payments ---------------------------------------------------------------------
    /// Orchestrator: price in wei per -pixelsPerUnit pixels.
    #[arg(long = "pricePerUnit", help_heading = "Payments", default_value = "0")]
    pub price_per_unit: String,
    /// Pixels per price unit, for the orchestrator's -pricePerUnit and the gateway's
    /// -maxPricePerUnit.
    #[arg(long = "pixelsPerUnit", help_heading = "Payments", default_value = "1")]
    pub pixels_per_unit: String,
    /// Orchestrator: per-gateway prices, JSON or a path to a JSON file:
    /// `{"gateways":[{"ethaddress":"0x…","priceperunit":1000,"pixelsperunit":1}]}`.
    #[arg(
        long = "pricePerGateway",
        help_heading = "Payments",
        default_value = ""
    )]
    pub price_per_gateway: String,
    /// Deprecated name of -pricePerGateway (its JSON may say `broadcasters`); wins over it
    /// when set, as in go-livepeer.
    #[arg(
        long = "pricePerBroadcaster",
        help_heading = "Payments",
        default_value = "",
        hide = true
    )]
    pub price_per_broadcaster: String,
    /// Orchestrator: add the redemption overhead (1 + 1/txCostMultiplier) to the price.
    #[arg(long = "autoAdjustPrice", help_heading = "Payments", num_args = 0..=1, default_missing_value = "true", default_value = "true", value_parser = parse_bool_flag)]
    pub auto_adjust_price: bool,
    /// Orchestrator: expected value of one ticket, wei.
    #[arg(
        long = "ticketEV",
        help_heading = "Payments",
        default_value = "8000000000"
    )]
    pub ticket_ev: String,
    /// Orchestrator: largest ticket face value, wei (0: no cap).
    #[arg(long = "maxFaceValue", help_heading = "Payments", default_value = "0")]
    pub max_face_value: String,
    /// Gateway: largest acceptable EV of one ticket, wei.
    #[arg(
        long = "maxTicketEV",
        help_heading = "Payments",
        default_value = "3000000000000"
    )]
    pub max_ticket_ev: String,
    /// Gateway: largest acceptable EV of one payment, wei.
    #[arg(
        long = "maxTotalEV",
        help_heading = "Payments",
        default_value = "20000000000000"
    )]
    pub max_total_ev: String,
    /// Gateway: face values may be at most deposit / this.
    #[arg(
        long = "depositMultiplier",
        help_heading = "Payments",
        default_value_t = 1
    )]
    pub deposit_multiplier: u64,
    /// Gateway: highest price per -pixelsPerUnit pixels accepted, wei (0: any).
    #[arg(
        long = "maxPricePerUnit",
        help_heading = "Payments",
        default_value = "0"
    )]
    pub max_price_per_unit: String,
    /// Gateway: use orchestrators above -maxPricePerUnit when none is below it.
    #[arg(long = "ignoreMaxPriceIfNeeded", help_heading = "Payments", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub ignore_max_price_if_needed: bool,
    /// Gateway: weight of stake in orchestrator selection.
    #[arg(
        long = "selectStakeWeight",
        help_heading = "Payments",
        default_value_t = 0.7
    )]
    pub select_stake_weight: f64,
    /// Gateway: weight of price in orchestrator selection.
    #[arg(
        long = "selectPriceWeight",
        help_heading = "Payments",
        default_value_t = 0.0
    )]
    pub select_price_weight: f64,
    /// Gateway: weight of chance in orchestrator selection.
    #[arg(
        long = "selectRandFreq",
        help_heading = "Payments",
        default_value_t = 0.3
    )]
    pub select_rand_freq: f64,
    /// Gateway: how much a small price difference matters in selection.
    #[arg(
        long = "selectPriceExpFactor",
        help_heading = "Payments",
        default_value_t = 100.0
    )]
    pub select_price_exp_factor: f64,
    /// Gateway: lowest orchestrator performance score accepted (0: any).
    #[arg(
        long = "minPerfScore",
        help_heading = "Payments",
        default_value_t = 0.0
    )]
    pub min_perf_score: f64,

    // ---- Transcoding ------------------------------------------------------------------
    /// Gateway: the rendition ladder, as standard profile names or a path to a JSON file.
    #[arg(long = "transcodingOptions", help_heading = "Transcoding", default_value = livepeer_primitives::profile::DEFAULT_TRANSCODING_OPTIONS)]
    pub transcoding_options: String,
    /// Orchestrator: concurrent sessions admitted, or `auto` (a standalone orchestrator: the
    /// sum of its remote transcoders' capacities). Transcoder: the capacity it registers
    /// with. Gateway: concurrent streams, 0 for no limit (a new manifest beyond it is refused
    /// with 503).
    #[arg(long = "maxSessions", help_heading = "Transcoding", default_value_t = MaxSessions::Count(livepeer_orchestrator::DEFAULT_MAX_SESSIONS), value_parser = parse_max_sessions)]
    pub max_sessions: MaxSessions,
    /// Gateway: attempts per segment before it fails.
    #[arg(long = "maxAttempts", help_heading = "Transcoding", default_value_t = livepeer_gateway::DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: usize,
    /// Gateway: lowest go-livepeer version (semver) an orchestrator may report to be used.
    #[arg(
        long = "orchMinLivepeerVersion",
        help_heading = "Transcoding",
        default_value = ""
    )]
    pub orch_min_livepeer_version: String,
    /// Gateway: first wait for orchestrator discovery answers (e.g. 500ms, 2s).
    #[arg(long = "discoveryTimeout", help_heading = "Transcoding", default_value = "500ms", value_parser = parse_duration)]
    pub discovery_timeout: Duration,
    /// Transcoder: x264 preset (lpms defaults to medium; veryfast keeps a 3-rung ladder real
    /// time on two cores).
    #[arg(long = "x264Preset", help_heading = "Transcoding", default_value = livepeer_media::DEFAULT_X264_PRESET)]
    pub x264_preset: String,

    // ---- Operations -------------------------------------------------------------------
    /// Serve the local CLI API (go-livepeer's paths: `/status`, `/bond`, …) here (`host:port`
    /// or a port on 127.0.0.1). Default as go-livepeer: 127.0.0.1:7935 for an orchestrator,
    /// :5935 for a gateway, :6935 for a transcoder; a port in use is logged, not fatal.
    #[arg(long = "cliAddr", help_heading = "Operations")]
    pub cli_addr: Option<String>,
    /// Ours, not go-livepeer's: allow a -cliAddr that is not a loopback address. The CLI API
    /// has no authentication and moves the node's funds, so a public bind is refused at
    /// start-up without this flag.
    #[arg(long = "allowPublicCliAddr", help_heading = "Operations", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub allow_public_cli_addr: bool,
    /// Serve Prometheus metrics at /metrics on the CLI API port, under go-livepeer's
    /// `livepeer_` names and labels.
    #[arg(long = "monitor", help_heading = "Operations", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub monitor: bool,
    /// With -monitor: label per-stream metrics with `manifest_id` (and payment metrics with
    /// `sender`).
    #[arg(long = "metricsPerStream", help_heading = "Operations", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub metrics_per_stream: bool,
    /// With -monitor: label client-facing metrics with `client_ip` (implies -metricsPerStream).
    #[arg(long = "metricsClientIP", help_heading = "Operations", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub metrics_client_ip: bool,
    /// Gateway: the object store every stream's source segments are saved to and
    /// orchestrators write renditions to (go-tools URLs: s3://KEY:SECRET@REGION/BUCKET,
    /// s3+http://KEY:SECRET@HOST:PORT/BUCKET or s3+https://… for S3-compatible servers,
    /// gs://BUCKET?keyfile=SERVICE_ACCOUNT.json).
    #[arg(long = "objectStore", help_heading = "Operations")]
    pub object_store: Option<String>,
    /// Gateway: the object store every stream is recorded to (source, renditions and
    /// playlists under <manifest>/<node ID>/), same URL forms as -objectStore.
    #[arg(long = "recordStore", help_heading = "Operations")]
    pub record_store: Option<String>,
    /// Where node state goes: keystore, winning tickets, the orchestrator's cert.pem and
    /// key.pem (default ~/.lpData/<network>, created at start-up). -datadir is the deprecated
    /// name.
    #[arg(long = "dataDir", alias = "datadir", help_heading = "Operations", value_parser = parse_path)]
    pub data_dir: Option<PathBuf>,
    /// Read flags from this file: one `flagName value` per line (a flag alone means true),
    /// `#` comments. The command line, then LP_<FLAGNAME> environment variables, win over it.
    #[arg(long = "config", help_heading = "Operations", value_parser = parse_path)]
    pub config: Option<PathBuf>,
    /// Log verbosity, glog style: 3 = info (default), 4-5 = debug, 6 = trace.
    #[arg(long = "v", help_heading = "Operations", default_value_t = 3)]
    pub verbosity: u8,
    /// Log format.
    #[arg(long = "logFormat", help_heading = "Operations", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print the version and exit.
    #[arg(long = "version", help_heading = "Operations", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub version: bool,
    /// Print the supported flags as a MistServer connector JSON descriptor and exit.
    #[arg(long = "j", help_heading = "Operations", num_args = 0..=1, default_missing_value = "true", default_value = "false", value_parser = parse_bool_flag)]
    pub mist_json: bool,
}

impl NodeArgs {
    /// Treats flags set to an empty string as unset, as go-livepeer does for its string flags
    /// (`-dataDir ""` means the default data directory).
    pub fn forget_empty(&mut self) {
        fn forget<T: AsRef<std::ffi::OsStr>>(value: &mut Option<T>) {
            if value.as_ref().is_some_and(|v| v.as_ref().is_empty()) {
                *value = None;
            }
        }
        forget(&mut self.eth_url);
        forget(&mut self.eth_controller);
        forget(&mut self.eth_acct_addr);
        forget(&mut self.eth_keystore_path);
        forget(&mut self.eth_password);
        forget(&mut self.service_addr);
        forget(&mut self.http_addr);
        forget(&mut self.rtmp_addr);
        forget(&mut self.orch_addr);
        forget(&mut self.orch_webhook_url);
        forget(&mut self.orch_secret);
        forget(&mut self.nodes);
        forget(&mut self.orch_blocklist);
        forget(&mut self.auth_webhook_url);
        forget(&mut self.object_store);
        forget(&mut self.record_store);
        forget(&mut self.eth_orch_addr);
        forget(&mut self.cli_addr);
        forget(&mut self.data_dir);
        forget(&mut self.config);
    }
}

/// A path; empty is allowed and means unset (see [`NodeArgs::forget_empty`]), as for go's
/// string flags.
fn parse_path(s: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(s))
}

/// `-maxSessions`: a number of sessions, or go-livepeer's `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxSessions {
    /// This many sessions.
    Count(usize),
    /// The sum of the remote transcoders' capacities (standalone orchestrators only).
    Auto,
}

impl MaxSessions {
    /// The number of sessions; `auto` starts at 0, as in go-livepeer (no session is admitted
    /// before a transcoder registers).
    pub fn count(self) -> usize {
        match self {
            Self::Count(n) => n,
            Self::Auto => 0,
        }
    }
}

impl std::fmt::Display for MaxSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl PartialEq<usize> for MaxSessions {
    fn eq(&self, other: &usize) -> bool {
        *self == Self::Count(*other)
    }
}

fn parse_max_sessions(s: &str) -> Result<MaxSessions, String> {
    if s.trim() == "auto" {
        return Ok(MaxSessions::Auto);
    }
    s.trim()
        .parse()
        .map(MaxSessions::Count)
        .map_err(|_| format!("{s:?} is not a number of sessions"))
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `livepeer push`
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The video file to push.
    pub file: PathBuf,
    /// The gateway's HTTP address, e.g. http://127.0.0.1:9935.
    #[arg(long)]
    pub gateway: String,
    /// Manifest ID to publish under (default: the file name's stem, made URL-safe).
    #[arg(long)]
    pub manifest: Option<String>,
    /// Save every returned rendition under DIR/<rendition>/<seq>.ts.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Push at the pace of the video (one segment per segment duration), like a live source.
    #[arg(long)]
    pub realtime: bool,
}

/// `livepeer demo`
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The video to push (default: the city clip of the test media).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Return once the video is through instead of serving the HLS until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Where the HLS ladder is written.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// The ladder (standard profile names or a JSON file).
    #[arg(long = "transcodingOptions", default_value = livepeer_primitives::profile::DEFAULT_TRANSCODING_OPTIONS)]
    pub transcoding_options: String,
    /// The quick unpaid path: one orchestrator and a gateway in this process, no chain.
    #[arg(long)]
    pub offchain: bool,
    /// Orchestrator nodes of the paid devnet.
    #[arg(long, default_value_t = 2)]
    pub orchestrators: usize,
    /// AI instead of video: an orchestrator with the built-in CPU runners and a gateway,
    /// one request per pipeline (results under `<out>/ai`), paid on a devnet (with
    /// `--offchain`: both in this process, unpaid).
    #[arg(long)]
    pub ai: bool,
    /// Real-time AI instead: the clip broadcast over RTMP to a gateway and through an
    /// orchestrator's live pipelines (`noop`, then the CPU `effects`), latency and output fps
    /// printed.
    #[arg(long, conflicts_with = "ai")]
    pub live: bool,
}

/// `livepeer bench transcode`
#[derive(Debug, Clone, Args)]
pub struct BenchTranscodeArgs {
    /// Source clip to build the 2 s 1080p30 test segment from (default: Big Buck Bunny of the
    /// test media; ffmpeg's testsrc2 when it is missing).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Measured runs per path (after one warm-up run each).
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    /// The ladder.
    #[arg(long, default_value = "P720p30fps16x9,P360p30fps16x9,P240p30fps16x9")]
    pub profiles: String,
    /// x264 preset for both paths.
    #[arg(long, default_value = "veryfast")]
    pub preset: String,
}

/// `livepeer bench paid`
#[derive(Debug, Clone, Args)]
pub struct BenchPaidArgs {
    /// Source clip to build the 2 s 1080p30 test segment from (default: Big Buck Bunny of the
    /// test media; ffmpeg's testsrc2 when it is missing).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Measured runs per path (after one warm-up run each), alternated off-chain, paid.
    #[arg(long, default_value_t = 11)]
    pub runs: usize,
    /// The ladder of both gateways.
    #[arg(long, default_value = "P720p30fps16x9,P360p30fps16x9,P240p30fps16x9")]
    pub profiles: String,
    /// x264 preset of both orchestrators.
    #[arg(long, default_value = "veryfast")]
    pub preset: String,
    /// Idle time after each push, so that work a node does after answering (a paid
    /// orchestrator redeeming winners) does not fall into the next run's timing.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Block interval of the paid devnet; the orchestrator redeems its winners on each new
    /// block.
    #[arg(long = "block-time", default_value = "1s", value_parser = parse_duration)]
    pub block_time: Duration,
    /// Where the nodes' data directories and logs go (default: a temporary directory,
    /// removed at exit).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `livepeer bench soak`
#[derive(Debug, Clone, Args)]
pub struct BenchSoakArgs {
    /// Concurrent streams, each pushing at real-time pace.
    #[arg(long, default_value_t = 20)]
    pub streams: usize,
    /// Length of the run, minutes.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Times the second orchestrator is SIGKILLed (and restarted 30 s later).
    #[arg(long, default_value_t = 2)]
    pub restarts: usize,
    /// The ladder.
    #[arg(long, default_value = "P144p30fps16x9")]
    pub profiles: String,
    /// x264 preset of the orchestrators.
    #[arg(long, default_value = "ultrafast")]
    pub preset: String,
    /// Source clip (default: the bikes clip of the test media), cut into ~2 s segments.
    #[arg(long)]
    pub input: Option<PathBuf>,
}

/// Parses a duration as Go's `time.ParseDuration` does (`500ms`, `2s`, `1h30m`, `5m0s`; units
/// ns, us, µs, ms, s, m, h), or a bare number of seconds (`1.5`). Negative durations are
/// refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let not_a_duration = || format!("{text:?} is not a duration (e.g. 500ms, 2s, 1m30s)");
    if text.is_empty() {
        return Err(not_a_duration());
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let seconds: f64 = rest.parse().map_err(|_| not_a_duration())?;
        return Duration::try_from_secs_f64(seconds).map_err(|_| not_a_duration());
    }
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| not_a_duration())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("{text:?}: a number needs a unit (ms, s, m or h)")),
            _ => {
                return Err(format!(
                    "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
                ));
            }
        };
        seconds += value * scale;
        rest = after;
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| not_a_duration())
}

/// The node's command line: [`Cli`] plus every go-livepeer flag it does not implement yet
/// (hidden, parsed with its go type so that it can be refused by name; see
/// [`crate::go_flags`]), with go's rule that a flag given twice takes the last value.
pub fn command() -> clap::Command {
    let mut command = Cli::command().args_override_self(true);
    let declared: Vec<String> = command
        .get_arguments()
        .flat_map(|arg| {
            arg.get_long()
                .into_iter()
                .chain(arg.get_all_aliases().into_iter().flatten())
        })
        .map(str::to_string)
        .collect();
    for flag in crate::go_flags::table() {
        if !declared.iter().any(|d| d == flag.name) {
            command = command.arg(flag.placeholder_arg());
        }
    }
    command.after_help(crate::go_flags::help_footer())
}

/// Rewrites go-livepeer single-dash long flags (`-orchAddr x`, `-maxSessions=3`) into clap's
/// double-dash form. Only names that are long flags (or aliases) of [`command`] or of its
/// subcommands are rewritten, so values that start with a dash and everything after `--` pass
/// through.
pub fn normalize_args<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut command = command();
    command.build();
    let mut longs: Vec<String> = Vec::new();
    let mut collect = |cmd: &clap::Command| {
        for arg in cmd.get_arguments() {
            let names = arg.get_long().into_iter();
            let aliases = arg.get_all_aliases().into_iter().flatten();
            longs.extend(names.chain(aliases).map(str::to_string));
        }
    };
    collect(&command);
    for sub in command.get_subcommands() {
        collect(sub);
        for subsub in sub.get_subcommands() {
            collect(subsub);
        }
    }
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        let arg: OsString = arg.into();
        if passthrough {
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|s| {
            if s == "--" {
                passthrough = true;
                return None;
            }
            let name = s.strip_prefix('-').filter(|rest| !rest.starts_with('-'))?;
            let key = name.split('=').next().unwrap_or(name);
            longs
                .iter()
                .any(|l| l == key)
                .then(|| OsString::from(format!("-{s}")))
        });
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(normalize_args(args.iter().copied())).expect("parses")
    }

    #[test]
    fn single_dash_flags_parse_like_double_dash() {
        let go_style = parse(&[
            "livepeer",
            "-orchestrator",
            "-transcoder",
            "-serviceAddr",
            "127.0.0.1:8935",
            "-maxSessions=4",
            "-transcodingOptions",
            "P720p30fps16x9",
            "-v",
            "6",
            "-dataDir",
            "/var/lib/lp",
            "-network",
            "offchain",
        ]);
        let rust_style = parse(&[
            "livepeer",
            "--orchestrator",
            "--transcoder",
            "--serviceAddr",
            "127.0.0.1:8935",
            "--maxSessions",
            "4",
            "--transcodingOptions",
            "P720p30fps16x9",
            "-v",
            "6",
            "--dataDir",
            "/var/lib/lp",
            "--network=offchain",
        ]);
        assert_eq!(go_style.node, rust_style.node);
        assert!(go_style.node.orchestrator && go_style.node.transcoder && !go_style.node.gateway);
        assert_eq!(go_style.node.max_sessions, 4);
        assert_eq!(go_style.node.verbosity, 6);
        assert_eq!(
            go_style.node.service_addr.as_deref(),
            Some("127.0.0.1:8935")
        );
    }

    #[test]
    fn gateway_flags_and_boolean_values() {
        let cli = parse(&[
            "livepeer",
            "-gateway=true",
            "-orchAddr",
            "a:1,b:2",
            "-httpAddr",
            "127.0.0.1:0",
            "-discoveryTimeout",
            "2s",
            "-logFormat",
            "json",
        ]);
        assert!(cli.node.gateway);
        assert_eq!(cli.node.orch_addr.as_deref(), Some("a:1,b:2"));
        assert_eq!(cli.node.discovery_timeout, Duration::from_secs(2));
        assert_eq!(cli.node.log_format, LogFormat::Json);
        let off = parse(&["livepeer", "-gateway=false"]);
        assert!(!off.node.gateway);
    }

    /// -localVerify keeps go-livepeer's three states (unset: on exactly on chain), and the
    /// webhook flags reach the gateway's configuration.
    #[test]
    fn verification_and_webhook_flags() {
        let config = |args: &[&str]| {
            let cli = parse(args);
            crate::gateway_config(&cli.node).expect("a gateway configuration")
        };
        let unset = config(&["livepeer", "-gateway", "-orchAddr", "a:1"]);
        assert_eq!(unset.local_verify, None);
        assert!(!unset.local_verify(), "off off-chain when unset");
        for (value, want) in [("-localVerify", true), ("-localVerify=false", false)] {
            let set = config(&["livepeer", "-gateway", value]);
            assert_eq!(set.local_verify, Some(want), "{value}");
            assert_eq!(set.local_verify(), want, "{value}");
        }
        let hooked = config(&[
            "livepeer",
            "-gateway",
            "-authWebhookUrl",
            "http://127.0.0.1:1/auth",
            "-orchWebhookUrl",
            "https://orchs.example/list",
        ]);
        assert_eq!(
            hooked.auth_webhook_url.as_deref(),
            Some("http://127.0.0.1:1/auth")
        );
        assert_eq!(
            hooked.orch_webhook_url.as_deref(),
            Some("https://orchs.example/list")
        );
        let mut empty = parse(&["livepeer", "-gateway", "-authWebhookUrl="]);
        empty.node.forget_empty();
        assert_eq!(
            empty.node.auth_webhook_url, None,
            "empty is unset, as in go"
        );
    }

    #[test]
    fn defaults_are_go_livepeers() {
        let cli = parse(&["livepeer"]);
        assert_eq!(cli.node.network, "offchain");
        assert_eq!(
            cli.node.transcoding_options,
            "P240p30fps16x9,P360p30fps16x9"
        );
        assert_eq!(cli.node.max_sessions, 10);
        assert_eq!(cli.node.max_attempts, 3);
        assert_eq!(cli.node.orch_min_livepeer_version, "");
        assert_eq!(cli.node.discovery_timeout, Duration::from_millis(500));
    }

    #[test]
    fn subcommands_and_passthrough() {
        let cli = parse(&[
            "livepeer",
            "push",
            "in.mp4",
            "-gateway",
            "http://127.0.0.1:9935",
            "--realtime",
        ]);
        match cli.command {
            Some(Command::Push(p)) => {
                assert_eq!(p.gateway, "http://127.0.0.1:9935");
                assert!(p.realtime);
            }
            other => panic!("expected push, got {other:?}"),
        }
        let args = normalize_args(["livepeer", "--", "-gateway"]);
        assert_eq!(args[2], "-gateway");
        assert!(Cli::try_parse_from(normalize_args(["livepeer", "-nosuchflag"])).is_err());
    }

    #[test]
    fn durations() {
        for (s, want) in [("500ms", 0.5), ("2s", 2.0), ("1.5", 1.5), ("1m", 60.0)] {
            assert_eq!(parse_duration(s).expect(s), Duration::from_secs_f64(want));
        }
        for (s, want) in [
            ("5m0s", 300.0),
            ("1h30m", 5400.0),
            ("1.5h", 5400.0),
            ("250us", 0.00025),
        ] {
            assert_eq!(parse_duration(s).expect(s), Duration::from_secs_f64(want));
        }
        for bad in ["", "x", "5 parsecs", "-1s", "1m30", "s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn help_groups_the_flags() {
        let help = Cli::command().render_help().to_string();
        for heading in ["Roles:", "Network:", "Transcoding:", "Operations:"] {
            assert!(help.contains(heading), "{heading} missing from\n{help}");
        }
    }
}
