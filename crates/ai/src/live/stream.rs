//! One live stream: the input channel read into ffmpeg, its cut segments published, the
//! control channel read, status events published (see the module docs of [`crate::live`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use livepeer_media::Ffmpeg;
use livepeer_media::live::{CutSegment, LiveSegmenter};
use livepeer_trickle::{
    PublishStart, PublisherConfig, ReadSeq, SubscriberConfig, TrickleError, TricklePublisher,
    TrickleSubscriber,
};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::params::{LiveModel, PipelineSettings};
use super::status::{
    EventEnvelope, FpsMeter, InferenceStatus, InputStatus, PipelineState, PipelineStatus,
    StateInputs, instant_ms, params_hash, running_state, status_envelope, trace_envelope, unix_ms,
};
use super::ts::TsFrameCounter;
use super::{
    CLOSE_TIMEOUT, EVENT_PUBLISH_TIMEOUT, EVENTS_CONTENT_TYPE, INPUT_QUEUE_CHUNKS, LiveConfig,
    MAX_CONTROL_MESSAGE_BYTES, MAX_FFMPEG_FAILURES, MAX_INPUT_BYTES_WITHOUT_OUTPUT,
    MAX_INPUT_SEGMENT_BYTES, MAX_OUTPUT_SEGMENT_BYTES, OUTPUT_CONTENT_TYPE, OUTPUT_QUEUE_SEGMENTS,
};

/// ai-runner's control keep-alive, ignored (`{"keep":"alive"}`).
const KEEPALIVE_KEY: &str = "keep";
/// Between two state checks.
const STATE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long the output channel stays after the stream's last segment before it is deleted.
const OUTPUT_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// ffmpeg's error lines kept for `last_restart_logs`.
const RESTART_LOG_LINES: usize = 20;

/// A checked start request.
#[derive(Debug, Clone)]
pub(crate) struct StreamRequest {
    pub model: LiveModel,
    pub subscribe_url: String,
    pub publish_url: String,
    pub control_url: Option<String>,
    pub events_url: Option<String>,
    pub params: Value,
    pub settings: PipelineSettings,
    pub gateway_request_id: String,
    pub manifest_id: String,
    pub stream_id: String,
}

/// What a stream needs.
pub(crate) struct StreamContext {
    pub http: reqwest::Client,
    pub ffmpeg: Ffmpeg,
    pub config: LiveConfig,
    pub request: StreamRequest,
    /// Stops the stream (replaced, runner stopping); the stream cancels it itself when its
    /// output channel is gone.
    pub stop: CancellationToken,
}

/// The status of one stream, shared by its parts.
struct Shared {
    status: Mutex<StatusState>,
    changed: Notify,
}

struct StatusState {
    pipeline: String,
    started: Instant,
    start_ms: i64,
    state: PipelineState,
    last_state_update_ms: Option<i64>,
    last_input: Option<Instant>,
    last_output: Option<Instant>,
    last_error: Option<Instant>,
    input_fps: FpsMeter,
    output_fps: FpsMeter,
    inference: InferenceStatus,
    ended: Option<PipelineState>,
    last_status_ms: Option<i64>,
}

