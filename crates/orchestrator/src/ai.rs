//! AI on the orchestrator (`-aiWorker` with `-aiModels`): the batch AI routes on the service
//! port, the AI capabilities and prices advertised in `OrchestratorInfo`, and the results
//! served back as URLs.
//!
//! A request to `POST /<pipeline>` goes through go-livepeer's `handleAIRequest` steps
//! (`server/ai_http.go`, `reference/ai.md` §1.1 and §3.3), in its order:
//! 1. the payment header decodes (402) and the segment credentials verify (403);
//! 2. the body parses as the pipeline's request (400) and its billing units are computed
//!    ([`livepeer_ai::units`]; 400, e.g. "MaxTokens not specified");
//! 3. a place on a runner of the (pipeline, model) is reserved: a local one first, else one
//!    on a remote AI worker ([`crate::ai_remote`]) (503 "insufficient capacity" with neither);
//! 4. on chain the tickets are credited to (sender, `"<capability>_<model_id>"`) (400) and,
//!    with a non-zero expected price, the balance must cover a ticket EV (400 "Insufficient
//!    balance");
//! 5. the runner (or the remote worker) answers (500 with its error otherwise); data URLs and
//!    a remote worker's result files in the answer are stored here and replaced by
//!    `https://<service>/stream/<request>/<file>` URLs;
//! 6. the units are debited at the payment's expected price, and the place released when the
//!    answer has been written (for LLM streams, when the stream ends).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use futures::StreamExt;
use livepeer_ai::Pipeline;
use livepeer_ai::client::{RunnerClientError, RunnerReply};
use livepeer_ai::config::{AiModelConfig, DEFAULT_GATEWAY};
use livepeer_ai::results::{ResultStore, decode_data_url, extension, for_each_url};
use livepeer_ai::worker::{AiWorker, ModelCapacity};
use livepeer_pm::PriceInfo;
use livepeer_primitives::{Capabilities, ModelConstraint};
use livepeer_proto::net;
use serde_json::Value;
use tracing::{info, warn};

use crate::State;
use crate::ai_remote::{RemoteAiWorkers, RemoteLease, WorkerResult, merge_model};

/// The largest AI request body taken, in bytes. go-livepeer allows 3 GB
/// (`MaxAIRequestSize`); this node reads bodies into memory, so it takes less.
pub const MAX_AI_REQUEST_BYTES: usize = 128 * 1024 * 1024;
/// How long an AI request body may take to arrive.
pub const AI_BODY_TIMEOUT: Duration = Duration::from_secs(300);
/// The `Authorization` value of gateways speaking the current AI protocol (go-livepeer
/// `protoVerAIWorker`).
pub const AI_WORKER_PROTOCOL: &str = "Livepeer-AI-Worker-1.0";

/// `-aiWorker` with `-aiModels`: the runners and the prices.
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// The runners (started by the node; stopped by it after the orchestrator).
    pub worker: Arc<AiWorker>,
    /// Prices per (pipeline, model, gateway); on chain a model without one is not offered.
    pub prices: Vec<AiPrice>,
}

/// One AI price: `price` per billing unit ratio for `pipeline`/`model_id`, for `gateway` or
/// (`None`) for every gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct AiPrice {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The model.
    pub model_id: String,
    /// The gateway it is for; `None` for all.
    pub gateway: Option<Address>,
    /// Wei per `pixels_per_unit` units.
    pub price: PriceInfo,
}

impl AiPrice {
    /// The prices of `-aiModels` entries: each entry's own, else `default` (`-pricePerUnit` /
    /// `-pixelsPerUnit`). go-livepeer refuses to start when neither is set on chain; so does
    /// this (an error naming the model).
    pub fn from_models(
        configs: &[AiModelConfig],
        default: Option<PriceInfo>,
    ) -> Result<Vec<Self>, String> {
        configs
            .iter()
            .map(|c| {
                let price = c.price.or(default).ok_or_else(|| {
                    format!(
                        "'pricePerUnit' must be set for {} {}",
                        c.pipeline, c.model_id
                    )
                })?;
                let gateway = if c.gateway == DEFAULT_GATEWAY {
                    None
                } else {
                    Some(
                        c.gateway
                            .parse()
                            .map_err(|_| format!("gateway {:?} is not an address", c.gateway))?,
                    )
                };
                Ok(AiPrice {
                    pipeline: c.pipeline,
                    model_id: c.model_id.clone(),
                    gateway,
                    price,
                })
            })
            .collect()
    }
}

