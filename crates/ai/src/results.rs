//! AI results kept for the next hop to fetch: an orchestrator keeps what its runners
//! answered as data URLs, a gateway what it fetched from orchestrators, each served at
//! `/stream/<request>/<file>` (go-livepeer `core/ai_orchestrator.go` `saveLocalAIWorkerResults`
//! and the gateway's memory store).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

/// How long results are kept.
pub const RESULT_TTL: Duration = Duration::from_secs(10 * 60);
/// The most result bytes kept at once (the oldest requests go first).
pub const MAX_RESULT_BYTES: usize = 1024 * 1024 * 1024;

/// One request's files: when stored, and file name → (mime, bytes).
type RequestFiles = (Instant, BTreeMap<String, (String, Bytes)>);

/// Results by request id, evicted past [`RESULT_TTL`] or [`MAX_RESULT_BYTES`], oldest first.
#[derive(Debug, Default)]
pub struct ResultStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    files: HashMap<String, RequestFiles>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ResultStore {
    /// Keeps `data` as `request`/`name`.
    pub fn put(&self, request: &str, name: String, mime: String, data: Bytes) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while let Some(oldest) = inner.order.front().cloned() {
            let expired = inner
                .files
                .get(&oldest)
                .is_none_or(|(t, _)| now.duration_since(*t) > RESULT_TTL);
            if !expired && inner.bytes + data.len() <= MAX_RESULT_BYTES {
                break;
            }
            inner.order.pop_front();
            if let Some((_, files)) = inner.files.remove(&oldest) {
                let freed: usize = files.values().map(|(_, d)| d.len()).sum();
                inner.bytes = inner.bytes.saturating_sub(freed);
            }
        }
        inner.bytes += data.len();
        if !inner.files.contains_key(request) {
            inner.order.push_back(request.to_string());
        }
        inner
            .files
            .entry(request.to_string())
            .or_insert_with(|| (now, BTreeMap::new()))
            .1
            .insert(name, (mime, data));
    }

    /// The file `request`/`name` with its mime type, if kept and not expired.
    pub fn get(&self, request: &str, name: &str) -> Option<(String, Bytes)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (at, files) = inner.files.get(request)?;
        if at.elapsed() > RESULT_TTL {
            return None;
        }
        files.get(name).cloned()
    }
}

/// `data:<mime>;base64,<data>` → (mime, bytes); `None` for anything else.
pub fn decode_data_url(url: &str) -> Option<(String, Bytes)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    Some((mime.to_string(), Bytes::from(bytes)))
}

/// The file extension a result of `mime` is stored under.
pub fn extension(mime: &str) -> &'static str {
    match mime.split(';').next().unwrap_or_default().trim() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => "bin",
    }
}

/// Calls `f` on every string under a `url` key of `value`, at any depth (`Media.url`,
/// `AudioResponse.audio.url`, nested frame lists).
pub fn for_each_url(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if k == "url" => f(s),
                    other => for_each_url(other, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| for_each_url(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_and_nested_urls() {
        assert_eq!(
            decode_data_url("data:audio/wav;base64,UklGRg=="),
            Some(("audio/wav".into(), Bytes::from_static(b"RIFF")))
        );
        assert_eq!(decode_data_url("https://o/x.png"), None);
        assert_eq!(decode_data_url("data:image/png;base64,@@@"), None);
        let mut v = serde_json::json!({"images": [{"url": "a"}, {"url": "b", "seed": 1}], "audio": {"url": "c"}});
        let mut seen = Vec::new();
        for_each_url(&mut v, &mut |u| {
            seen.push(u.clone());
            u.push('!');
        });
        seen.sort();
        assert_eq!(seen, ["a", "b", "c"]);
        assert_eq!(v["audio"]["url"], "c!");
    }

    #[test]
    fn store_keeps_and_returns_files() {
        let store = ResultStore::default();
        store.put(
            "r1",
            "0.wav".into(),
            "audio/wav".into(),
            Bytes::from_static(b"RIFF"),
        );
        assert_eq!(
            store.get("r1", "0.wav").map(|(m, _)| m),
            Some("audio/wav".into())
        );
        assert!(store.get("r1", "1.wav").is_none());
        assert!(store.get("r2", "0.wav").is_none());
    }
}
