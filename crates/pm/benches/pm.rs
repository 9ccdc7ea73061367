//! Ticket hashing, signing, raw secp256k1 recovery and full validation of received tickets;
//! on the gateway's side, ticket creation (`Sender::create_ticket_batch`, 1 and 10 tickets) and
//! the `Livepeer-Payment` header encoding (group `sender`); committing a payment's winners to
//! the SQLite ticket store one transaction each against one group commit (group `store`, on a
//! file in the system temp directory, so it measures that disk's fsync).
//!
//! `cargo bench -p livepeer-pm --bench pm` (`-- sender` for the sender group alone). After
//! criterion's report a summary prints tickets per second on one core for full validation next
//! to the raw libsecp256k1 recover rate of the same machine, the bound on how fast validation
//! can be, and the sender's rate of created and encoded tickets.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use criterion::{Criterion, Throughput};
use livepeer_pm::payment::{decode_payment_header, encode_payment_header};
use livepeer_pm::{
    LocalSigner, MemoryChain, MemoryTicketStore, PriceInfo, Recipient, RecipientConfig,
    RecipientRandInputs, Sender, SenderConfig, SenderInfo, SenderMonitor, SqliteTicketStore,
    TicketStore, WinningTicket, eth_signed_message_hash, recipient_rand, recover_signer,
};
use secp256k1::{Message, SECP256K1, ecdsa::RecoverableSignature, ecdsa::RecoveryId};

/// One orchestrator, one gateway and a chain where parameters stay valid.
struct Setup {
    chain: Arc<MemoryChain>,
    store: Arc<dyn TicketStore>,
    gateway: Arc<LocalSigner>,
    sender: Sender,
    orch: Address,
    secret: [u8; 32],
    price: PriceInfo,
}

impl Setup {
    fn new() -> Self {
        let chain = Arc::new(MemoryChain::new());
        chain.set_round(100, B256::repeat_byte(0xab));
        chain.set_l1_block(1000);
        chain.set_pool_size(10);
        chain.set_gas_price(U256::from(100_000_000u64));
        let gateway = Arc::new(LocalSigner::from_bytes(&[0x11; 32]).expect("valid key"));
        chain.set_sender(
            gateway.address(),
            SenderInfo {
                deposit: U256::from(10u64).pow(U256::from(18)),
                withdraw_round: 0,
                reserve_funds_remaining: U256::from(10u64).pow(U256::from(19)),
                reserve_claimed_in_current_round: U256::ZERO,
            },
        );
        let sender = Sender::new(
            gateway.clone(),
            chain.clone(),
            chain.clone(),
            SenderConfig {
                max_ticket_ev_wei: None,
                max_total_ev_wei: None,
                deposit_multiplier: 1,
            },
        );
        Self {
            chain,
            store: Arc::new(MemoryTicketStore::new()),
            gateway,
            sender,
            orch: Address::repeat_byte(0x0a),
            secret: [7; 32],
            price: PriceInfo::new(1200, 1),
        }
    }

    /// A recipient with empty nonce bookkeeping (same secret, so it accepts every header).
    fn recipient(&self) -> Recipient {
        let monitor = SenderMonitor::new(
            self.orch,
            self.chain.clone(),
            self.chain.clone(),
            self.store.clone(),
        );
        Recipient::new(
            RecipientConfig::new(self.orch),
            self.secret,
            self.chain.clone(),
            self.chain.clone(),
            monitor,
            self.store.clone(),
        )
    }

    /// A sender session on fresh parameters of the recipient (2³² nonces, more than any
    /// bench run uses).
    fn session(&self) -> String {
        let params = self
            .recipient()
            .ticket_params(self.gateway.address(), self.price)
            .expect("params");
        self.sender
            .start_session(params, self.price)
            .expect("session")
    }

