//! A paid orchestrator and gateway over one in-memory chain ([`MemoryChain`]): real tickets,
//! real signatures, a real SQLite ticket store; only the chain itself is in memory (the
//! anvil tests in `crates/eth` and the binary's devnet tests cover the real one).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alloy_primitives::{Address, B256, U256};
use livepeer_orchestrator::payment::BoxFuture;
use livepeer_orchestrator::{PaymentChain, Pricing};
use livepeer_pm::{
    LocalSigner, MemoryChain, PriceInfo, Recipient, RecipientConfig, Sender, SenderConfig,
    SenderInfo, SenderMonitor, SqliteTicketStore, TicketStore,
};

/// One ETH in wei.
pub fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// A chain at round 10, L1 block 1000, one active orchestrator, gas price zero.
pub fn memory_chain() -> Arc<MemoryChain> {
    let chain = Arc::new(MemoryChain::new());
    chain.set_round(9, B256::repeat_byte(0x09));
    chain.set_round(10, B256::repeat_byte(0x10));
    chain.set_l1_block(1000);
    chain.set_pool_size(1);
    chain
}

/// [`PaymentChain`] over a [`MemoryChain`]: the orchestrator is active until
/// [`TestPaymentChain::deactivate`].
pub struct TestPaymentChain {
    /// The chain.
    pub chain: Arc<MemoryChain>,
    active: AtomicBool,
}

impl TestPaymentChain {
    /// Active on `chain`.
    pub fn new(chain: Arc<MemoryChain>) -> Arc<Self> {
        Arc::new(Self {
            chain,
            active: AtomicBool::new(true),
        })
    }

    /// Takes the orchestrator out of the active set.
    pub fn deactivate(&self) {
        self.active.store(false, Ordering::SeqCst);
    }
}

impl PaymentChain for TestPaymentChain {
    fn is_active(&self, _orchestrator: Address) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    fn current_round(&self) -> u64 {
        use livepeer_pm::TimeSource;
        self.chain.last_initialized_round()
    }

    fn prepare_sender(&self, _sender: Address) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// A paid orchestrator's pieces.
pub struct PaidOrch {
    /// Its key.
    pub signer: Arc<LocalSigner>,
    /// Its recipient (shares `store`).
    pub recipient: Arc<Recipient>,
    /// Its winning-ticket store.
    pub store: Arc<SqliteTicketStore>,
    /// The chain view it is paid through.
    pub chain: Arc<TestPaymentChain>,
    /// The configuration to put in `OrchestratorConfig::payments`.
    pub config: livepeer_orchestrator::PaymentConfig,
}

/// An orchestrator paid at `price` wei per pixel on `chain`, with face values capped at
/// `max_face_value` (two ticket EVs makes every second ticket win).
pub fn paid_orchestrator(
    chain: &Arc<MemoryChain>,
    price: PriceInfo,
    max_face_value: U256,
) -> PaidOrch {
    let signer = Arc::new(LocalSigner::random());
    let store = Arc::new(SqliteTicketStore::open_in_memory().expect("in-memory ticket store"));
    let dyn_store: Arc<dyn TicketStore> = store.clone();
    let monitor = SenderMonitor::new(
        signer.address(),
        chain.clone(),
        chain.clone(),
        dyn_store.clone(),
    );
    let mut rc = RecipientConfig::new(signer.address());
    rc.max_face_value_wei = max_face_value;
    let recipient = Arc::new(Recipient::with_random_secret(
        rc,
        chain.clone(),
        chain.clone(),
        monitor,
        dyn_store,
    ));
    let payment_chain = TestPaymentChain::new(chain.clone());
    let config = livepeer_orchestrator::PaymentConfig {
        recipient: recipient.clone(),
        signer: signer.clone(),
        pricing: Pricing {
            base: price,
            ..Default::default()
        },
        chain: payment_chain.clone(),
    };
    PaidOrch {
        signer,
        recipient,
        store,
        chain: payment_chain,
        config,
    }
}

/// A gateway account on `chain` with `deposit` and `reserve` (wei), and its payment config.
pub fn paid_gateway(
    chain: &Arc<MemoryChain>,
    deposit: U256,
    reserve: U256,
) -> (Arc<LocalSigner>, livepeer_gateway::payment::PaymentConfig) {
    let signer = Arc::new(LocalSigner::random());
    chain.set_sender(
        signer.address(),
        SenderInfo {
            deposit,
            reserve_funds_remaining: reserve,
            ..Default::default()
        },
    );
    let sender = Arc::new(Sender::new(
        signer.clone(),
        chain.clone(),
        chain.clone(),
        SenderConfig::default(),
    ));
    let config = livepeer_gateway::payment::PaymentConfig {
        sender,
        signer: signer.clone(),
        time: chain.clone(),
        pool: None,
        cache: None,
        selection: Default::default(),
    };
    (signer, config)
}
