//! The gateway's public AI API (`reference/ai.md` §1.1, §3): `POST /<pipeline>` on the
//! gateway's HTTP port, sent to an orchestrator that advertises the (capability, model), paid
//! per request on chain, with the result re-hosted here.
//!
//! - **Requests**: the pipeline's JSON or multipart body (422-style checks answered as 400
//!   here), `model_id` (`model` for `llm`) defaulting to go-livepeer's default model of the
//!   pipeline; `llm` gets `max_tokens` 256 when absent and must have messages;
//!   `text-to-speech` must have `text`.
//! - **Sessions** (go-livepeer `server/ai_session.go`): one pool per `"<capability>_<model>"`,
//!   discovered from the gateway's orchestrator source with the model as a constraint,
//!   refreshed when it has no usable session, when fewer than [`refresh_threshold`] of the
//!   orchestrators found are unsuspended (batch pipelines), or after [`AI_SESSION_TTL`];
//!   warm sessions (the orchestrator advertises the model warm) before cold ones, each by
//!   ascending latency score (seconds per billing unit of its last answer).
//! - **Retries** (go-livepeer `processAIRequest`): up to [`MAX_TRIES`] orchestrators, none
//!   picked after `-aiProcessingRetryTimeout` (an answer already in flight is awaited);
//!   "insufficient capacity" and "invalid ticket sendernonce" move on without suspending,
//!   "ticketparams expired" refreshes the session and retries it (up to
//!   [`MAX_SAME_SESSION_TRIES`]), other failures suspend the orchestrator for the pool's
//!   next [`SUSPENSION_PENALTY`] refreshes; an orchestrator error saying "returned 400" is the
//!   client's fault and answered 400.
//! - **Payment**: on chain each request carries tickets for units × price (the
//!   orchestrator's `price_info` for the requested model; [`crate::payment`]), and the
//!   balance is settled from the units when the answer arrives. Off-chain nothing is paid.
//! - **Results**: every `url` of the answer (a data URL or the orchestrator's stored file) is
//!   fetched, kept here and rewritten to `/stream/<request>/<file>` on this gateway.
//! - **Errors**: `{"error":{"message":...}}`; 503 is masked as "Service Unavailable Error"
//!   and 500 as "Internal Server Error" (go-livepeer `server/handlers.go` `handleAPIError`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use futures::StreamExt;
use hyper::Uri;
use livepeer_ai::client::{RunnerClientError, RunnerReply, send_request};
use livepeer_ai::results::{ResultStore, decode_data_url, extension};
use livepeer_ai::{AiRequest, Pipeline};
use livepeer_pm::PricePerPixel;
use livepeer_primitives::{Capabilities, CapabilitySet, ModelConstraint};
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::dispatch::BroadcastSession;
use crate::streams::Gateway;

/// Orchestrators tried per request (go-livepeer `maxTries`).
pub const MAX_TRIES: usize = 20;
/// Tries on one orchestrator for a transient error (go-livepeer `maxSameSessTries`).
pub const MAX_SAME_SESSION_TRIES: usize = 3;
/// After this no new orchestrator is picked (go-livepeer `-aiProcessingRetryTimeout`).
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(2);
/// Tries of one result's upload to `-objectStore`.
pub const OBJECT_STORE_ATTEMPTS: usize = 3;
/// A batch pool is rediscovered when fewer sessions than this, or than half the
/// orchestrators its last refresh found, are left unsuspended (go-livepeer
/// `maxRefreshSessionsThreshold`; [`refresh_threshold`]).
pub const MAX_REFRESH_SESSIONS_THRESHOLD: usize = 8;

/// The fewest unsuspended sessions a batch pool keeps before it is rediscovered:
/// min([`MAX_REFRESH_SESSIONS_THRESHOLD`], ⌈`discovered` / 2⌉) (go-livepeer
/// `AISessionSelector.Select`'s `shouldRefreshSelector`, which takes `discovered` as the
/// smaller of the orchestrator pool's size and what the last refresh found; here it is what
/// the last refresh found, suspended orchestrators included).
pub fn refresh_threshold(discovered: usize) -> usize {
    MAX_REFRESH_SESSIONS_THRESHOLD.min(discovered.div_ceil(2))
}

