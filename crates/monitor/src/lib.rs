//! Prometheus metrics for `-monitor`, under go-livepeer's names, types, units and labels
//! (`monitor/census.go`, exported there through OpenCensus with namespace `livepeer`), so the
//! Grafana dashboards and alerts written for go-livepeer read a node of ours unchanged.
//!
//! Each node owns a [`Metrics`] (a cloneable handle over its own registry; never a process
//! global, so several nodes run in one process) and hands it to its roles through their
//! config structs; a role given none records nothing. [`Metrics::encode`] writes the text
//! exposition format 0.0.4 ([`CONTENT_TYPE`]) that the CLI API serves at `/metrics`.
//!
//! # How go's OpenCensus views map here
//!
//! - A `Count` view and a `Sum` view are counters named exactly as go's view (OpenCensus adds
//!   no `_total`: `livepeer_tickets_recv`, `livepeer_segment_source_emerged_total`); a
//!   `LastValue` view is a gauge; a `Distribution` is a histogram (`_bucket`, `_sum`,
//!   `_count`) with go's bounds sorted, deduplicated and without the 0 bound (OpenCensus
//!   drops it).
//! - Every series has `node_id` (go's `NodeID`: `<ethAcctAddr>-<hostname>`) and `node_type`
//!   (`bctr` gateway, `orch` orchestrator, [`NodeType`]). With `-metricsPerStream`
//!   ([`MetricsConfig::per_stream`]) the per-stream views add `manifest_id` and the payment
//!   views `sender`; with `-metricsClientIP` (which implies per-stream, as in go) the
//!   client-facing views add `client_ip`. A label a recording does not know is empty, as an
//!   OpenCensus tag missing from the context is.
//! - Units are go's: ticket values, deposits, reserves, max float, face values, value redeemed
//!   and gas prices in gwei (floating point), prices per pixel in wei, times in seconds.
//!
//! # Exported
//!
//! `versions`, `stream_created_total`, `stream_ended_total`, `segment_source_emerged_total`,
//! `segment_source_emerged_unprocessed_total`, `segment_source_uploaded_total`,
//! `segment_source_upload_failed_total`, `segment_transcoded_downloaded_total`,
//! `segment_transcoded_total`, `segment_transcode_failed_total`,
//! `segment_transcoded_all_appeared_total`, `success_rate`, `success_rate_per_stream`,
//! `transcode_time_seconds`, `transcode_overall_latency_seconds`, `upload_time_seconds`,
//! `download_time_seconds`, `max_sessions_total`, `current_sessions_total`,
//! `discovery_errors_total`, `transcoders_number`, `transcoders_capacity`,
//! `transcoders_load`, `orchestrator_swaps`, `ticket_value_sent`, `tickets_sent`,
//! `payment_create_errors`, `gateway_deposit`, `gateway_reserve` (and go's old names
//! `broadcaster_deposit`, `broadcaster_reserve`), `gateway_max_float`,
//! `gateway_ticket_face_value`, `ticket_value_recv`, `tickets_recv`, `payment_recv_errors`,
//! `winning_tickets_recv`, `value_redeemed`, `ticket_redemption_errors`, `min_gas_price`,
//! `max_gas_price`, `suggested_gas_price`, `mil_pixels_processed`, `transcoding_price`,
//! `reward_call_errors`, `ai_container_in_use`, `ai_container_idle` (per `pipeline` and
//! `model_name`), `ai_workers_number` (ours: go has no gauge of connected AI workers).
//!
//! Where the nodes record them: the gateway's segment path and discovery (`livepeer-gateway`),
//! the orchestrator's `/segment` route and payments (`livepeer-orchestrator`), the reward and
//! redemption services (`livepeer-eth`), and, read at each scrape by the CLI API, current
//! sessions, gas prices and the gateway's deposit and reserve. The orchestrator records
//! `gateway_max_float` and `gateway_ticket_face_value` per sender when it makes ticket
//! parameters and `value_redeemed` per redeemed ticket (as go-livepeer's recipient and sender
//! monitor do), and the CLI API reads `transcoders_*` and `max_sessions_total` from the
//! transcoder pool and the `ai_*` gauges from the AI runners and workers at each scrape; an
//! orchestrator's `client_ip` is always `not_tracked`.
//!
//! # Not exported (yet)
//!
//! go's process and Go-runtime collectors (`process_*`, `go_*`); `stream_started_total`,
//! `segment_source_appeared_total`, `segment_transcoded_unprocessed_total`,
//! `transcode_retried`, `transcode_score`, `source_segment_duration_seconds`,
//! `auth_webhook_time_milliseconds`, `http_client_timeout_1/2`,
//! `http_client_segment_transcoded_realtime_*`, `recording_save_*`, `recording_saved_segments`,
//! `kafka_event_send_errors`, `fast_verification_*`, `segment_scene_class_prob`,
//! `scene_classification_total_segments`, `price_per_capability`, `live_ai_price_per_pixel` and
//! the rest of the `ai_*` family (requests, latencies and live-video counters).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The `Content-Type` of [`Metrics::encode`]'s text: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;
/// go's OpenCensus namespace: every name starts `livepeer_`.
pub const NAMESPACE: &str = "livepeer";
/// Segments per stream in the success rate's window (go `numberOfSegmentsToCalcAverage`).
pub const SUCCESS_RATE_WINDOW: usize = 30;
/// The `client_ip` value when the client's address is unknown (go `manifestIDTagAndIP`).
pub const CLIENT_IP_NOT_TRACKED: &str = "not_tracked";
const GWEI: f64 = 1e9;

