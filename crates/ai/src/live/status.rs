//! The live pipeline's status, as ai-runner reports it on the events channel
//! (`runner/src/runner/live/process/status.py`; `reference/ai.md` §4.2): the status event,
//! its envelope, the state rules, frame-rate meters and the params hash.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Between two periodic status events (ai-runner `status_report_interval`).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// The window the frame rates are measured over.
pub const FPS_WINDOW: Duration = Duration::from_secs(10);
/// No input for this long makes the state `DEGRADED_INPUT` (longer than a segment, since
/// input arrives a segment at a time).
pub const INPUT_DEGRADED_AFTER: Duration = Duration::from_secs(5);
/// Input but no output for this long makes the state `DEGRADED_INFERENCE`.
pub const OUTPUT_DEGRADED_AFTER: Duration = Duration::from_secs(5);
/// An error this recent makes the state `DEGRADED_INFERENCE` (ai-runner: 15 s).
pub const RECENT_ERROR: Duration = Duration::from_secs(15);
/// `queue_event_type` of status events. ai-runner sends them as `ai_stream_events`;
/// go-livepeer's gateway files every `type: "status"` event as `ai_stream_status` whatever
/// it says (`server/ai_live_video.go` `startEventsSubscribe`), so this names it as filed.
pub const STATUS_QUEUE_EVENT_TYPE: &str = "ai_stream_status";
/// `queue_event_type` of ai-runner's stream trace events (`runner_receive_stream_request`,
/// `runner_receive_first_ingest_segment`, `runner_send_first_processed_segment`).
pub const TRACE_QUEUE_EVENT_TYPE: &str = "stream_trace";

/// `PipelineState` (ai-runner `status.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PipelineState {
    /// The pipeline is loading (the built-in ones never are).
    Loading,
    /// No stream (it ended: input over, none for the input timeout, replaced or stopped).
    Offline,
    /// Input arrives and output leaves.
    Online,
    /// No input for [`INPUT_DEGRADED_AFTER`].
    DegradedInput,
    /// Input but no output for [`OUTPUT_DEGRADED_AFTER`], or an error in the last
    /// [`RECENT_ERROR`].
    DegradedInference,
    /// The pipeline failed for good (ffmpeg kept failing); the stream ended.
    Error,
}

/// `InputStatus`: times are Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputStatus {
    /// When input bytes last arrived.
    pub last_input_time: Option<i64>,
    /// Input frames per second over [`FPS_WINDOW`].
    pub fps: f64,
}

/// `InferenceStatus`: times are Unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceStatus {
    /// When an output segment was last published.
    pub last_output_time: Option<i64>,
    /// Output frames per second over [`FPS_WINDOW`].
    pub fps: f64,
    /// When params were last taken (the start's, then each control update).
    pub last_params_update_time: Option<i64>,
    /// The params last taken, as they came.
    pub last_params: Option<Value>,
    /// md5 of `last_params` as Python's `json.dumps(params, sort_keys=True)` writes it
    /// ([`params_hash`]).
    pub last_params_hash: Option<String>,
    /// When the last error happened.
    pub last_error_time: Option<i64>,
    /// The last error: a control message that could not be used, ffmpeg failing, a
    /// segment that could not be published.
    pub last_error: Option<String>,
    /// When ffmpeg was last restarted after a failure.
    pub last_restart_time: Option<i64>,
    /// ffmpeg's last error lines before that restart.
    pub last_restart_logs: Option<Vec<String>>,
    /// ffmpeg restarts after failures.
    pub restart_count: u32,
}

/// `PipelineStatus`, the `event` of a status event (`type: "status"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineStatus {
    /// Always `status`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The live pipeline (model id).
    pub pipeline: String,
    /// When the stream started, Unix ms.
    pub start_time: i64,
    /// The state.
    pub state: PipelineState,
    /// When the state last changed, Unix ms.
    pub last_state_update_time: Option<i64>,
    /// Input.
    pub input_status: InputStatus,
    /// Output and params.
    pub inference_status: InferenceStatus,
    /// When this event was sent, Unix ms.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// When the previous status event was sent (the start time for the first), Unix ms.
    #[serde(default)]
    pub last_status_timestamp: Option<i64>,
}

/// An event on the events channel: `{"event": {...}, "queue_event_type": "..."}`
/// (ai-runner `TrickleProtocol.emit_monitoring_event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The event.
    pub event: Value,
    /// Where the gateway files it (`ai_stream_status`, `stream_trace`, ...).
    pub queue_event_type: String,
}

/// Now as Unix milliseconds.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `instant` as Unix milliseconds, given that `now` is `now_ms`.
pub fn instant_ms(instant: Instant, now: Instant, now_ms: i64) -> i64 {
    let ago = i64::try_from(now.saturating_duration_since(instant).as_millis()).unwrap_or(0);
    now_ms - ago
}

