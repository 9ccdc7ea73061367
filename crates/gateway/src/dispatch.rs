//! Sending one segment to one orchestrator session and fetching its renditions.
//!
//! go-livepeer `server/segment_rpc.go:SubmitSegment`: the `SegData` goes base64-encoded in the
//! `Livepeer-Segment` header (signed on chain), the payment (tickets on chain, empty off-chain)
//! in `Livepeer-Payment`, the bytes in
//! the body as `video/MP2T`. The whole request may take max(8 s, 4 × duration) and the upload
//! (until the response headers arrive) max(2 s, 0.5 × duration). The answer is a raw protobuf
//! `TranscodeResult`, read up to [`MAX_TRANSCODE_RESULT_BYTES`] and checked by
//! [`parse_transcode_result`]; each rendition is then downloaded from its URL, up to the
//! segment limit. An answer over its cap is the orchestrator's fault: it is suspended and the
//! segment goes to the next one.
//!
//! With an object store ([`SourceSegment::storage`]) the body is the source's URL in the store
//! (`Content-Type: application/vnd+livepeer.uri`) and `SegData.storage` carries a POST policy
//! for the session's prefix ([`crate::storage::session_prefix`]); renditions in the store are
//! read back from it, and ones the orchestrator kept elsewhere are saved there too
//! (go-livepeer `server/broadcast.go:downloadResults`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::try_join_all;
use http_body_util::Full;
use hyper::Uri;
use livepeer_primitives::profile::VideoProfile;
use livepeer_primitives::{Capabilities, Capability, CapabilitySet, ManifestId};
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::{convert, net};
use prost::Message;

use crate::GatewayError;
use crate::client::{OrchestratorClient, read_body};
use crate::payment::{Payments, SessionTerms};
use livepeer_monitor::{Metrics, profiles_label};
use tracing::debug;

/// Largest `/segment` answer read, bytes. A `TranscodeResult` holds a few URLs, pixel counts,
/// a signature and an `OrchestratorInfo` (a few KiB even with many renditions and prices);
/// go-livepeer reads it whole (`ioutil.ReadAll` in `server/segment_rpc.go:SubmitSegment`),
/// we stop at 1 MiB so an endless answer cannot exhaust memory.
pub const MAX_TRANSCODE_RESULT_BYTES: usize = 1024 * 1024;
/// Characters of an orchestrator's refusal text kept in the error (and the push answer).
pub const MAX_REFUSAL_TEXT_CHARS: usize = 256;

/// A session is refreshed once its auth token is in the last 10 % of its 30-minute validity
/// (go-livepeer `server/broadcast.go:shouldRefreshSession`).
pub const AUTH_TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(3 * 60);

/// A segment as pushed to the gateway.
#[derive(Debug, Clone)]
pub struct SourceSegment {
    /// The stream.
    pub manifest: ManifestId,
    /// Sequence number from the push URL; at most `i64::MAX` (the wire's `SegData.seq` is
    /// an int64).
    pub seq: u64,
    /// Duration (`Content-Duration`).
    pub duration: Duration,
    /// The segment bytes (MPEG-TS).
    pub data: Bytes,
    /// `Content-Slice-From`/`Content-Slice-To`, milliseconds, when given.
    pub slice: Option<(u64, u64)>,
    /// What decoding the source needs beyond H.264 4:2:0 ([`input_capabilities`]), from the
    /// gateway's probe; empty when unknown.
    pub input: CapabilitySet,
    /// With an object store: where the source was saved, sent instead of the bytes.
    pub storage: Option<SegmentStorage>,
}

/// A segment saved in the stream's object store (go-livepeer's `seg.Name` "hijacked to convey
/// the uploaded URI").
#[derive(Debug, Clone)]
pub struct SegmentStorage {
    /// The source segment's URL in the store.
    pub source_url: String,
    /// The store; renditions go under `<manifest>/<session ID>` in it.
    pub store: std::sync::Arc<livepeer_objectstore::NodeStore>,
}

/// The content type of a `/segment` body that is the segment's URL.
pub const URI_CONTENT_TYPE: &str = "application/vnd+livepeer.uri";

/// An orchestrator session a stream sends segments to.
#[derive(Debug, Clone)]
pub struct BroadcastSession {
    /// The address it was discovered at.
    pub addr: Uri,
    /// Where segments go (`OrchestratorInfo.transcoder`).
    pub transcoder: Uri,
    /// The session's auth token.
    pub auth_token: net::AuthToken,
    /// Discovery latency.
    pub latency: Duration,
    /// On chain: the orchestrator's address, ticket parameters and prices.
    pub terms: Option<SessionTerms>,
    /// The orchestrator's discovery score (go-livepeer `OrchestratorScore`):
    /// [`SCORE_TRUSTED`] for `-orchAddr` entries, [`SCORE_UNTRUSTED`] for the on-chain pool,
    /// the webhook's `score` for webhook entries.
    pub score: f32,
    /// The capabilities it advertised (AI models and whether they are warm included).
    pub capabilities: Capabilities,
}

/// Score of a trusted orchestrator (go-livepeer `common.Score_Trusted`); a session with a
/// score of at least this is in the trusted pool.
pub const SCORE_TRUSTED: f32 = 1.0;
/// Score of an untrusted orchestrator (go-livepeer `common.Score_Untrusted`); only a score
/// of exactly this puts a session in the untrusted pool. A webhook score between the two puts
/// it in neither, so go-livepeer never uses it, and nor do we.
pub const SCORE_UNTRUSTED: f32 = 0.0;