impl Shared {
    fn new(pipeline: &str, params: &Value) -> Self {
        let now = Instant::now();
        let now_ms = unix_ms();
        Self {
            status: Mutex::new(StatusState {
                pipeline: pipeline.to_string(),
                started: now,
                start_ms: now_ms,
                state: PipelineState::Online,
                last_state_update_ms: Some(now_ms),
                last_input: None,
                last_output: None,
                last_error: None,
                input_fps: FpsMeter::new(now),
                output_fps: FpsMeter::new(now),
                inference: InferenceStatus {
                    last_params_update_time: Some(now_ms),
                    last_params: Some(params.clone()),
                    last_params_hash: Some(params_hash(params)),
                    ..Default::default()
                },
                ended: None,
                last_status_ms: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StatusState> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn input(&self, frames: u64) {
        let now = Instant::now();
        let mut s = self.lock();
        s.last_input = Some(now);
        s.input_fps.add(now, frames);
    }

    fn output(&self, frames: u64) {
        let now = Instant::now();
        let mut s = self.lock();
        s.last_output = Some(now);
        s.output_fps.add(now, frames);
    }

    fn error(&self, message: String) {
        warn!(error = %message, "live pipeline error");
        {
            let mut s = self.lock();
            s.last_error = Some(Instant::now());
            s.inference.last_error_time = Some(unix_ms());
            s.inference.last_error = Some(message);
        }
        self.changed.notify_one();
    }

    fn params(&self, params: Value) {
        {
            let mut s = self.lock();
            s.inference.last_params_hash = Some(params_hash(&params));
            s.inference.last_params = Some(params);
            s.inference.last_params_update_time = Some(unix_ms());
        }
        self.changed.notify_one();
    }

    fn restart(&self, logs: Vec<String>) {
        let mut s = self.lock();
        s.inference.restart_count = s.inference.restart_count.saturating_add(1);
        s.inference.last_restart_time = Some(unix_ms());
        s.inference.last_restart_logs = Some(logs);
    }

    /// Recomputes the state; true when it changed.
    fn refresh(&self) -> bool {
        let mut s = self.lock();
        let state = match s.ended {
            Some(ended) => ended,
            None => running_state(StateInputs {
                now: Instant::now(),
                started: s.started,
                last_input: s.last_input,
                last_output: s.last_output,
                last_error: s.last_error,
            }),
        };
        if state == s.state {
            return false;
        }
        info!(old_state = ?s.state, new_state = ?state, "live pipeline state changed");
        s.state = state;
        s.last_state_update_ms = Some(unix_ms());
        true
    }

    fn end(&self, state: PipelineState) {
        self.lock().ended = Some(state);
        self.refresh();
    }

    /// The status event to send now.
    fn snapshot(&self) -> PipelineStatus {
        self.refresh();
        let now = Instant::now();
        let now_ms = unix_ms();
        let mut s = self.lock();
        let last_status = s.last_status_ms.replace(now_ms).unwrap_or(s.start_ms);
        let input_fps = s.input_fps.fps(now);
        let output_fps = s.output_fps.fps(now);
        PipelineStatus {
            kind: "status".into(),
            pipeline: s.pipeline.clone(),
            start_time: s.start_ms,
            state: s.state,
            last_state_update_time: s.last_state_update_ms,
            input_status: InputStatus {
                last_input_time: s.last_input.map(|t| instant_ms(t, now, now_ms)),
                fps: input_fps,
            },
            inference_status: InferenceStatus {
                last_output_time: s.last_output.map(|t| instant_ms(t, now, now_ms)),
                fps: output_fps,
                ..s.inference.clone()
            },
            timestamp: Some(now_ms),
            last_status_timestamp: Some(last_status),
        }
    }
}

/// Bytes of the input for ffmpeg.
enum InputMsg {
    /// A new input segment starts (a restart point).
    SegmentStart,
    /// Its next bytes.
    Chunk(Bytes),
}

/// Why the input ended.
#[derive(Debug)]
enum InputEnd {
    /// End of stream (closed or 404).
    Ended,
    /// Nothing for the input timeout.
    Timeout,
    /// Stopped from outside.
    Stopped,
    /// The channel failed (too many errors in a row).
    Failed(String),
}

/// Why the media part ended.
#[derive(Debug, PartialEq)]
enum MediaEnd {
    /// Its input ended; everything it had was flushed.
    Drained,
    /// Stopped from outside.
    Stopped,
    /// ffmpeg failed [`MAX_FFMPEG_FAILURES`] times in a row.
    Failed,
}

/// Runs one stream to its end (module docs of [`crate::live`]).
pub(crate) async fn run_stream(ctx: StreamContext) {
    let request = &ctx.request;
    info!(
        subscribe_url = %request.subscribe_url,
        publish_url = %request.publish_url,
        model = %request.model,
        "live stream started"
    );
    let shared = Shared::new(request.model.as_str(), &request.params);
    let finished = CancellationToken::new();
    let input_stop = ctx.stop.child_token();
    let (settings_tx, settings_rx) = watch::channel(request.settings);
    let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE_CHUNKS);
    let (cuts_tx, cuts_rx) = mpsc::channel(OUTPUT_QUEUE_SEGMENTS);
    let (trace_tx, trace_rx) = mpsc::channel(8);
    let _ = trace_tx.try_send(trace_envelope("runner_receive_stream_request", unix_ms()));

    let pipeline = async {
        let (input, media, ()) = tokio::join!(
            read_input(&ctx, &shared, input_tx, &input_stop, &trace_tx),
            async {
                let end = run_media(&ctx, &shared, input_rx, cuts_tx, settings_rx).await;
                input_stop.cancel();
                end
            },
            publish_output(&ctx, &shared, cuts_rx, &trace_tx),
        );
        info!(?input, ?media, "live stream ended");
        if let InputEnd::Failed(reason) = &input {
            shared.error(format!("input channel failed: {reason}"));
        }
        shared.end(if media == MediaEnd::Failed {
            PipelineState::Error
        } else {
            PipelineState::Offline
        });
        finished.cancel();
    };
    tokio::join!(
        pipeline,
        read_control(&ctx, &shared, settings_tx, &finished),
        publish_events(&ctx, &shared, trace_rx, &finished),
        watch_state(&shared, &finished),
    );
}

fn subscriber_config(max_segment_bytes: u64) -> SubscriberConfig {
    SubscriberConfig {
        // The channels are made for this stream, so its first segment is 0: reading from there
        // loses nothing when the publisher is quicker than this subscriber (ai-runner's start
        // at the current segment, -2, drops what came before it). A reader that fell out of
        // the window jumps to the live edge on 470.
        start: ReadSeq::Seq(0),
        max_segment_bytes,
        ..SubscriberConfig::default()
    }
}

async fn read_input(
    ctx: &StreamContext,
    shared: &Shared,
    tx: mpsc::Sender<InputMsg>,
    stop: &CancellationToken,
    trace: &mpsc::Sender<EventEnvelope>,
) -> InputEnd {
    let mut subscriber = TrickleSubscriber::new(
        ctx.http.clone(),
        &ctx.request.subscribe_url,
        subscriber_config(MAX_INPUT_SEGMENT_BYTES),
    );
    let timeout = ctx.config.input_timeout;
    let mut deadline = tokio::time::Instant::now() + timeout;
    let mut counter = TsFrameCounter::new();
    let mut first = true;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return InputEnd::Stopped,
            next = tokio::time::timeout_at(deadline, subscriber.next_segment()) => next,
        };
        let mut segment = match next {
            Err(_) => return InputEnd::Timeout,
            Ok(Ok(Some(segment))) => segment,
            Ok(Ok(None)) => return InputEnd::Ended,
            Ok(Err(e)) if e.is_end_of_stream() => return InputEnd::Ended,
            Ok(Err(e)) => return InputEnd::Failed(e.to_string()),
        };
        debug!(seq = segment.seq(), "input segment");
        if tx.send(InputMsg::SegmentStart).await.is_err() {
            return InputEnd::Stopped;
        }
        loop {
            let chunk = tokio::select! {
                _ = stop.cancelled() => return InputEnd::Stopped,
                chunk = tokio::time::timeout_at(deadline, segment.chunk()) => chunk,
            };
            match chunk {
                Err(_) => return InputEnd::Timeout,
                Ok(Ok(Some(bytes))) => {
                    deadline = tokio::time::Instant::now() + timeout;
                    shared.input(counter.push(&bytes));
                    if tx.send(InputMsg::Chunk(bytes)).await.is_err() {
                        return InputEnd::Stopped;
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    // A cut or oversized segment: what came is ffmpeg's, the rest is skipped.
                    debug!(seq = segment.seq(), error = %e, "input segment cut short");
                    break;
                }
            }
        }
        if first {
            first = false;
            let _ = trace.try_send(trace_envelope(
                "runner_receive_first_ingest_segment",
                unix_ms(),
            ));
        }
    }
}

/// Starts ffmpeg for `settings`, its segments sent to `cuts`.
async fn start_segmenter(
    ffmpeg: &Ffmpeg,
    settings: &PipelineSettings,
    cuts: &mpsc::Sender<CutSegment>,
    produced: &Arc<AtomicU64>,
) -> Result<LiveSegmenter, String> {
    let cuts = cuts.clone();
    let produced = produced.clone();
    let on_cut = move |cut: CutSegment| {
        produced.fetch_add(1, Ordering::AcqRel);
        if cuts.try_send(cut).is_err() {
            warn!("output segment dropped: publishing is behind the stream");
        }
    };
    LiveSegmenter::start(ffmpeg, settings.ffmpeg_args(), on_cut)
        .await
        .map_err(|e| e.to_string())
}

/// Ends ffmpeg's input and waits for its last segments; its error lines if it failed.
async fn finish_segmenter(segmenter: LiveSegmenter) -> Option<String> {
    match segmenter.finish().await {
        Ok(()) => None,
        Err(e) => Some(e.to_string()),
    }
}

async fn run_media(
    ctx: &StreamContext,
    shared: &Shared,
    mut input: mpsc::Receiver<InputMsg>,
    cuts: mpsc::Sender<CutSegment>,
    mut settings: watch::Receiver<PipelineSettings>,
) -> MediaEnd {
    let produced = Arc::new(AtomicU64::new(0));
    let mut segmenter: Option<LiveSegmenter> = None;
    let mut current = *settings.borrow_and_update();
    let mut failures = 0u32;
    let mut produced_at_failure = 0;
    // After a failure, the rest of the segment is skipped: a new ffmpeg starts on the next.
    let mut skipping = false;
    let mut failed = |reason: String, shared: &Shared| -> bool {
        let now = produced.load(Ordering::Acquire);
        if now != produced_at_failure {
            failures = 0;
        }
        produced_at_failure = now;
        failures += 1;
        let logs: Vec<String> = reason
            .lines()
            .rev()
            .take(RESTART_LOG_LINES)
            .map(str::to_string)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        shared.error(format!("ffmpeg failed: {reason}"));
        shared.restart(logs);
        failures >= MAX_FFMPEG_FAILURES
    };
    loop {
        let msg = tokio::select! {
            _ = ctx.stop.cancelled() => return MediaEnd::Stopped,
            msg = input.recv() => msg,
        };
        match msg {
            None => break,
            Some(InputMsg::SegmentStart) => {
                skipping = false;
                let wanted = *settings.borrow_and_update();
                if wanted != current
                    && let Some(old) = segmenter.take()
                {
                    info!(from = ?current, to = ?wanted, "pipeline params changed; restarting ffmpeg");
                    let flushed = tokio::select! {
                        _ = ctx.stop.cancelled() => return MediaEnd::Stopped,
                        flushed = finish_segmenter(old) => flushed,
                    };
                    if let Some(err) = flushed {
                        debug!(error = %err, "ffmpeg ended with an error at a restart");
                    }
                }
                current = wanted;
                if segmenter.is_none() {
                    match start_segmenter(&ctx.ffmpeg, &current, &cuts, &produced).await {
                        Ok(started) => segmenter = Some(started),
                        Err(reason) => {
                            if failed(reason, shared) {
                                return MediaEnd::Failed;
                            }
                            skipping = true;
                        }
                    }
                }
            }
            Some(InputMsg::Chunk(bytes)) => {
                if skipping {
                    continue;
                }
                let Some(running) = segmenter.as_mut() else {
                    continue;
                };
                let stuck = running.bytes_since_cut() > MAX_INPUT_BYTES_WITHOUT_OUTPUT;
                let written = if stuck {
                    Err(format!(
                        "no output segment for {MAX_INPUT_BYTES_WITHOUT_OUTPUT} bytes of input"
                    ))
                } else {
                    tokio::select! {
                        _ = ctx.stop.cancelled() => return MediaEnd::Stopped,
                        written = running.write(&bytes) => written.map_err(|e| e.to_string()),
                    }
                };
                if let Err(write_error) = written {
                    let reason = match segmenter.take() {
                        Some(dead) => finish_segmenter(dead).await.unwrap_or(write_error),
                        None => write_error,
                    };
                    if failed(reason, shared) {
                        return MediaEnd::Failed;
                    }
                    skipping = true;
                }
            }
        }
    }
    if let Some(last) = segmenter.take() {
        let flushed = tokio::select! {
            _ = ctx.stop.cancelled() => return MediaEnd::Stopped,
            flushed = finish_segmenter(last) => flushed,
        };
        if let Some(err) = flushed {
            debug!(error = %err, "ffmpeg ended with an error at the end of the stream");
        }
    }
    MediaEnd::Drained
}

async fn publish_output(
    ctx: &StreamContext,
    shared: &Shared,
    mut cuts: mpsc::Receiver<CutSegment>,
    trace: &mpsc::Sender<EventEnvelope>,
) {
    let config = PublisherConfig {
        content_type: OUTPUT_CONTENT_TYPE.to_string(),
        start: PublishStart::Seq(0),
        ..PublisherConfig::default()
    };
    let mut publisher =
        match TricklePublisher::connect(ctx.http.clone(), &ctx.request.publish_url, config).await {
            Ok(publisher) => publisher,
            Err(e) => {
                shared.error(format!("output channel: {e}"));
                ctx.stop.cancel();
                return;
            }
        };
    let mut counter = TsFrameCounter::new();
    let mut first = true;
    loop {
        let cut = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            cut = cuts.recv() => cut,
        };
        let Some(cut) = cut else {
            break;
        };
        if cut.data.len() > MAX_OUTPUT_SEGMENT_BYTES {
            shared.error(format!(
                "output segment of {} bytes dropped (over {MAX_OUTPUT_SEGMENT_BYTES})",
                cut.data.len()
            ));
            continue;
        }
        let frames = counter.push(&cut.data);
        let published = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            published = publisher.publish(cut.data) => published,
        };
        match published {
            Ok(seq) => {
                debug!(seq, frames, "output segment published");
                shared.output(frames);
                if first {
                    first = false;
                    let _ = trace.try_send(trace_envelope(
                        "runner_send_first_processed_segment",
                        unix_ms(),
                    ));
                }
            }
            Err(e) if e.is_end_of_stream() => {
                info!(error = %e, "output channel gone; stopping the stream");
                ctx.stop.cancel();
                return;
            }
            Err(e) => shared.error(format!("publishing an output segment: {e}")),
        }
    }
    // Readers a segment behind still fetch the last one: once the channel is deleted its
    // segments are gone (404), so the delete waits a moment unless the stream was stopped.
    if !ctx.stop.is_cancelled() {
        tokio::select! {
            _ = ctx.stop.cancelled() => {}
            _ = tokio::time::sleep(OUTPUT_CLOSE_GRACE) => {}
        }
    }
    close_publisher(publisher, "output").await;
}

