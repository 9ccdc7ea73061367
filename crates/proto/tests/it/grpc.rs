//! The generated tonic servers and clients talk gRPC over a real socket on 127.0.0.1, and the
//! method paths are the ones go-livepeer uses (`/net.<Service>/<Method>`).

use std::net::SocketAddr;
use std::pin::Pin;

use livepeer_proto::net::{
    self, EndTranscodingSessionRequest, EndTranscodingSessionResponse, MaxFloatReq, MaxFloatUpdate,
    NotifyAiJob, NotifySegment, OrchestratorInfo, OrchestratorRequest, PingPong, QueueTicketRes,
    RegisterAiWorkerRequest, RegisterRequest, Ticket,
};
use net::ai_worker_server::{AiWorker, AiWorkerServer};
use net::orchestrator_client::OrchestratorClient;
use net::orchestrator_server::{Orchestrator, OrchestratorServer};
use net::ticket_redeemer_client::TicketRedeemerClient;
use net::ticket_redeemer_server::{TicketRedeemer, TicketRedeemerServer};
use net::transcoder_server::{Transcoder, TranscoderServer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::samples;

type TestResult = Result<(), Box<dyn std::error::Error>>;
type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

const SECRET: &str = "orch-secret";

/// A node serving all four services with small, checkable behaviour.
struct Node;

#[tonic::async_trait]
impl Orchestrator for Node {
    async fn get_orchestrator(
        &self,
        request: Request<OrchestratorRequest>,
    ) -> Result<Response<OrchestratorInfo>, Status> {
        let req = request.into_inner();
        let mut info = samples::orchestrator_info();
        // Echo the gateway's address so the test sees the request arrived intact.
        info.address = req.address;
        Ok(Response::new(info))
    }

    async fn end_transcoding_session(
        &self,
        request: Request<EndTranscodingSessionRequest>,
    ) -> Result<Response<EndTranscodingSessionResponse>, Status> {
        match request.into_inner().auth_token {
            Some(_) => Ok(Response::new(EndTranscodingSessionResponse {})),
            None => Err(Status::invalid_argument("missing auth token")),
        }
    }

    async fn ping(&self, request: Request<PingPong>) -> Result<Response<PingPong>, Status> {
        let mut value = request.into_inner().value;
        value.reverse();
        Ok(Response::new(PingPong { value }))
    }
}

#[tonic::async_trait]
impl Transcoder for Node {
    type RegisterTranscoderStream = ServerStream<NotifySegment>;

    async fn register_transcoder(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<Self::RegisterTranscoderStream>, Status> {
        let req = request.into_inner();
        if req.secret != SECRET {
            return Err(Status::unauthenticated("invalid secret"));
        }
        let segments = (1..=req.capacity).map(|task_id| {
            Ok(NotifySegment {
                task_id,
                ..samples::notify_segment()
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(
            segments.collect::<Vec<_>>(),
        ))))
    }
}

#[tonic::async_trait]
impl AiWorker for Node {
    type RegisterAIWorkerStream = ServerStream<NotifyAiJob>;

    async fn register_ai_worker(
        &self,
        request: Request<RegisterAiWorkerRequest>,
    ) -> Result<Response<Self::RegisterAIWorkerStream>, Status> {
        let req = request.into_inner();
        let jobs = req.hardware.into_iter().enumerate().map(|(i, hw)| {
            let mut job = samples::notify_ai_job();
            job.task_id = i64::try_from(i).unwrap_or(i64::MAX);
            if let Some(data) = job.ai_job_data.as_mut() {
                data.pipeline = hw.pipeline;
            }
            Ok(job)
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(
            jobs.collect::<Vec<_>>(),
        ))))
    }
}

#[tonic::async_trait]
impl TicketRedeemer for Node {
    type MonitorMaxFloatStream = ServerStream<MaxFloatUpdate>;

    async fn queue_ticket(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<QueueTicketRes>, Status> {
        if request.into_inner().sender_params.is_none() {
            return Err(Status::invalid_argument("missing sender params"));
        }
        Ok(Response::new(QueueTicketRes {}))
    }

    async fn max_float(
        &self,
        request: Request<MaxFloatReq>,
    ) -> Result<Response<MaxFloatUpdate>, Status> {
        // The max float of a sender is its first address byte, in wei, for the test.
        let first = request
            .into_inner()
            .sender
            .first()
            .copied()
            .unwrap_or_default();
        Ok(Response::new(MaxFloatUpdate {
            max_float: vec![first],
        }))
    }

    async fn monitor_max_float(
        &self,
        _request: Request<MaxFloatReq>,
    ) -> Result<Response<Self::MonitorMaxFloatStream>, Status> {
        let updates = [vec![0x01], vec![0x02, 0x00], vec![]]
            .into_iter()
            .map(|max_float| Ok(MaxFloatUpdate { max_float }));
        Ok(Response::new(Box::pin(tokio_stream::iter(
            updates.collect::<Vec<_>>(),
        ))))
    }
}

/// A running node: its address, and the handles to stop it.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::builder()
            .add_service(OrchestratorServer::new(Node))
            .add_service(TranscoderServer::new(Node))
            .add_service(AiWorkerServer::new(Node))
            .add_service(TicketRedeemerServer::new(Node))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            });
        Ok(Self {
            addr,
            stop,
            task: tokio::spawn(server),
        })
    }

    async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await
    }

    async fn shutdown(self) -> TestResult {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

#[test]
fn service_names_match_go_livepeer() {
    assert_eq!(net::orchestrator_server::SERVICE_NAME, "net.Orchestrator");
    assert_eq!(net::transcoder_server::SERVICE_NAME, "net.Transcoder");
    assert_eq!(net::ai_worker_server::SERVICE_NAME, "net.AIWorker");
    assert_eq!(
        net::ticket_redeemer_server::SERVICE_NAME,
        "net.TicketRedeemer"
    );
}

#[tokio::test]
async fn generated_clients_call_generated_servers() -> TestResult {
    let node = Running::start().await?;
    let channel = node.channel().await?;

    let mut orch = OrchestratorClient::new(channel.clone());
    let request = samples::orchestrator_request();
    let info = orch.get_orchestrator(request.clone()).await?.into_inner();
    assert_eq!(info.address, request.address);
    assert_eq!(
        info.capabilities_prices,
        samples::orchestrator_info().capabilities_prices
    );

    let pong = orch
        .ping(PingPong {
            value: vec![1, 2, 3],
        })
        .await?
        .into_inner();
    assert_eq!(pong.value, [3, 2, 1]);

    orch.end_transcoding_session(samples::end_transcoding_session_request())
        .await?;
    let status = orch
        .end_transcoding_session(EndTranscodingSessionRequest { auth_token: None })
        .await
        .err()
        .ok_or("a request without auth token must fail")?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "missing auth token");

    let mut redeemer = TicketRedeemerClient::new(channel);
    redeemer.queue_ticket(samples::ticket()).await?;
    let max = redeemer
        .max_float(samples::max_float_req())
        .await?
        .into_inner();
    assert_eq!(max.max_float, [0x1a]);
    let mut updates = redeemer
        .monitor_max_float(samples::max_float_req())
        .await?
        .into_inner();
    let mut seen = Vec::new();
    while let Some(update) = updates.message().await? {
        seen.push(update.max_float);
    }
    assert_eq!(seen, [vec![0x01], vec![0x02, 0x00], vec![]]);

    node.shutdown().await
}

