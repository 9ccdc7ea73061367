use std::time::Duration;

use super::*;

fn metrics(node_type: NodeType, per_stream: bool, client_ip: bool) -> Metrics {
    Metrics::new(MetricsConfig {
        node_type,
        node_id: "0xabc-host".into(),
        per_stream,
        client_ip,
        version: "0.8.0".into(),
    })
}

fn scrape(m: &Metrics) -> prometheus_parse::Scrape {
    let text = m.encode();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// The samples named `name`, as (labels, value).
fn samples(s: &prometheus_parse::Scrape, name: &str) -> Vec<(HashMap<String, String>, f64)> {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .map(|x| {
            let labels = x
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let value = match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (labels, value)
        })
        .collect()
}

fn one(s: &prometheus_parse::Scrape, name: &str) -> (HashMap<String, String>, f64) {
    let mut all = samples(s, name);
    assert_eq!(all.len(), 1, "{name}: {all:?}");
    all.remove(0)
}

fn keys(labels: &HashMap<String, String>) -> Vec<&str> {
    let mut k: Vec<&str> = labels.keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn gateway_counters_have_gos_names_types_and_base_labels() {
    let m = metrics(NodeType::Gateway, false, false);
    m.segment_emerged("stream");
    m.segment_emerged("stream");
    m.segment_uploaded("stream", "https://o:8935", Duration::from_millis(300));
    m.tickets_sent("stream", 3, 3e15);
    m.tickets_sent("stream", 0, 0.0);
    let text = m.encode();
    assert!(
        text.contains("# TYPE livepeer_segment_source_emerged_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE livepeer_tickets_sent counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE livepeer_upload_time_seconds histogram"),
        "{text}"
    );
    let s = scrape(&m);
    let (labels, value) = one(&s, "livepeer_segment_source_emerged_total");
    assert_eq!(value, 2.0);
    assert_eq!(keys(&labels), ["node_id", "node_type"]);
    assert_eq!(labels["node_type"], "bctr");
    assert_eq!(labels["node_id"], "0xabc-host");
    let (labels, value) = one(&s, "livepeer_segment_source_uploaded_total");
    assert_eq!(value, 1.0);
    assert_eq!(labels["orchestrator_uri"], "https://o:8935");
    assert_eq!(one(&s, "livepeer_tickets_sent").1, 3.0);
    // Ticket value in gwei: 3e15 wei.
    assert_eq!(one(&s, "livepeer_ticket_value_sent").1, 3e6);
    let (_, count) = one(&s, "livepeer_upload_time_seconds_count");
    assert_eq!(count, 1.0);
}

#[test]
fn versions_and_gos_initial_zeros_are_there_before_any_work() {
    let m = metrics(NodeType::Orchestrator, false, false);
    let s = scrape(&m);
    let (labels, value) = one(&s, "livepeer_versions");
    assert_eq!(value, 1.0);
    assert_eq!(labels["livepeerversion"], "0.8.0");
    assert_eq!(labels["node_type"], "orch");
    for name in [
        "livepeer_transcoders_number",
        "livepeer_transcoders_capacity",
        "livepeer_transcoders_load",
        "livepeer_current_sessions_total",
        "livepeer_winning_tickets_recv",
        "livepeer_value_redeemed",
    ] {
        assert_eq!(one(&s, name).1, 0.0, "{name}");
    }
    // Families never recorded are left out, as OpenCensus leaves out views with no data.
    assert!(samples(&s, "livepeer_tickets_recv").is_empty());
    m.set_transcoders(2, 10, 3);
    let s = scrape(&m);
    assert_eq!(one(&s, "livepeer_transcoders_number").1, 2.0);
    assert_eq!(one(&s, "livepeer_transcoders_capacity").1, 10.0);
    assert_eq!(one(&s, "livepeer_transcoders_load").1, 3.0);
}

#[test]
fn per_stream_adds_manifest_id_and_sender_and_client_ip_implies_it() {
    let plain = metrics(NodeType::Orchestrator, false, false);
    let per = metrics(NodeType::Orchestrator, true, false);
    let ip = metrics(NodeType::Orchestrator, false, true);
    assert!(ip.config().per_stream);
    for m in [&plain, &per, &ip] {
        m.tickets_received("sess", "0xGw", 2, 2e15, 1);
        m.pixels_processed("sess", Some("10.0.0.1"), 3_000_000);
    }
    let (l, v) = one(&scrape(&plain), "livepeer_tickets_recv");
    assert_eq!((keys(&l), v), (vec!["node_id", "node_type"], 2.0));
    let (l, _) = one(&scrape(&per), "livepeer_tickets_recv");
    assert_eq!(keys(&l), ["manifest_id", "node_id", "node_type", "sender"]);
    assert_eq!(
        (l["manifest_id"].as_str(), l["sender"].as_str()),
        ("sess", "0xGw")
    );
    let (l, v) = one(&scrape(&per), "livepeer_mil_pixels_processed");
    assert_eq!(keys(&l), ["manifest_id", "node_id", "node_type"]);
    assert_eq!(v, 3.0);
    let (l, _) = one(&scrape(&ip), "livepeer_mil_pixels_processed");
    assert_eq!(l["client_ip"], "10.0.0.1");
    let winning = samples(&scrape(&per), "livepeer_winning_tickets_recv");
    assert!(
        winning
            .iter()
            .any(|(l, v)| l["sender"] == "0xGw" && *v == 1.0),
        "{winning:?}"
    );
    // The initial zero sits under empty labels, as go's does.
    let s = scrape(&per);
    assert_eq!(samples(&s, "livepeer_value_redeemed")[0].0["sender"], "");
}

#[test]
fn transcoded_segments_carry_profiles_trust_and_verification() {
    let m = metrics(NodeType::Gateway, false, false);
    let profiles = profiles_label(["P360p30fps16x9", "P240p30fps16x9"]);
    assert_eq!(profiles, "P240p30fps16x9,P360p30fps16x9");
    m.segment_transcoded(&profiles, true, false, Duration::from_millis(1200));
    let s = scrape(&m);
    let (l, v) = one(&s, "livepeer_segment_transcoded_total");
    assert_eq!(v, 1.0);
    // (The parser splits label values at commas; the text has the whole list.)
    assert!(
        m.encode()
            .contains(r#"profiles="P240p30fps16x9,P360p30fps16x9""#)
    );
    assert_eq!(l["trusted"], "trusted");
    assert_eq!(l["verified"], "unverified");
    let buckets = s
        .samples
        .iter()
        .find_map(|x| match &x.value {
            prometheus_parse::Value::Histogram(h)
                if x.metric == "livepeer_transcode_time_seconds" =>
            {
                Some(h.len())
            }
            _ => None,
        })
        .expect("a histogram");
    // go's bounds without 0, and +Inf.
    assert_eq!(buckets, TRANSCODE_BOUNDS.len());
}

#[test]
fn histogram_bounds_are_gos_sorted_without_zero_or_duplicates() {
    assert_eq!(buckets(UPLOAD_BOUNDS), [0.1, 0.15, 0.2, 0.5, 10.0]);
    assert_eq!(buckets(LATENCY_BOUNDS)[0], 0.5);
}

#[test]
fn success_rate_is_the_mean_over_live_streams_of_their_last_segments() {
    let m = metrics(NodeType::Gateway, true, false);
    let latency = Duration::from_secs(1);
    let orch = OrchestratorLabels::default();
    m.stream_created("a");
    m.stream_created("b");
    m.segment_fully_transcoded("a", "P", orch, latency);
    m.segment_fully_transcoded("a", "P", orch, latency);
    m.segment_fully_transcoded("b", "P", orch, latency);
    m.segment_transcode_failed("b", "MaxAttempts", true);
    let s = scrape(&m);
    assert_eq!(one(&s, "livepeer_success_rate").1, 0.75);
    let per: HashMap<String, f64> = samples(&s, "livepeer_success_rate_per_stream")
        .into_iter()
        .map(|(l, v)| (l["manifest_id"].clone(), v))
        .collect();
    assert_eq!(per["a"], 1.0);
    assert_eq!(per["b"], 0.5);
    let (l, v) = one(&s, "livepeer_segment_transcode_failed_total");
    assert_eq!((l["error_code"].as_str(), v), ("MaxAttempts", 1.0));
    m.stream_ended("b");
    assert_eq!(one(&scrape(&m), "livepeer_success_rate").1, 1.0);
    assert_eq!(one(&scrape(&m), "livepeer_stream_ended_total").1, 1.0);
}

#[test]
fn error_codes_are_classified_as_go_does() {
    for (text, code) in [
        ("rpc error: OrchestratorCapped", "OrchestratorCapped"),
        ("HTTP status code 404 from orch", "HTTP 404"),
        ("context deadline exceeded", "DeadlineExceeded"),
        ("Canceled", "Canceled"),
        ("connection refused", "connection refused"),
    ] {
        assert_eq!(discovery_error_code(text), code, "{text}");
    }
    for (text, code) in [
        ("Expected price 1/1 got 2/1", "InvalidPrice"),
        ("invalid ticket faceValue", "InvalidTicketFaceValue"),
        ("invalid ticket winProb", "InvalidTicketWinProb"),
        (
            "invalid already revealed recipientRand",
            "InvalidRecipientRand",
        ),
        ("anything else", "PaymentError"),
    ] {
        assert_eq!(payment_recv_error_code(text), code, "{text}");
    }
    let m = metrics(NodeType::Gateway, false, false);
    m.discovery_error("https://o:1", "Canceled");
    m.discovery_error("https://o:1", "context deadline exceeded");
    let (l, v) = one(&scrape(&m), "livepeer_discovery_errors_total");
    assert_eq!((l["error_code"].as_str(), v), ("DeadlineExceeded", 1.0));
}

#[test]
fn money_gauges_are_in_gwei_and_prices_in_wei_per_pixel() {
    let m = metrics(NodeType::Gateway, false, false);
    m.set_deposit_and_reserve("0xGw", 5e18, 1e18);
    m.set_max_transcoding_price(1200.0);
    m.set_gas_prices(2e9, Some(1e9), None);
    let s = scrape(&m);
    assert_eq!(one(&s, "livepeer_gateway_deposit").1, 5e9);
    assert_eq!(one(&s, "livepeer_broadcaster_deposit").1, 5e9);
    assert_eq!(one(&s, "livepeer_gateway_reserve").1, 1e9);
    assert_eq!(one(&s, "livepeer_transcoding_price").1, 1200.0);
    assert_eq!(one(&s, "livepeer_suggested_gas_price").1, 2.0);
    assert_eq!(one(&s, "livepeer_min_gas_price").1, 1.0);
    assert!(samples(&s, "livepeer_max_gas_price").is_empty());
}

#[test]
fn two_nodes_in_one_process_keep_their_own_counts() {
    let a = metrics(NodeType::Gateway, false, false);
    let b = metrics(NodeType::Gateway, false, false);
    a.segment_emerged("x");
    assert_eq!(
        one(&scrape(&a), "livepeer_segment_source_emerged_total").1,
        1.0
    );
    assert!(samples(&scrape(&b), "livepeer_segment_source_emerged_total").is_empty());
    assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
}
