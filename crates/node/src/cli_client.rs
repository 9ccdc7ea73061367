//! `livepeer cli`: what go-livepeer's `livepeer_cli` offers, as subcommands that talk to a
//! node's CLI API (`-cliAddr`, default `localhost:7935` as `livepeer_cli`'s `-host`/`-http`),
//! with amounts in LPT/ETH as well as wei, human output and `--json`. Run with no subcommand
//! on a terminal it shows `livepeer_cli`'s numbered menu.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use alloy_primitives::U256;
use alloy_primitives::utils::{ParseUnits, format_units, parse_units};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

/// How long one CLI API call may take: transactions answer once mined, and
/// `-transactionTimeout` is 5 minutes by default.
pub const CLI_REQUEST_TIMEOUT: Duration = Duration::from_secs(6 * 60);

/// `livepeer cli`
#[derive(Debug, Clone, Args)]
pub struct CliArgs {
    /// The node's CLI API host (`livepeer_cli -host`).
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// The node's CLI API port (`livepeer_cli -http`; a gateway's is 5935).
    #[arg(long = "http", default_value_t = crate::cli_api::ORCHESTRATOR_CLI_PORT)]
    pub port: u16,
    /// Print the node's JSON answers as they are.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show the numbered menu even when stdin is not a terminal (answers read line by line
    /// from stdin, for scripts).
    #[arg(long)]
    pub menu: bool,
    /// What to do (none on a terminal: the interactive menu).
    #[command(subcommand)]
    pub action: Option<CliAction>,
}

