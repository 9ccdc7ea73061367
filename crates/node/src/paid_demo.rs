//! `livepeer demo` on the paid network (the default; `--offchain` is the quick unpaid path):
//! a devnet with its orchestrator and gateway nodes ([`crate::network`]), the clip pushed
//! through the gateway, then the life cycle fast-forwarded with anvil's mining RPC — the
//! tickets' parameters expire and the orchestrators redeem their winners, the next round comes
//! due and a node initializes it, and every orchestrator calls `reward()` — with a report of
//! what was paid, redeemed and earned.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::Context;
use livepeer_eth::contracts::{BondingManager, RoundsManager, TicketBroker};
use tokio_util::sync::CancellationToken;

use crate::cli::{DemoArgs, PushArgs};
use crate::network::{Network, NetworkConfig, devnet_price};

/// Blocks mined after the push so every ticket's parameters have expired (they expire 40 L1
/// blocks after they were issued, pm.md §5.4).
pub const EXPIRY_BLOCKS: u64 = 41;
/// Blocks per round on the demo's devnet.
pub const DEMO_ROUND_LENGTH: u64 = 100;
/// How long the demo waits for redemptions, the round and the rewards.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn eth(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18));
    let whole = wei / unit;
    let frac = (wei % unit) / U256::from(10u64).pow(U256::from(12));
    format!("{whole}.{frac:06} ETH")
}

fn lpt(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18));
    let whole = wei / unit;
    let frac = (wei % unit) / U256::from(10u64).pow(U256::from(14));
    format!("{whole}.{frac:04} LPT")
}

async fn mine(provider: &DynProvider, blocks: u64) -> anyhow::Result<()> {
    livepeer_eth::deployment::mine_blocks(provider, blocks)
        .await
        .context("anvil_mine")?;
    Ok(())
}

/// One redemption seen on chain.
pub(crate) struct Redeemed {
    recipient: Address,
    face_value: U256,
    tx_hash: B256,
}

async fn redemptions(provider: &DynProvider, broker: Address) -> anyhow::Result<Vec<Redeemed>> {
    let logs = provider
        .get_logs(
            &Filter::new()
                .address(broker)
                .event_signature(TicketBroker::WinningTicketRedeemed::SIGNATURE_HASH)
                .from_block(0u64),
        )
        .await
        .context("WinningTicketRedeemed logs")?;
    Ok(logs
        .iter()
        .filter_map(|l| {
            let e = TicketBroker::WinningTicketRedeemed::decode_log(&l.inner).ok()?;
            Some(Redeemed {
                recipient: e.recipient,
                face_value: e.faceValue,
                tx_hash: l.transaction_hash.unwrap_or_default(),
            })
        })
        .collect())
}