/// `value` as Python's `json.dumps(value, sort_keys=True)` writes it: keys sorted at every
/// level, `", "` and `": "` separators, everything but printable ASCII escaped as `\uXXXX` (UTF-16), floats as
/// Python's `repr`.
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_python_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_str(key, out);
                out.push_str(": ");
                write_python_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_python_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// A float as Python's `repr`: the shortest digits that round-trip, positional for decimal
/// exponents from -4 to 15 (always with a fractional part), otherwise `d.ddde±XX`.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else {
            let point = point as usize;
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        format!("{sign}{text}")
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.unsigned_abs())
    }
}

/// ai-runner's `last_params_hash`: md5 (hex) of [`python_json`] of the params.
pub fn params_hash(params: &Value) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(python_json(params).as_bytes()))
}

/// Frames per second over the last [`FPS_WINDOW`]: frames are added as they are seen (a
/// segment's at a time), the rate is the frames in the window over the window (or over the
/// time since the meter started, when shorter).
#[derive(Debug, Clone)]
pub struct FpsMeter {
    started: Instant,
    samples: VecDeque<(Instant, u64)>,
}

impl FpsMeter {
    /// A meter started at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            started: now,
            samples: VecDeque::new(),
        }
    }

    /// Records `frames` seen at `now`.
    pub fn add(&mut self, now: Instant, frames: u64) {
        if frames > 0 {
            self.samples.push_back((now, frames));
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= FPS_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// The rate at `now`.
    pub fn fps(&mut self, now: Instant) -> f64 {
        self.expire(now);
        let span = now.saturating_duration_since(self.started).min(FPS_WINDOW);
        if span.is_zero() {
            return 0.0;
        }
        let frames: u64 = self.samples.iter().map(|(_, n)| n).sum();
        // Rounded to 0.01 fps, as a status report does not need more.
        ((frames as f64 / span.as_secs_f64()) * 100.0).round() / 100.0
    }
}

/// What the state rules look at.
#[derive(Debug, Clone, Copy)]
pub struct StateInputs {
    /// Now.
    pub now: Instant,
    /// When the stream started.
    pub started: Instant,
    /// When input last arrived.
    pub last_input: Option<Instant>,
    /// When output last left.
    pub last_output: Option<Instant>,
    /// When the last error happened.
    pub last_error: Option<Instant>,
}

/// The state of a running stream (ai-runner `ProcessGuardian._compute_current_state`,
/// simplified for a pipeline that never loads and gets input a segment at a time):
/// `DEGRADED_INPUT` after [`INPUT_DEGRADED_AFTER`] without input, `DEGRADED_INFERENCE` after
/// [`OUTPUT_DEGRADED_AFTER`] of input without output or within [`RECENT_ERROR`] of an error,
/// else `ONLINE`. A stream that ended is `OFFLINE` (or `ERROR`), set by the stream itself.
pub fn running_state(inputs: StateInputs) -> PipelineState {
    let since = |t: Option<Instant>| t.map(|t| inputs.now.saturating_duration_since(t));
    let since_input = since(inputs.last_input)
        .unwrap_or_else(|| inputs.now.saturating_duration_since(inputs.started));
    if since_input > INPUT_DEGRADED_AFTER {
        return PipelineState::DegradedInput;
    }
    if since(inputs.last_error).is_some_and(|d| d <= RECENT_ERROR) {
        return PipelineState::DegradedInference;
    }
    if let Some(last_input) = inputs.last_input {
        // Output is due once input has come for a while; before the first output, count
        // from the input that should have made it.
        let since_output = match inputs.last_output {
            Some(t) => inputs.now.saturating_duration_since(t),
            None => inputs
                .now
                .saturating_duration_since(last_input.min(inputs.now)),
        };
        if inputs.last_output.is_none() && since_output <= OUTPUT_DEGRADED_AFTER {
            return PipelineState::Online;
        }
        if since_output > OUTPUT_DEGRADED_AFTER {
            return PipelineState::DegradedInference;
        }
    }
    PipelineState::Online
}

/// A status event's envelope around `status` (stamped with `timestamp`).
pub fn status_envelope(status: &PipelineStatus) -> EventEnvelope {
    EventEnvelope {
        event: serde_json::to_value(status).unwrap_or(Value::Null),
        queue_event_type: STATUS_QUEUE_EVENT_TYPE.to_string(),
    }
}

/// A stream trace event (`{"type": kind, "timestamp": ms}`, `stream_trace`).
pub fn trace_envelope(kind: &str, timestamp_ms: i64) -> EventEnvelope {
    let mut event = Map::new();
    event.insert("type".into(), Value::from(kind));
    event.insert("timestamp".into(), Value::from(timestamp_ms));
    EventEnvelope {
        event: Value::Object(event),
        queue_event_type: TRACE_QUEUE_EVENT_TYPE.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_json_and_hash_match_python() {
        // Expected values from CPython 3: json.dumps(v, sort_keys=True) and its md5.
        let v =
            json!({"b": 1.5, "a": [1, "é", null, true], "c": {"z": 1e16, "y": 1e-05, "x": 0.0001}});
        assert_eq!(
            python_json(&v),
            r#"{"a": [1, "\u00e9", null, true], "b": 1.5, "c": {"x": 0.0001, "y": 1e-05, "z": 1e+16}}"#
        );
        assert_eq!(params_hash(&v), "8d4befd82df8d94b7a87dcd7eff46cf2");
        assert_eq!(params_hash(&json!({})), "99914b932bd37a50b983c5e7c90ae93b");
    }

    #[test]
    fn python_float_repr() {
        for (f, repr) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (100.0, "100.0"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e-5, "1e-05"),
            (-1.25e-7, "-1.25e-07"),
            (1e100, "1e+100"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0, "0.0"),
        ] {
            assert_eq!(python_float(f), repr, "{f}");
        }
    }

    #[test]
    fn python_strings() {
        assert_eq!(
            python_json(&json!("a\"b\\c\n\u{1}😀\u{7f}")),
            r#""a\"b\\c\n\u0001\ud83d\ude00\u007f""#
        );
        assert_eq!(
            params_hash(&json!({"effect": "negate"})),
            "f2fdee38873d90571d64d35b21a584d0"
        );
    }

    #[test]
    fn fps_over_the_window() {
        let t0 = Instant::now();
        let mut m = FpsMeter::new(t0);
        assert_eq!(m.fps(t0), 0.0);
        m.add(t0 + Duration::from_secs(2), 50);
        assert_eq!(m.fps(t0 + Duration::from_secs(2)), 25.0);
        for s in 2..=12 {
            m.add(t0 + Duration::from_secs(s * 2), 50);
        }
        // 5 segments of 50 frames in the last 10 s.
        assert_eq!(m.fps(t0 + Duration::from_secs(24)), 25.0);
        assert_eq!(m.fps(t0 + Duration::from_secs(60)), 0.0);
    }

    #[test]
    fn state_rules() {
        let t0 = Instant::now();
        let s = |secs: u64| Some(t0 + Duration::from_secs(secs));
        let state = |now: u64, input, output, error| {
            running_state(StateInputs {
                now: t0 + Duration::from_secs(now),
                started: t0,
                last_input: input,
                last_output: output,
                last_error: error,
            })
        };
        assert_eq!(state(1, None, None, None), PipelineState::Online);
        assert_eq!(state(6, None, None, None), PipelineState::DegradedInput);
        assert_eq!(state(3, s(2), None, None), PipelineState::Online);
        assert_eq!(state(10, s(9), s(8), None), PipelineState::Online);
        assert_eq!(
            state(10, s(9), s(4), None),
            PipelineState::DegradedInference
        );
        assert_eq!(
            state(20, s(19), s(19), s(10)),
            PipelineState::DegradedInference
        );
        assert_eq!(state(30, s(29), s(29), s(10)), PipelineState::Online);
        assert_eq!(state(30, s(20), s(29), None), PipelineState::DegradedInput);
    }

    #[test]
    fn status_events_serialize_as_ai_runner_does() {
        let status = PipelineStatus {
            kind: "status".into(),
            pipeline: "noop".into(),
            start_time: 1,
            state: PipelineState::DegradedInput,
            last_state_update_time: None,
            input_status: InputStatus::default(),
            inference_status: InferenceStatus {
                last_params: Some(json!({"a": 1})),
                ..Default::default()
            },
            timestamp: Some(2),
            last_status_timestamp: Some(1),
        };
        let envelope = serde_json::to_value(status_envelope(&status)).expect("json");
        assert_eq!(envelope["queue_event_type"], "ai_stream_status");
        let event = &envelope["event"];
        assert_eq!(event["type"], "status");
        assert_eq!(event["state"], "DEGRADED_INPUT");
        assert_eq!(
            event["input_status"],
            json!({"last_input_time": null, "fps": 0.0})
        );
        assert_eq!(event["inference_status"]["last_params"], json!({"a": 1}));
        assert_eq!(event["inference_status"]["restart_count"], 0);
        let back: PipelineStatus = serde_json::from_value(event.clone()).expect("parse");
        assert_eq!(back, status);
    }
}
