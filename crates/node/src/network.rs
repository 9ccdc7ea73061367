//! The whole network on one machine: the devnet's chain plus real `livepeer` node processes —
//! N orchestrators (each staked, registered, priced differently, transcoding locally on its
//! service URI, running its Ethereum services) and one gateway with a funded deposit and
//! reserve — each with its own `<dataDir>` and keystore under the devnet's directory.
//!
//! Nodes are children of this process started from its own executable (so this works from the
//! `livepeer` binary), through `setpriv --pdeathsig KILL` when available so they die with it,
//! and are stopped with SIGTERM (then SIGKILL) when the [`Network`] drops. Each writes its log
//! to `<dir>/<role>-<i>.log`.
//!
//! Ticket parameters make winners frequent: orchestrators run with `-ticketEV`
//! [`DEVNET_TICKET_EV_WEI`] and `-maxFaceValue` [`DEVNET_MAX_FACE_VALUE_WEI`], so a ticket wins
//! with probability ≥ 0.8 (face value ≤ 1.25 EV), the gateway accepts that EV
//! (`-maxTicketEV`, `-maxTotalEV`), and prices ([`devnet_price`]) make each segment cost about
//! one or two EVs, so a push of a few seconds leaves winners to redeem.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use anyhow::{Context, bail};
use livepeer_eth::devnet::{Devnet, DevnetConfig};
use tracing::{debug, info, warn};

/// EV of one devnet ticket: 0.004 ETH.
pub const DEVNET_TICKET_EV_WEI: u64 = 4_000_000_000_000_000;
/// Largest devnet face value: 0.005 ETH (above a redemption's cost at anvil's gas prices, so
/// winners are worth redeeming).
pub const DEVNET_MAX_FACE_VALUE_WEI: u64 = 5_000_000_000_000_000;
/// The gateway's devnet deposit and reserve: 100 ETH each (anvil accounts hold 10 000).
pub const DEVNET_GATEWAY_FUNDS_ETH: u64 = 100;
/// [`DEVNET_GATEWAY_FUNDS_ETH`] in wei, as the (deposit, reserve) of [`NetworkConfig`].
pub fn devnet_gateway_funds() -> (U256, U256) {
    let wei = U256::from(DEVNET_GATEWAY_FUNDS_ETH) * U256::from(10u64).pow(U256::from(18u64));
    (wei, wei)
}
/// Price of orchestrator `i`, wei per pixel: 4·10⁸, 5·10⁸, 6·10⁸, … — about 10⁵ times
/// mainnet's, so that a 2 s segment of the default ladder (~2·10⁷ output pixels) costs one or
/// two ticket EVs and every segment carries tickets (at mainnet prices one devnet ticket would
/// pay for hours of video, and winners would be rare).
pub fn devnet_price(i: usize) -> u64 {
    400_000_000 + 100_000_000 * i as u64
}
/// Stake of orchestrator `i`, LPT: 1000, 2000, 3000, …
pub fn devnet_stake(i: usize) -> u64 {
    1000 * (i as u64 + 1)
}
/// The password of every devnet keystore (dev keys only).
pub const DEVNET_PASSWORD: &str = "devnet";
/// How long the nodes get to come up.
pub const NODE_START_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Orchestrator nodes.
    pub orchestrators: usize,
    /// Block interval; `None` mines a block per transaction.
    pub block_time: Option<Duration>,
    /// Where the nodes' data directories, keystores and logs go.
    pub dir: PathBuf,
    /// x264 preset of the orchestrators' transcoders.
    pub x264_preset: String,
    /// The gateway's ladder (`-transcodingOptions`).
    pub transcoding_options: String,
    /// The gateway's `-maxPricePerUnit` (wei per pixel; 0: any).
    pub max_price_per_unit: u64,
    /// The gateway's TicketBroker deposit and reserve, wei.
    pub gateway_funds: (U256, U256),
    /// Blocks per round.
    pub round_length: u64,
    /// Every node with `-monitor` (metrics at `<cli_url>/metrics`).
    pub monitor: bool,
    /// Every orchestrator with `-aiWorker -aiModels <this>` (a JSON file or the inline form;
    /// JSON entries carry the AI prices).
    pub ai_models: Option<String>,
    /// Every orchestrator with `-orchSecret <this>`; with `ai_models`, without `-aiWorker`
    /// (remote AI workers serve the models, the orchestrators price them).
    pub orch_secret: Option<String>,
}

/// One node process.
#[derive(Debug)]
pub struct NodeProcess {
    /// `orchestrator` or `gateway`.
    pub role: &'static str,
    /// Its account.
    pub address: Address,
    /// Its `-dataDir`.
    pub data_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// Its CLI API, `http://127.0.0.1:<port>` (`GET /status`).
    pub cli_url: String,
    /// The command line it runs with (after the executable), so it can be restarted.
    pub args: Vec<String>,
    /// The running process.
    pub child: Child,
}