/// A pool is rediscovered after this (go-livepeer `AISessionManagerTTL`).
pub const AI_SESSION_TTL: Duration = Duration::from_secs(10 * 60);
/// Refreshes a failed orchestrator sits out (go-livepeer: penalty 3 for batch AI).
pub const SUSPENSION_PENALTY: u32 = 3;
/// The largest AI request body taken from a client.
pub const MAX_AI_REQUEST_BYTES: usize = 128 * 1024 * 1024;
/// The largest result file fetched from an orchestrator.
pub const MAX_RESULT_FILE_BYTES: usize = 256 * 1024 * 1024;
/// go-livepeer's gateway default `max_tokens` for `llm`.
pub const DEFAULT_MAX_TOKENS: i64 = 256;
/// The `Authorization` value of the current gateway → orchestrator AI protocol.
pub const AI_WORKER_PROTOCOL: &str = "Livepeer-AI-Worker-1.0";

/// `{"error":{"message":...}}` with go's masking of 500 and 503.
pub fn api_error(status: StatusCode, message: &str) -> Response<Body> {
    let shown = match status {
        StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable Error",
        StatusCode::INTERNAL_SERVER_ERROR => "Internal Server Error",
        _ => message,
    };
    if status.is_server_error() {
        warn!(%status, message, "AI request failed");
    }
    (status, axum::Json(json!({"error": {"message": shown}}))).into_response()
}

/// One orchestrator of a pool.
#[derive(Debug, Clone)]
struct AiSession {
    session: BroadcastSession,
    warm: bool,
    /// Seconds per billing unit of its last answer; 0 until it answered.
    latency_score: f64,
}

#[derive(Debug, Default)]
struct AiPool {
    sessions: Vec<AiSession>,
    refreshed: Option<Instant>,
    /// How many orchestrators the last refresh found, suspended ones included (go-livepeer
    /// `initialPoolSize`).
    discovered: usize,
    /// Orchestrator → refreshes it still sits out.
    suspended: HashMap<Uri, u32>,
}