/// go-livepeer's `monitor.NodeType`, the `node_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// `dflt`: a node with no role (round services only).
    Default,
    /// `orch`.
    Orchestrator,
    /// `bctr`: a gateway (go kept the broadcaster's name).
    Gateway,
    /// `trcr`: a stand-alone transcoder.
    Transcoder,
    /// `rdmr`.
    Redeemer,
}

impl NodeType {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "dflt",
            Self::Orchestrator => "orch",
            Self::Gateway => "bctr",
            Self::Transcoder => "trcr",
            Self::Redeemer => "rdmr",
        }
    }
}

/// What a node's metrics are labelled with (go-livepeer `InitCensus` and its globals).
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// `node_type`.
    pub node_type: NodeType,
    /// `node_id`: go's `NodeID`, `<ethAcctAddr>-<hostname>` or the hostname.
    pub node_id: String,
    /// `-metricsPerStream`: `manifest_id` (and `sender` on payment metrics) labels.
    pub per_stream: bool,
    /// `-metricsClientIP`: `client_ip` labels; implies `per_stream`, as in go's starter.
    pub client_ip: bool,
    /// The `livepeerversion` label of `livepeer_versions`.
    pub version: String,
}

/// One label set a recording knows; keys a metric does not have are ignored, keys it has
/// that are not given are empty (OpenCensus tags and views).
#[derive(Debug, Default, Clone, Copy)]
struct Tags<'a> {
    manifest_id: Option<&'a str>,
    sender: Option<&'a str>,
    client_ip: Option<&'a str>,
    orchestrator_uri: Option<&'a str>,
    orchestrator_address: Option<&'a str>,
    orchestrator_version: Option<&'a str>,
    error_code: Option<&'a str>,
    profiles: Option<&'a str>,
    trusted: Option<&'a str>,
    verified: Option<&'a str>,
    pipeline: Option<&'a str>,
    model_name: Option<&'a str>,
}

/// The orchestrator a gateway's segment went to, for the `orchestrator_*` labels
/// (go `orchInfoTags`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OrchestratorLabels<'a> {
    /// `orchestrator_uri`: its service URI (`OrchestratorInfo.transcoder`).
    pub uri: &'a str,
    /// `orchestrator_address`: its ETH address, EIP-55; empty off-chain.
    pub address: &'a str,
    /// `orchestrator_version`: `Capabilities.version`.
    pub version: &'a str,
}

/// A labelled family and its label keys, in order.
#[derive(Clone)]
struct Family<M> {
    vec: M,
    keys: Vec<&'static str>,
}

/// A cloneable handle to one node's metrics; recording is cheap and never fails (a
/// recording that cannot be made is dropped, as go logs and drops it).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("node_type", &self.inner.config.node_type)
            .field("node_id", &self.inner.config.node_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: MetricsConfig,
    registry: Registry,
    stream_created: Family<IntCounterVec>,
    stream_ended: Family<IntCounterVec>,
    segment_emerged: Family<IntCounterVec>,
    segment_emerged_unprocessed: Family<IntCounterVec>,
    segment_uploaded: Family<IntCounterVec>,
    segment_upload_failed: Family<IntCounterVec>,
    segment_downloaded: Family<IntCounterVec>,
    segment_transcoded: Family<IntCounterVec>,
    segment_transcode_failed: Family<IntCounterVec>,
    segment_all_appeared: Family<IntCounterVec>,
    success_rate: Family<GaugeVec>,
    success_rate_per_stream: Family<GaugeVec>,
    transcode_time: Family<HistogramVec>,
    transcode_overall_latency: Family<HistogramVec>,
    upload_time: Family<HistogramVec>,
    download_time: Family<HistogramVec>,
    max_sessions: Family<IntGaugeVec>,
    current_sessions: Family<IntGaugeVec>,
    discovery_errors: Family<IntCounterVec>,
    transcoders_number: Family<IntGaugeVec>,
    transcoders_capacity: Family<IntGaugeVec>,
    transcoders_load: Family<IntGaugeVec>,
    ai_container_in_use: Family<IntGaugeVec>,
    ai_container_idle: Family<IntGaugeVec>,
    ai_workers: Family<IntGaugeVec>,
    orchestrator_swaps: Family<IntCounterVec>,
    ticket_value_sent: Family<CounterVec>,
    tickets_sent: Family<IntCounterVec>,
    payment_create_errors: Family<IntCounterVec>,
    deposit: [Family<GaugeVec>; 2],
    reserve: [Family<GaugeVec>; 2],
    max_float: Family<GaugeVec>,
    ticket_face_value: Family<GaugeVec>,
    ticket_value_recv: Family<CounterVec>,
    tickets_recv: Family<IntCounterVec>,
    payment_recv_errors: Family<IntCounterVec>,
    winning_tickets_recv: Family<IntCounterVec>,
    value_redeemed: Family<CounterVec>,
    ticket_redemption_errors: Family<IntCounterVec>,
    min_gas_price: Family<GaugeVec>,
    max_gas_price: Family<GaugeVec>,
    suggested_gas_price: Family<GaugeVec>,
    mil_pixels_processed: Family<CounterVec>,
    transcoding_price: Family<GaugeVec>,
    reward_call_errors: Family<IntCounterVec>,
    success: Mutex<SuccessWindows>,
}