/// One `livepeer cli` action. Amounts take a unit: `10LPT`, `0.5 ETH`, `20 gwei`, or plain
/// wei.
#[derive(Debug, Clone, Subcommand)]
pub enum CliAction {
    /// The node: account, balances, round, stake, deposit and reserve.
    Status,
    /// The protocol's parameters.
    Protocol,
    /// The registered orchestrators.
    Orchestrators,
    /// Bond LPT to an orchestrator (approves the BondingManager first when needed).
    Bond {
        /// The orchestrator's address.
        #[arg(long)]
        to: String,
        /// LPT to bond (`100LPT`, or wei).
        #[arg(long, value_parser = parse_lpt)]
        amount: U256,
    },
    /// Unbond LPT: it can be withdrawn after the unbonding period.
    Unbond {
        /// LPT to unbond.
        #[arg(long, value_parser = parse_lpt)]
        amount: U256,
    },
    /// Rebond an unbonding lock (to `--to` when fully unbonded).
    Rebond {
        /// The lock's ID (see `unbonding-locks`).
        #[arg(long)]
        lock: u64,
        /// The orchestrator, when the account is unbonded.
        #[arg(long)]
        to: Option<String>,
    },
    /// The account's unbonding locks.
    UnbondingLocks {
        /// Only those withdrawable now.
        #[arg(long)]
        withdrawable: bool,
    },
    /// Withdraw the LPT of an unbonding lock whose period is over.
    WithdrawStake {
        /// The lock's ID.
        #[arg(long)]
        lock: u64,
    },
    /// Withdraw earned fees (ETH).
    WithdrawFees {
        /// ETH to withdraw (`0.1ETH`, or wei).
        #[arg(long, value_parser = parse_eth)]
        amount: U256,
    },
    /// Claim rewards and fees through the current round.
    ClaimEarnings,
    /// Call reward() now.
    Reward,
    /// Initialize the current round.
    InitializeRound,
    /// Become an orchestrator: bond, set reward cut and fee share, register the service URI.
    Activate {
        /// Reward cut, percent (0–100).
        #[arg(long = "reward-cut")]
        reward_cut: f64,
        /// Fee share, percent (0–100).
        #[arg(long = "fee-share")]
        fee_share: f64,
        /// Price per unit, wei.
        #[arg(long = "price-per-unit")]
        price_per_unit: u64,
        /// Pixels per unit.
        #[arg(long = "pixels-per-unit", default_value_t = 1)]
        pixels_per_unit: u64,
        /// The public service URI (`https://host:8935`).
        #[arg(long = "service-uri")]
        service_uri: String,
        /// LPT to bond to itself first (`0` for none).
        #[arg(long, value_parser = parse_lpt, default_value = "0")]
        amount: U256,
    },
    /// Add to the gateway's TicketBroker deposit and reserve (ETH).
    Deposit {
        /// Deposit to add (`1ETH`, or wei).
        #[arg(long, value_parser = parse_eth)]
        deposit: U256,
        /// Reserve to add.
        #[arg(long, value_parser = parse_eth)]
        reserve: U256,
    },
    /// Start unlocking the deposit and reserve.
    Unlock,
    /// Cancel an unlock.
    CancelUnlock,
    /// Withdraw the unlocked deposit and reserve.
    Withdraw,
    /// Send LPT to an address.
    Transfer {
        /// The recipient.
        #[arg(long)]
        to: String,
        /// LPT to send.
        #[arg(long, value_parser = parse_lpt)]
        amount: U256,
    },
    /// Sign a message with the node's key (EIP-191); prints the signature in hex.
    Sign {
        /// The message.
        #[arg(long)]
        message: String,
    },
    /// Gateway: show the max price and the default ladder.
    BroadcastConfig,
    /// Gateway: set the max price per pixel pool orchestrators are chosen under (`0`: any),
    /// and/or the ladder of streams that name none.
    SetBroadcastConfig {
        /// Max price, wei per `--pixels-per-unit` pixels (go's `maxPricePerUnit`).
        #[arg(long = "max-price-per-unit")]
        max_price_per_unit: Option<String>,
        /// Pixels per unit.
        #[arg(long = "pixels-per-unit", default_value = "1")]
        pixels_per_unit: String,
        /// The price's currency: wei (default) or eth.
        #[arg(long, default_value = "")]
        currency: String,
        /// The default ladder (`P240p30fps16x9,P360p30fps16x9`).
        #[arg(long = "transcoding-options")]
        transcoding_options: Option<String>,
    },
    /// Gateway: set a max price for an AI pipeline and model (kept for AI jobs).
    SetMaxPriceForCapability {
        /// The pipeline (`text-to-image`, …).
        #[arg(long)]
        pipeline: String,
        /// The model ID.
        #[arg(long = "model-id")]
        model_id: String,
        /// Max price, wei per `--pixels-per-unit` pixels.
        #[arg(long = "max-price-per-unit")]
        max_price_per_unit: String,
        /// Pixels per unit.
        #[arg(long = "pixels-per-unit", default_value = "1")]
        pixels_per_unit: String,
        /// The price's currency: wei or eth.
        #[arg(long, default_value = "wei")]
        currency: String,
    },
    /// Orchestrator: change the price, reward cut, fee share and service URI (the last three
    /// are transactions, sent only when they change).
    SetOrchestratorConfig {
        /// Price, wei per `--pixels-per-unit` pixels.
        #[arg(long = "price-per-unit")]
        price_per_unit: Option<String>,
        /// Pixels per unit.
        #[arg(long = "pixels-per-unit", default_value = "1")]
        pixels_per_unit: String,
        /// Reward cut, percent (0–100); needs `--fee-share`.
        #[arg(long = "reward-cut", requires = "fee_share")]
        reward_cut: Option<f64>,
        /// Fee share, percent (0–100); needs `--reward-cut`.
        #[arg(long = "fee-share", requires = "reward_cut")]
        fee_share: Option<f64>,
        /// The public service URI (`https://host:8935`).
        #[arg(long = "service-uri")]
        service_uri: Option<String>,
    },
    /// Orchestrator: set one gateway's price (`default`: the base price).
    SetPriceForGateway {
        /// The gateway's address, or `default`.
        #[arg(long)]
        gateway: String,
        /// Price, wei per `--pixels-per-unit` pixels.
        #[arg(long = "price-per-unit")]
        price_per_unit: String,
        /// Pixels per unit.
        #[arg(long = "pixels-per-unit", default_value = "1")]
        pixels_per_unit: String,
    },
    /// Orchestrator: set how many sessions it takes at once.
    SetMaxSessions {
        /// The limit (> 0).
        sessions: u64,
    },
    /// Orchestrator: cap the tickets' face value (`0.01ETH`, or wei; `0`: no cap).
    SetMaxFaceValue {
        /// The cap.
        #[arg(value_parser = parse_eth)]
        amount: U256,
    },
    /// Set the node's log verbosity, glog style (3 info, 4–5 debug, 6 trace).
    SetLogLevel {
        /// The verbosity.
        level: u8,
    },
    /// The node's log verbosity.
    LogLevel,
    /// Vote in a LIP-16 governance poll.
    Vote {
        /// The poll contract's address.
        #[arg(long)]
        poll: String,
        /// `yes` (0) or `no` (1).
        #[arg(long, value_parser = parse_poll_choice)]
        choice: u8,
    },
    /// Vote on a treasury proposal of the LivepeerGovernor.
    VoteOnProposal {
        /// The proposal ID (decimal).
        #[arg(long)]
        proposal: String,
        /// `against` (0), `for` (1) or `abstain` (2).
        #[arg(long, value_parser = parse_support)]
        support: u8,
        /// Why, recorded on chain (optional).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// A poll choice: `yes`/`0` or `no`/`1` (go-livepeer `types.VoteChoice`).
fn parse_poll_choice(text: &str) -> Result<u8, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "0" => Ok(0),
        "no" | "1" => Ok(1),
        other => Err(format!("{other:?} is not yes or no")),
    }
}

/// A proposal vote: `against`/`0`, `for`/`1`, `abstain`/`2` (go-livepeer
/// `types.ProposalVoteChoice`).
fn parse_support(text: &str) -> Result<u8, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "against" | "0" => Ok(0),
        "for" | "1" => Ok(1),
        "abstain" | "2" => Ok(2),
        other => Err(format!("{other:?} is not for, against or abstain")),
    }
}