/// One (pipeline, model) an orchestrator serves, as its `/status` reports it (`aiModels`,
/// and each of `aiWorkers`' `models`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiModelReport {
    /// The pipeline (`text-to-speech`, …).
    pub pipeline: String,
    /// The model.
    pub model_id: String,
    /// Whether any runner of it is warm.
    pub warm: bool,
    /// Concurrent requests its healthy runners take.
    pub capacity: u32,
    /// Requests (or live streams) in flight.
    pub in_use: u32,
    /// The lowest runner version.
    pub runner_version: String,
}

impl From<&ModelCapacity> for AiModelReport {
    fn from(m: &ModelCapacity) -> Self {
        Self {
            pipeline: m.pipeline.to_string(),
            model_id: m.model_id.clone(),
            warm: m.warm,
            capacity: m.capacity,
            in_use: m.in_use,
            runner_version: m.runner_version.clone(),
        }
    }
}

/// One remote AI worker registered with an orchestrator, as its `/status` reports it
/// (`aiWorkers`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiWorkerReport {
    /// Where it connected from (`IP:port`).
    pub address: String,
    /// What it serves.
    pub models: Vec<AiModelReport>,
}

/// The orchestrator's AI state: its own runners (if any) and the remote AI workers that
/// registered ([`crate::ai_remote`]).
#[derive(Debug)]
pub(crate) struct AiState {
    /// `-aiWorker`'s runners; `None` on an orchestrator served by remote workers only.
    pub(crate) worker: Option<Arc<AiWorker>>,
    /// The remote AI workers (registered with `-orchSecret`).
    pub(crate) remote: RemoteAiWorkers,
    prices: Vec<AiPrice>,
    results: ResultStore,
}

impl AiState {
    pub(crate) fn new(config: AiConfig) -> Self {
        Self {
            worker: Some(config.worker),
            remote: RemoteAiWorkers::default(),
            prices: config.prices,
            results: ResultStore::default(),
        }
    }

    /// An orchestrator without runners of its own, for remote AI workers, with `prices`.
    pub(crate) fn remote_only(prices: Vec<AiPrice>) -> Self {
        Self {
            worker: None,
            remote: RemoteAiWorkers::default(),
            prices,
            results: ResultStore::default(),
        }
    }

    /// The hardware of the local runners, then of the remote workers (go-livepeer
    /// `WorkerHardware`, which gives one or the other).
    pub(crate) fn hardware(&self) -> Vec<net::HardwareInformation> {
        let mut out: Vec<net::HardwareInformation> = self
            .worker
            .as_ref()
            .map(|w| {
                w.hardware()
                    .iter()
                    .map(crate::ai_remote::hardware_to_net)
                    .collect()
            })
            .unwrap_or_default();
        out.extend(self.remote.hardware());
        out
    }

    /// Every model served now, local and remote, merged per (pipeline, model).
    pub(crate) fn models(&self) -> Vec<ModelCapacity> {
        let mut out = self.worker.as_ref().map(|w| w.models()).unwrap_or_default();
        for m in self.remote.models() {
            merge_model(&mut out, &m);
        }
        out
    }

    /// The price of (`capability`, `model_id`) for `gateway`: its own, else the default one.
    pub(crate) fn price(
        &self,
        gateway: Address,
        capability: u32,
        model_id: &str,
    ) -> Option<PriceInfo> {
        let matching =
            |p: &&AiPrice| p.pipeline.capability() == capability && p.model_id == model_id;
        self.prices
            .iter()
            .filter(matching)
            .find(|p| p.gateway == Some(gateway))
            .or_else(|| {
                self.prices
                    .iter()
                    .filter(matching)
                    .find(|p| p.gateway.is_none())
            })
            .map(|p| p.price)
    }

    /// The AI capabilities, capacities and model constraints added to `caps` (go-livepeer
    /// `core/capabilities.go`; capacity and capacity in use read now).
    pub(crate) fn advertise(&self, caps: &mut Capabilities) {
        for m in self.models() {
            let cap = m.pipeline.capability();
            caps.bitstring.insert_id(cap);
            *caps.capacities.entry(cap).or_default() += m.capacity;
            caps.per_capability.entry(cap).or_default().insert(
                m.model_id.clone(),
                ModelConstraint {
                    warm: m.warm,
                    capacity: m.capacity,
                    runner_version: m.runner_version.clone(),
                    capacity_in_use: m.in_use,
                },
            );
        }
    }