#[tokio::test]
async fn methods_answer_on_go_livepeer_paths() -> TestResult {
    let node = Running::start().await?;
    let mut grpc = tonic::client::Grpc::new(node.channel().await?);

    // Unary calls, by explicit path.
    grpc.ready().await?;
    let pong: PingPong = grpc
        .unary(
            Request::new(PingPong { value: vec![9, 8] }),
            PathAndQuery::from_static("/net.Orchestrator/Ping"),
            ProstCodec::<PingPong, PingPong>::default(),
        )
        .await?
        .into_inner();
    assert_eq!(pong.value, [8, 9]);

    grpc.ready().await?;
    let info: OrchestratorInfo = grpc
        .unary(
            Request::new(samples::orchestrator_request()),
            PathAndQuery::from_static("/net.Orchestrator/GetOrchestrator"),
            ProstCodec::<OrchestratorRequest, OrchestratorInfo>::default(),
        )
        .await?
        .into_inner();
    assert_eq!(info.transcoder, samples::orchestrator_info().transcoder);

    grpc.ready().await?;
    grpc.unary::<_, EndTranscodingSessionResponse, _>(
        Request::new(samples::end_transcoding_session_request()),
        PathAndQuery::from_static("/net.Orchestrator/EndTranscodingSession"),
        ProstCodec::<EndTranscodingSessionRequest, EndTranscodingSessionResponse>::default(),
    )
    .await?;

    grpc.ready().await?;
    grpc.unary::<_, QueueTicketRes, _>(
        Request::new(samples::ticket()),
        PathAndQuery::from_static("/net.TicketRedeemer/QueueTicket"),
        ProstCodec::<Ticket, QueueTicketRes>::default(),
    )
    .await?;

    grpc.ready().await?;
    let max: MaxFloatUpdate = grpc
        .unary(
            Request::new(MaxFloatReq {
                sender: vec![0x50; 20],
            }),
            PathAndQuery::from_static("/net.TicketRedeemer/MaxFloat"),
            ProstCodec::<MaxFloatReq, MaxFloatUpdate>::default(),
        )
        .await?
        .into_inner();
    assert_eq!(max.max_float, [0x50]);

    // Server-streaming calls, by explicit path.
    grpc.ready().await?;
    let mut segments = grpc
        .server_streaming(
            Request::new(RegisterRequest {
                capacity: 2,
                ..samples::register_request()
            }),
            PathAndQuery::from_static("/net.Transcoder/RegisterTranscoder"),
            ProstCodec::<RegisterRequest, NotifySegment>::default(),
        )
        .await?
        .into_inner();
    let mut task_ids = Vec::new();
    while let Some(segment) = segments.message().await? {
        assert_eq!(segment.seg_data, samples::notify_segment().seg_data);
        task_ids.push(segment.task_id);
    }
    assert_eq!(task_ids, [1, 2]);

    grpc.ready().await?;
    let mut jobs = grpc
        .server_streaming(
            Request::new(samples::register_ai_worker_request()),
            PathAndQuery::from_static("/net.AIWorker/RegisterAIWorker"),
            ProstCodec::<RegisterAiWorkerRequest, NotifyAiJob>::default(),
        )
        .await?
        .into_inner();
    let mut pipelines = Vec::new();
    while let Some(job) = jobs.message().await? {
        pipelines.push(job.ai_job_data.map(|d| d.pipeline).unwrap_or_default());
    }
    assert_eq!(pipelines, ["text-to-image", "text-to-image"]);

    grpc.ready().await?;
    let mut updates = grpc
        .server_streaming(
            Request::new(samples::max_float_req()),
            PathAndQuery::from_static("/net.TicketRedeemer/MonitorMaxFloat"),
            ProstCodec::<MaxFloatReq, MaxFloatUpdate>::default(),
        )
        .await?
        .into_inner();
    let mut count = 0;
    while updates.message().await?.is_some() {
        count += 1;
    }
    assert_eq!(count, 3);

    // A wrong secret is refused with the status the server chose.
    grpc.ready().await?;
    let refused = grpc
        .server_streaming(
            Request::new(RegisterRequest {
                secret: "wrong".into(),
                ..samples::register_request()
            }),
            PathAndQuery::from_static("/net.Transcoder/RegisterTranscoder"),
            ProstCodec::<RegisterRequest, NotifySegment>::default(),
        )
        .await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));

    // A path go-livepeer does not define is unimplemented.
    grpc.ready().await?;
    let unknown = grpc
        .unary::<_, PingPong, _>(
            Request::new(PingPong::default()),
            PathAndQuery::from_static("/net.Orchestrator/Pong"),
            ProstCodec::<PingPong, PingPong>::default(),
        )
        .await;
    assert_eq!(unknown.err().map(|s| s.code()), Some(Code::Unimplemented));

    node.shutdown().await
}