/// Parses an amount in `default` units unless it names its own: `10`, `1.5LPT`, `0.1 ETH`,
/// `20 gwei`, `1000 wei`. LPT has 18 decimals, as ETH.
///
/// Errors: a line saying what is wrong.
pub fn parse_amount(text: &str, default: &str) -> Result<U256, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = (text[..split].trim(), text[split..].trim());
    let unit = match unit.to_ascii_lowercase().as_str() {
        "" => default.to_string(),
        "lpt" | "eth" | "ether" => "ether".to_string(),
        "gwei" => "gwei".to_string(),
        "wei" => "wei".to_string(),
        other => return Err(format!("unknown unit {other:?} (LPT, ETH, gwei or wei)")),
    };
    if number.is_empty() || number.starts_with('-') {
        return Err(format!("{text:?} is not an amount"));
    }
    let decimals = match unit.as_str() {
        "ether" => 18,
        "gwei" => 9,
        _ => 0,
    };
    if number
        .split_once('.')
        .is_some_and(|(_, frac)| frac.len() > decimals)
    {
        return Err(format!("{text:?} has more decimals than a wei"));
    }
    match parse_units(number, unit.as_str()).map_err(|e| format!("{text:?}: {e}"))? {
        ParseUnits::U256(v) => Ok(v),
        ParseUnits::I256(_) => Err(format!("{text:?} is not an amount")),
    }
}

/// An LPT amount: plain numbers are wei, as go-livepeer's CLI API takes them.
fn parse_lpt(text: &str) -> Result<U256, String> {
    parse_amount(text, "wei")
}

/// An ETH amount: plain numbers are wei.
fn parse_eth(text: &str) -> Result<U256, String> {
    parse_amount(text, "wei")
}

/// `wei` shown as `1.5 LPT` (or ETH), trailing zeros trimmed.
pub fn show_units(wei: U256, unit: &str) -> String {
    let text = format_units(wei, "ether").unwrap_or_else(|_| wei.to_string());
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text} {unit}")
}

/// A connection to one node's CLI API.
struct Node {
    base: String,
    http: reqwest::Client,
}

impl Node {
    fn new(host: &str, port: u16) -> anyhow::Result<Self> {
        Ok(Self {
            base: format!("http://{host}:{port}"),
            http: reqwest::Client::builder()
                .timeout(CLI_REQUEST_TIMEOUT)
                .build()
                .context("HTTP client")?,
        })
    }

    /// POSTs `form` to `path` and returns the body; a non-200 is an error with the node's text.
    async fn call(&self, path: &str, form: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let answer = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach the node's CLI API at {}", self.base))?;
        let status = answer.status();
        let body = answer.bytes().await.context("reading the answer")?.to_vec();
        if !status.is_success() {
            bail!(
                "{path}: {} {}",
                status.as_u16(),
                String::from_utf8_lossy(&body).trim_end()
            );
        }
        Ok(body)
    }

    async fn text(&self, path: &str) -> anyhow::Result<String> {
        Ok(String::from_utf8_lossy(&self.call(path, &[]).await?).into_owned())
    }

    async fn json(&self, path: &str, form: &[(&str, String)]) -> anyhow::Result<Value> {
        let body = self.call(path, form).await?;
        serde_json::from_slice(&body).with_context(|| format!("{path}: not JSON"))
    }
}

fn big(value: &Value) -> U256 {
    match value {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => U256::ZERO,
    }
}

/// Runs `livepeer cli`.
///
/// Errors: the node is unreachable or refuses (its text is shown), or bad input.
pub async fn run(args: CliArgs) -> anyhow::Result<()> {
    let node = Node::new(&args.host, args.port)?;
    match args.action {
        Some(action) => act(&node, action, args.json).await,
        None if args.menu || std::io::stdin().is_terminal() => menu(&node, args.json).await,
        None => bail!(
            "no action given (see `livepeer cli --help`); the menu needs a terminal, or --menu"
        ),
    }
}

