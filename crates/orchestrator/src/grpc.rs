//! `net.Orchestrator` over gRPC: GetOrchestrator, Ping, EndTranscodingSession.

use std::sync::Arc;
use std::time::SystemTime;

use alloy_primitives::Address;
use livepeer_proto::net;
use tonic::{Request, Response, Status};
use tracing::{debug, warn};

use crate::{OrchestratorError, State};

/// The gRPC face of [`State`].
#[derive(Debug, Clone)]
pub(crate) struct OrchestratorGrpc {
    pub(crate) state: Arc<State>,
}

impl State {
    /// The `OrchestratorInfo` for a session holding `auth_token` (go-livepeer
    /// `server/rpc.go:orchestratorInfo`). Off-chain it carries no price, ticket parameters or
    /// address; on chain it carries the price for `sender`'s `session` and fresh ticket
    /// parameters for `sender`, and the orchestrator's address.
    ///
    /// Errors: [`OrchestratorError::TicketParams`] on chain when no parameters can be made.
    ///
    /// With AI models (see [`crate::ai`]): a `job` naming AI capabilities and models is priced
    /// at the sum of their prices; otherwise every AI price is listed in
    /// `capabilities_prices`.
    pub(crate) async fn orchestrator_info(
        &self,
        auth_token: net::AuthToken,
        sender: Address,
        session: Option<&str>,
        job: Option<&livepeer_primitives::Capabilities>,
    ) -> Result<net::OrchestratorInfo, OrchestratorError> {
        let mut info = self.offchain_info(auth_token);
        if let Some(payments) = &self.payments {
            let ai_price = match (&self.ai, job) {
                (Some(ai), Some(job)) => ai.job_price(sender, job),
                _ => None,
            };
            if let (Some(ai), None) = (&self.ai, ai_price) {
                info.capabilities_prices = ai.capabilities_prices(sender);
            }
            let (params, price) = payments.ticket_info(sender, session, ai_price).await?;
            info.ticket_params = Some(params);
            info.price_info = Some(price);
            info.address = payments.address().to_vec();
        }
        Ok(info)
    }

    /// The capabilities advertised now: the transcoding ones and, with AI models, their
    /// capabilities, capacities and model constraints.
    pub(crate) fn advertised_capabilities(&self) -> livepeer_primitives::Capabilities {
        let mut caps = self.capabilities.clone();
        if let Some(ai) = &self.ai {
            ai.advertise(&mut caps);
        }
        caps
    }

    /// The `OrchestratorInfo` without anything chain-related.
    pub(crate) fn offchain_info(&self, auth_token: net::AuthToken) -> net::OrchestratorInfo {
        net::OrchestratorInfo {
            transcoder: self.service_uri.clone(),
            capabilities: Some(livepeer_proto::convert::capabilities_to_net(
                &self.advertised_capabilities(),
            )),
            auth_token: Some(auth_token),
            nodes: self.nodes.clone(),
            ..Default::default()
        }
    }
}

/// The gateway an `OrchestratorRequest` comes from, checked on chain: `address` must be 20
/// bytes and `sig` its signature of keccak256 of its EIP-55 string (go-livepeer
/// `server/rpc.go:verifyOrchestratorReq`).
fn requesting_gateway(req: &net::OrchestratorRequest) -> Result<Address, Status> {
    let refused =
        || Status::unknown("Invalid orchestrator request: orchestrator req sig check failed");
    let address = Address::try_from(req.address.as_slice()).map_err(|_| refused())?;
    let hash = livepeer_proto::signing::orchestrator_request_hash(address);
    livepeer_pm::verify_signature(address, &hash, &req.sig).map_err(|_| refused())?;
    Ok(address)
}

#[tonic::async_trait]
impl net::orchestrator_server::Orchestrator for OrchestratorGrpc {
    async fn get_orchestrator(
        &self,
        request: Request<net::OrchestratorRequest>,
    ) -> Result<Response<net::OrchestratorInfo>, Status> {
        let req = request.into_inner();
        // Off-chain, go-livepeer skips the signature check (`VerifySig` returns true).
        let gateway = if self.state.payments.is_some() {
            requesting_gateway(&req)?
        } else {
            Address::ZERO
        };
        let job = req
            .capabilities
            .as_ref()
            .map(|c| livepeer_proto::convert::capabilities_from_net(Some(c)));
        let wants_ai = job.as_ref().is_some_and(|j| {
            j.per_capability
                .keys()
                .any(|&cap| livepeer_ai::Pipeline::from_capability(cap).is_some())
        });
        // Transcoding sessions are not what an AI job takes (its capacity is reserved per
        // request).
        if !req.ignore_capacity_check && !wants_ai {
            self.state.sessions.check_capacity(None)?;
        }
        if let Some(webhook) = &self.state.auth_webhook {
            let price = webhook.authenticate(gateway).await.map_err(|err| {
                warn!(%gateway, %err, "the auth webhook refused the gateway");
                Status::from(err)
            })?;
            if let (Some(price), Some(payments)) = (price, &self.state.payments) {
                debug!(%gateway, ?price, "price from the auth webhook");
                payments.set_webhook_price(gateway, price, std::time::Instant::now());
            }
        }
        let token = self.state.auth.issue(SystemTime::now());
        debug!(session = %token.session_id, %gateway, "GetOrchestrator");
        let mut info = self
            .state
            .orchestrator_info(token, gateway, None, job.as_ref())
            .await
            .map_err(|err| {
                warn!(%gateway, %err, "no orchestrator info for the gateway");
                Status::unknown(err.to_string())
            })?;
        // go-livepeer `server/rpc.go:getOrchestrator`: the AI workers' hardware, for a
        // request that names no capabilities.
        if req.capabilities.is_none()
            && let Some(ai) = &self.state.ai
        {
            info.hardware = ai.hardware();
        }
        Ok(Response::new(info))
    }