/// The AI session pools and stored results of one gateway.
#[derive(Debug, Default)]
pub(crate) struct AiSessions {
    pools: Mutex<HashMap<String, AiPool>>,
    results: ResultStore,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The job capabilities of an AI request: the capability, and the model as a cold
/// constraint (go-livepeer `newAICapabilities`), with `min_runner_version` if set.
pub fn ai_job(pipeline: Pipeline, model_id: &str, min_runner_version: &str) -> Capabilities {
    let cap = pipeline.capability();
    Capabilities {
        bitstring: CapabilitySet::from_ids([cap]),
        capacities: BTreeMap::from([(cap, 1)]),
        per_capability: BTreeMap::from([(
            cap,
            BTreeMap::from([(
                model_id.to_string(),
                ModelConstraint {
                    warm: false,
                    capacity: 1,
                    runner_version: min_runner_version.to_string(),
                    capacity_in_use: 0,
                },
            )]),
        )]),
        ..Default::default()
    }
}

/// How a try ended.
enum TryOutcome {
    Done(Response<Body>),
    /// Move on to another orchestrator; `suspend` it first when it is at fault.
    Next {
        suspend: bool,
    },
    /// Refresh the session and try it again.
    Refresh,
}

impl Gateway {
    /// `POST /<pipeline>` (see the module docs).
    pub(crate) async fn ai_request(
        &self,
        pipeline: Pipeline,
        headers: HeaderMap,
        body: Body,
    ) -> Response<Body> {
        let bytes = match tokio::time::timeout(
            self.config.push_read_timeout,
            axum::body::to_bytes(body, MAX_AI_REQUEST_BYTES),
        )
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                return api_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            Err(_) => return api_error(StatusCode::REQUEST_TIMEOUT, "request body timed out"),
        };
        let mut request = match livepeer_ai::server::parse_request(
            pipeline,
            &headers,
            bytes,
            MAX_AI_REQUEST_BYTES,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return api_error(StatusCode::BAD_REQUEST, &e.body().to_string()),
        };
        if let Err(msg) = fill_gateway_defaults(&mut request) {
            return api_error(StatusCode::BAD_REQUEST, msg);
        }
        let model_id = request.model_id().to_string();
        let units = match livepeer_ai::units::billing_units(&request).await {
            Ok(u) => u,
            Err(e) => return api_error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let key = format!("{}_{}", pipeline.capability(), model_id);
        let request_id = hex::encode(rand::random::<[u8; 8]>());
        let deadline = Instant::now() + self.config.ai_retry_timeout;
        let mut tried: HashSet<Uri> = HashSet::new();
        for attempt in 0..MAX_TRIES {
            if attempt > 0 && Instant::now() >= deadline {
                break;
            }
            let Some(mut session) = self
                .pick_ai_session(pipeline, &model_id, &key, &tried)
                .await
            else {
                break;
            };
            tried.insert(session.session.addr.clone());
            let mut same = 0;
            loop {
                same += 1;
                let started = Instant::now();
                match self
                    .try_ai(&session, &request, &key, units, &request_id)
                    .await
                {
                    TryOutcome::Done(resp) => {
                        if resp.status().is_success() {
                            self.record_ai_latency(&key, &session, started.elapsed(), units);
                        }
                        return resp;
                    }
                    TryOutcome::Next { suspend } => {
                        if suspend {
                            self.suspend_ai(&key, &session.session.addr);
                        }
                        break;
                    }
                    TryOutcome::Refresh if same < MAX_SAME_SESSION_TRIES => {
                        match self
                            .refreshed_ai_session(&session, pipeline, &model_id)
                            .await
                        {
                            Some(fresh) => session = fresh,
                            None => break,
                        }
                    }
                    TryOutcome::Refresh => break,
                }
            }
        }
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "no orchestrators available within {:?} timeout",
                self.config.ai_retry_timeout
            ),
        )
    }

    /// The next session of the (pipeline, model) pool not yet `tried`: warm first, then
    /// cold, each by ascending latency score; the pool is rediscovered when nothing usable
    /// is left or it is older than [`AI_SESSION_TTL`].
    async fn pick_ai_session(
        &self,
        pipeline: Pipeline,
        model_id: &str,
        key: &str,
        tried: &HashSet<Uri>,
    ) -> Option<AiSession> {
        for refreshed in [false, true] {
            if let Some(found) = self.choose_ai((pipeline, model_id, key), tried, refreshed) {
                return Some(found);
            }
            if refreshed {
                break;
            }
            self.refresh_ai_pool(pipeline, model_id, key).await;
        }
        None
    }

    fn choose_ai(
        &self,
        (pipeline, model_id, key): (Pipeline, &str, &str),
        tried: &HashSet<Uri>,
        after_refresh: bool,
    ) -> Option<AiSession> {
        let max_price = self.ai_max_price(pipeline, model_id);
        let pools = lock(&self.ai.pools);
        let pool = pools.get(key)?;
        if !after_refresh && pool.refreshed.is_none_or(|t| t.elapsed() > AI_SESSION_TTL) {
            return None;
        }
        // Batch pools also refresh when too few orchestrators are left unsuspended; live
        // ones only when empty (go-livepeer).
        let unsuspended = pool
            .sessions
            .iter()
            .filter(|s| !pool.suspended.contains_key(&s.session.addr))
            .count();
        if !after_refresh
            && pipeline != Pipeline::LiveVideoToVideo
            && unsuspended < refresh_threshold(pool.discovered)
        {
            return None;
        }
        // The max price is checked again here: it may have been lowered since the refresh
        // (`/setMaxPriceForCapability`).
        let mut usable: Vec<&AiSession> = pool
            .sessions
            .iter()
            .filter(|s| {
                !tried.contains(&s.session.addr)
                    && !pool.suspended.contains_key(&s.session.addr)
                    && !above_max_price(&s.session, max_price)
            })
            .collect();
        usable.sort_by(|a, b| {
            b.warm
                .cmp(&a.warm)
                .then(a.latency_score.total_cmp(&b.latency_score))
        });
        usable.first().map(|s| (*s).clone())
    }

    async fn refresh_ai_pool(&self, pipeline: Pipeline, model_id: &str, key: &str) {
        let job = ai_job(
            pipeline,
            model_id,
            &self.config.ai_min_runner_version(pipeline, model_id),
        );
        let found = self.discover_sessions(&job).await;
        let cap = pipeline.capability();
        let max_price = self.ai_max_price(pipeline, model_id);
        let mut pools = lock(&self.ai.pools);
        let pool = pools.entry(key.to_string()).or_default();
        let old: HashMap<Uri, f64> = pool
            .sessions
            .iter()
            .map(|s| (s.session.addr.clone(), s.latency_score))
            .collect();
        pool.sessions = found
            .into_iter()
            .filter_map(|session| {
                let model = session
                    .capabilities
                    .per_capability
                    .get(&cap)?
                    .get(model_id)?;
                if above_max_price(&session, max_price) {
                    debug!(orch = %session.addr, "AI price above the gateway's max price");
                    return None;
                }
                Some(AiSession {
                    warm: model.warm,
                    latency_score: old.get(&session.addr).copied().unwrap_or(0.0),
                    session,
                })
            })
            .collect();
        pool.refreshed = Some(Instant::now());
        // A refresh serves one round of every suspension.
        pool.suspended.retain(|_, left| {
            *left = left.saturating_sub(1);
            *left > 0
        });
        let sessions = &pool.sessions;
        pool.discovered = sessions.len()
            + pool
                .suspended
                .keys()
                .filter(|addr| !sessions.iter().any(|s| &s.session.addr == *addr))
                .count();
        info!(
            key,
            sessions = pool.sessions.len(),
            "AI session pool refreshed"
        );
    }

    /// The next orchestrator of the (pipeline, model) pool not yet `tried` (as a request
    /// picks one), for the live pipelines.
    pub(crate) async fn pick_ai_session_for(
        &self,
        pipeline: Pipeline,
        model_id: &str,
        key: &str,
        tried: &HashSet<Uri>,
    ) -> Option<BroadcastSession> {
        self.pick_ai_session(pipeline, model_id, key, tried)
            .await
            .map(|s| s.session)
    }

    /// Suspends `addr` in the pool `key` (it failed a request).
    pub(crate) fn suspend_ai_session(&self, key: &str, addr: &Uri) {
        self.suspend_ai(key, addr);
    }

    fn suspend_ai(&self, key: &str, addr: &Uri) {
        let mut pools = lock(&self.ai.pools);
        if let Some(pool) = pools.get_mut(key) {
            pool.suspended.insert(addr.clone(), SUSPENSION_PENALTY);
        }
    }

    fn record_ai_latency(&self, key: &str, session: &AiSession, took: Duration, units: u64) {
        let score = took.as_secs_f64() / units.max(1) as f64;
        let mut pools = lock(&self.ai.pools);
        if let Some(s) = pools.get_mut(key).and_then(|p| {
            p.sessions
                .iter_mut()
                .find(|s| s.session.addr == session.session.addr)
        }) {
            s.latency_score = score;
        }
    }

    async fn refreshed_ai_session(
        &self,
        session: &AiSession,
        pipeline: Pipeline,
        model_id: &str,
    ) -> Option<AiSession> {
        let job = ai_job(pipeline, model_id, "");
        let mut request = net::OrchestratorRequest {
            capabilities: Some(livepeer_proto::convert::capabilities_to_net(&job)),
            ..Default::default()
        };
        if let Some(payments) = &self.payments {
            payments.sign_request(&mut request);
        }
        let info = self
            .client
            .get_orchestrator(&session.session.addr, request)
            .await
            .ok()?;
        let terms = match &self.payments {
            Some(payments) => Some(
                payments
                    .terms(
                        &session.session.addr.to_string(),
                        &info,
                        session.session.terms.as_ref(),
                    )
                    .ok()?,
            ),
            None => None,
        };
        let mut fresh = BroadcastSession::from_info(
            session.session.addr.clone(),
            info,
            session.session.latency,
        )
        .ok()?;
        fresh.terms = terms;
        fresh.score = session.session.score;
        Some(AiSession {
            session: fresh,
            ..session.clone()
        })
    }

    /// One try on one orchestrator.
    async fn try_ai(
        &self,
        session: &AiSession,
        request: &AiRequest,
        key: &str,
        units: u64,
        request_id: &str,
    ) -> TryOutcome {
        let orch = &session.session;
        let mut seg = net::SegData {
            manifest_id: key.as_bytes().to_vec(),
            auth_token: Some(orch.auth_token.clone()),
            capabilities: Some(livepeer_proto::convert::capabilities_to_net(&ai_job(
                request.pipeline,
                request.model_id(),
                "",
            ))),
            ..Default::default()
        };
        let mut staged = None;
        let mut payment_header = String::new();
        if let (Some(payments), Some(terms)) = (&self.payments, &orch.terms) {
            payments.sign_segment(&mut seg);
            match payments.stage_units(terms, &orch.auth_token.session_id, units) {
                Ok(s) => {
                    payment_header = s.header.clone();
                    staged = Some(s);
                }
                Err(err) => {
                    warn!(orch = %orch.addr, %err, "cannot pay for the AI request");
                    return TryOutcome::Next {
                        suspend: !err.is_request_fault(),
                    };
                }
            }
        }
        let url = format!(
            "{}/{}",
            orch.transcoder.to_string().trim_end_matches('/'),
            request.pipeline
        );
        let builder = ai_http()
            .post(&url)
            .timeout(livepeer_ai::client::REQUEST_TIMEOUT)
            .header(header::AUTHORIZATION, AI_WORKER_PROTOCOL)
            .header(SEGMENT_HEADER, encode_header(&seg))
            .header(PAYMENT_HEADER, payment_header);
        let reply = send_request(builder, request).await;
        if let (Some(payments), Some(staged), Some(terms)) = (&self.payments, &staged, &orch.terms)
        {
            let outcome = match &reply {
                Ok(_) => Some(Some(units)),
                Err(RunnerClientError::Status { .. }) => Some(None),
                Err(_) => Some(None),
            };
            payments.complete(staged, terms.price, outcome);
        }
        match reply {
            Ok(RunnerReply::Json(mut value)) => {
                match self.rehost(request_id, &mut value).await {
                    Ok(()) => {}
                    Err(Rehost::Fetch(e)) => {
                        warn!(orch = %orch.addr, error = %e, "cannot fetch the AI result");
                        return TryOutcome::Next { suspend: true };
                    }
                    // The gateway's own store failed: no other orchestrator would help.
                    Err(Rehost::Store(e)) => {
                        warn!(error = %e, "cannot store the AI result");
                        return TryOutcome::Done(api_error(StatusCode::INTERNAL_SERVER_ERROR, &e));
                    }
                }
                TryOutcome::Done(
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        value.to_string(),
                    )
                        .into_response(),
                )
            }
            Ok(RunnerReply::LlmStream(stream)) => TryOutcome::Done(llm_passthrough(stream)),
            Err(RunnerClientError::Status { status, msg, .. }) => {
                let text = msg.to_lowercase();
                if text.contains("insufficient capacity")
                    || text.contains("invalid ticket sendernonce")
                {
                    debug!(orch = %orch.addr, %msg, "orchestrator busy; trying another");
                    TryOutcome::Next { suspend: false }
                } else if text.contains("ticketparams expired") {
                    TryOutcome::Refresh
                } else if status == 400 && text.contains("returned 400") || is_client_fault(&text) {
                    TryOutcome::Done(api_error(StatusCode::BAD_REQUEST, &msg))
                } else {
                    warn!(orch = %orch.addr, status, %msg, "AI request failed; suspending the orchestrator");
                    TryOutcome::Next { suspend: true }
                }
            }
            Err(e) => {
                warn!(orch = %orch.addr, error = %e, "AI request failed; suspending the orchestrator");
                TryOutcome::Next { suspend: true }
            }
        }
    }

    /// Fetches every `url` of `value` and re-hosts it as `<request_id>/<n>.<ext>`, rewriting
    /// the URL: in `-objectStore` when the gateway has one (its URL there, as go-livepeer's
    /// `drivers.NodeStorage.NewSession(requestID).SaveData`), else in memory here at
    /// `/stream/<request_id>/<n>.<ext>`.
    async fn rehost(&self, request_id: &str, value: &mut Value) -> Result<(), Rehost> {
        let mut urls = Vec::new();
        collect_urls(value, &mut urls);
        let store = self
            .config
            .object_store
            .clone()
            .map(livepeer_objectstore::NodeStore::new);
        let mut replaced = HashMap::new();
        for (n, url) in urls.iter().enumerate() {
            let (mime, data) = match decode_data_url(url) {
                Some(found) => found,
                None => fetch_result(url).await.map_err(Rehost::Fetch)?,
            };
            let name = format!("{n}.{}", extension(&mime));
            let hosted = match &store {
                Some(store) => store
                    .save_retried(request_id, &name, data, OBJECT_STORE_ATTEMPTS)
                    .await
                    .map_err(|e| {
                        Rehost::Store(format!("error saving the result to the object store: {e}"))
                    })?,
                None => {
                    self.ai.results.put(request_id, name.clone(), mime, data);
                    format!("/stream/{request_id}/{name}")
                }
            };
            replaced.insert(url.clone(), hosted);
        }
        rewrite_urls(value, &replaced);
        Ok(())
    }

    /// A stored AI result, if `request`/`file` names one.
    pub(crate) fn ai_result(&self, request: &str, file: &str) -> Option<Response<Body>> {
        let (mime, data) = self.ai.results.get(request, file)?;
        Some(([(header::CONTENT_TYPE, mime)], data).into_response())
    }

    /// The max price per capability set for `model_id` of `pipeline`, else for its
    /// `default` model.
    pub(crate) fn ai_max_price(&self, pipeline: Pipeline, model_id: &str) -> Option<PricePerPixel> {
        self.capability_max_price(pipeline.as_str(), model_id)
            .or_else(|| self.capability_max_price(pipeline.as_str(), "default"))
    }
}