/// go's bounds for `upload_time_seconds`, `download_time_seconds` (as written there:
/// `0, .10, .20, .50, .100, .150, .200, .500, .1000, .5000, 10.000`).
const UPLOAD_BOUNDS: &[f64] = &[
    0.0, 0.10, 0.20, 0.50, 0.100, 0.150, 0.200, 0.500, 0.1000, 0.5000, 10.0,
];
/// go's bounds for `transcode_time_seconds`.
const TRANSCODE_BOUNDS: &[f64] = &[
    0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 10.0,
];
/// go's bounds for `transcode_overall_latency_seconds`.
const LATENCY_BOUNDS: &[f64] = &[
    0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 10.0,
];

/// Histogram buckets from go's distribution bounds: sorted, deduplicated, positive only.
fn buckets(bounds: &[f64]) -> Vec<f64> {
    let mut b: Vec<f64> = bounds.iter().copied().filter(|&x| x > 0.0).collect();
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// Label keys of go's tag sets, with the flags applied.
struct KeySets {
    per_stream: bool,
    client_ip: bool,
}

const BASE: [&str; 2] = ["node_id", "node_type"];

impl KeySets {
    fn base(&self, front: &[&'static str]) -> Vec<&'static str> {
        front.iter().copied().chain(BASE).collect()
    }
    /// go `baseTagsWithManifestID`.
    fn manifest(&self, front: &[&'static str]) -> Vec<&'static str> {
        let mut k = self.base(front);
        if self.per_stream {
            k.push("manifest_id");
        }
        k
    }
    /// go `baseTagsWithEthAddr`.
    fn eth_addr(&self) -> Vec<&'static str> {
        let mut k = self.base(&[]);
        if self.per_stream {
            k.push("sender");
        }
        k
    }
    /// go `baseTagsWithManifestIDAndEthAddr`.
    fn manifest_eth_addr(&self, front: &[&'static str]) -> Vec<&'static str> {
        let mut k = self.manifest(front);
        if self.per_stream {
            k.push("sender");
        }
        k
    }
    /// go `baseTagsWithManifestIDAndIP`.
    fn manifest_ip(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.client_ip {
            k.push("client_ip");
        }
        k.extend(self.manifest(&[]));
        k
    }
}

const ORCH_INFO: [&str; 3] = [
    "orchestrator_uri",
    "orchestrator_address",
    "orchestrator_version",
];

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    // Names are fixed and distinct, so registration cannot fail; a failure would only leave
    // the family out of the output.
    let _ = registry.register(Box::new(c.clone()));
    c
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    /// A node's metrics, registered in a registry of its own, with `livepeer_versions` set
    /// and go's initial zeros (transcoders, current sessions, winning tickets, value
    /// redeemed; go `InitCensus`).
    pub fn new(mut config: MetricsConfig) -> Self {
        if config.client_ip {
            config.per_stream = true;
        }
        let registry = Registry::new_custom(Some(NAMESPACE.to_string()), None)
            .unwrap_or_else(|_| Registry::new());
        let ks = KeySets {
            per_stream: config.per_stream,
            client_ip: config.client_ip,
        };
        let r = &registry;
        let int_counter = |name: &str, help: &str, keys: Vec<&'static str>| Family {
            vec: register(
                r,
                IntCounterVec::new(opts(name, help), &keys).expect("valid metric"),
            ),
            keys,
        };
        let counter = |name: &str, help: &str, keys: Vec<&'static str>| Family {
            vec: register(
                r,
                CounterVec::new(opts(name, help), &keys).expect("valid metric"),
            ),
            keys,
        };
        let gauge = |name: &str, help: &str, keys: Vec<&'static str>| Family {
            vec: register(
                r,
                GaugeVec::new(opts(name, help), &keys).expect("valid metric"),
            ),
            keys,
        };
        let int_gauge = |name: &str, help: &str, keys: Vec<&'static str>| Family {
            vec: register(
                r,
                IntGaugeVec::new(opts(name, help), &keys).expect("valid metric"),
            ),
            keys,
        };
        let histogram = |name: &str, help: &str, bounds: &[f64], keys: Vec<&'static str>| Family {
            vec: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(buckets(bounds)),
                    &keys,
                )
                .expect("valid metric"),
            ),
            keys,
        };
        let orch_info = ks.base(&ORCH_INFO);
        let mut all_appeared_keys: Vec<&'static str> = vec!["profiles"];
        all_appeared_keys.extend(ORCH_INFO);
        let all_appeared_keys = ks.manifest(&all_appeared_keys);
        let mut latency_keys = vec!["profiles"];
        latency_keys.extend(orch_info.iter().copied());
        let gateway_info = ks.base(&["sender"]);

        let versions = register(
            r,
            GaugeVec::new(
                opts("versions", "Versions used by LivePeer node."),
                &[
                    "node_type",
                    "compiler",
                    "goos",
                    "goversion",
                    "livepeerversion",
                ],
            )
            .expect("valid metric"),
        );
        versions
            .with_label_values(&[
                config.node_type.as_str(),
                "rustc",
                std::env::consts::OS,
                "",
                config.version.as_str(),
            ])
            .set(1.0);

        let inner = Inner {
            stream_created: int_counter("stream_created_total", "StreamCreated", ks.base(&[])),
            stream_ended: int_counter("stream_ended_total", "StreamEnded", ks.base(&[])),
            segment_emerged: int_counter(
                "segment_source_emerged_total",
                "SegmentEmerged",
                ks.manifest(&[]),
            ),
            segment_emerged_unprocessed: int_counter(
                "segment_source_emerged_unprocessed_total",
                "Raw number of segments emerged from segmenter.",
                ks.manifest_ip(),
            ),
            segment_uploaded: int_counter(
                "segment_source_uploaded_total",
                "SegmentUploaded",
                ks.manifest(&["orchestrator_uri"]),
            ),
            segment_upload_failed: int_counter(
                "segment_source_upload_failed_total",
                "SegmentUploadedFailed",
                ks.manifest(&["error_code", "orchestrator_uri"]),
            ),
            segment_downloaded: int_counter(
                "segment_transcoded_downloaded_total",
                "SegmentDownloaded",
                ks.manifest(&[]),
            ),
            segment_transcoded: int_counter(
                "segment_transcoded_total",
                "SegmentTranscoded",
                ks.base(&["profiles", "trusted", "verified"]),
            ),
            segment_transcode_failed: int_counter(
                "segment_transcode_failed_total",
                "SegmentTranscodeFailed",
                ks.manifest(&["error_code"]),
            ),
            segment_all_appeared: int_counter(
                "segment_transcoded_all_appeared_total",
                "SegmentTranscodedAllAppeared",
                all_appeared_keys,
            ),
            success_rate: gauge(
                "success_rate",
                "Number of transcoded segments divided on number of source segments",
                ks.base(&[]),
            ),
            success_rate_per_stream: gauge(
                "success_rate_per_stream",
                "Number of transcoded segments divided on number of source segments, per stream",
                ks.manifest(&[]),
            ),
            transcode_time: histogram(
                "transcode_time_seconds",
                "TranscodeTime, seconds",
                TRANSCODE_BOUNDS,
                ks.base(&["profiles", "trusted", "verified"]),
            ),
            transcode_overall_latency: histogram(
                "transcode_overall_latency_seconds",
                "Transcoding latency, from source segment emerged from segmenter till all transcoded segment apeeared in manifest",
                LATENCY_BOUNDS,
                latency_keys,
            ),
            upload_time: histogram(
                "upload_time_seconds",
                "UploadTime, seconds",
                UPLOAD_BOUNDS,
                ks.base(&["orchestrator_uri"]),
            ),
            download_time: histogram(
                "download_time_seconds",
                "Download time",
                UPLOAD_BOUNDS,
                ks.manifest(&[]),
            ),
            max_sessions: int_gauge("max_sessions_total", "Max Sessions", ks.base(&[])),
            current_sessions: int_gauge(
                "current_sessions_total",
                "Number of streams currently transcoding",
                ks.base(&[]),
            ),
            discovery_errors: int_counter(
                "discovery_errors_total",
                "Number of discover errors",
                ks.base(&["error_code", "orchestrator_uri"]),
            ),
            transcoders_number: int_gauge(
                "transcoders_number",
                "Number of transcoders currently connected to orchestrator",
                ks.base(&[]),
            ),
            transcoders_capacity: int_gauge(
                "transcoders_capacity",
                "Total advertised capacity of transcoders currently connected to orchestrator",
                ks.base(&[]),
            ),
            transcoders_load: int_gauge(
                "transcoders_load",
                "Total load of transcoders currently connected to orchestrator",
                ks.base(&[]),
            ),
            ai_container_in_use: int_gauge(
                "ai_container_in_use",
                "Number of containers currently used for AI processing",
                ks.base(&["pipeline", "model_name"]),
            ),
            ai_container_idle: int_gauge(
                "ai_container_idle",
                "Number of containers currently available for AI processing",
                ks.base(&["pipeline", "model_name"]),
            ),
            ai_workers: int_gauge(
                "ai_workers_number",
                "Number of remote AI workers currently connected to orchestrator",
                ks.base(&[]),
            ),
            orchestrator_swaps: int_counter(
                "orchestrator_swaps",
                "Number of orchestrator swaps mid-stream",
                ks.manifest(&[]),
            ),
            ticket_value_sent: counter("ticket_value_sent", "Ticket value sent", ks.manifest(&[])),
            tickets_sent: int_counter("tickets_sent", "Tickets sent", ks.manifest(&[])),
            payment_create_errors: int_counter(
                "payment_create_errors",
                "Errors when creating payments",
                ks.manifest(&[]),
            ),
            deposit: [
                gauge(
                    "gateway_deposit",
                    "Current remaining deposit for the gateway node",
                    ks.eth_addr(),
                ),
                gauge(
                    "broadcaster_deposit",
                    "Current remaining deposit for the gateway node",
                    ks.eth_addr(),
                ),
            ],
            reserve: [
                gauge(
                    "gateway_reserve",
                    "Current remaining reserve for the gateway node",
                    ks.eth_addr(),
                ),
                gauge(
                    "broadcaster_reserve",
                    "Current remaining reserve for the gateway node",
                    ks.eth_addr(),
                ),
            ],
            max_float: gauge(
                "gateway_max_float",
                "Last maximum float for the gateway node",
                gateway_info.clone(),
            ),
            ticket_face_value: gauge(
                "gateway_ticket_face_value",
                "Last ticket face value for the gateway node",
                gateway_info,
            ),
            ticket_value_recv: counter(
                "ticket_value_recv",
                "Ticket value received",
                ks.manifest_eth_addr(&[]),
            ),
            tickets_recv: int_counter(
                "tickets_recv",
                "Tickets received",
                ks.manifest_eth_addr(&[]),
            ),
            payment_recv_errors: int_counter(
                "payment_recv_errors",
                "Errors when receiving payments",
                ks.manifest_eth_addr(&["error_code"]),
            ),
            winning_tickets_recv: int_counter(
                "winning_tickets_recv",
                "Winning tickets received",
                ks.manifest_eth_addr(&[]),
            ),
            value_redeemed: counter(
                "value_redeemed",
                "Winning ticket value redeemed",
                ks.eth_addr(),
            ),
            ticket_redemption_errors: int_counter(
                "ticket_redemption_errors",
                "Errors when redeeming tickets",
                ks.base(&[]),
            ),
            min_gas_price: gauge(
                "min_gas_price",
                "Minimum gas price to use for gas price suggestions",
                ks.base(&[]),
            ),
            max_gas_price: gauge(
                "max_gas_price",
                "Maximum gas price to use for gas price suggestions",
                ks.base(&[]),
            ),
            suggested_gas_price: gauge(
                "suggested_gas_price",
                "Suggested gas price for winning ticket redemption",
                ks.base(&[]),
            ),
            mil_pixels_processed: counter(
                "mil_pixels_processed",
                "Million pixels processed",
                ks.manifest_ip(),
            ),
            transcoding_price: gauge(
                "transcoding_price",
                "Transcoding price per pixel",
                ks.eth_addr(),
            ),
            reward_call_errors: int_counter(
                "reward_call_errors",
                "Errors when calling rewards",
                ks.base(&[]),
            ),
            success: Mutex::new(SuccessWindows::default()),
            config,
            registry,
        };
        let metrics = Self {
            inner: Arc::new(inner),
        };
        // go `InitCensus`'s initial recordings.
        metrics.set_transcoders(0, 0, 0);
        metrics.set_current_sessions(0);
        let none = Tags::default();
        metrics.inc_int(&metrics.inner.winning_tickets_recv, none, 0);
        metrics.inc(&metrics.inner.value_redeemed, none, 0.0);
        metrics
    }

    /// The configuration (with `per_stream` forced on by `client_ip`).
    pub fn config(&self) -> &MetricsConfig {
        &self.inner.config
    }

    /// Every metric recorded so far in Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory cannot fail for valid families.
        let _ = TextEncoder::new().encode(&self.inner.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn values<'a>(&'a self, keys: &[&'static str], tags: Tags<'a>) -> Vec<&'a str> {
        keys.iter()
            .map(|k| match *k {
                "node_id" => self.inner.config.node_id.as_str(),
                "node_type" => self.inner.config.node_type.as_str(),
                "manifest_id" => tags.manifest_id.unwrap_or(""),
                "sender" => tags.sender.unwrap_or(""),
                "client_ip" => tags.client_ip.unwrap_or(CLIENT_IP_NOT_TRACKED),
                "orchestrator_uri" => tags.orchestrator_uri.unwrap_or(""),
                "orchestrator_address" => tags.orchestrator_address.unwrap_or(""),
                "orchestrator_version" => tags.orchestrator_version.unwrap_or(""),
                "error_code" => tags.error_code.unwrap_or(""),
                "profiles" => tags.profiles.unwrap_or(""),
                "trusted" => tags.trusted.unwrap_or(""),
                "verified" => tags.verified.unwrap_or(""),
                "pipeline" => tags.pipeline.unwrap_or(""),
                "model_name" => tags.model_name.unwrap_or(""),
                _ => "",
            })
            .collect()
    }

    fn inc_int(&self, f: &Family<IntCounterVec>, tags: Tags<'_>, by: u64) {
        if let Ok(c) = f
            .vec
            .get_metric_with_label_values(&self.values(&f.keys, tags))
        {
            c.inc_by(by);
        }
    }

    fn inc(&self, f: &Family<CounterVec>, tags: Tags<'_>, by: f64) {
        if !(by.is_finite() && by >= 0.0) {
            return;
        }
        if let Ok(c) = f
            .vec
            .get_metric_with_label_values(&self.values(&f.keys, tags))
        {
            c.inc_by(by);
        }
    }

    fn set(&self, f: &Family<GaugeVec>, tags: Tags<'_>, value: f64) {
        if let Ok(g) = f
            .vec
            .get_metric_with_label_values(&self.values(&f.keys, tags))
        {
            g.set(value);
        }
    }

    fn set_int(&self, f: &Family<IntGaugeVec>, value: u64) {
        self.set_int_tagged(f, Tags::default(), value);
    }

    fn set_int_tagged(&self, f: &Family<IntGaugeVec>, tags: Tags<'_>, value: u64) {
        if let Ok(g) = f
            .vec
            .get_metric_with_label_values(&self.values(&f.keys, tags))
        {
            g.set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    fn observe(&self, f: &Family<HistogramVec>, tags: Tags<'_>, took: Duration) {
        if let Ok(h) = f
            .vec
            .get_metric_with_label_values(&self.values(&f.keys, tags))
        {
            h.observe(took.as_secs_f64());
        }
    }

    fn manifest(manifest_id: &str) -> Tags<'_> {
        Tags {
            manifest_id: Some(manifest_id),
            ..Tags::default()
        }
    }

    // ---- streams (gateway) ----

    /// A stream started (go `StreamCreated`).
    pub fn stream_created(&self, manifest_id: &str) {
        self.inc_int(&self.inner.stream_created, Tags::default(), 1);
        self.lock_success()
            .streams
            .entry(manifest_id.into())
            .or_default();
    }

    /// A stream ended (go `StreamEnded`): it leaves the success rate.
    pub fn stream_ended(&self, manifest_id: &str) {
        self.inc_int(&self.inner.stream_ended, Tags::default(), 1);
        let rate = {
            let mut s = self.lock_success();
            s.streams.remove(manifest_id);
            s.rate()
        };
        self.set(&self.inner.success_rate, Tags::default(), rate);
    }

    // ---- segments, gateway side ----

    /// A source segment reached the gateway (go `SegmentEmerged`, and the
    /// `segment_source_emerged_total` go counts once the segment is done or lost).
    pub fn segment_emerged(&self, manifest_id: &str) {
        let tags = Self::manifest(manifest_id);
        self.inc_int(&self.inner.segment_emerged, tags, 1);
        self.inc_int(&self.inner.segment_emerged_unprocessed, tags, 1);
    }

    /// A segment arrived at an orchestrator, from a gateway at `client_ip` when known (go
    /// `SegmentEmerged` there: `segment_source_emerged_unprocessed_total` only).
    pub fn segment_received(&self, manifest_id: &str, client_ip: Option<&str>) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            client_ip,
            ..Tags::default()
        };
        self.inc_int(&self.inner.segment_emerged_unprocessed, tags, 1);
    }

    /// The segment reached `orchestrator_uri`, which answered 200 after `took` (go
    /// `SegmentUploaded`).
    pub fn segment_uploaded(&self, manifest_id: &str, orchestrator_uri: &str, took: Duration) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            orchestrator_uri: Some(orchestrator_uri),
            ..Tags::default()
        };
        self.inc_int(&self.inner.segment_uploaded, tags, 1);
        self.observe(&self.inner.upload_time, tags, took);
    }

    /// Sending the segment to `orchestrator_uri` failed with go's `error_code` (`Timeout`,
    /// `Unknown`, `OrchestratorCapped`, an HTTP status line such as `400 Bad Request`, …;
    /// go `SegmentUploadFailed`).
    pub fn segment_upload_failed(&self, manifest_id: &str, orchestrator_uri: &str, code: &str) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            orchestrator_uri: Some(orchestrator_uri),
            error_code: Some(code),
            ..Tags::default()
        };
        self.inc_int(&self.inner.segment_upload_failed, tags, 1);
    }

    /// The orchestrator transcoded a segment in `took` (from the upload's answer to the whole
    /// result on a gateway; the transcoder's run on an orchestrator); `profiles` are go's
    /// `ProfilesNames` ([`profiles_label`]) (go `SegmentTranscoded`).
    pub fn segment_transcoded(
        &self,
        profiles: &str,
        trusted: bool,
        verified: bool,
        took: Duration,
    ) {
        let tags = Tags {
            profiles: Some(profiles),
            trusted: Some(if trusted { "trusted" } else { "untrusted" }),
            verified: Some(if verified { "verified" } else { "unverified" }),
            ..Tags::default()
        };
        self.inc_int(&self.inner.segment_transcoded, tags, 1);
        self.observe(&self.inner.transcode_time, tags, took);
    }

    /// A transcode attempt failed with go's `SegmentTranscodeError` code (`Transcode`,
    /// `OrchestratorBusy`, `ParseResponse`, `Download`, `MaxAttempts`, `NoOrchestrators`, …);
    /// `permanent` when the segment is given up, which counts against the success rate (go
    /// `SegmentTranscodeFailed`).
    pub fn segment_transcode_failed(&self, manifest_id: &str, code: &str, permanent: bool) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            error_code: Some(code),
            ..Tags::default()
        };
        self.inc_int(&self.inner.segment_transcode_failed, tags, 1);
        if permanent {
            self.segment_outcome(manifest_id, false);
        }
    }

    /// Every rendition of a segment was downloaded, in `took` (go `SegmentDownloaded`; on an
    /// orchestrator: the segment body was read).
    pub fn segment_downloaded(&self, manifest_id: &str, took: Duration) {
        let tags = Self::manifest(manifest_id);
        self.inc_int(&self.inner.segment_downloaded, tags, 1);
        self.observe(&self.inner.download_time, tags, took);
    }

    /// A segment's renditions all appeared in the stream's playlists, `latency` after the
    /// segment emerged, from `orchestrator` (go `SegmentFullyTranscoded`).
    pub fn segment_fully_transcoded(
        &self,
        manifest_id: &str,
        profiles: &str,
        orchestrator: OrchestratorLabels<'_>,
        latency: Duration,
    ) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            profiles: Some(profiles),
            orchestrator_uri: Some(orchestrator.uri),
            orchestrator_address: Some(orchestrator.address),
            orchestrator_version: Some(orchestrator.version),
            ..Tags::default()
        };
        self.observe(&self.inner.transcode_overall_latency, tags, latency);
        self.inc_int(&self.inner.segment_all_appeared, tags, 1);
        self.segment_outcome(manifest_id, true);
    }

    /// The gateway swapped orchestrators mid-stream (go `OrchestratorSwapped`).
    pub fn orchestrator_swapped(&self, manifest_id: &str) {
        self.inc_int(
            &self.inner.orchestrator_swaps,
            Self::manifest(manifest_id),
            1,
        );
    }

    /// Probing `orchestrator_uri` failed; `error` is classified as go's `LogDiscoveryError`
    /// does ([`discovery_error_code`]); a cancelled probe is not counted.
    pub fn discovery_error(&self, orchestrator_uri: &str, error: &str) {
        let code = discovery_error_code(error);
        if code == "Canceled" {
            return;
        }
        let tags = Tags {
            orchestrator_uri: Some(orchestrator_uri),
            error_code: Some(&code),
            ..Tags::default()
        };
        self.inc_int(&self.inner.discovery_errors, tags, 1);
    }

    fn lock_success(&self) -> std::sync::MutexGuard<'_, SuccessWindows> {
        match self.inner.success.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn segment_outcome(&self, manifest_id: &str, transcoded: bool) {
        let (rate, stream_rate) = {
            let mut s = self.lock_success();
            let window = s.streams.entry(manifest_id.into()).or_default();
            if window.len() == SUCCESS_RATE_WINDOW {
                window.pop_front();
            }
            window.push_back(transcoded);
            let stream_rate = window_rate(window);
            (s.rate(), stream_rate)
        };
        self.set(&self.inner.success_rate, Tags::default(), rate);
        if self.inner.config.per_stream {
            self.set(
                &self.inner.success_rate_per_stream,
                Self::manifest(manifest_id),
                stream_rate,
            );
        }
    }

    // ---- sessions and transcoders ----

    /// `-maxSessions` (go `MaxSessions`).
    pub fn set_max_sessions(&self, max_sessions: u64) {
        self.set_int(&self.inner.max_sessions, max_sessions);
    }

    /// Streams being transcoded now: live streams on a gateway, sessions on an orchestrator
    /// (go `CurrentSessions`).
    pub fn set_current_sessions(&self, sessions: u64) {
        self.set_int(&self.inner.current_sessions, sessions);
    }

    /// The remote transcoders connected to an orchestrator: how many, their advertised
    /// capacity and their load, all in segments at once (go `SetTranscodersNumberAndLoad`).
    pub fn set_transcoders(&self, number: u64, capacity: u64, load: u64) {
        self.set_int(&self.inner.transcoders_number, number);
        self.set_int(&self.inner.transcoders_capacity, capacity);
        self.set_int(&self.inner.transcoders_load, load);
    }

    /// An orchestrator's AI places for (`pipeline`, `model_id`): in use and idle (go
    /// `AIContainersInUse`, `AIContainersIdle`; a place is a runner's capacity here).
    pub fn set_ai_containers(&self, pipeline: &str, model_id: &str, in_use: u64, idle: u64) {
        let tags = Tags {
            pipeline: Some(pipeline),
            model_name: Some(model_id),
            ..Tags::default()
        };
        self.set_int_tagged(&self.inner.ai_container_in_use, tags, in_use);
        self.set_int_tagged(&self.inner.ai_container_idle, tags, idle);
    }

    /// The remote AI workers connected to an orchestrator.
    pub fn set_ai_workers(&self, number: u64) {
        self.set_int(&self.inner.ai_workers, number);
    }

    // ---- payments, gateway side ----

    /// `tickets` tickets worth `value_wei` together went out with a segment (go
    /// `TicketsSent`, `TicketValueSent`; nothing for zero).
    pub fn tickets_sent(&self, manifest_id: &str, tickets: u64, value_wei: f64) {
        let tags = Self::manifest(manifest_id);
        if tickets > 0 {
            self.inc_int(&self.inner.tickets_sent, tags, tickets);
        }
        if value_wei > 0.0 {
            self.inc(&self.inner.ticket_value_sent, tags, value_wei / GWEI);
        }
    }

    /// Tickets for a segment could not be made (go `PaymentCreateError`).
    pub fn payment_create_error(&self, manifest_id: &str) {
        self.inc_int(
            &self.inner.payment_create_errors,
            Self::manifest(manifest_id),
            1,
        );
    }

    /// `sender`'s deposit and remaining reserve on the TicketBroker, wei (go `Deposit`,
    /// `Reserve`; also under go's old `broadcaster_*` names).
    pub fn set_deposit_and_reserve(&self, sender: &str, deposit_wei: f64, reserve_wei: f64) {
        let tags = Tags {
            sender: Some(sender),
            ..Tags::default()
        };
        for f in &self.inner.deposit {
            self.set(f, tags, deposit_wei / GWEI);
        }
        for f in &self.inner.reserve {
            self.set(f, tags, reserve_wei / GWEI);
        }
    }

    /// The max float and the last ticket face value for `sender`, wei (go `MaxFloat`,
    /// `TicketFaceValue`).
    pub fn set_max_float(&self, sender: &str, max_float_wei: f64, face_value_wei: Option<f64>) {
        let tags = Tags {
            sender: Some(sender),
            ..Tags::default()
        };
        self.set(&self.inner.max_float, tags, max_float_wei / GWEI);
        if let Some(face) = face_value_wei {
            self.set(&self.inner.ticket_face_value, tags, face / GWEI);
        }
    }

    /// The gateway's `-maxPricePerUnit`/`-pixelsPerUnit`, wei per pixel (go
    /// `MaxTranscodingPrice`: `transcoding_price` with `sender="max"`).
    pub fn set_max_transcoding_price(&self, wei_per_pixel: f64) {
        let tags = Tags {
            sender: Some("max"),
            ..Tags::default()
        };
        self.set(&self.inner.transcoding_price, tags, wei_per_pixel);
    }

    // ---- payments, orchestrator side ----

    /// A payment from `sender` for `manifest_id` (the session) was received: `tickets`
    /// accepted, worth `value_wei` in expected value, `winning` of them winners (go
    /// `TicketValueRecv`, `TicketsRecv`, `WinningTicketsRecv`; zeros record nothing).
    pub fn tickets_received(
        &self,
        manifest_id: &str,
        sender: &str,
        tickets: u64,
        value_wei: f64,
        winning: u64,
    ) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            sender: Some(sender),
            ..Tags::default()
        };
        if value_wei > 0.0 {
            self.inc(&self.inner.ticket_value_recv, tags, value_wei / GWEI);
        }
        if tickets > 0 {
            self.inc_int(&self.inner.tickets_recv, tags, tickets);
        }
        if winning > 0 {
            self.inc_int(&self.inner.winning_tickets_recv, tags, winning);
        }
    }

    /// A ticket or payment from `sender` was refused; `error` is classified as go's
    /// `PaymentRecvError` does ([`payment_recv_error_code`]).
    pub fn payment_recv_error(&self, manifest_id: &str, sender: &str, error: &str) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            sender: Some(sender),
            error_code: Some(payment_recv_error_code(error)),
            ..Tags::default()
        };
        self.inc_int(&self.inner.payment_recv_errors, tags, 1);
    }

    /// A winning ticket of `sender` worth `face_value_wei` was redeemed (go `ValueRedeemed`).
    pub fn value_redeemed(&self, sender: &str, face_value_wei: f64) {
        let tags = Tags {
            sender: Some(sender),
            ..Tags::default()
        };
        self.inc(&self.inner.value_redeemed, tags, face_value_wei / GWEI);
    }

    /// Redeeming a winning ticket failed (go `TicketRedemptionError`).
    pub fn ticket_redemption_error(&self) {
        self.inc_int(&self.inner.ticket_redemption_errors, Tags::default(), 1);
    }

    /// `pixels` output pixels were produced for `manifest_id` (go `MilPixelsProcessed`, in
    /// millions); `client_ip` is the gateway's address when known.
    pub fn pixels_processed(&self, manifest_id: &str, client_ip: Option<&str>, pixels: u64) {
        let tags = Tags {
            manifest_id: Some(manifest_id),
            client_ip,
            ..Tags::default()
        };
        self.inc(&self.inner.mil_pixels_processed, tags, pixels as f64 / 1e6);
    }

    /// The price offered to `sender`, wei per pixel (go `TranscodingPrice`).
    pub fn set_transcoding_price(&self, sender: &str, wei_per_pixel: f64) {
        self.set(
            &self.inner.transcoding_price,
            Tags::default(),
            wei_per_pixel,
        );
        let tags = Tags {
            sender: Some(sender),
            ..Tags::default()
        };
        self.set(&self.inner.transcoding_price, tags, wei_per_pixel);
    }

    // ---- chain ----

    /// Gas prices, wei per gas: the suggested (polled and clamped) price and the
    /// `-minGasPrice`/`-maxGasPrice` bounds (go `SuggestedGasPrice`, `MinGasPrice`,
    /// `MaxGasPrice`); a bound that is not set is not recorded.
    pub fn set_gas_prices(&self, suggested_wei: f64, min_wei: Option<f64>, max_wei: Option<f64>) {
        let none = Tags::default();
        self.set(&self.inner.suggested_gas_price, none, suggested_wei / GWEI);
        if let Some(min) = min_wei {
            self.set(&self.inner.min_gas_price, none, min / GWEI);
        }
        if let Some(max) = max_wei {
            self.set(&self.inner.max_gas_price, none, max / GWEI);
        }
    }

    /// A `reward()` call failed (go `RewardCallError`).
    pub fn reward_call_error(&self) {
        self.inc_int(&self.inner.reward_call_errors, Tags::default(), 1);
    }
}