    /// `OrchestratorInfo.capabilities_prices`: one `PriceInfo` per served (capability, model)
    /// with a price for `gateway`, `constraint` = the model id.
    pub(crate) fn capabilities_prices(&self, gateway: Address) -> Vec<net::PriceInfo> {
        self.models()
            .iter()
            .filter_map(|m| {
                let cap = m.pipeline.capability();
                self.price(gateway, cap, &m.model_id)
                    .map(|p| net::PriceInfo {
                        price_per_unit: p.price_per_unit,
                        pixels_per_unit: p.pixels_per_unit,
                        capability: cap,
                        constraint: m.model_id.clone(),
                    })
            })
            .collect()
    }

    /// The price for a job asking for AI capabilities (go-livepeer `core/orchestrator.go`
    /// `priceInfo`): the sum of the prices of every (capability, model) it names; `None` when
    /// it names none.
    pub(crate) fn job_price(&self, gateway: Address, job: &Capabilities) -> Option<PriceInfo> {
        let mut total: Option<(u128, u128)> = None;
        for (&cap, models) in &job.per_capability {
            if Pipeline::from_capability(cap).is_none() {
                continue;
            }
            for model in models.keys() {
                let p = self.price(gateway, cap, model)?;
                let (n, d) = (
                    u128::try_from(p.price_per_unit).ok()?,
                    u128::try_from(p.pixels_per_unit).ok()?.max(1),
                );
                total = Some(match total {
                    None => (n, d),
                    Some((tn, td)) => (
                        tn.checked_mul(d)?.checked_add(n.checked_mul(td)?)?,
                        td.checked_mul(d)?,
                    ),
                });
            }
        }
        let (n, d) = total?;
        livepeer_ai::config::reduced_price(n, d)
    }
}

/// A stored result file, or a remote AI worker's staged input, if `request`/`file` names one.
pub(crate) fn stored_result(state: &State, request: &str, file: &str) -> Option<Response<Body>> {
    let ai = state.ai.as_ref()?;
    if let Some((mime, data)) = ai.results.get(request, file) {
        return Some(([(header::CONTENT_TYPE, mime)], data).into_response());
    }
    let input = ai.remote.staged_input(request, file)?;
    Some(([(header::CONTENT_TYPE, "application/octet-stream")], input).into_response())
}

/// A plain-text answer (`<msg>\n`), as go-livepeer's `respondWithError`.
pub(crate) fn text(status: StatusCode, msg: &str) -> Response<Body> {
    (status, format!("{msg}\n")).into_response()
}