/// Why a result could not be re-hosted.
enum Rehost {
    /// The orchestrator's URL did not give it.
    Fetch(String),
    /// `-objectStore` refused it.
    Store(String),
}

/// Errors of the orchestrator that are the request's fault (answered 400 to the client).
fn is_client_fault(text: &str) -> bool {
    text.contains("maxtokens not specified")
        || text.contains("unable to calculate duration")
        || text.contains("is required")
}

/// The gateway's defaults (go-livepeer `server/ai_mediaserver.go`): the pipeline's default
/// model when none is named; `llm` `max_tokens` 256 and at least one message;
/// `text-to-speech` text required.
fn fill_gateway_defaults(request: &mut AiRequest) -> Result<(), &'static str> {
    let pipeline = request.pipeline;
    if request.model_id().is_empty() {
        request.params.insert(
            pipeline.model_field().to_string(),
            Value::from(pipeline.default_model_id()),
        );
    }
    match pipeline {
        Pipeline::Llm => {
            if request
                .params
                .get("messages")
                .and_then(|m| m.as_array())
                .is_none_or(|m| m.is_empty())
            {
                return Err("missing required fields");
            }
            if !request.has("max_tokens") {
                request
                    .params
                    .insert("max_tokens".into(), Value::from(DEFAULT_MAX_TOKENS));
            }
        }
        Pipeline::TextToSpeech if request.str("text").is_empty() => {
            return Err("text field is required");
        }
        _ => {}
    }
    Ok(())
}