/// The `profiles` label: the profile names sorted and joined with commas (go
/// `common.ProfilesNames`).
pub fn profiles_label<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    names.join(",")
}

/// go `LogDiscoveryError`'s `error_code`: `OrchestratorCapped`, `HTTP 404`,
/// `DeadlineExceeded`, `Canceled`, else the error text itself.
pub fn discovery_error_code(error: &str) -> String {
    if error.contains("OrchestratorCapped") {
        "OrchestratorCapped".into()
    } else if error.contains("HTTP status code 404") {
        "HTTP 404".into()
    } else if error.contains("DeadlineExceeded") || error.contains("deadline") {
        "DeadlineExceeded".into()
    } else if error.contains("Canceled") {
        "Canceled".into()
    } else {
        error.into()
    }
}

/// go `PaymentRecvError`'s `error_code` for a refusal text.
pub fn payment_recv_error_code(error: &str) -> &'static str {
    if error.contains("Expected price") {
        "InvalidPrice"
    } else if error.contains("invalid already revealed recipientRand") {
        "InvalidRecipientRand"
    } else if error.contains("invalid ticket faceValue") {
        "InvalidTicketFaceValue"
    } else if error.contains("invalid ticket winProb") {
        "InvalidTicketWinProb"
    } else {
        "PaymentError"
    }
}

/// The last [`SUCCESS_RATE_WINDOW`] outcomes of each live stream (go `segmentsAverager`,
/// without its wait for late segments: an outcome is counted when it is known).
#[derive(Default)]
struct SuccessWindows {
    streams: HashMap<String, VecDeque<bool>>,
}

fn window_rate(window: &VecDeque<bool>) -> f64 {
    if window.is_empty() {
        return 1.0;
    }
    window.iter().filter(|ok| **ok).count() as f64 / window.len() as f64
}

impl SuccessWindows {
    /// The mean of the streams' rates; 1 with no outcome yet (go `successRate`).
    fn rate(&self) -> f64 {
        let rates: Vec<f64> = self
            .streams
            .values()
            .filter(|w| !w.is_empty())
            .map(window_rate)
            .collect();
        if rates.is_empty() {
            1.0
        } else {
            rates.iter().sum::<f64>() / rates.len() as f64
        }
    }
}

#[cfg(test)]
mod tests;