/// Closes a channel this stream published (`DELETE <ch>`), as ai-runner does at a stream's
/// end; bounded by [`CLOSE_TIMEOUT`].
async fn close_publisher(publisher: TricklePublisher, what: &'static str) {
    match tokio::time::timeout(CLOSE_TIMEOUT, publisher.close()).await {
        Ok(Ok(())) => debug!(channel = what, "trickle channel closed"),
        Ok(Err(e)) => debug!(channel = what, error = %e, "closing the trickle channel failed"),
        Err(_) => debug!(channel = what, "closing the trickle channel timed out"),
    }
}

async fn read_control(
    ctx: &StreamContext,
    shared: &Shared,
    settings: watch::Sender<PipelineSettings>,
    finished: &CancellationToken,
) {
    let Some(url) = &ctx.request.control_url else {
        return;
    };
    let mut subscriber = TrickleSubscriber::new(
        ctx.http.clone(),
        url,
        subscriber_config(MAX_CONTROL_MESSAGE_BYTES),
    );
    loop {
        let next = tokio::select! {
            _ = finished.cancelled() => return,
            next = subscriber.next_segment() => next,
        };
        let segment = match next {
            Ok(Some(segment)) => segment,
            Ok(None) => return,
            Err(e) if e.is_end_of_stream() => return,
            Err(e) => {
                shared.error(format!("control channel failed: {e}"));
                return;
            }
        };
        let body = tokio::select! {
            _ = finished.cancelled() => return,
            body = segment.bytes() => body,
        };
        match body {
            Ok(body) => apply_control(ctx.request.model, shared, &settings, &body),
            Err(e) => shared.error(format!("control message unreadable: {e}")),
        }
    }
}