/// Fast-forwards past the tickets' expiry ([`EXPIRY_BLOCKS`]) and waits, at most
/// [`SETTLE_TIMEOUT`], until `winners` redemptions are on chain; returns those there by then.
pub(crate) async fn redeem_winners(
    provider: &DynProvider,
    broker: Address,
    winners: u64,
) -> anyhow::Result<Vec<Redeemed>> {
    println!();
    println!(
        "mining {EXPIRY_BLOCKS} blocks so the tickets' parameters expire, then waiting for the redemptions"
    );
    mine(provider, EXPIRY_BLOCKS).await?;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let redeemed = redemptions(provider, broker).await?;
        if redeemed.len() as u64 >= winners || Instant::now() > deadline {
            return Ok(redeemed);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The report's winners, redemptions (one line each) and the gateway's deposit before and
/// after.
pub(crate) fn print_redemptions(winners: u64, redeemed: &[Redeemed], before: U256, after: U256) {
    println!("  winning tickets                  {winners:>6}");
    println!("  tickets redeemed on chain        {:>6}", redeemed.len());
    for r in redeemed {
        println!("    {} {} to {}", r.tx_hash, eth(r.face_value), r.recipient);
    }
    println!("  gateway deposit  {} -> {}", eth(before), eth(after));
}

/// Runs the paid demo.
pub async fn run(args: DemoArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let input = match &args.input {
        Some(path) => path.clone(),
        None => crate::demo::default_input()?,
    };
    anyhow::ensure!(input.is_file(), "{}: no such file", input.display());
    let dir = tempfile::Builder::new()
        .prefix("livepeer-demo-")
        .tempdir()
        .context("a temporary directory for the devnet")?;
    println!(
        "starting a devnet: anvil, the protocol contracts, {} orchestrators and a gateway, paid on chain",
        args.orchestrators
    );
    let started = Instant::now();
    let config = NetworkConfig {
        orchestrators: args.orchestrators,
        block_time: None,
        dir: dir.path().to_path_buf(),
        x264_preset: livepeer_media::DEFAULT_X264_PRESET.to_string(),
        transcoding_options: args.transcoding_options.clone(),
        max_price_per_unit: 0,
        gateway_funds: crate::network::devnet_gateway_funds(),
        round_length: DEMO_ROUND_LENGTH,
        monitor: false,
        ai_models: None,
        orch_secret: None,
    };
    let network = tokio::select! {
        biased;
        () = cancel.cancelled() => anyhow::bail!("interrupted while the devnet was starting"),
        network = Network::start(&config) => network?,
    };
    let info = network.devnet.info.clone();
    println!(
        "devnet up in {:.1} s: chain {} at {}, gateway {}",
        started.elapsed().as_secs_f64(),
        info.chain_id,
        info.rpc_url,
        network.gateway_url
    );
    let provider = livepeer_eth::rpc::signing_provider(
        &info.rpc_url,
        &livepeer_eth::devnet::LocalKey::random(),
    )?;
    let broker = TicketBroker::new(info.contracts.ticket_broker, provider.clone());
    let bonding = BondingManager::new(info.contracts.bonding_manager, provider.clone());
    let rounds = RoundsManager::new(info.contracts.rounds_manager, provider.clone());
    let gateway = network
        .nodes
        .iter()
        .find(|n| n.role == "gateway")
        .context("no gateway node")?;
    let orchestrators: Vec<_> = network
        .nodes
        .iter()
        .filter(|n| n.role == "orchestrator")
        .collect();
    let before = broker.getSenderInfo(gateway.address).call().await?;
    let mut stake_before = Vec::new();
    for o in &orchestrators {
        stake_before.push(bonding.transcoderTotalStake(o.address).call().await?);
    }
    let round_before: U256 = rounds.currentRound().call().await?;

    println!("pushing {}", input.display());
    let push = PushArgs {
        file: input.clone(),
        gateway: network.gateway_url.clone(),
        manifest: Some("demo".into()),
        out: None,
        realtime: false,
    };
    let report = crate::push::push_file(&push, cancel.clone(), true).await?;
    let written =
        crate::demo::mirror_hls(&network.gateway_url, &report.manifest, &args.out).await?;
    crate::demo::print_ladder(&report, &args.out, written).await?;

    // The life cycle, fast-forwarded: parameters expire, winners are redeemed.
    let gw_status = gateway.status().await?;
    let mut winners = 0u64;
    let mut received = 0u64;
    for o in &orchestrators {
        let s = o.status().await?;
        winners += s["orchestrator"]["payments"]["winners"]
            .as_u64()
            .unwrap_or(0);
        received += s["orchestrator"]["payments"]["ticketsReceived"]
            .as_u64()
            .unwrap_or(0);
    }
    let redeemed = redeem_winners(&provider, info.contracts.ticket_broker, winners).await?;
    // The next round: a node initializes it and every orchestrator calls reward().
    let start: U256 = rounds.currentRoundStartBlock().call().await?;
    let length: U256 = rounds.roundLength().call().await?;
    let block = provider.get_block_number().await?;
    let to_next = (start + length)
        .saturating_to::<u64>()
        .saturating_sub(block)
        .max(1);
    println!(
        "mining {to_next} blocks to the next round; an orchestrator initializes it and each calls reward()"
    );
    let last_block = provider.get_block_number().await?;
    mine(&provider, to_next).await?;
    let next = round_before + U256::from(1);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let rewarded = loop {
        let initialized: U256 = rounds.lastInitializedRound().call().await?;
        let logs = provider
            .get_logs(
                &Filter::new()
                    .address(info.contracts.bonding_manager)
                    .event_signature(BondingManager::Reward::SIGNATURE_HASH)
                    .from_block(last_block + 1),
            )
            .await?;
        let rewarded: Vec<Address> = logs
            .iter()
            .filter_map(|l| BondingManager::Reward::decode_log(&l.inner).ok())
            .map(|e| e.transcoder)
            .collect();
        if (initialized >= next && rewarded.len() >= orchestrators.len())
            || Instant::now() > deadline
        {
            break rewarded;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let round_after: U256 = rounds.lastInitializedRound().call().await?;
    let after = broker.getSenderInfo(gateway.address).call().await?;

    println!();
    println!("payments");
    let gw_payments = &gw_status["gateway"]["payments"];
    let ev_sent: U256 = gw_payments["evSentWei"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    println!(
        "  tickets sent by the gateway      {:>6}   (EV {} in all)",
        gw_payments["ticketsSent"].as_u64().unwrap_or(0),
        eth(ev_sent)
    );
    println!("  tickets received by orchestrators{received:>6}");
    print_redemptions(
        winners,
        &redeemed,
        before.sender.deposit,
        after.sender.deposit,
    );
    println!(
        "  gateway reserve  {} -> {}",
        eth(before.reserve.fundsRemaining),
        eth(after.reserve.fundsRemaining)
    );
    println!();
    println!(
        "{:<44} {:>12} {:>9} {:>16} {:>24}",
        "orchestrator", "wei/pixel", "segments", "fees", "stake (after reward)"
    );
    let by_orch = &gw_status["gateway"]["segmentsByOrchestrator"];
    for (i, o) in orchestrators.iter().enumerate() {
        let uri = info
            .accounts
            .iter()
            .find(|a| a.address == o.address)
            .and_then(|a| a.service_uri.clone())
            .unwrap_or_default();
        let segments = by_orch[uri.as_str()].as_u64().unwrap_or(0);
        let fees: U256 = bonding.pendingFees(o.address, round_after).call().await?;
        let stake: U256 = bonding.transcoderTotalStake(o.address).call().await?;
        let reward = if rewarded.contains(&o.address) {
            "rewarded"
        } else {
            "no reward"
        };
        println!(
            "{:<44} {:>12} {:>9} {:>16} {:>12} -> {} ({reward})",
            o.address.to_string(),
            devnet_price(i),
            segments,
            eth(fees),
            lpt(stake_before[i]),
            lpt(stake)
        );
    }
    println!();
    println!(
        "rounds {} -> {} (initialized by a node; reward() called {} times)",
        round_before,
        round_after,
        rewarded.len()
    );
    println!(
        "playlist: {}/stream/{}.m3u8",
        network.gateway_url, report.manifest
    );
    if redeemed.is_empty() {
        anyhow::bail!(
            "no winning ticket was redeemed; see the node logs under {}",
            dir.path().display()
        );
    }
    if !args.exit {
        println!("the network keeps running until Ctrl-C");
        cancel.cancelled().await;
    }
    drop(network);
    Ok(())
}