impl BroadcastSession {
    /// Whether it is in the trusted pool (score ≥ 1, go-livepeer `ScoreAtLeast(Score_Trusted)`).
    pub fn is_trusted(&self) -> bool {
        self.score >= SCORE_TRUSTED
    }

    /// Whether it is in the untrusted pool (score exactly 0, go-livepeer
    /// `ScoreEqualTo(Score_Untrusted)`).
    pub fn is_untrusted(&self) -> bool {
        self.score == SCORE_UNTRUSTED
    }
}

impl BroadcastSession {
    /// A session from a `GetOrchestrator` answer.
    ///
    /// Errors: [`GatewayError::BadOrchestratorInfo`] without a valid transcoder URI or token.
    pub fn from_info(
        addr: Uri,
        info: net::OrchestratorInfo,
        latency: Duration,
    ) -> Result<Self, GatewayError> {
        let bad = |reason: &str| GatewayError::BadOrchestratorInfo {
            addr: addr.to_string(),
            reason: reason.to_string(),
        };
        let transcoder: Uri = info
            .transcoder
            .trim_end_matches('/')
            .parse()
            .map_err(|_| bad("invalid transcoder URI"))?;
        let auth_token = info.auth_token.ok_or_else(|| bad("no auth token"))?;
        let capabilities = convert::capabilities_from_net(info.capabilities.as_ref());
        Ok(Self {
            addr,
            transcoder,
            auth_token,
            latency,
            terms: None,
            score: SCORE_TRUSTED,
            capabilities,
        })
    }

    /// Whether the auth token is close enough to expiry to refresh the session first.
    pub fn needs_refresh(&self, now: SystemTime) -> bool {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.auth_token.expiration - now < AUTH_TOKEN_REFRESH_MARGIN.as_secs() as i64
    }
}

/// A rendition returned for a segment.
#[derive(Debug, Clone)]
pub struct TranscodedRendition {
    /// The profile it was made for.
    pub profile: VideoProfile,
    /// The bytes (MPEG-TS or MP4 per the profile).
    pub data: Bytes,
    /// Encoded pixels the orchestrator reported.
    pub pixels: u64,
    /// The rendition's MPEG-7 video signature (`perceptual_hash_url`'s bytes), downloaded
    /// when the segment asked for one ([`SubmitOptions::calc_perceptual_hash`]).
    pub perceptual_hash: Option<Bytes>,
}

/// Largest perceptual hash downloaded, bytes. An MPEG-7 binary signature of a 2 s segment is
/// a few KiB (lpms `ffmpeg/videoprofile.go` writes one per rendition); 4 MiB leaves room for
/// five-minute segments and stops an endless answer.
pub const MAX_PERCEPTUAL_HASH_BYTES: usize = 4 * 1024 * 1024;

/// How one segment is sent to one session.
#[derive(Debug, Clone, Copy)]
pub struct SubmitOptions {
    /// Cap on each rendition downloaded, bytes.
    pub max_rendition_bytes: usize,
    /// Check `TranscodeData.sig` on chain (`-localVerify`, go-livepeer
    /// `verification/verify.go:sigVerification`).
    pub check_signature: bool,
    /// Ask for (`SegData.calc_perceptual_hash`) and download each rendition's perceptual
    /// hash: set when the stream is verified (go-livepeer `selectSessions`).
    pub calc_perceptual_hash: bool,
}

impl SubmitOptions {
    /// Renditions up to `max_rendition_bytes`, nothing more checked or asked for.
    pub fn plain(max_rendition_bytes: usize) -> Self {
        Self {
            max_rendition_bytes,
            check_signature: false,
            calc_perceptual_hash: false,
        }
    }
}

/// The capabilities a job needs (go-livepeer `core/capabilities.go:JobCapabilities`): auth
/// tokens, H.264, the output formats, codec profiles, GOP, fractional frame rates, and
/// segment slicing when the segment carries slice parameters.
pub fn job_capabilities(profiles: &[VideoProfile], sliced: bool) -> Capabilities {
    use livepeer_primitives::profile::{Format, Gop, H264Profile};
    let mut bits = CapabilitySet::from_capabilities([Capability::AuthToken, Capability::H264]);
    for p in profiles {
        bits.insert(match p.format {
            Format::MpegTs => Capability::MpegTs,
            Format::Mp4 => Capability::Mp4,
        });
        match p.profile {
            H264Profile::EncoderDefault => {}
            H264Profile::Baseline => bits.insert(Capability::ProfileH264Baseline),
            H264Profile::Main => bits.insert(Capability::ProfileH264Main),
            H264Profile::High => bits.insert(Capability::ProfileH264High),
            H264Profile::ConstrainedHigh => bits.insert(Capability::ProfileH264ConstrainedHigh),
        }
        if !matches!(p.gop, Gop::Default) {
            bits.insert(Capability::Gop);
        }
        if p.fps_den > 1 {
            bits.insert(Capability::FractionalFramerates);
        }
    }
    if sliced {
        bits.insert(Capability::SegmentSlicing);
    }
    Capabilities {
        bitstring: bits,
        ..Default::default()
    }
}