async fn act(node: &Node, action: CliAction, json: bool) -> anyhow::Result<()> {
    let done = |what: &str| println!("{what}");
    match action {
        CliAction::Status => status(node, json).await?,
        CliAction::Protocol => {
            let p = node.json("/protocolParameters", &[]).await?;
            if json {
                println!("{p:#}");
            } else {
                let rows = [
                    (
                        "Active orchestrators (max)",
                        p["NumActiveTranscoders"].to_string(),
                    ),
                    ("Round length (blocks)", p["RoundLength"].to_string()),
                    ("Round lock amount (ppm)", p["RoundLockAmount"].to_string()),
                    (
                        "Unbonding period (rounds)",
                        p["UnbondingPeriod"].to_string(),
                    ),
                    ("Inflation (10⁻⁹)", p["Inflation"].to_string()),
                    ("Inflation change (10⁻⁹)", p["InflationChange"].to_string()),
                    (
                        "Target bonding rate (10⁻⁹)",
                        p["TargetBondingRate"].to_string(),
                    ),
                    ("Total bonded", show_units(big(&p["TotalBonded"]), "LPT")),
                    ("Total supply", show_units(big(&p["TotalSupply"]), "LPT")),
                    ("Paused", p["Paused"].to_string()),
                ];
                table(&rows);
            }
        }
        CliAction::Orchestrators => {
            let list = node.json("/registeredOrchestrators", &[]).await?;
            if json {
                println!("{list:#}");
            } else {
                println!(
                    "{:<44} {:>22} {:>8} {:>8} {:>7}  service URI",
                    "address", "stake", "cut %", "share %", "active"
                );
                for o in list.as_array().into_iter().flatten() {
                    let perc = |v: &Value| big(v).saturating_to::<u64>() as f64 / 10_000.0;
                    println!(
                        "{:<44} {:>22} {:>8} {:>8} {:>7}  {}",
                        o["Address"].as_str().unwrap_or(""),
                        show_units(big(&o["DelegatedStake"]), "LPT"),
                        perc(&o["RewardCut"]),
                        perc(&o["FeeShare"]),
                        o["Active"],
                        o["ServiceURI"].as_str().unwrap_or("")
                    );
                }
            }
        }
        CliAction::Bond { to, amount } => {
            node.call(
                "/bond",
                &[("amount", amount.to_string()), ("toAddr", to.clone())],
            )
            .await?;
            done(&format!("bonded {} to {to}", show_units(amount, "LPT")));
        }
        CliAction::Unbond { amount } => {
            node.call("/unbond", &[("amount", amount.to_string())])
                .await?;
            done(&format!("unbonded {}", show_units(amount, "LPT")));
        }
        CliAction::Rebond { lock, to } => {
            let mut form = vec![("unbondingLockId", lock.to_string())];
            if let Some(to) = to {
                form.push(("toAddr", to));
            }
            node.call("/rebond", &form).await?;
            done(&format!("rebonded unbonding lock {lock}"));
        }
        CliAction::UnbondingLocks { withdrawable } => {
            let locks = node
                .json(
                    "/unbondingLocks",
                    &[("withdrawable", withdrawable.to_string())],
                )
                .await?;
            if json {
                println!("{locks:#}");
            } else {
                println!("{:>4} {:>22} {:>15}", "ID", "amount", "withdraw round");
                for l in locks.as_array().into_iter().flatten() {
                    println!(
                        "{:>4} {:>22} {:>15}",
                        l["ID"],
                        show_units(big(&l["Amount"]), "LPT"),
                        l["WithdrawRound"]
                    );
                }
            }
        }
        CliAction::WithdrawStake { lock } => {
            node.call("/withdrawStake", &[("unbondingLockId", lock.to_string())])
                .await?;
            done(&format!("withdrew the stake of unbonding lock {lock}"));
        }
        CliAction::WithdrawFees { amount } => {
            node.call("/withdrawFees", &[("amount", amount.to_string())])
                .await?;
            done(&format!("withdrew {} of fees", show_units(amount, "ETH")));
        }
        CliAction::ClaimEarnings => {
            node.call("/claimEarnings", &[]).await?;
            done("claimed earnings through the current round");
        }
        CliAction::Reward => {
            node.call("/reward", &[]).await?;
            done("called reward");
        }
        CliAction::InitializeRound => {
            node.call("/initializeRound", &[]).await?;
            done("initialized the round");
        }
        CliAction::Activate {
            reward_cut,
            fee_share,
            price_per_unit,
            pixels_per_unit,
            service_uri,
            amount,
        } => {
            node.call(
                "/activateOrchestrator",
                &[
                    ("blockRewardCut", reward_cut.to_string()),
                    ("feeShare", fee_share.to_string()),
                    ("pricePerUnit", price_per_unit.to_string()),
                    ("pixelsPerUnit", pixels_per_unit.to_string()),
                    ("serviceURI", service_uri.clone()),
                    ("amount", amount.to_string()),
                ],
            )
            .await?;
            done(&format!(
                "activated: reward cut {reward_cut} %, fee share {fee_share} %, {service_uri}; active from the next round"
            ));
        }
        CliAction::Deposit { deposit, reserve } => {
            node.call(
                "/fundDepositAndReserve",
                &[
                    ("depositAmount", deposit.to_string()),
                    ("reserveAmount", reserve.to_string()),
                ],
            )
            .await?;
            done(&format!(
                "added {} of deposit and {} of reserve",
                show_units(deposit, "ETH"),
                show_units(reserve, "ETH")
            ));
        }
        CliAction::Unlock => done(&node.text("/unlock").await?),
        CliAction::CancelUnlock => done(&node.text("/cancelUnlock").await?),
        CliAction::Withdraw => done(&node.text("/withdraw").await?),
        CliAction::Transfer { to, amount } => {
            node.call(
                "/transferTokens",
                &[("to", to.clone()), ("amount", amount.to_string())],
            )
            .await?;
            done(&format!("sent {} to {to}", show_units(amount, "LPT")));
        }
        CliAction::Sign { message } => {
            let sig = node.call("/signMessage", &[("message", message)]).await?;
            println!("0x{}", alloy_primitives::hex::encode(sig));
        }
        CliAction::BroadcastConfig => {
            let c = node.json("/getBroadcastConfig", &[]).await?;
            if json {
                println!("{c:#}");
            } else {
                table(&[
                    (
                        "Max price per pixel (wei)",
                        c["MaxPrice"].as_str().unwrap_or("any").to_string(),
                    ),
                    (
                        "Transcoding options",
                        c["TranscodingOptions"].as_str().unwrap_or("").to_string(),
                    ),
                ]);
            }
        }
        CliAction::SetBroadcastConfig {
            max_price_per_unit,
            pixels_per_unit,
            currency,
            transcoding_options,
        } => {
            let mut form = Vec::new();
            if let Some(price) = &max_price_per_unit {
                form.push(("maxPricePerUnit", price.clone()));
                form.push(("pixelsPerUnit", pixels_per_unit.clone()));
                form.push(("currency", currency));
            }
            if let Some(options) = &transcoding_options {
                form.push(("transcodingOptions", options.clone()));
            }
            node.call("/setBroadcastConfig", &form).await?;
            if let Some(price) = max_price_per_unit {
                done(&format!(
                    "max price set to {price} wei per {pixels_per_unit} pixels"
                ));
            }
            if let Some(options) = transcoding_options {
                done(&format!("transcoding options set to {options}"));
            }
        }
        CliAction::SetMaxPriceForCapability {
            pipeline,
            model_id,
            max_price_per_unit,
            pixels_per_unit,
            currency,
        } => {
            node.call(
                "/setMaxPriceForCapability",
                &[
                    ("maxPricePerUnit", max_price_per_unit.clone()),
                    ("pixelsPerUnit", pixels_per_unit.clone()),
                    ("currency", currency),
                    ("pipeline", pipeline.clone()),
                    ("modelID", model_id.clone()),
                ],
            )
            .await?;
            done(&format!(
                "max price for {pipeline} {model_id} set to {max_price_per_unit} wei per {pixels_per_unit} pixels"
            ));
        }
        CliAction::SetOrchestratorConfig {
            price_per_unit,
            pixels_per_unit,
            reward_cut,
            fee_share,
            service_uri,
        } => {
            let mut form = Vec::new();
            if let Some(price) = &price_per_unit {
                form.push(("pricePerUnit", price.clone()));
                form.push(("pixelsPerUnit", pixels_per_unit.clone()));
            }
            if let (Some(cut), Some(share)) = (reward_cut, fee_share) {
                form.push(("blockRewardCut", cut.to_string()));
                form.push(("feeShare", share.to_string()));
            }
            if let Some(uri) = &service_uri {
                form.push(("serviceURI", uri.clone()));
            }
            node.call("/setOrchestratorConfig", &form).await?;
            done("orchestrator config set");
        }
        CliAction::SetPriceForGateway {
            gateway,
            price_per_unit,
            pixels_per_unit,
        } => {
            let text = node
                .call(
                    "/setPriceForBroadcaster",
                    &[
                        ("pricePerUnit", price_per_unit),
                        ("pixelsPerUnit", pixels_per_unit),
                        ("broadcasterEthAddr", gateway),
                    ],
                )
                .await?;
            done(String::from_utf8_lossy(&text).trim_end());
        }
        CliAction::SetMaxSessions { sessions } => {
            let text = node
                .call("/setMaxSessions", &[("maxSessions", sessions.to_string())])
                .await?;
            done(String::from_utf8_lossy(&text).trim_end());
        }
        CliAction::SetMaxFaceValue { amount } => {
            node.call("/setMaxFaceValue", &[("maxfacevalue", amount.to_string())])
                .await?;
            done(&format!(
                "ticket max face value set to {}",
                show_units(amount, "ETH")
            ));
        }
        CliAction::SetLogLevel { level } => {
            node.call("/setLogLevel", &[("loglevel", level.to_string())])
                .await?;
            done(&format!("log level set to {level}"));
        }
        CliAction::LogLevel => done(&node.text("/getLogLevel").await?),
        CliAction::Vote { poll, choice } => {
            let tx = node
                .call(
                    "/vote",
                    &[("poll", poll.clone()), ("choiceID", choice.to_string())],
                )
                .await?;
            let what = if choice == 0 { "yes" } else { "no" };
            done(&format!(
                "voted {what} in poll {poll}: transaction 0x{}",
                alloy_primitives::hex::encode(tx)
            ));
        }
        CliAction::VoteOnProposal {
            proposal,
            support,
            reason,
        } => {
            let mut form = vec![
                ("proposalID", proposal.clone()),
                ("support", support.to_string()),
            ];
            if !reason.is_empty() {
                form.push(("reason", reason));
            }
            let tx = node.call("/voteOnProposal", &form).await?;
            let what = ["against", "for", "abstain"]
                .get(usize::from(support))
                .copied()
                .unwrap_or("?");
            done(&format!(
                "voted {what} on proposal {proposal}: transaction 0x{}",
                alloy_primitives::hex::encode(tx)
            ));
        }
    }
    Ok(())
}