/// Re-emits an orchestrator's LLM events until one has a `finish_reason`, then `[DONE]`.
fn llm_passthrough(stream: livepeer_ai::client::LlmStream) -> Response<Body> {
    let events = futures::stream::unfold((stream, false), |(mut stream, done)| async move {
        if done {
            return None;
        }
        match stream.next().await {
            Some(Ok(chunk)) => {
                let last = chunk
                    .choices
                    .first()
                    .is_some_and(|c| !c.finish_reason.is_empty());
                let mut line = format!(
                    "data: {}\n\n",
                    serde_json::to_string(&chunk).unwrap_or_default()
                );
                if last {
                    line.push_str("data: [DONE]\n\n");
                }
                Some((line, (stream, last)))
            }
            Some(Err(e)) => Some((
                format!("data: {}\n\n", json!({"error": e.to_string()})),
                (stream, true),
            )),
            None => Some(("data: [DONE]\n\n".to_string(), (stream, true))),
        }
    })
    .map(|s| Ok::<_, std::convert::Infallible>(Bytes::from(s)));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(crate) fn ai_http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        // Orchestrators serve self-signed certificates; go-livepeer's gateway skips
        // verification too.
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

/// Whether `session`'s price is above `max` (both fractions of wei per unit); a session
/// without terms (off-chain) or an unset max is never above.
fn above_max_price(session: &BroadcastSession, max: Option<PricePerPixel>) -> bool {
    let (Some(max), Some(terms)) = (max, &session.terms) else {
        return false;
    };
    let Ok(price) = PricePerPixel::try_from(terms.price) else {
        return true;
    };
    u128::from(price.num()) * u128::from(max.den())
        > u128::from(max.num()) * u128::from(price.den())
}

async fn fetch_result(url: &str) -> Result<(String, Bytes), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("bad result url {url}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("bad result url {url}"));
    }
    let resp = ai_http()
        .get(url)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{url}: {}", resp.status()));
    }
    let mime = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let mut body = bytes::BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if body.len() + chunk.len() > MAX_RESULT_FILE_BYTES {
            return Err(format!("{url}: result too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((mime, body.freeze()))
}

fn collect_urls(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == "url" => out.push(s.clone()),
                    other => collect_urls(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_urls(v, out)),
        _ => {}
    }
}

fn rewrite_urls(value: &mut Value, replaced: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if k == "url" => {
                        if let Some(new) = replaced.get(s) {
                            *s = new.clone();
                        }
                    }
                    other => rewrite_urls(other, replaced),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_urls(v, replaced)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_threshold_is_half_the_pool_up_to_eight() {
        let expected = [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (4, 2),
            (15, 8),
            (16, 8),
            (100, 8),
        ];
        for (discovered, threshold) in expected {
            assert_eq!(refresh_threshold(discovered), threshold, "{discovered}");
        }
    }
}