    /// `count` `Livepeer-Payment` header values of `per_payment` tickets each, 600 tickets
    /// per set of parameters (the most an orchestrator takes per recipientRand).
    fn headers(&self, count: usize, per_payment: u32) -> Vec<String> {
        let recipient = self.recipient();
        let mut out = Vec::with_capacity(count);
        let per_session = 600 / per_payment;
        while out.len() < count {
            let params = recipient
                .ticket_params(self.gateway.address(), self.price)
                .expect("params");
            let session = self
                .sender
                .start_session(params, self.price)
                .expect("session");
            for _ in 0..per_session {
                let batch = self
                    .sender
                    .create_ticket_batch(&session, per_payment)
                    .expect("batch");
                out.push(encode_payment_header(&batch));
                if out.len() == count {
                    break;
                }
            }
        }
        out
    }
}

/// Decodes the header and receives every ticket; panics if any is refused.
fn validate(recipient: &Recipient, header: &str) {
    let batch = decode_payment_header(header).expect("decodes");
    let got = recipient.receive_payment(&batch).expect("accepted");
    assert!(got.error.is_none(), "{:?}", got.error);
    black_box(got);
}

/// Validates pre-signed headers, timing only the validation; a fresh recipient per pass so
/// nonces are never replayed.
fn timed_validation(setup: &Setup, pool: &[String], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let recipient = setup.recipient();
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(pool.len());
        let start = Instant::now();
        for h in &pool[..n] {
            validate(&recipient, h);
        }
        total += start.elapsed();
        left -= n as u64;
    }
    total
}

fn raw_recover_input() -> (Message, RecoverableSignature) {
    let signer = LocalSigner::from_bytes(&[0x11; 32]).expect("valid key");
    let hash = B256::repeat_byte(0x5a);
    let sig = signer.sign(&hash);
    let recid = if sig[64] == 27 {
        RecoveryId::Zero
    } else {
        RecoveryId::One
    };
    let rsig = RecoverableSignature::from_compact(&sig[..64], recid).expect("valid signature");
    (Message::from_digest(eth_signed_message_hash(&hash).0), rsig)
}