/// An address from the node's JSON, EIP-55 checksummed for people (as is if it is none).
fn checksummed(value: &Value) -> String {
    let text = value.as_str().unwrap_or("");
    text.parse::<alloy_primitives::Address>()
        .map(|a| a.to_checksum(None))
        .unwrap_or_else(|_| text.to_string())
}

fn table(rows: &[(&str, String)]) {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<width$}  {v}");
    }
}

/// `status`: what `livepeer_cli`'s "Get node status" shows, from the node's reads.
async fn status(node: &Node, json: bool) -> anyhow::Result<()> {
    let status = node.json("/status", &[]).await?;
    let on_chain = status["address"].is_string();
    if !on_chain {
        if json {
            println!("{status:#}");
        } else {
            table(&[
                (
                    "Version",
                    status["Version"].as_str().unwrap_or("").to_string(),
                ),
                (
                    "Network",
                    status["network"].as_str().unwrap_or("").to_string(),
                ),
                (
                    "Orchestrator",
                    status["orchestrator"].is_object().to_string(),
                ),
                ("Gateway", status["gateway"].is_object().to_string()),
            ]);
        }
        return Ok(());
    }
    let eth = node.text("/ethBalance").await?;
    let lpt = node.text("/tokenBalance").await?;
    let round = node.text("/currentRound").await?;
    let delegator = node.json("/delegatorInfo", &[]).await?;
    let sender = node.json("/senderInfo", &[]).await?;
    if json {
        let all = serde_json::json!({
            "status": status, "ethBalance": eth, "tokenBalance": lpt, "currentRound": round,
            "delegator": delegator, "sender": sender,
        });
        println!("{all:#}");
        return Ok(());
    }
    table(&[
        (
            "Version",
            status["Version"].as_str().unwrap_or("").to_string(),
        ),
        (
            "Network",
            status["network"].as_str().unwrap_or("").to_string(),
        ),
        ("Account", checksummed(&status["address"])),
        (
            "ETH balance",
            show_units(eth.parse().unwrap_or_default(), "ETH"),
        ),
        (
            "LPT balance",
            show_units(lpt.parse().unwrap_or_default(), "LPT"),
        ),
        ("Current round", round),
        (
            "Delegator status",
            delegator["Status"].as_str().unwrap_or("").to_string(),
        ),
        ("Bonded to", checksummed(&delegator["DelegateAddress"])),
        (
            "Pending stake",
            show_units(big(&delegator["PendingStake"]), "LPT"),
        ),
        (
            "Pending fees",
            show_units(big(&delegator["PendingFees"]), "ETH"),
        ),
        ("Deposit", show_units(big(&sender["Deposit"]), "ETH")),
        (
            "Reserve",
            show_units(big(&sender["Reserve"]["FundsRemaining"]), "ETH"),
        ),
        ("Withdraw round", sender["WithdrawRound"].to_string()),
    ]);
    Ok(())
}