/// One control message: a keep-alive (ignored) or the pipeline's new params (a whole set,
/// as ai-runner's `update_params` takes it: fields not given take their defaults).
fn apply_control(
    model: LiveModel,
    shared: &Shared,
    settings: &watch::Sender<PipelineSettings>,
    body: &[u8],
) {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            shared.error(format!("control message is not JSON: {e}"));
            return;
        }
    };
    let Value::Object(params) = &value else {
        shared.error("control message is not a JSON object".into());
        return;
    };
    if params.len() == 1 && params.contains_key(KEEPALIVE_KEY) {
        return;
    }
    match PipelineSettings::from_params(model, params) {
        Ok(new) => {
            info!(params = %value, "params updated");
            settings.send_replace(new);
            shared.params(value);
        }
        Err(e) => shared.error(format!("params update rejected: {e}")),
    }
}

async fn publish_events(
    ctx: &StreamContext,
    shared: &Shared,
    mut trace: mpsc::Receiver<EventEnvelope>,
    finished: &CancellationToken,
) {
    let Some(url) = &ctx.request.events_url else {
        finished.cancelled().await;
        return;
    };
    let config = PublisherConfig {
        content_type: EVENTS_CONTENT_TYPE.to_string(),
        start: PublishStart::Seq(0),
        ..PublisherConfig::default()
    };
    let mut publisher = match TricklePublisher::connect(ctx.http.clone(), url, config).await {
        Ok(publisher) => publisher,
        Err(e) => {
            shared.error(format!("events channel: {e}"));
            finished.cancelled().await;
            return;
        }
    };
    let mut tick = tokio::time::interval(super::status::STATUS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let envelope = tokio::select! {
            biased;
            _ = finished.cancelled() => break,
            Some(event) = trace.recv() => event,
            _ = shared.changed.notified() => status_envelope(&shared.snapshot()),
            _ = tick.tick() => status_envelope(&shared.snapshot()),
        };
        if !send_event(&mut publisher, &envelope).await {
            finished.cancelled().await;
            return;
        }
    }
    while let Ok(event) = trace.try_recv() {
        if !send_event(&mut publisher, &event).await {
            return;
        }
    }
    if send_event(&mut publisher, &status_envelope(&shared.snapshot())).await {
        close_publisher(publisher, "events").await;
    }
}

/// Publishes one event as one segment; false when the channel is gone.
async fn send_event(publisher: &mut TricklePublisher, envelope: &EventEnvelope) -> bool {
    let body = match serde_json::to_vec(envelope) {
        Ok(body) => Bytes::from(body),
        Err(_) => return true,
    };
    match tokio::time::timeout(EVENT_PUBLISH_TIMEOUT, publisher.publish(body)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) if e.is_end_of_stream() => {
            debug!(error = %e, "events channel gone");
            false
        }
        Ok(Err(TrickleError::SegmentClosed { .. })) => true,
        Ok(Err(e)) => {
            debug!(error = %e, "status event not published");
            true
        }
        Err(_) => {
            debug!("status event timed out");
            true
        }
    }
}

async fn watch_state(shared: &Shared, finished: &CancellationToken) {
    let mut tick = tokio::time::interval(STATE_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = finished.cancelled() => return,
            _ = tick.tick() => {}
        }
        if shared.refresh() {
            shared.changed.notify_one();
        }
    }
}