fn benches(c: &mut Criterion) {
    let setup = Setup::new();
    let pool = setup.headers(20_000, 1);
    let pool10 = setup.headers(2_000, 10);
    let batch = decode_payment_header(&pool[0]).expect("decodes");
    let (ticket, sig) = batch.tickets().expect("price").remove(0);
    let sig = sig.to_vec();
    let hash = ticket.hash();
    let (msg, rsig) = raw_recover_input();

    let mut g = c.benchmark_group("pm");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ticket_hash", |b| b.iter(|| black_box(&ticket).hash()));
    g.bench_function("ticket_ev", |b| b.iter(|| black_box(&ticket).ev()));
    g.bench_function("decode_payment_header", |b| {
        b.iter(|| decode_payment_header(black_box(&pool[0])).expect("decodes"))
    });
    let inputs = RecipientRandInputs::of_ticket(&ticket, batch.params.seed);
    g.bench_function("recipient_rand_hmac", |b| {
        b.iter(|| recipient_rand(black_box(&setup.secret), black_box(&inputs)))
    });
    g.bench_function("sign_ticket", |b| {
        b.iter(|| setup.gateway.sign(black_box(&hash)))
    });
    g.bench_function("recover_signer", |b| {
        b.iter(|| recover_signer(black_box(&hash), black_box(&sig)).expect("recovers"))
    });
    g.bench_function("secp256k1_raw_recover", |b| {
        b.iter(|| {
            SECP256K1
                .recover_ecdsa(black_box(msg), black_box(&rsig))
                .expect("recovers")
        })
    });
    g.bench_function("validate_payment_1_ticket", |b| {
        b.iter_custom(|iters| timed_validation(&setup, &pool, iters))
    });
    g.throughput(Throughput::Elements(10));
    g.bench_function("validate_payment_10_tickets", |b| {
        b.iter_custom(|iters| timed_validation(&setup, &pool10, iters))
    });
    g.finish();

    // The gateway's side: tickets created per second, and the header that carries them.
    let session = setup.session();
    let batch1 = setup
        .sender
        .create_ticket_batch(&session, 1)
        .expect("batch");
    let batch10 = setup
        .sender
        .create_ticket_batch(&session, 10)
        .expect("batch");
    let mut g = c.benchmark_group("sender");
    g.throughput(Throughput::Elements(1));
    g.bench_function("create_ticket_batch_1", |b| {
        b.iter(|| {
            setup
                .sender
                .create_ticket_batch(black_box(&session), 1)
                .expect("batch")
        })
    });
    g.bench_function("encode_payment_header_1_ticket", |b| {
        b.iter(|| encode_payment_header(black_box(&batch1)))
    });
    g.throughput(Throughput::Elements(10));
    g.bench_function("create_ticket_batch_10", |b| {
        b.iter(|| {
            setup
                .sender
                .create_ticket_batch(black_box(&session), 10)
                .expect("batch")
        })
    });
    g.bench_function("encode_payment_header_10_tickets", |b| {
        b.iter(|| encode_payment_header(black_box(&batch10)))
    });
    g.finish();

    // The orchestrator's store: 8 winners (a devnet segment's payment wins about 6 of 7.5
    // tickets) durably stored before the answer, one commit each or one group commit.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteTicketStore::open(dir.path().join("tickets.sqlite3")).expect("store");
    let mut nonce = 0u32;
    let mut next_winners = || -> Vec<WinningTicket> {
        (0..8)
            .map(|_| {
                nonce = nonce.wrapping_add(1);
                let mut winning = WinningTicket {
                    ticket: ticket.clone(),
                    sig: sig.clone(),
                    recipient_rand: U256::from(nonce),
                };
                winning.ticket.sender_nonce = nonce;
                winning
            })
            .collect()
    };
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(8));
    g.bench_function("store_8_winners_commit_each", |b| {
        b.iter_batched(
            &mut next_winners,
            |winners| {
                for w in &winners {
                    store.store_winning_ticket(w).expect("stored");
                }
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("store_8_winners_group_commit", |b| {
        b.iter_batched(
            &mut next_winners,
            |winners| store.store_winning_tickets(&winners).expect("stored"),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// One-core rates measured directly: full validation vs raw recovery.
fn summary() {
    let setup = Setup::new();
    let pool = setup.headers(20_000, 1);
    let (msg, rsig) = raw_recover_input();
    let n = 20_000u32;
    let start = Instant::now();
    for _ in 0..n {
        black_box(
            SECP256K1
                .recover_ecdsa(black_box(msg), black_box(&rsig))
                .expect("recovers"),
        );
    }
    let recover_rate = f64::from(n) / start.elapsed().as_secs_f64();
    let elapsed = timed_validation(&setup, &pool, u64::from(n));
    let validate_rate = f64::from(n) / elapsed.as_secs_f64();
    println!();
    println!("one core, single thread:");
    println!(
        "  full validation (decode, hash, recover, win check, nonces): {validate_rate:>9.0} tickets/s"
    );
    println!(
        "  raw libsecp256k1 ecdsa_recover:                             {recover_rate:>9.0} recovers/s"
    );
    println!(
        "  validation reaches {:.0}% of the raw recover rate",
        100.0 * validate_rate / recover_rate
    );
    // The gateway's sender: batches of 10 signed and encoded as one header, as a segment's
    // payment is.
    let session = setup.session();
    let batches = 2_000u32;
    let start = Instant::now();
    for _ in 0..batches {
        let batch = setup
            .sender
            .create_ticket_batch(&session, 10)
            .expect("batch");
        black_box(encode_payment_header(&batch));
    }
    let create_rate = f64::from(batches * 10) / start.elapsed().as_secs_f64();
    println!(
        "  sender: create_ticket_batch(10) + header encoding:          {create_rate:>9.0} tickets/s"
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    summary();
}