/// The capabilities decoding a source needs (go-livepeer `JobCapabilities`, from lpms's
/// codec probe): HEVC decode (15), VP8 decode (17) or VP9 decode (18) for those codecs; for
/// H.264, the chroma/bit-depth decoder bit of a 4:4:4, 4:2:2 or 10-bit pixel format
/// (21–25), nothing for 8-bit 4:2:0 or a pixel format go does not classify. `video_codec`
/// and `pixel_format` are ffmpeg's names (`h264`, `yuv422p10le`).
///
/// Errors: [`GatewayError::UnknownInputCodec`] for any other codec (go answers the push 422
/// "Unknown input stream codec=<name>").
pub fn input_capabilities(
    video_codec: &str,
    pixel_format: Option<&str>,
) -> Result<CapabilitySet, GatewayError> {
    let cap = match video_codec {
        "h264" => {
            match pixel_format.map(|f| f.trim_start_matches("yuvj").trim_start_matches("yuv")) {
                Some("444p") => Some(Capability::H264Decode444_8bit),
                Some("422p") => Some(Capability::H264Decode422_8bit),
                Some("444p10le" | "444p10be") => Some(Capability::H264Decode444_10bit),
                Some("422p10le" | "422p10be") => Some(Capability::H264Decode422_10bit),
                Some("420p10le" | "420p10be") => Some(Capability::H264Decode420_10bit),
                _ => None,
            }
        }
        "hevc" => Some(Capability::HevcDecode),
        "vp8" => Some(Capability::Vp8Decode),
        "vp9" => Some(Capability::Vp9Decode),
        other => {
            return Err(GatewayError::UnknownInputCodec {
                codec: other.to_owned(),
            });
        }
    };
    Ok(CapabilitySet::from_capabilities(cap))
}

/// The `SegData` for a segment (unsigned: off-chain signatures are empty).
///
/// Errors: [`GatewayError::BadRequest`] when `seq` does not fit the wire's int64 (the push
/// route refuses such a seq first; clamping would give different segments one storage key).
pub fn seg_data(
    segment: &SourceSegment,
    profiles: &[VideoProfile],
    job: &Capabilities,
    auth_token: &net::AuthToken,
) -> Result<net::SegData, GatewayError> {
    let seq = i64::try_from(segment.seq).map_err(|_| {
        GatewayError::BadRequest(format!(
            "seq {} exceeds the largest sequence number, {}",
            segment.seq,
            i64::MAX
        ))
    })?;
    let mut seg = net::SegData {
        manifest_id: segment.manifest.as_str().as_bytes().to_vec(),
        seq,
        hash: alloy_primitives::keccak256(&segment.data).to_vec(),
        // Legacy field, always "invalid" so very old orchestrators refuse the segment.
        profiles: b"invalid".to_vec(),
        duration: i32::try_from(segment.duration.as_millis()).unwrap_or(i32::MAX),
        capabilities: Some(convert::capabilities_to_net(job)),
        auth_token: Some(auth_token.clone()),
        segment_parameters: segment
            .slice
            .map(|(from, to)| net::SegParameters { from, to }),
        ..Default::default()
    };
    convert::set_seg_data_profiles(&mut seg, profiles);
    Ok(seg)
}

/// One rendition a `TranscodeResult` announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionRef {
    /// Where to download it (http or https).
    pub url: String,
    /// Encoded pixels the orchestrator reported (a negative count reads as 0).
    pub pixels: u64,
    /// Where its perceptual hash can be fetched (an absolute http(s) URL), when the
    /// orchestrator gave one.
    pub perceptual_hash_url: Option<String>,
}

/// Decodes and checks a `/segment` answer (a raw protobuf `TranscodeResult`, go-livepeer
/// `server/segment_rpc.go:SubmitSegment`) for a job of `renditions` profiles. Pure, so it is
/// unit-tested and fuzzed (`crates/gateway/fuzz`).
///
/// Errors, all with `uri`: [`GatewayError::AnswerTooLarge`] above
/// [`MAX_TRANSCODE_RESULT_BYTES`]; [`GatewayError::BadTranscodeResult`] for bad protobuf, an
/// empty result, a rendition count other than `renditions`, or a URL that is not an absolute
/// http(s) URL; [`GatewayError::Transcode`] with the orchestrator's error string.
pub fn parse_transcode_result(
    uri: &str,
    body: &[u8],
    renditions: usize,
) -> Result<Vec<RenditionRef>, GatewayError> {
    parse_transcode_result_with_info(uri, body, renditions).map(|parsed| parsed.renditions)
}

/// A parsed `TranscodeResult` with data.
#[derive(Debug, Clone)]
pub struct ParsedTranscodeResult {
    /// The renditions, in profile order.
    pub renditions: Vec<RenditionRef>,
    /// The result's `OrchestratorInfo` (the fresh ticket parameters on chain).
    pub info: Option<net::OrchestratorInfo>,
    /// `TranscodeData.sig`: the orchestrator's signature over the renditions' hashes
    /// (empty off-chain).
    pub sig: Vec<u8>,
}