impl NodeProcess {
    fn spawn(
        role: &'static str,
        address: Address,
        data_dir: PathBuf,
        mut args: Vec<String>,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let cli_port = free_port()?;
        args.extend(["-cliAddr".into(), format!("127.0.0.1:{cli_port}")]);
        let child = spawn_node(&args, &log)?;
        Ok(Self {
            role,
            address,
            data_dir,
            log,
            cli_url: format!("http://127.0.0.1:{cli_port}"),
            args,
            child,
        })
    }

    /// The node's `GET /status` JSON.
    ///
    /// Errors: the node does not answer.
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        use http_body_util::BodyExt;
        let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let url = format!("{}/status", self.cli_url);
        let response = tokio::time::timeout(Duration::from_secs(5), client.get(url.parse()?))
            .await
            .with_context(|| format!("GET {url} timed out"))??;
        let body = response.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the node and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the node again with the same command line (after [`NodeProcess::kill`]).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.child = spawn_node(&self.args, &self.log)?;
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

/// The command that starts this executable as a node with `args`, its stdout and stderr
/// appended to `log`, through `setpriv --pdeathsig KILL` when available so that it dies with
/// this process.
///
/// Errors: this executable cannot be found, or `log` cannot be opened.
pub fn node_command(args: &[String], log: &Path) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("cannot find this executable to start the nodes")?;
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut command = match livepeer_eth::anvil::setpriv() {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    Ok(command)
}

fn spawn_node(args: &[String], log: &Path) -> anyhow::Result<Child> {
    node_command(args, log)?
        .spawn()
        .context("cannot start a node process")
}

/// A running network; dropping it stops the nodes, then anvil.
pub struct Network {
    /// Nodes: the orchestrators in order, then the gateway.
    pub nodes: Vec<NodeProcess>,
    /// The gateway's push ingest and HLS base URL, `http://127.0.0.1:<port>`.
    pub gateway_url: String,
    /// The chain (dropped after the nodes).
    pub devnet: Devnet,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("gateway_url", &self.gateway_url)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop(Duration::from_secs(5));
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for the node to bind).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Network {
    /// Starts the chain with `config.orchestrators` orchestrators registered at free local
    /// ports with stakes [`devnet_stake`], funds the gateway, writes each account into a
    /// keystore under `config.dir`, starts the node processes, and returns once every
    /// orchestrator answers the gateway's signed `GetOrchestrator` with ticket parameters and
    /// the gateway serves HTTP, so paid work can flow.
    ///
    /// Errors: the chain or a node fails to start (the error names the node's log).
    pub async fn start(config: &NetworkConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.dir)
            .with_context(|| format!("cannot create {}", config.dir.display()))?;
        let ports: Vec<u16> = (0..config.orchestrators)
            .map(|_| free_port())
            .collect::<anyhow::Result<_>>()?;
        let devnet = Devnet::start(&DevnetConfig {
            orchestrators: config.orchestrators,
            block_time: config.block_time,
            params: livepeer_eth::deployment::DevParams {
                round_length: config.round_length,
                ..Default::default()
            },
            faucet_lpt: livepeer_eth::devnet::FAUCET_FUNDS_LPT,
            service_uris: ports
                .iter()
                .map(|p| format!("https://127.0.0.1:{p}"))
                .collect(),
            stakes_lpt: (0..config.orchestrators).map(devnet_stake).collect(),
            gateway_funds: Some(config.gateway_funds),
        })
        .await?;
        let password = config.dir.join("password");
        std::fs::write(&password, format!("{DEVNET_PASSWORD}\n"))?;
        let rpc_url = devnet.info.rpc_url.clone();
        let controller = devnet.info.contracts.controller.to_string();
        let monitor = config.monitor;
        let chain_flags = |data_dir: &Path| -> Vec<String> {
            let mut flags: Vec<String> = vec![
                "-network".into(),
                "devnet".into(),
                "-ethUrl".into(),
                rpc_url.clone(),
                "-ethController".into(),
                controller.clone(),
                "-dataDir".into(),
                data_dir.display().to_string(),
                "-ethPassword".into(),
                password.display().to_string(),
                "-blockPollingInterval".into(),
                "1".into(),
            ];
            if monitor {
                flags.push("-monitor".into());
            }
            flags
        };
        let mut network = Network {
            nodes: Vec::new(),
            gateway_url: String::new(),
            devnet,
        };
        let accounts = network.devnet.info.accounts.clone();
        let key_of = |hex: &str| -> anyhow::Result<livepeer_eth::devnet::LocalKey> {
            hex.parse().context("a dev key")
        };
        for (i, account) in accounts
            .iter()
            .filter(|a| a.role == "orchestrator")
            .enumerate()
        {
            let data_dir = config.dir.join(format!("orchestrator-{i}"));
            livepeer_eth::accounts::import_key(
                &data_dir.join(livepeer_eth::accounts::DEFAULT_KEYSTORE_DIR),
                &key_of(&account.private_key)?,
                DEVNET_PASSWORD,
            )?;
            let mut args = vec!["-orchestrator".to_string(), "-transcoder".into()];
            args.extend(chain_flags(&data_dir));
            args.extend([
                "-serviceAddr".into(),
                format!("127.0.0.1:{}", ports[i]),
                "-pricePerUnit".into(),
                devnet_price(i).to_string(),
                "-autoAdjustPrice=false".into(),
                "-ticketEV".into(),
                DEVNET_TICKET_EV_WEI.to_string(),
                "-maxFaceValue".into(),
                DEVNET_MAX_FACE_VALUE_WEI.to_string(),
                "-x264Preset".into(),
                config.x264_preset.clone(),
            ]);
            if let Some(secret) = &config.orch_secret {
                args.extend(["-orchSecret".into(), secret.clone()]);
            }
            if let Some(models) = &config.ai_models {
                if config.orch_secret.is_none() {
                    args.push("-aiWorker".into());
                }
                args.extend(["-aiModels".into(), models.clone()]);
            }
            if i == 0 {
                // One node keeps the round heartbeat going.
                args.extend([
                    "-initializeRound".into(),
                    "-initializeRoundMaxDelay".into(),
                    "1s".into(),
                ]);
            }
            let log = config.dir.join(format!("orchestrator-{i}.log"));
            network.nodes.push(NodeProcess::spawn(
                "orchestrator",
                account.address,
                data_dir,
                args,
                log,
            )?);
        }
        let gateway = accounts
            .iter()
            .find(|a| a.role == "gateway")
            .context("the devnet has no gateway account")?;
        let data_dir = config.dir.join("gateway");
        livepeer_eth::accounts::import_key(
            &data_dir.join(livepeer_eth::accounts::DEFAULT_KEYSTORE_DIR),
            &key_of(&gateway.private_key)?,
            DEVNET_PASSWORD,
        )?;
        let http_port = free_port()?;
        let mut args = vec!["-gateway".to_string()];
        args.extend(chain_flags(&data_dir));
        args.extend([
            "-httpAddr".into(),
            format!("127.0.0.1:{http_port}"),
            "-transcodingOptions".into(),
            config.transcoding_options.clone(),
            "-maxTicketEV".into(),
            DEVNET_MAX_FACE_VALUE_WEI.to_string(),
            "-maxTotalEV".into(),
            (DEVNET_MAX_FACE_VALUE_WEI * 20).to_string(),
            "-maxPricePerUnit".into(),
            config.max_price_per_unit.to_string(),
        ]);
        let log = config.dir.join("gateway.log");
        network.nodes.push(NodeProcess::spawn(
            "gateway",
            gateway.address,
            data_dir,
            args,
            log,
        )?);
        network.gateway_url = format!("http://127.0.0.1:{http_port}");
        let gateway_key = key_of(&gateway.private_key)?;
        network.wait_until_up(&gateway_key).await?;
        Ok(network)
    }