/// Which nodes a menu entry is shown to (go-livepeer `wizardOpt.orchestrator` and
/// `notOrchestrator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// Every node.
    Always,
    /// Orchestrators only.
    Orchestrator,
    /// Everything but orchestrators (gateways).
    NotOrchestrator,
}

/// `livepeer_cli`'s menu entries, in its order (`cmd/livepeer_cli/livepeer_cli.go`
/// `initializeOptions`), less the testnet faucets and typed-data signing.
const MENU: &[(&str, Shown)] = &[
    ("Get node status", Shown::Always),
    ("View protocol parameters", Shown::Always),
    ("List registered orchestrators", Shown::Always),
    ("Invoke \"initialize round\"", Shown::Always),
    ("Invoke \"bond\"", Shown::Always),
    ("Invoke \"unbond\"", Shown::Always),
    ("Invoke \"rebond\"", Shown::Always),
    ("Invoke \"withdraw stake\" (LPT)", Shown::Always),
    ("Invoke \"withdraw fees\" (ETH)", Shown::Always),
    ("Invoke \"claim earnings\"", Shown::Always),
    ("Invoke \"transfer\" (LPT)", Shown::Always),
    ("Invoke \"reward\"", Shown::Orchestrator),
    (
        "Invoke multi-step \"become an orchestrator\"",
        Shown::Orchestrator,
    ),
    ("Set orchestrator config", Shown::Orchestrator),
    (
        "Invoke \"deposit broadcasting funds\" (ETH)",
        Shown::NotOrchestrator,
    ),
    (
        "Invoke \"unlock broadcasting funds\"",
        Shown::NotOrchestrator,
    ),
    (
        "Invoke \"cancel unlock of broadcasting funds\"",
        Shown::NotOrchestrator,
    ),
    (
        "Invoke \"withdraw broadcasting funds\"",
        Shown::NotOrchestrator,
    ),
    ("Set broadcast config", Shown::NotOrchestrator),
    ("Set max price per capability", Shown::NotOrchestrator),
    ("Set maximum Ethereum gas price", Shown::Always),
    ("Set minimum Ethereum gas price", Shown::Always),
    ("Sign a message", Shown::Always),
    ("Vote in a governance poll", Shown::Orchestrator),
    ("Vote on a treasury proposal", Shown::Orchestrator),
    ("Set max ticket face value", Shown::Orchestrator),
    ("Set price for broadcaster", Shown::Orchestrator),
    ("Set maximum sessions", Shown::Orchestrator),
    ("Set log level", Shown::Always),
    ("Exit", Shown::Always),
];

/// The entries shown to a node, numbered from 1 in this order.
fn menu_entries(orchestrator: bool) -> Vec<&'static str> {
    MENU.iter()
        .filter(|(_, shown)| match shown {
            Shown::Always => true,
            Shown::Orchestrator => orchestrator,
            Shown::NotOrchestrator => !orchestrator,
        })
        .map(|(desc, _)| *desc)
        .collect()
}