/// [`parse_transcode_result`], also returning the result's `OrchestratorInfo` and signature.
pub fn parse_transcode_result_with_info(
    uri: &str,
    body: &[u8],
    renditions: usize,
) -> Result<ParsedTranscodeResult, GatewayError> {
    let bad = |reason: String| GatewayError::BadTranscodeResult {
        uri: uri.to_string(),
        reason,
    };
    if body.len() > MAX_TRANSCODE_RESULT_BYTES {
        return Err(GatewayError::AnswerTooLarge {
            uri: uri.to_string(),
            limit_bytes: MAX_TRANSCODE_RESULT_BYTES,
        });
    }
    let result = net::TranscodeResult::decode(body).map_err(|e| bad(e.to_string()))?;
    let info = result.info;
    let data = match result.result {
        Some(net::transcode_result::Result::Data(data)) => data,
        Some(net::transcode_result::Result::Error(message)) => {
            return Err(GatewayError::Transcode {
                uri: uri.to_string(),
                message: truncate(&message),
            });
        }
        None => return Err(bad("empty result".into())),
    };
    let sig = data.sig;
    if data.segments.len() != renditions {
        return Err(bad(format!(
            "{} renditions for {renditions} profiles",
            data.segments.len()
        )));
    }
    let check_url = |what: &str, url: &str| {
        let parsed: Uri = url
            .parse()
            .map_err(|_| bad(format!("invalid {what} URL {:?}", truncate(url))))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(bad(format!(
                "{what} URL {:?} is not an absolute http(s) URL",
                truncate(url)
            )));
        }
        Ok(())
    };
    data.segments
        .into_iter()
        .map(|segment| {
            check_url("rendition", &segment.url)?;
            let perceptual_hash_url = if segment.perceptual_hash_url.is_empty() {
                None
            } else {
                check_url("perceptual hash", &segment.perceptual_hash_url)?;
                Some(segment.perceptual_hash_url)
            };
            Ok(RenditionRef {
                url: segment.url,
                pixels: u64::try_from(segment.pixels).unwrap_or(0),
                perceptual_hash_url,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|refs| ParsedTranscodeResult {
            renditions: refs,
            info,
            sig,
        })
}

/// The first [`MAX_REFUSAL_TEXT_CHARS`] characters of an orchestrator's text.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_REFUSAL_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Submits `segment` to `session` and downloads every rendition, each up to
/// `max_rendition_bytes`.
///
/// Errors: [`GatewayError::Http`] (transport, timeouts, downloads), [`GatewayError::Refused`]
/// for a non-200 answer, [`GatewayError::AnswerTooLarge`] for an answer or rendition over its
/// cap, and the errors of [`parse_transcode_result`]; see [`GatewayError::is_retryable`] and
/// [`GatewayError::is_request_fault`].
pub async fn submit_segment(
    client: &OrchestratorClient,
    session: &BroadcastSession,
    segment: &SourceSegment,
    profiles: &[VideoProfile],
    job: &Capabilities,
    max_rendition_bytes: usize,
) -> Result<Vec<TranscodedRendition>, GatewayError> {
    submit(
        client,
        session,
        segment,
        profiles,
        job,
        SubmitOptions::plain(max_rendition_bytes),
        None,
        None,
    )
    .await
    .map(|(renditions, _)| renditions)
}

/// [`submit_segment`], paying with `payments` on chain: the credentials are signed, tickets
/// for the fee estimate go in `Livepeer-Payment`, the balance is settled from the result, and
/// the result's `OrchestratorInfo` (fresh ticket parameters) is returned with the renditions.
///
/// With [`SubmitOptions::calc_perceptual_hash`] the segment asks for perceptual hashes and
/// each is downloaded (up to [`MAX_PERCEPTUAL_HASH_BYTES`]); a missing one fails the attempt
/// as a failed rendition download does. With [`SubmitOptions::check_signature`] the
/// renditions of a paid session must be signed by it ([`check_renditions_signature`]).
///
/// With `metrics`, the attempt is recorded as go-livepeer's `SubmitSegment` records it
/// (uploaded or upload failed, transcoded or transcode failed, downloaded, tickets sent,
/// payment create errors).
///
/// Errors: those of [`submit_segment`], and of staging the payment
/// ([`GatewayError::SenderUnusable`], [`GatewayError::ParamsExpired`],
/// [`GatewayError::Payment`]), before anything is sent.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn submit(
    client: &OrchestratorClient,
    session: &BroadcastSession,
    segment: &SourceSegment,
    profiles: &[VideoProfile],
    job: &Capabilities,
    options: SubmitOptions,
    payments: Option<&Payments>,
    metrics: Option<&Metrics>,
) -> Result<(Vec<TranscodedRendition>, Option<net::OrchestratorInfo>), GatewayError> {
    let url = format!("{}segment", ensure_trailing_slash(&session.transcoder));
    let mut seg = seg_data(segment, profiles, job, &session.auth_token)?;
    seg.calc_perceptual_hash = options.calc_perceptual_hash;
    if let Some(storage) = &segment.storage {
        let prefix = crate::storage::session_prefix(
            segment.manifest.as_str(),
            &session.auth_token.session_id,
        );
        seg.storage = vec![storage.store.session(&prefix).to_net()];
    }
    let staged = match (payments, &session.terms) {
        (Some(payments), Some(terms)) => {
            payments.sign_segment(&mut seg);
            let staged = payments
                .stage(
                    terms,
                    &session.auth_token.session_id,
                    profiles,
                    segment.duration,
                )
                .inspect_err(|e| {
                    if let Some(m) = metrics
                        && !matches!(e, GatewayError::ParamsExpired(_))
                    {
                        m.payment_create_error(segment.manifest.as_str());
                    }
                })?;
            Some((payments, terms.price, staged))
        }
        _ => None,
    };
    let header = staged
        .as_ref()
        .map(|(_, _, s)| s.header.clone())
        .unwrap_or_default();
    if let Some((_, _, s)) = &staged {
        debug!(orch = %session.addr, tickets = s.tickets, "paying for the segment");
    }
    let result = exchange(
        client,
        &url,
        &seg,
        header,
        segment,
        profiles,
        options,
        Recorder {
            metrics,
            orchestrator_uri: session.transcoder.to_string(),
            trusted: session.is_trusted(),
        },
    )
    .await;
    // With -localVerify, on chain, the renditions must be signed by the orchestrator paid.
    let result = match (result, &session.terms) {
        (Ok((renditions, info, sig)), Some(terms)) if options.check_signature => {
            check_renditions_signature(&url, terms.recipient, &renditions, &sig)
                .map(|()| (renditions, info))
                .map_err(Exchange::Sent)
        }
        (Ok((renditions, info, _)), _) => Ok((renditions, info)),
        (Err(e), _) => Err(e),
    };
    if let Some((payments, price, staged)) = &staged {
        let outcome = match &result {
            Err(Exchange::NotSent(_)) => None,
            Err(Exchange::Sent(_)) => Some(None),
            Ok((renditions, _)) => Some(Some(renditions.iter().map(|r| r.pixels).sum())),
        };
        if let (Some(m), Some(_)) = (metrics, outcome) {
            m.tickets_sent(
                segment.manifest.as_str(),
                staged.tickets,
                staged.value_wei(),
            );
        }
        payments.complete(staged, *price, outcome);
    }
    result.map_err(Exchange::into_error)
}

/// What [`exchange`] records, and the labels it records with.
struct Recorder<'a> {
    metrics: Option<&'a Metrics>,
    orchestrator_uri: String,
    trusted: bool,
}