    /// Waits until every orchestrator hands the gateway ticket parameters and the gateway
    /// answers HTTP.
    async fn wait_until_up(
        &mut self,
        gateway_key: &livepeer_eth::devnet::LocalKey,
    ) -> anyhow::Result<()> {
        let signer = livepeer_pm::LocalSigner::from_bytes(&gateway_key.to_bytes().0)?;
        let client = livepeer_gateway::client::OrchestratorClient::new();
        let deadline = Instant::now() + NODE_START_TIMEOUT;
        let uris: Vec<(usize, String)> = self
            .devnet
            .info
            .accounts
            .iter()
            .filter_map(|a| a.service_uri.clone())
            .enumerate()
            .collect();
        for (i, uri) in uris {
            let parsed: hyper::Uri = uri.parse()?;
            loop {
                self.check_alive(i)?;
                let request = livepeer_proto::net::OrchestratorRequest {
                    address: signer.address().to_vec(),
                    sig: signer
                        .sign(&livepeer_proto::signing::orchestrator_request_hash(
                            signer.address(),
                        ))
                        .to_vec(),
                    ..Default::default()
                };
                match client.get_orchestrator(&parsed, request).await {
                    Ok(info) if info.ticket_params.is_some() => {
                        debug!(%uri, "orchestrator up");
                        break;
                    }
                    Ok(_) => debug!(%uri, "orchestrator up without ticket params yet"),
                    Err(err) => debug!(%uri, %err, "orchestrator not up yet"),
                }
                if Instant::now() > deadline {
                    bail!(
                        "orchestrator {i} did not come up within {NODE_START_TIMEOUT:?}; see {}",
                        self.nodes[i].log.display()
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        let gw = self.nodes.len() - 1;
        let addr = self.gateway_url.trim_start_matches("http://").to_string();
        loop {
            self.check_alive(gw)?;
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the gateway did not come up within {NODE_START_TIMEOUT:?}; see {}",
                    self.nodes[gw].log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        info!(gateway = %self.gateway_url, orchestrators = self.nodes.len() - 1, "network up");
        Ok(())
    }

    fn check_alive(&mut self, i: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        if let Ok(Some(status)) = node.child.try_wait() {
            let tail = std::fs::read_to_string(&node.log)
                .unwrap_or_default()
                .lines()
                .rev()
                .find(|l| l.starts_with("error"))
                .unwrap_or_default()
                .to_string();
            warn!(role = node.role, %status, "node exited");
            bail!(
                "the {} node {i} exited ({status}) {tail}; see {}",
                node.role,
                node.log.display()
            );
        }
        Ok(())
    }
}