/// The numbered menu `livepeer_cli` shows, with its entries for the node's role; each asks
/// for its values, then runs the same action as the subcommand.
async fn menu(node: &Node, json: bool) -> anyhow::Result<()> {
    let orchestrator = node.text("/IsOrchestrator").await? == "true";
    let entries = menu_entries(orchestrator);
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut ask = |prompt: &str| -> anyhow::Result<String> {
        print!("{prompt}: ");
        std::io::stdout().flush()?;
        match lines.next().transpose()? {
            Some(line) => Ok(line.trim().to_string()),
            None => bail!("end of input"),
        }
    };
    let lpt = |text: String| parse_lpt(&text).map_err(anyhow::Error::msg);
    let eth = |text: String| parse_eth(&text).map_err(anyhow::Error::msg);
    let optional = |text: String| Some(text).filter(|s| !s.is_empty());
    loop {
        println!("\nWhat would you like to do? (default = stats)");
        for (i, item) in entries.iter().enumerate() {
            println!("{}. {item}", i + 1);
        }
        // The end of stdin ends the menu, as "Exit".
        let Ok(choice) = ask(">") else {
            println!();
            return Ok(());
        };
        let entry = match choice.as_str() {
            "" => entries[0],
            "q" | "exit" => return Ok(()),
            n => match n
                .parse::<usize>()
                .ok()
                .and_then(|i| entries.get(i.wrapping_sub(1)))
            {
                Some(entry) => entry,
                None => {
                    println!("{n:?} is not on the menu");
                    continue;
                }
            },
        };
        if entry == "Exit" {
            return Ok(());
        }
        let action = async {
            Ok::<_, anyhow::Error>(match entry {
                "Get node status" => Some(CliAction::Status),
                "View protocol parameters" => Some(CliAction::Protocol),
                "List registered orchestrators" => Some(CliAction::Orchestrators),
                "Invoke \"initialize round\"" => Some(CliAction::InitializeRound),
                "Invoke \"bond\"" => Some(CliAction::Bond {
                    to: ask("Orchestrator address")?,
                    amount: lpt(ask("Amount (e.g. 10LPT)")?)?,
                }),
                "Invoke \"unbond\"" => Some(CliAction::Unbond {
                    amount: lpt(ask("Amount (e.g. 10LPT)")?)?,
                }),
                "Invoke \"rebond\"" => Some(CliAction::Rebond {
                    lock: ask("Unbonding lock ID")?.parse().context("a lock ID")?,
                    to: optional(ask("Orchestrator (empty: the current one)")?),
                }),
                "Invoke \"withdraw stake\" (LPT)" => Some(CliAction::WithdrawStake {
                    lock: ask("Unbonding lock ID")?.parse().context("a lock ID")?,
                }),
                "Invoke \"withdraw fees\" (ETH)" => Some(CliAction::WithdrawFees {
                    amount: eth(ask("Amount (e.g. 0.1ETH)")?)?,
                }),
                "Invoke \"claim earnings\"" => Some(CliAction::ClaimEarnings),
                "Invoke \"transfer\" (LPT)" => Some(CliAction::Transfer {
                    to: ask("Recipient")?,
                    amount: lpt(ask("Amount (e.g. 10LPT)")?)?,
                }),
                "Invoke \"reward\"" => Some(CliAction::Reward),
                "Invoke multi-step \"become an orchestrator\"" => Some(CliAction::Activate {
                    reward_cut: ask("Reward cut (%)")?.parse().context("a percentage")?,
                    fee_share: ask("Fee share (%)")?.parse().context("a percentage")?,
                    price_per_unit: ask("Price per unit (wei)")?.parse().context("wei")?,
                    pixels_per_unit: 1,
                    service_uri: ask("Service URI (https://host:8935)")?,
                    amount: lpt(ask("LPT to bond (0: none)")?)?,
                }),
                "Set orchestrator config" => {
                    let price_per_unit = optional(ask("Price per unit, wei (empty: unchanged)")?);
                    let pixels_per_unit = if price_per_unit.is_some() {
                        optional(ask("Pixels per unit (empty: 1)")?).unwrap_or_else(|| "1".into())
                    } else {
                        "1".into()
                    };
                    let reward_cut = optional(ask("Reward cut, % (empty: unchanged)")?)
                        .map(|t| t.parse().context("a percentage"))
                        .transpose()?;
                    let fee_share = if reward_cut.is_some() {
                        Some(ask("Fee share, %")?.parse().context("a percentage")?)
                    } else {
                        None
                    };
                    Some(CliAction::SetOrchestratorConfig {
                        price_per_unit,
                        pixels_per_unit,
                        reward_cut,
                        fee_share,
                        service_uri: optional(ask("Service URI (empty: unchanged)")?),
                    })
                }
                "Invoke \"deposit broadcasting funds\" (ETH)" => Some(CliAction::Deposit {
                    deposit: eth(ask("Deposit (e.g. 1ETH)")?)?,
                    reserve: eth(ask("Reserve (e.g. 1ETH)")?)?,
                }),
                "Invoke \"unlock broadcasting funds\"" => Some(CliAction::Unlock),
                "Invoke \"cancel unlock of broadcasting funds\"" => Some(CliAction::CancelUnlock),
                "Invoke \"withdraw broadcasting funds\"" => Some(CliAction::Withdraw),
                "Set broadcast config" => Some(CliAction::SetBroadcastConfig {
                    max_price_per_unit: optional(ask(
                        "Max price per unit, wei (0: any; empty: unchanged)",
                    )?),
                    pixels_per_unit: optional(ask("Pixels per unit (empty: 1)")?)
                        .unwrap_or_else(|| "1".into()),
                    currency: String::new(),
                    transcoding_options: optional(ask(
                        "Transcoding options (e.g. P240p30fps16x9,P360p30fps16x9; empty: unchanged)",
                    )?),
                }),
                "Set max price per capability" => Some(CliAction::SetMaxPriceForCapability {
                    pipeline: ask("Pipeline (e.g. text-to-image)")?,
                    model_id: ask("Model ID")?,
                    max_price_per_unit: ask("Max price per unit, wei")?,
                    pixels_per_unit: optional(ask("Pixels per unit (empty: 1)")?)
                        .unwrap_or_else(|| "1".into()),
                    currency: "wei".into(),
                }),
                "Set maximum Ethereum gas price" => {
                    let wei = parse_amount(&ask("Max gas price (e.g. 20gwei; 0: none)")?, "wei")
                        .map_err(anyhow::Error::msg)?;
                    node.call("/setMaxGasPrice", &[("amount", wei.to_string())])
                        .await?;
                    println!("max gas price set to {wei} wei");
                    None
                }
                "Set minimum Ethereum gas price" => {
                    let wei = parse_amount(&ask("Min gas price (e.g. 1gwei)")?, "wei")
                        .map_err(anyhow::Error::msg)?;
                    node.call("/setMinGasPrice", &[("minGasPrice", wei.to_string())])
                        .await?;
                    println!("min gas price set to {wei} wei");
                    None
                }
                "Sign a message" => Some(CliAction::Sign {
                    message: ask("Message")?,
                }),
                "Vote in a governance poll" => Some(CliAction::Vote {
                    poll: ask("Poll contract address")?,
                    choice: parse_poll_choice(&ask("Choice (yes or no)")?)
                        .map_err(anyhow::Error::msg)?,
                }),
                "Vote on a treasury proposal" => Some(CliAction::VoteOnProposal {
                    proposal: ask("Proposal ID")?,
                    support: parse_support(&ask("Vote (for, against or abstain)")?)
                        .map_err(anyhow::Error::msg)?,
                    reason: ask("Reason (optional)")?,
                }),
                "Set max ticket face value" => Some(CliAction::SetMaxFaceValue {
                    amount: eth(ask("Max face value (e.g. 0.01ETH, or wei; 0: no cap)")?)?,
                }),
                "Set price for broadcaster" => Some(CliAction::SetPriceForGateway {
                    gateway: ask("Gateway address (or default)")?,
                    price_per_unit: ask("Price per unit, wei")?,
                    pixels_per_unit: optional(ask("Pixels per unit (empty: 1)")?)
                        .unwrap_or_else(|| "1".into()),
                }),
                "Set maximum sessions" => Some(CliAction::SetMaxSessions {
                    sessions: ask("Max sessions")?.parse().context("a number")?,
                }),
                "Set log level" => Some(CliAction::SetLogLevel {
                    level: ask("Verbosity (3 info, 4-5 debug, 6 trace)")?
                        .parse()
                        .context("a number")?,
                }),
                _ => None,
            })
        }
        .await;
        match action {
            Ok(Some(action)) => {
                if let Err(err) = act(node, action, json).await {
                    println!("error: {err:#}");
                }
            }
            Ok(None) => {}
            Err(err) => println!("error: {err:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_take_units_or_default_to_wei() {
        let e18 = U256::from(10u64.pow(18));
        for (text, wei) in [
            ("1000", U256::from(1000)),
            ("10LPT", e18 * U256::from(10)),
            ("1.5 LPT", e18 * U256::from(3) / U256::from(2)),
            ("0.1ETH", e18 / U256::from(10)),
            ("20 gwei", U256::from(20_000_000_000u64)),
            ("7 wei", U256::from(7)),
        ] {
            assert_eq!(parse_amount(text, "wei"), Ok(wei), "{text}");
        }
        for bad in ["", "-1", "1 btc", "lots", "1.0000000000000000001 LPT"] {
            assert!(parse_amount(bad, "wei").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_menu_shows_go_livepeers_entries_for_the_role() {
        let orch = menu_entries(true);
        let gateway = menu_entries(false);
        assert_eq!(orch[0], "Get node status");
        assert!(orch.contains(&"Set maximum sessions"));
        assert!(orch.contains(&"Vote on a treasury proposal"));
        assert!(!orch.contains(&"Set broadcast config"));
        assert!(gateway.contains(&"Set broadcast config"));
        assert!(!gateway.contains(&"Invoke \"reward\""));
        assert_eq!(orch.last(), Some(&"Exit"));
        assert_eq!(gateway.last(), Some(&"Exit"));
    }

    #[test]
    fn votes_take_names_or_numbers() {
        assert_eq!(parse_poll_choice("Yes"), Ok(0));
        assert_eq!(parse_poll_choice("1"), Ok(1));
        assert!(parse_poll_choice("maybe").is_err());
        assert_eq!(parse_support("for"), Ok(1));
        assert_eq!(parse_support("abstain"), Ok(2));
        assert!(parse_support("3").is_err());
    }

    #[test]
    fn wei_show_in_units_without_trailing_zeros() {
        let e18 = U256::from(10u64.pow(18));
        assert_eq!(
            show_units(e18 * U256::from(3) / U256::from(2), "LPT"),
            "1.5 LPT"
        );
        assert_eq!(show_units(e18, "ETH"), "1 ETH");
        assert_eq!(show_units(U256::ZERO, "ETH"), "0 ETH");
    }
}
