//! `livepeer devnet`: anvil with the protocol deployed, orchestrators active and, unless
//! `--chain-only`, the whole network running on it ([`crate::network`]): orchestrator and
//! gateway nodes, paid work flowing. Printed as a table or JSON once everything is up, then
//! running until Ctrl-C (the nodes, then anvil, stop with it).

use livepeer_eth::devnet::{Devnet, DevnetConfig};
use tokio_util::sync::CancellationToken;

use crate::cli::DevnetArgs;
use crate::network::{Network, NetworkConfig};

/// The chain alone, or the chain and the nodes.
enum Running {
    Chain(Box<Devnet>),
    /// The network, and the temporary directory removed after its nodes stopped.
    Network {
        network: Box<Network>,
        _temp: Option<tempfile::TempDir>,
    },
}

impl Running {
    fn devnet(&self) -> &Devnet {
        match self {
            Running::Chain(d) => d,
            Running::Network { network, .. } => &network.devnet,
        }
    }
}

/// Runs the devnet.
pub async fn run(args: DevnetArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let running = if args.chain_only {
        let config = DevnetConfig {
            orchestrators: args.orchestrators,
            block_time: args.block_time,
            faucet_lpt: livepeer_eth::devnet::FAUCET_FUNDS_LPT,
            params: livepeer_eth::deployment::DevParams {
                round_length: args.round_length,
                ..Default::default()
            },
            ..Default::default()
        };
        Running::Chain(Box::new(Devnet::start(&config).await?))
    } else {
        let (dir, temp) = match &args.dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("livepeer-devnet-")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let config = NetworkConfig {
            orchestrators: args.orchestrators,
            block_time: args.block_time,
            dir,
            x264_preset: args.x264_preset.clone(),
            transcoding_options: args.transcoding_options.clone(),
            max_price_per_unit: args.max_price_per_unit,
            gateway_funds: (args.gateway_deposit, args.gateway_reserve),
            round_length: args.round_length,
            monitor: args.monitor,
            ai_models: args.ai_models.clone(),
            orch_secret: args.orch_secret.clone(),
        };
        let network = tokio::select! {
            biased;
            () = cancel.cancelled() => anyhow::bail!("interrupted while the devnet was starting"),
            network = Network::start(&config) => network?,
        };
        Running::Network {
            network: Box::new(network),
            _temp: temp,
        }
    };
    let devnet = running.devnet();
    let active = devnet.active_orchestrators().await?;
    let info = &devnet.info;
    if args.json {
        let mut value = serde_json::to_value(info)?;
        value["activeOrchestrators"] = serde_json::to_value(&active)?;
        if let Running::Network { network, .. } = &running {
            annotate(&mut value, network);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "devnet: {} (chain {}), round {}",
            info.rpc_url, info.chain_id, info.round
        );
        println!();
        let c = &info.contracts;
        for (name, address) in [
            ("Controller", c.controller),
            ("LivepeerToken", c.livepeer_token),
            ("Minter", c.minter),
            ("RoundsManager", c.rounds_manager),
            ("BondingManager", c.bonding_manager),
            ("TicketBroker", c.ticket_broker),
            ("ServiceRegistry", c.service_registry),
            ("BondingVotes", info.governance.bonding_votes),
            ("Treasury", info.governance.treasury),
            ("LivepeerGovernor", info.governance.livepeer_governor),
            ("Faucet", info.faucet),
        ] {
            println!("{name:<16} {address}");
        }
        println!();
        println!(
            "{:<13} {:<42} {:<66} {:<7} service URI",
            "role", "address", "private key", "active"
        );
        for account in &info.accounts {
            let is_active = if active.contains(&account.address) {
                "yes"
            } else if account.role == "orchestrator" {
                "no"
            } else {
                ""
            };
            println!(
                "{:<13} {:<42} {:<66} {:<7} {}",
                account.role,
                account.address.to_string(),
                account.private_key,
                is_active,
                account.service_uri.as_deref().unwrap_or("")
            );
        }
        println!();
        println!("-ethUrl {} -ethController {}", info.rpc_url, c.controller);
        if let Running::Network { network, .. } = &running {
            println!();
            for node in &network.nodes {
                println!(
                    "{:<13} {:<42} pid {:<8} {}",
                    node.role,
                    node.address.to_string(),
                    node.pid(),
                    node.data_dir.display()
                );
            }
            println!();
            println!(
                "gateway: push to {}/live/<stream>/<seq>.ts, play {}/stream/<stream>.m3u8",
                network.gateway_url, network.gateway_url
            );
        }
    }
    if !args.exit {
        eprintln!("devnet running; Ctrl-C stops it");
        cancel.cancelled().await;
    }
    drop(running); // stops the nodes, then anvil
    Ok(())
}

/// Adds the nodes to the JSON report: `httpUrl` for the gateway account, and `dataDir`, `pid`,
/// `log`, `cliUrl` (its `GET /status`) and `command` (the node's arguments, to restart it) for every account that runs a
/// node.
fn annotate(value: &mut serde_json::Value, network: &Network) {
    let Some(accounts) = value["accounts"].as_array_mut() else {
        return;
    };
    for account in accounts {
        let address = account["address"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        let Some(node) = network
            .nodes
            .iter()
            .find(|n| n.address.to_string().to_lowercase() == address)
        else {
            continue;
        };
        account["dataDir"] = node.data_dir.display().to_string().into();
        account["pid"] = node.pid().into();
        account["log"] = node.log.display().to_string().into();
        account["command"] = node.args.clone().into();
        account["cliUrl"] = node.cli_url.clone().into();
        if node.role == "gateway" {
            account["httpUrl"] = network.gateway_url.clone().into();
        }
    }
}