impl Recorder<'_> {
    fn upload_failed(&self, segment: &SourceSegment, code: &str) {
        if let Some(m) = self.metrics {
            m.segment_upload_failed(segment.manifest.as_str(), &self.orchestrator_uri, code);
        }
    }

    fn transcode_failed(&self, segment: &SourceSegment, code: &str) {
        if let Some(m) = self.metrics {
            m.segment_transcode_failed(segment.manifest.as_str(), code, false);
        }
    }
}

/// go-livepeer's `SegmentTranscodeError` code for an error inside a `TranscodeResult`.
fn transcode_error_code(err: &GatewayError) -> &'static str {
    match err {
        GatewayError::Transcode { message, .. } if message == "OrchestratorBusy" => {
            "OrchestratorBusy"
        }
        GatewayError::Transcode { message, .. } if message == "OrchestratorCapped" => {
            "OrchestratorCapped"
        }
        GatewayError::Transcode { .. } => "Transcode",
        GatewayError::BadTranscodeResult { reason, .. } if reason == "empty result" => {
            "UnknownResponse"
        }
        _ => "ParseResponse",
    }
}

/// How an exchange with an orchestrator failed: before the request went out (a payment
/// staged for it was not spent) or after.
enum Exchange {
    NotSent(GatewayError),
    Sent(GatewayError),
}

