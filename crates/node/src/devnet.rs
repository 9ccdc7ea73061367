//! `livepeer devnet`: anvil with the protocol deployed and orchestrators active, printed as a
//! table or JSON, running until Ctrl-C (anvil stops with it).

use livepeer_eth::devnet::{Devnet, DevnetConfig};
use tokio_util::sync::CancellationToken;

use crate::cli::DevnetArgs;

/// Runs the devnet.
pub async fn run(args: DevnetArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let config = DevnetConfig {
        orchestrators: args.orchestrators,
        block_time: args.block_time,
        faucet_lpt: livepeer_eth::devnet::FAUCET_FUNDS_LPT,
        ..Default::default()
    };
    let devnet = Devnet::start(&config).await?;
    let active = devnet.active_orchestrators().await?;
    let info = &devnet.info;
    if args.json {
        let mut value = serde_json::to_value(info)?;
        value["activeOrchestrators"] = serde_json::to_value(&active)?;
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
    }
    if !args.exit {
        eprintln!("devnet running; Ctrl-C stops it");
        cancel.cancelled().await;
    }
    drop(devnet); // stops anvil
    Ok(())
}
