//! AI on the orchestrator (`-aiWorker` with `-aiModels`): the batch AI routes on the service
//! port, the AI capabilities and prices advertised in `OrchestratorInfo`, and the results
//! served back as URLs.
//!
//! A request to `POST /<pipeline>` goes through go-livepeer's `handleAIRequest` steps
//! (`server/ai_http.go`, `reference/ai.md` §1.1 and §3.3), in its order:
//! 1. the payment header decodes (402) and the segment credentials verify (403);
//! 2. the body parses as the pipeline's request (400) and its billing units are computed
//!    ([`livepeer_ai::units`]; 400, e.g. "MaxTokens not specified");
//! 3. a place on a runner of the (pipeline, model) is reserved (503 "insufficient capacity");
//! 4. on chain the tickets are credited to (sender, `"<capability>_<model_id>"`) (400) and,
//!    with a non-zero expected price, the balance must cover a ticket EV (400 "Insufficient
//!    balance");
//! 5. the runner answers (500 with its error otherwise); data URLs in the answer are stored
//!    here and replaced by `https://<service>/stream/<request>/<file>` URLs;
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
use livepeer_ai::worker::AiWorker;
use livepeer_pm::PriceInfo;
use livepeer_primitives::{Capabilities, ModelConstraint};
use livepeer_proto::net;
use serde_json::Value;
use tracing::{info, warn};

use crate::State;

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

/// The orchestrator's AI state.
#[derive(Debug)]
pub(crate) struct AiState {
    pub(crate) worker: Arc<AiWorker>,
    prices: Vec<AiPrice>,
    results: ResultStore,
}

impl AiState {
    pub(crate) fn new(config: AiConfig) -> Self {
        Self {
            worker: config.worker,
            prices: config.prices,
            results: ResultStore::default(),
        }
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
        for m in self.worker.models() {
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
        self.worker
            .models()
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

/// A stored result file, if `request`/`file` names one.
pub(crate) fn stored_result(state: &State, request: &str, file: &str) -> Option<Response<Body>> {
    let ai = state.ai.as_ref()?;
    let (mime, data) = ai.results.get(request, file)?;
    Some(([(header::CONTENT_TYPE, mime)], data).into_response())
}

fn text(status: StatusCode, msg: &str) -> Response<Body> {
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
    let Some(lease) = ai.worker.reserve(pipeline, &model_id) else {
        warn!(%pipeline, %model_id, "insufficient capacity");
        return text(StatusCode::SERVICE_UNAVAILABLE, "insufficient capacity");
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
    let reply = lease.client().run(&request).await;
    let reply = match reply {
        Ok(reply) => reply,
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
    };
    if let (Some(payments), Some(price)) = (&state.payments, expected_price) {
        payments.debit_at(sender, &manifest, units, price);
    }
    info!(%pipeline, %model_id, request = %request_id, units, took_ms = started.elapsed().as_millis() as u64, "AI request processed");
    match reply {
        RunnerReply::Json(mut value) => {
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
        RunnerReply::LlmStream(stream) => {
            // The lease moves into the stream: the place is held until the stream ends.
            let events = stream
                .map(move |chunk| {
                    let _held = &lease;
                    let line = match chunk {
                        Ok(chunk) => format!(
                            "data: {}\n\n",
                            serde_json::to_string(&chunk).unwrap_or_default()
                        ),
                        Err(e) => format!(
                            "data: {}\n\n",
                            serde_json::json!({ "error": e.to_string() })
                        ),
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