impl Exchange {
    fn into_error(self) -> GatewayError {
        match self {
            Exchange::NotSent(e) | Exchange::Sent(e) => e,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    client: &OrchestratorClient,
    url: &str,
    seg: &net::SegData,
    payment_header: String,
    segment: &SourceSegment,
    profiles: &[VideoProfile],
    options: SubmitOptions,
    recorder: Recorder<'_>,
) -> Result<
    (
        Vec<TranscodedRendition>,
        Option<net::OrchestratorInfo>,
        Vec<u8>,
    ),
    Exchange,
> {
    let url = url.to_string();
    let http_err = |reason: String| GatewayError::Http {
        uri: url.clone(),
        reason,
    };
    let (body, content_type) = match &segment.storage {
        Some(storage) => (Bytes::from(storage.source_url.clone()), URI_CONTENT_TYPE),
        None => (segment.data.clone(), "video/MP2T"),
    };
    let request = hyper::Request::post(&url)
        .header(SEGMENT_HEADER, encode_header(seg))
        .header(PAYMENT_HEADER, payment_header)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(tonic::body::Body::new(Full::new(body)))
        .map_err(|e| Exchange::NotSent(http_err(e.to_string())))?;

    let total = Duration::from_secs(8).max(segment.duration * 4);
    let upload = Duration::from_secs(2).max(segment.duration / 2);
    let started = Instant::now();
    // From here on the request (and its tickets) may have reached the orchestrator.
    let response = match tokio::time::timeout(upload.min(total), client.send(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            recorder.upload_failed(segment, "Unknown");
            return Err(Exchange::Sent(err));
        }
        Err(_) => {
            recorder.upload_failed(segment, "Timeout");
            return Err(Exchange::Sent(http_err(format!(
                "upload timed out after {upload:?}"
            ))));
        }
    };
    let uploaded = started.elapsed();
    let status = response.status();
    let remaining = total.saturating_sub(uploaded);
    let body = tokio::time::timeout(
        remaining,
        read_body(response.into_body(), MAX_TRANSCODE_RESULT_BYTES, &url),
    )
    .await
    .map_err(|_| Exchange::Sent(http_err(format!("no transcode result within {total:?}"))))
    .and_then(|read| read.map_err(Exchange::Sent))
    .inspect_err(|_| recorder.transcode_failed(segment, "ReadBody"))?;
    if status != hyper::StatusCode::OK {
        let text = truncate(String::from_utf8_lossy(&body).trim());
        // go: `OrchestratorCapped` for a 403 saying so, else the status line.
        let code = if status == hyper::StatusCode::FORBIDDEN && text.contains("OrchestratorCapped")
        {
            "OrchestratorCapped".to_string()
        } else {
            format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            )
        };
        recorder.upload_failed(segment, &code);
        return Err(Exchange::Sent(GatewayError::Refused {
            uri: url,
            status: status.as_u16(),
            body: text,
        }));
    }
    if let Some(m) = recorder.metrics {
        m.segment_uploaded(
            segment.manifest.as_str(),
            &recorder.orchestrator_uri,
            uploaded,
        );
    }
    let parsed = parse_transcode_result_with_info(&url, &body, profiles.len())
        .inspect_err(|e| recorder.transcode_failed(segment, transcode_error_code(e)))
        .map_err(Exchange::Sent)?;
    if let Some(m) = recorder.metrics {
        // go: from the upload's answer to the whole result.
        m.segment_transcoded(
            &profiles_label(profiles.iter().map(|p| p.name.as_str())),
            recorder.trusted,
            options.check_signature,
            started.elapsed().saturating_sub(uploaded),
        );
    }
    let downloading = Instant::now();
    let result_url = url.as_str();
    let downloads =
        parsed
            .renditions
            .into_iter()
            .zip(profiles)
            .map(|(rendition, profile)| async move {
                let bytes = match &segment.storage {
                    Some(storage) => {
                        rendition_via_store(
                            client,
                            storage,
                            segment,
                            seg,
                            profile,
                            &rendition.url,
                            options.max_rendition_bytes,
                        )
                        .await?
                    }
                    None => {
                        client
                            .download(&rendition.url, options.max_rendition_bytes)
                            .await?
                    }
                };
                let perceptual_hash = if options.calc_perceptual_hash {
                    let hash_url = rendition.perceptual_hash_url.as_deref().ok_or_else(|| {
                        GatewayError::BadTranscodeResult {
                            uri: result_url.to_string(),
                            reason: "no perceptual hash URL for a verified segment".into(),
                        }
                    })?;
                    // A hash the orchestrator wrote to the stream's bucket is read from it.
                    let hash = match &segment.storage {
                        Some(storage) if storage.store.owns(hash_url) => {
                            read_from_store(storage, hash_url, MAX_PERCEPTUAL_HASH_BYTES).await?
                        }
                        _ => client.download(hash_url, MAX_PERCEPTUAL_HASH_BYTES).await?,
                    };
                    Some(hash)
                } else {
                    None
                };
                Ok::<_, GatewayError>(TranscodedRendition {
                    profile: profile.clone(),
                    data: bytes,
                    pixels: rendition.pixels,
                    perceptual_hash,
                })
            });
    let renditions = try_join_all(downloads)
        .await
        .inspect_err(|_| recorder.transcode_failed(segment, "Download"))
        .map_err(Exchange::Sent)?;
    if let Some(m) = recorder.metrics {
        m.segment_downloaded(segment.manifest.as_str(), downloading.elapsed());
    }
    Ok((renditions, parsed.info, parsed.sig))
}

/// A rendition of a stream with an object store: read from the store when the orchestrator
/// wrote it there, else downloaded from the orchestrator and saved under the session's prefix
/// as `<profile>/<seq><ext>` (go-livepeer `downloadResults`; a failed save is logged and the
/// rendition still used, as go does).
///
/// Errors: [`GatewayError::Http`] when the rendition cannot be read, and those of
/// [`OrchestratorClient::download`].
async fn rendition_via_store(
    client: &OrchestratorClient,
    storage: &SegmentStorage,
    segment: &SourceSegment,
    seg: &net::SegData,
    profile: &VideoProfile,
    url: &str,
    max_rendition_bytes: usize,
) -> Result<Bytes, GatewayError> {
    if storage.store.owns(url) {
        return read_from_store(storage, url, max_rendition_bytes).await;
    }
    let bytes = client.download(url, max_rendition_bytes).await?;
    let session_id = seg
        .auth_token
        .as_ref()
        .map_or("", |t| t.session_id.as_str());
    let prefix = crate::storage::session_prefix(segment.manifest.as_str(), session_id);
    let name = format!(
        "{}/{}{}",
        profile.name,
        segment.seq,
        profile.format.extension()
    );
    if let Err(err) = storage.store.save(&prefix, &name, bytes.clone()).await {
        tracing::warn!(manifest_id = %segment.manifest, seq = segment.seq, name, %err, "cannot save the rendition to the object store");
    }
    Ok(bytes)
}

/// Reads `url`, an object of the stream's own store, with the store's credentials: at most
/// `limit_bytes`, within [`crate::client::DOWNLOAD_TIMEOUT`].
///
/// Errors: [`GatewayError::Http`] naming the URL.
async fn read_from_store(
    storage: &SegmentStorage,
    url: &str,
    limit_bytes: usize,
) -> Result<Bytes, GatewayError> {
    storage
        .store
        .get(url, limit_bytes as u64, crate::client::DOWNLOAD_TIMEOUT)
        .await
        .map_err(|e| GatewayError::Http {
            uri: url.to_string(),
            reason: e.to_string(),
        })
}

/// Checks `TranscodeData.sig`: a 65-byte signature by `orchestrator` over the keccak256 of the
/// renditions' keccak256 hashes, in profile order (wire-and-network.md §2.3; go-livepeer
/// `verification.go`, where a mismatch is `ErrTampered`). go checks it only on sampled
/// segments of verified streams; this gateway checks every paid segment, since it pays for
/// each.
///
/// Errors: [`GatewayError::TamperedRenditions`].
pub fn check_renditions_signature(
    uri: &str,
    orchestrator: alloy_primitives::Address,
    renditions: &[TranscodedRendition],
    sig: &[u8],
) -> Result<(), GatewayError> {
    let hash = livepeer_proto::signing::renditions_hash(renditions.iter().map(|r| r.data.as_ref()));
    match livepeer_pm::verify_signature(orchestrator, &hash, sig) {
        Ok(()) => Ok(()),
        Err(e) => Err(GatewayError::TamperedRenditions {
            uri: uri.to_string(),
            orchestrator: orchestrator.to_checksum(None),
            reason: e.to_string(),
        }),
    }
}

fn ensure_trailing_slash(uri: &Uri) -> String {
    let s = uri.to_string();
    if s.ends_with('/') { s } else { s + "/" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livepeer_primitives::profile::{Format, VideoProfile};

    fn std_profiles(names: &[&str]) -> Vec<VideoProfile> {
        names
            .iter()
            .map(|n| VideoProfile::standard(n).expect("standard profile"))
            .collect()
    }

    #[test]
    fn input_codecs_map_to_gos_decode_capabilities() {
        // (codec, pixel format, the decode capabilities, or None for a 422)
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a [u32]>);
        let cases: [Case<'_>; 9] = [
            ("h264", Some("yuv420p"), Some(&[])),
            ("h264", Some("yuvj420p"), Some(&[])),
            ("h264", None, Some(&[])),
            ("h264", Some("yuv422p10le"), Some(&[24])),
            ("h264", Some("yuv444p"), Some(&[21])),
            ("hevc", Some("yuv420p"), Some(&[15])),
            ("vp9", None, Some(&[18])),
            ("mpeg2video", Some("yuv420p"), None),
            ("av1", None, None),
        ];
        for (codec, pix, want) in cases {
            let got = input_capabilities(codec, pix);
            match want {
                Some(ids) => assert_eq!(
                    got.expect("known codec").ids().collect::<Vec<_>>(),
                    ids,
                    "{codec} {pix:?}"
                ),
                None => assert!(
                    matches!(&got, Err(e @ GatewayError::UnknownInputCodec { .. })
                        if e.to_string() == format!("Unknown input stream codec={codec}")),
                    "{codec}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn job_capabilities_follow_the_profiles() {
        let plain = job_capabilities(&std_profiles(&["P240p30fps16x9"]), false);
        assert_eq!(plain.bitstring.ids().collect::<Vec<_>>(), vec![0, 1, 12]);
        let sliced = job_capabilities(&std_profiles(&["P240p30fps16x9"]), true);
        assert!(sliced.bitstring.contains(Capability::SegmentSlicing));
        let mut mp4 = std_profiles(&["P360p30fps16x9"]);
        mp4[0].format = Format::Mp4;
        assert!(
            job_capabilities(&mp4, false)
                .bitstring
                .contains(Capability::Mp4)
        );
    }

    #[test]
    fn seg_data_carries_hash_duration_and_profiles() {
        let segment = SourceSegment {
            manifest: ManifestId::new("m1").expect("id"),
            seq: 7,
            duration: Duration::from_millis(2000),
            data: Bytes::from_static(b"segment bytes"),
            slice: None,
            input: CapabilitySet::new(),
            storage: None,
        };
        let token = net::AuthToken {
            token: vec![1],
            session_id: "abcd0123".into(),
            expiration: 1,
        };
        let profiles = std_profiles(&["P240p30fps16x9", "P360p30fps16x9"]);
        let seg = seg_data(
            &segment,
            &profiles,
            &job_capabilities(&profiles, false),
            &token,
        )
        .expect("seq 7 fits");
        assert_eq!(seg.manifest_id, b"m1");
        assert_eq!(seg.seq, 7);
        assert_eq!(seg.duration, 2000);
        assert_eq!(
            seg.hash,
            alloy_primitives::keccak256(b"segment bytes").to_vec()
        );
        assert_eq!(seg.profiles, b"invalid");
        assert_eq!(
            convert::profiles_from_seg_data(&seg).expect("profiles"),
            profiles
        );
        assert_eq!(seg.auth_token, Some(token.clone()));

        // A seq past int64 is refused, never clamped onto another segment's key.
        let overflow = SourceSegment {
            seq: i64::MAX as u64 + 1,
            ..segment
        };
        let job = job_capabilities(&profiles, false);
        assert!(matches!(
            seg_data(&overflow, &profiles, &job, &token),
            Err(GatewayError::BadRequest(_))
        ));
        let last = SourceSegment {
            seq: i64::MAX as u64,
            ..overflow
        };
        assert_eq!(
            seg_data(&last, &profiles, &job, &token).expect("fits").seq,
            i64::MAX
        );
    }

    fn result_with(urls: &[&str]) -> Vec<u8> {
        net::TranscodeResult {
            seq: 1,
            result: Some(net::transcode_result::Result::Data(net::TranscodeData {
                segments: urls
                    .iter()
                    .map(|url| net::TranscodedSegmentData {
                        url: url.to_string(),
                        pixels: -5,
                        perceptual_hash_url: String::new(),
                    })
                    .collect(),
                sig: Vec::new(),
            })),
            info: None,
        }
        .encode_to_vec()
    }

    #[test]
    fn transcode_results_are_checked_before_any_download() {
        let ok = parse_transcode_result("u", &result_with(&["https://o:1/stream/s/p/1.ts"]), 1)
            .expect("a good result");
        assert_eq!(
            ok,
            vec![RenditionRef {
                url: "https://o:1/stream/s/p/1.ts".into(),
                pixels: 0,
                perceptual_hash_url: None,
            }]
        );
        let error = net::TranscodeResult {
            result: Some(net::transcode_result::Result::Error("x".repeat(10_000))),
            ..Default::default()
        }
        .encode_to_vec();
        // (what, body, renditions, check)
        type Check = fn(&GatewayError) -> bool;
        let cases: [(&str, Vec<u8>, usize, Check); 7] = [
            ("garbage", vec![0xff; 64], 1, |e| {
                matches!(e, GatewayError::BadTranscodeResult { .. })
            }),
            ("empty", Vec::new(), 1, |e| {
                matches!(e, GatewayError::BadTranscodeResult { .. })
            }),
            (
                "count",
                result_with(&["https://o:1/a", "https://o:1/b"]),
                1,
                |e| matches!(e, GatewayError::BadTranscodeResult { .. }),
            ),
            ("relative url", result_with(&["/stream/a.ts"]), 1, |e| {
                matches!(e, GatewayError::BadTranscodeResult { .. })
            }),
            ("file url", result_with(&["file:///etc/passwd"]), 1, |e| {
                matches!(e, GatewayError::BadTranscodeResult { .. })
            }),
            ("error text is truncated", error, 1, |e| match e {
                GatewayError::Transcode { message, .. } => {
                    message.chars().count() == MAX_REFUSAL_TEXT_CHARS + 1
                }
                _ => false,
            }),
            (
                "oversized",
                vec![0; MAX_TRANSCODE_RESULT_BYTES + 1],
                1,
                |e| matches!(e, GatewayError::AnswerTooLarge { .. }),
            ),
        ];
        for (what, body, renditions, check) in cases {
            let err = parse_transcode_result("u", &body, renditions).expect_err(what);
            assert!(check(&err), "{what}: {err:?}");
        }
    }

    /// Renditions signed by the paid orchestrator pass; another key, other bytes, another
    /// order or no signature are tampering.
    #[test]
    fn renditions_must_be_signed_by_the_paid_orchestrator() {
        let orchestrator = livepeer_pm::LocalSigner::from_bytes(&[0x21; 32]).expect("key");
        let other = livepeer_pm::LocalSigner::from_bytes(&[0x22; 32]).expect("key");
        let profiles = std_profiles(&["P240p30fps16x9", "P144p30fps16x9"]);
        let rendition = |profile: &VideoProfile, data: &'static [u8]| TranscodedRendition {
            profile: profile.clone(),
            data: Bytes::from_static(data),
            pixels: 1,
            perceptual_hash: None,
        };
        let renditions = vec![
            rendition(&profiles[0], b"first rendition"),
            rendition(&profiles[1], b"second rendition"),
        ];
        let hash =
            livepeer_proto::signing::renditions_hash(renditions.iter().map(|r| r.data.as_ref()));
        let sig = orchestrator.sign(&hash).to_vec();
        let me = orchestrator.address();
        check_renditions_signature("u", me, &renditions, &sig).expect("signed by it");
        let tampered = |what: &str, result: Result<(), GatewayError>| {
            let err = result.expect_err(what);
            assert!(
                matches!(err, GatewayError::TamperedRenditions { .. }),
                "{what}: {err}"
            );
            assert!(err.is_retryable(), "{what}: another orchestrator is tried");
        };
        tampered(
            "another key",
            check_renditions_signature("u", me, &renditions, &other.sign(&hash)),
        );
        let mut changed = renditions.clone();
        changed[1].data = Bytes::from_static(b"second renditioN");
        tampered(
            "other bytes",
            check_renditions_signature("u", me, &changed, &sig),
        );
        let swapped = vec![renditions[1].clone(), renditions[0].clone()];
        tampered(
            "another order",
            check_renditions_signature("u", me, &swapped, &sig),
        );
        tampered(
            "no signature",
            check_renditions_signature("u", me, &renditions, &[]),
        );
    }

    #[test]
    fn refresh_in_the_last_tenth_of_validity() {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
        let session = |expiration| BroadcastSession {
            addr: Uri::from_static("https://o:1"),
            transcoder: Uri::from_static("https://o:1"),
            auth_token: net::AuthToken {
                token: vec![],
                session_id: "x".into(),
                expiration,
            },
            latency: Duration::ZERO,
            terms: None,
            score: SCORE_TRUSTED,
            capabilities: Capabilities::default(),
        };
        assert!(!session(secs + 1800).needs_refresh(now));
        assert!(session(secs + 120).needs_refresh(now));
    }
}
