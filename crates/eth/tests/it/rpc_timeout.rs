//! A JSON-RPC endpoint that accepts connections and never answers: every request fails after
//! the provider's timeout with one `EthError::Rpc` line that says it timed out.

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use livepeer_eth::EthError;
use livepeer_eth::contracts::Controller;
use livepeer_eth::deployment::{contract_id, resolve};
use livepeer_eth::devnet::{DEFAULT_RPC_TIMEOUT, signing_provider_with_timeout};
use tokio::net::TcpListener;

/// Accepts every connection on 127.0.0.1 and holds it open without reading or answering, until
/// the test's runtime stops. Returns the endpoint URL.
async fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_never_answers_times_out_with_one_clear_error() {
    let url = silent_endpoint().await;
    let timeout = Duration::from_millis(300);
    let provider = signing_provider_with_timeout(&url, &PrivateKeySigner::random(), timeout)
        .expect("provider");

    // Controller resolution, as `livepeer -network … -ethUrl` does at start-up.
    let started = Instant::now();
    let err = resolve(&provider, Address::repeat_byte(0x42))
        .await
        .expect_err("no answer");
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        matches!(
            err,
            EthError::Rpc {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("timed out"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(
        took >= timeout,
        "gave up after {took:?}, before the timeout"
    );
    assert!(
        took < DEFAULT_RPC_TIMEOUT,
        "took {took:?}: the short timeout was not used"
    );

    // A plain request and a contract call time out the same way.
    let err = provider.get_block_number().await.expect_err("no answer");
    let err = EthError::rpc(url.clone(), &err);
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    let controller = Controller::new(Address::repeat_byte(0x42), provider.clone());
    let err = controller
        .getContract(contract_id("BondingManager"))
        .call()
        .await
        .map_err(|e| EthError::from_call("Controller.getContract", e))
        .expect_err("no answer");
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("Controller.getContract"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_an_rpc_error_but_not_a_timeout() {
    // Bind and drop: nothing listens on the port afterwards.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let provider = signing_provider_with_timeout(
        &format!("http://{addr}"),
        &PrivateKeySigner::random(),
        Duration::from_secs(5),
    )
    .expect("provider");
    let err = resolve(&provider, Address::repeat_byte(0x42))
        .await
        .expect_err("refused");
    assert!(matches!(err, EthError::Rpc { .. }), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(!err.to_string().contains('\n'), "{err}");
}
