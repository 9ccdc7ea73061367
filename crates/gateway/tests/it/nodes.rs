//! `-extraNodes` against real orchestrators: the instance URLs an orchestrator advertises in
//! `OrchestratorInfo.nodes` (its `-nodes`) are probed and used as orchestrators too.

use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::discovery::discover_with_nodes;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertised_nodes_are_discovered_and_transcode() {
    let ladder = profiles(&[P144]);
    let node = Orch::start(|_| {}).await;
    // The listed orchestrator names the node, and has no transcoder of its own.
    let listed = Orch::start(|c| {
        c.transcoder = None;
        c.orch_secret = Some("unused".into());
        c.nodes = vec![node.base.clone()];
    })
    .await;
    let client = OrchestratorClient::new();
    let request = livepeer_proto::net::OrchestratorRequest {
        capabilities: Some(livepeer_proto::convert::capabilities_to_net(
            &livepeer_gateway::dispatch::job_capabilities(&ladder, false),
        )),
        ..Default::default()
    };
    let job = livepeer_gateway::dispatch::job_capabilities(&ladder, false);
    let wait = Duration::from_millis(500);
    let found = discover_with_nodes(
        &client,
        std::slice::from_ref(&listed.uri),
        &request,
        &job,
        8,
        wait,
        1,
    )
    .await;
    let mut addrs: Vec<(String, Option<String>)> = found
        .iter()
        .map(|c| (c.addr.to_string(), c.via.as_ref().map(|v| v.to_string())))
        .collect();
    addrs.sort();
    let mut want = vec![
        (format!("{}/", listed.base), None),
        (format!("{}/", node.base), Some(format!("{}/", listed.base))),
    ];
    want.sort();
    assert_eq!(addrs, want);
    // Without -extraNodes the advertised node is not asked.
    let found = discover_with_nodes(
        &client,
        std::slice::from_ref(&listed.uri),
        &request,
        &job,
        8,
        wait,
        0,
    )
    .await;
    assert_eq!(found.len(), 1);

    // A gateway given only the listed orchestrator gets its segments transcoded by the node.
    let gw = Gateway::start_with(vec![listed.uri.clone()], ladder.clone(), |c| {
        c.extra_nodes = 1
    })
    .await;
    let http = http();
    for segment in bikes().await.iter().take(2) {
        let answer = push(&http, &gw, "via-nodes", segment).await;
        check_pushed(&answer, segment.seq, &ladder).await;
    }
    let by = gw.handle.segments_by_orchestrator();
    let on_node = by
        .iter()
        .filter(|(uri, _)| uri.to_string().trim_end_matches('/') == node.base)
        .map(|(_, n)| *n)
        .sum::<u64>();
    assert_eq!(on_node, 2, "{by:?}");
    gw.stop().await;
    listed.stop().await;
    node.stop().await;
}
