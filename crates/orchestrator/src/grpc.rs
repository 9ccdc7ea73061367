//! `net.Orchestrator` over gRPC: GetOrchestrator, Ping, EndTranscodingSession.

use std::sync::Arc;
use std::time::SystemTime;

use livepeer_proto::net;
use tonic::{Request, Response, Status};
use tracing::debug;

use crate::State;

/// The gRPC face of [`State`].
#[derive(Debug, Clone)]
pub(crate) struct OrchestratorGrpc {
    pub(crate) state: Arc<State>,
}

impl State {
    /// The `OrchestratorInfo` for a session holding `auth_token` (go-livepeer
    /// `server/rpc.go:orchestratorInfo`). Off-chain it carries no price, ticket parameters or
    /// address.
    pub(crate) fn orchestrator_info(&self, auth_token: net::AuthToken) -> net::OrchestratorInfo {
        net::OrchestratorInfo {
            transcoder: self.service_uri.clone(),
            capabilities: Some(livepeer_proto::convert::capabilities_to_net(
                &self.capabilities,
            )),
            auth_token: Some(auth_token),
            ..Default::default()
        }
    }
}

#[tonic::async_trait]
impl net::orchestrator_server::Orchestrator for OrchestratorGrpc {
    async fn get_orchestrator(
        &self,
        request: Request<net::OrchestratorRequest>,
    ) -> Result<Response<net::OrchestratorInfo>, Status> {
        let req = request.into_inner();
        // Off-chain, go-livepeer skips the signature check (`VerifySig` returns true).
        if !req.ignore_capacity_check {
            self.state.sessions.check_capacity(None)?;
        }
        let token = self.state.auth.issue(SystemTime::now());
        debug!(session = %token.session_id, "GetOrchestrator");
        Ok(Response::new(self.state.orchestrator_info(token)))
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
        _request: Request<net::PingPong>,
    ) -> Result<Response<net::PingPong>, Status> {
        // The answer is our signature over keccak256(value); off-chain signatures are empty.
        Ok(Response::new(net::PingPong { value: Vec::new() }))
    }
}