    async fn end_transcoding_session(
        &self,
        request: Request<net::EndTranscodingSessionRequest>,
    ) -> Result<Response<net::EndTranscodingSessionResponse>, Status> {
        let token = request.into_inner().auth_token;
        self.state.auth.verify(token.as_ref(), SystemTime::now())?;
        if let Some(token) = token {
            self.state.end_session(&token.session_id);
        }
        Ok(Response::new(net::EndTranscodingSessionResponse {}))
    }

    async fn ping(
        &self,
        request: Request<net::PingPong>,
    ) -> Result<Response<net::PingPong>, Status> {
        // The answer is our signature over keccak256(value); off-chain signatures are empty.
        let value = match &self.state.payments {
            Some(payments) => {
                crate::payment::sign_ping(payments.signer(), &request.into_inner().value)
            }
            None => Vec::new(),
        };
        Ok(Response::new(net::PingPong { value }))
    }
}

/// `net.Transcoder` over gRPC: remote transcoders register here (go-livepeer
/// `server/ot_rpc.go:RegisterTranscoder`). Served only with `-orchSecret`.
#[derive(Debug, Clone)]
pub(crate) struct TranscoderGrpc {
    pub(crate) state: Arc<State>,
}

/// The tasks for one registered transcoder. It ends when the transcoder is dropped from the
/// pool or the orchestrator shuts down; when tonic drops it (the transcoder went away), the
/// transcoder leaves the pool.
pub(crate) struct RegisteredStream {
    tasks: crate::transcoders::NotifyStream,
    closing: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    state: Arc<State>,
    id: u64,
}

impl futures::Stream for RegisteredStream {
    type Item = Result<net::NotifySegment, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.closing.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        std::pin::Pin::new(&mut self.tasks).poll_next(cx)
    }
}

impl Drop for RegisteredStream {
    fn drop(&mut self) {
        if self.state.transcoders.remove(self.id) {
            self.state.update_auto_sessions();
        }
    }
}

#[tonic::async_trait]
impl net::transcoder_server::Transcoder for TranscoderGrpc {
    type RegisterTranscoderStream = RegisteredStream;

    async fn register_transcoder(
        &self,
        request: Request<net::RegisterRequest>,
    ) -> Result<Response<Self::RegisterTranscoderStream>, Status> {
        let peer = request
            .extensions()
            .get::<livepeer_server::PeerAddr>()
            .map_or_else(|| "unknown".to_string(), |p| p.0.to_string());
        let req = request.into_inner();
        // go-livepeer answers both with plain errors, which gRPC-Go sends as Unknown; its
        // transcoders match the messages and exit.
        let secret = self.state.orch_secret.as_deref().unwrap_or_default();
        if secret.is_empty() || !crate::results::secret_matches(secret, &req.secret) {
            warn!(transcoder = %peer, "transcoder registration refused: invalid secret");
            return Err(Status::unknown("invalid secret"));
        }
        if req.capacity <= 0 {
            warn!(transcoder = %peer, "transcoder registration refused: zero capacity");
            return Err(Status::unknown("zero capacity"));
        }
        // A legacy transcoder that sends no capabilities gets go's default set.
        let capabilities = match &req.capabilities {
            Some(caps) => livepeer_proto::convert::capabilities_from_net(Some(caps)),
            None => livepeer_primitives::Capabilities {
                bitstring: livepeer_primitives::CapabilitySet::default_transcoding(),
                ..Default::default()
            },
        };
        let capacity = usize::try_from(req.capacity).unwrap_or(usize::MAX);
        let (id, tasks) = self
            .state
            .transcoders
            .register(peer, capacity, capabilities)
            .map_err(|e| Status::resource_exhausted(e.to_string()))?;
        self.state.update_auto_sessions();
        Ok(Response::new(RegisteredStream {
            tasks,
            closing: Box::pin(self.state.closing.clone().cancelled_owned()),
            state: self.state.clone(),
            id,
        }))
    }
}