/// `POST /<pipeline>` (see the module docs).
pub(crate) async fn post_ai(
    state: Arc<State>,
    pipeline: Pipeline,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let Some(ai) = state.ai.as_ref() else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let (payment, sender, _seg) = match crate::http::payment_and_credentials(&state, &headers) {
        Ok(parts) => parts,
        Err(err) => return crate::http::refuse(err, &headers, body).await,
    };
    let bytes = match tokio::time::timeout(
        AI_BODY_TIMEOUT,
        axum::body::to_bytes(body, MAX_AI_REQUEST_BYTES),
    )
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "request body timed out"),
    };
    let request =
        match livepeer_ai::server::parse_request(pipeline, &headers, bytes, MAX_AI_REQUEST_BYTES)
            .await
        {
            Ok(r) => r,
            Err(e) => return text(StatusCode::BAD_REQUEST, &e.body().to_string()),
        };
    let model_id = request.model_id().to_string();
    if model_id.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            &format!("{} is required", pipeline.model_field()),
        );
    }
    let units = match livepeer_ai::units::billing_units(&request).await {
        Ok(u) => u,
        Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let local = ai
        .worker
        .as_ref()
        .and_then(|w| w.reserve(pipeline, &model_id));
    let place = match local {
        Some(lease) => Place::Local(lease),
        None => match ai.remote.reserve(pipeline, &model_id, &[]) {
            Some(lease) => Place::Remote(lease),
            None => {
                warn!(%pipeline, %model_id, "insufficient capacity");
                return text(StatusCode::SERVICE_UNAVAILABLE, "insufficient capacity");
            }
        },
    };
    let manifest = format!("{}_{}", pipeline.capability(), model_id);
    let expected_price = payment.as_ref().map(|p| p.expected_price);
    if let (Some(payments), Some(batch)) = (&state.payments, payment) {
        if let Err(err) = payments.process_payment(batch, &manifest).await {
            return text(err.status(), &err.to_string());
        }
        if expected_price.is_some_and(|p| p.price_per_unit > 0)
            && let Err(err) = payments.require_balance_at(sender, &manifest)
        {
            return text(err.status(), &err.to_string());
        }
    }
    let request_id = hex::encode(rand::random::<[u8; 8]>());
    let started = Instant::now();
    let outcome = match place {
        Place::Local(lease) => match lease.client().run(&request).await {
            Ok(RunnerReply::Json(value)) => Outcome::Json(value, Box::new(lease)),
            Ok(RunnerReply::LlmStream(stream)) => Outcome::Stream(
                stream
                    .map(|chunk| {
                        chunk
                            .map(|c| serde_json::to_value(&c).unwrap_or_default())
                            .map_err(|e| e.to_string())
                    })
                    .boxed(),
                Box::new(lease),
            ),
            Err(e) => {
                warn!(%pipeline, %model_id, error = %e, "AI runner failed");
                let msg = match &e {
                    RunnerClientError::Status { status, msg, .. } => {
                        format!("runner returned {status}: {msg}")
                    }
                    other => other.to_string(),
                };
                return text(StatusCode::INTERNAL_SERVER_ERROR, &msg);
            }
        },
        Place::Remote(lease) => {
            let input = request.file.as_ref().map(|f| f.data.clone());
            let processed = ai
                .remote
                .process(
                    lease,
                    &request_id,
                    request.to_json(),
                    input,
                    &state.service_uri,
                )
                .await;
            match processed {
                Ok((WorkerResult::Json { mut value, files }, lease)) => {
                    if pipeline == Pipeline::ImageToVideo {
                        // Frames go back into the answer, to be encoded like a local runner's.
                        inline_worker_files(&mut value, files);
                    } else {
                        store_worker_files(ai, &state.service_uri, &request_id, &mut value, files);
                    }
                    Outcome::Json(value, Box::new(lease))
                }
                Ok((WorkerResult::Stream(events), lease)) => {
                    Outcome::Stream(tokio_stream_from(events).boxed(), Box::new(lease))
                }
                Ok((WorkerResult::Failed(msg), _)) => {
                    warn!(%pipeline, %model_id, error = %msg, "remote AI worker failed");
                    return text(StatusCode::INTERNAL_SERVER_ERROR, &msg);
                }
                Err(e) => {
                    warn!(%pipeline, %model_id, error = %e, "no remote AI worker answered");
                    return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
                }
            }
        }
    };
    if let (Some(payments), Some(price)) = (&state.payments, expected_price) {
        payments.debit_at(sender, &manifest, units, price);
    }
    info!(%pipeline, %model_id, request = %request_id, units, took_ms = started.elapsed().as_millis() as u64, "AI request processed");
    match outcome {
        Outcome::Json(mut value, lease) => {
            if pipeline == Pipeline::ImageToVideo {
                // The runner's frames become MP4s here, as go-livepeer's orchestrator does.
                value = match livepeer_ai::video::frames_to_videos(&request, value).await {
                    Ok(videos) => videos,
                    Err(e) => {
                        warn!(%pipeline, %model_id, error = %e, "cannot encode the frames");
                        return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
                    }
                };
            }
            store_data_urls(ai, &state.service_uri, &request_id, &mut value);
            drop(lease);
            (
                [(header::CONTENT_TYPE, "application/json")],
                value.to_string(),
            )
                .into_response()
        }
        Outcome::Stream(stream, lease) => {
            // The lease moves into the stream: the place is held until the stream ends.
            let events = stream
                .map(move |chunk| {
                    let _held = &lease;
                    let line = match chunk {
                        Ok(chunk) => format!("data: {chunk}\n\n"),
                        Err(e) => format!("data: {}\n\n", serde_json::json!({ "error": e })),
                    };
                    Ok::<_, std::convert::Infallible>(Bytes::from(line))
                })
                .chain(futures::stream::once(async {
                    Ok(Bytes::from_static(b"data: [DONE]\n\n"))
                }));
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(Body::from_stream(events))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// Where a request runs: a local runner or a remote AI worker.
enum Place {
    Local(livepeer_ai::worker::RunnerLease),
    Remote(RemoteLease),
}

/// A runner's or worker's answer, with the place it holds until passed on.
enum Outcome {
    Json(Value, Box<dyn Send + Sync>),
    Stream(
        futures::stream::BoxStream<'static, Result<Value, String>>,
        Box<dyn Send + Sync>,
    ),
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Value, String>>,
) -> impl futures::Stream<Item = Result<Value, String>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Stores the files a remote worker sent with its answer and points the `url` fields that
/// name them at the stored copies (go-livepeer `saveRemoteAIWorkerResults`); a file the
/// answer does not name is dropped.
fn store_worker_files(
    ai: &AiState,
    service_uri: &str,
    request_id: &str,
    value: &mut Value,
    mut files: std::collections::HashMap<String, (String, Bytes)>,
) {
    let mut n = 0usize;
    for_each_url(value, &mut |url: &mut String| {
        let Some((mime, data)) = files.remove(url.as_str()) else {
            return;
        };
        let name = format!("w{n}.{}", extension(&mime));
        n += 1;
        ai.results.put(request_id, name.clone(), mime, data);
        *url = format!("{service_uri}/stream/{request_id}/{name}");
    });
}

/// Replaces every `url` of `value` that names one of a worker's `files` with the file as a
/// data URL.
fn inline_worker_files(
    value: &mut Value,
    mut files: std::collections::HashMap<String, (String, Bytes)>,
) {
    for_each_url(value, &mut |url: &mut String| {
        if let Some((mime, data)) = files.remove(url.as_str()) {
            *url = livepeer_ai::builtin::data_url(&mime, &data);
        }
    });
}

/// Replaces every `data:` URL under a `url` key of `value` with the URL of a stored copy
/// (go-livepeer `core/ai_orchestrator.go` `saveLocalAIWorkerResults`).
fn store_data_urls(ai: &AiState, service_uri: &str, request_id: &str, value: &mut Value) {
    let mut n = 0usize;
    for_each_url(value, &mut |url: &mut String| {
        let Some((mime, data)) = decode_data_url(url) else {
            return;
        };
        let name = format!("{n}.{}", extension(&mime));
        n += 1;
        ai.results.put(request_id, name.clone(), mime, data);
        *url = format!("{service_uri}/stream/{request_id}/{name}");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use livepeer_primitives::ModelConstraint;

    #[test]
    fn remote_workers_models_are_advertised_and_priced_while_registered() {
        let price = PriceInfo {
            price_per_unit: 7,
            pixels_per_unit: 1,
        };
        let ai = AiState::remote_only(vec![AiPrice {
            pipeline: Pipeline::TextToSpeech,
            model_id: "tts".into(),
            gateway: None,
            price,
        }]);
        let mut caps = Capabilities::default();
        ai.advertise(&mut caps);
        assert!(!caps.bitstring.contains_id(36));
        assert!(ai.capabilities_prices(Address::ZERO).is_empty());

        let mut worker = Capabilities::default();
        worker.per_capability.entry(36).or_default().insert(
            "tts".into(),
            ModelConstraint {
                warm: true,
                capacity: 2,
                runner_version: "0.14.1".into(),
                capacity_in_use: 0,
            },
        );
        let (id, _jobs) = ai
            .remote
            .register(
                "w".into(),
                crate::ai_remote::worker_models(&worker),
                Vec::new(),
            )
            .expect("registered");
        let mut caps = Capabilities::default();
        ai.advertise(&mut caps);
        assert!(caps.bitstring.contains_id(36));
        assert_eq!(caps.capacities.get(&36), Some(&2));
        assert_eq!(caps.per_capability[&36]["tts"].runner_version, "0.14.1");
        let prices = ai.capabilities_prices(Address::ZERO);
        assert_eq!(
            (
                prices.len(),
                prices[0].capability,
                prices[0].constraint.as_str(),
                prices[0].price_per_unit
            ),
            (1, 36, "tts", 7)
        );

        ai.remote.remove(id);
        let mut caps = Capabilities::default();
        ai.advertise(&mut caps);
        assert!(!caps.bitstring.contains_id(36));
        assert!(ai.capabilities_prices(Address::ZERO).is_empty());
    }
}
