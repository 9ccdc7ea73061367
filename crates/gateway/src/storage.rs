//! A stream's object storage: go-livepeer's `-objectStore` and `-recordStore` on the gateway.
//!
//! Names and behaviour as go-livepeer (`server/broadcast.go`, `server/mediaserver.go`,
//! `core/playlistmanager.go`); `<mid>` is the manifest ID:
//!
//! | store | object | key |
//! |---|---|---|
//! | object store | each source segment, saved before it is sent; the orchestrator gets its URL as the `/segment` body (`application/vnd+livepeer.uri`) | `<mid>/source/<seq>.ts` |
//! | object store | each rendition, written by the orchestrator with the POST policy in `SegData.storage` (or saved by the gateway when the orchestrator answered with URLs of its own) | `<mid>/<orchestrator session ID>/<profile>/<seq><ext>` |
//! | record store | each source segment and rendition | `<mid>/<node ID>/source/<seq>.ts`, `<mid>/<node ID>/<profile>/<seq><ext>` |
//! | record store | the JSON playlist of the recording, rewritten after each saved segment | `<mid>/<node ID>/playlist_<unix ns>.json` |
//! | record store | when the stream ends: a VOD media playlist per rendition (segment URIs relative, `<node ID>/<profile>/<seq><ext>`) and the master | `<mid>/<profile>.m3u8`, `<mid>/index.m3u8` |
//!
//! The node ID is go-livepeer's `monitor.NodeID`: `<-ethAcctAddr>-<hostname>`, or the
//! hostname alone ([`node_id`]). go-livepeer writes the `.m3u8` files of a recording when its
//! `/recordings/<mid>/index.m3u8?finalize=true` is asked for (and serves them from the store
//! afterwards); this gateway writes them when the stream ends.
//!
//! A source segment the object store refuses fails the push (500, go's "http push error
//! processing segment …" with the store's answer) before any orchestrator is asked. Recording is
//! best effort, off the push's path, as in go: each object is tried
//! [`SAVE_ATTEMPTS`](livepeer_objectstore::node::SAVE_ATTEMPTS) times within
//! [`RECORD_SEGMENT_TIMEOUT`], failures are logged, and at most [`MAX_PENDING_RECORD_WRITES`]
//! writes per stream wait at once (more are dropped with a warning).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use livepeer_objectstore::node::SAVE_ATTEMPTS;
use livepeer_objectstore::{NodeStore, StorageKind, StoreUrl};
use livepeer_primitives::Capability;
use livepeer_primitives::profile::VideoProfile;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::GatewayError;
use crate::hls::{self, Entry, Variant};

/// How long one recorded object may take, retries included (go-livepeer
/// `recordSegmentsMaxTimeout`).
pub const RECORD_SEGMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Record-store writes one stream may have waiting; beyond it segments are not recorded.
pub const MAX_PENDING_RECORD_WRITES: usize = 64;
/// The source rendition's name in keys and playlists (go-livepeer's source `VideoProfile`).
pub const SOURCE: &str = "source";
/// The bandwidth go-livepeer gives the source track (`Bitrate: "4000k"`), bits per second.
pub const SOURCE_BANDWIDTH_BPS: u32 = 4_000_000;

/// The object store and record store of one stream. Both default to the gateway's flags
/// ([`StreamStorage::from_config`]); the auth webhook's `objectStore` / `recordObjectStore`
/// can replace them for one stream ([`StreamStorage::with_urls`]).
#[derive(Debug, Clone, Default)]
pub struct StreamStorage {
    /// Where source segments go and renditions are written (`-objectStore`); `None` keeps
    /// them in memory and sends segments in the body.
    pub object_store: Option<Arc<NodeStore>>,
    /// Where the stream is recorded (`-recordStore`); `None` records nothing.
    pub record_store: Option<Arc<NodeStore>>,
}

impl StreamStorage {
    /// The stores of the gateway's flags.
    pub fn from_config(config: &crate::GatewayConfig) -> Self {
        Self {
            object_store: config
                .object_store
                .clone()
                .map(NodeStore::new)
                .map(Arc::new),
            record_store: config
                .record_store
                .clone()
                .map(NodeStore::new)
                .map(Arc::new),
        }
    }

    /// These stores with a stream's own URLs in place of either (an auth-webhook answer's
    /// `objectStore` and `recordObjectStore`; empty or `None` keeps the default), parsed as
    /// go-tools `ParseOSURL` does.
    ///
    /// Errors: [`GatewayError::StoreUrl`] (go-livepeer `server/mediaserver.go`: "Failed to
    /// parse object store url" / "Failed to parse recording object store url").
    pub fn with_urls(
        &self,
        object_store: Option<&str>,
        record_store: Option<&str>,
    ) -> Result<Self, GatewayError> {
        let parse = |url: Option<&str>, record: bool| -> Result<_, GatewayError> {
            match url.filter(|u| !u.is_empty()) {
                None => Ok(None),
                Some(url) => StoreUrl::parse(url)
                    .map(|u| Some(Arc::new(NodeStore::new(u))))
                    .map_err(|source| GatewayError::StoreUrl { record, source }),
            }
        };
        Ok(Self {
            object_store: parse(object_store, false)?.or_else(|| self.object_store.clone()),
            record_store: parse(record_store, true)?.or_else(|| self.record_store.clone()),
        })
    }
}

/// The job capability of an object store (go-livepeer `core/capabilities.go:storageToCapability`):
/// `StorageS3` (5) or `StorageGCS` (6).
pub fn storage_capability(kind: StorageKind) -> Capability {
    match kind {
        StorageKind::S3 => Capability::StorageS3,
        StorageKind::Gcs => Capability::StorageGcs,
    }
}

/// go-livepeer's node ID (`monitor.NodeID`, set in `cmd/livepeer/starter`): the
/// `-ethAcctAddr` flag as given, a dash and the hostname; the hostname alone without the flag.
pub fn node_id(eth_acct_addr: Option<&str>) -> String {
    let host = hostname();
    match eth_acct_addr.filter(|a| !a.is_empty()) {
        Some(addr) => format!("{addr}-{host}"),
        None => host,
    }
}

/// The hostname as Go's `os.Hostname` reads it on Linux; `localhost` when unknown.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The key prefix a session's renditions get in the object store: `<mid>/<session ID>` (go's
/// per-orchestrator `BroadcasterOS`, "to prevent front running uploads"). The session ID comes
/// from the orchestrator: one that is not 1–64 of `[A-Za-z0-9_-]` (go's are 8 hex digits) is
/// replaced by a hash of it, so it cannot name a key outside the stream's.
pub fn session_prefix(manifest: &str, session_id: &str) -> String {
    let safe = !session_id.is_empty()
        && session_id.len() <= 64
        && session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if safe {
        format!("{manifest}/{session_id}")
    } else {
        let hash = alloy_primitives::keccak256(session_id.as_bytes());
        format!("{manifest}/{}", &hex::encode(hash)[..16])
    }
}

/// One track of a recording: the source or a rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// `source` or the profile name.
    pub name: String,
    /// Bits per second, for the master playlist.
    pub bandwidth_bps: u32,
    /// `WxH`, when known.
    pub resolution: Option<(u32, u32)>,
    /// The segments' extension, with its dot.
    pub extension: &'static str,
}

impl Track {
    /// The pushed source (MPEG-TS).
    pub fn source() -> Self {
        Self {
            name: SOURCE.into(),
            bandwidth_bps: SOURCE_BANDWIDTH_BPS,
            resolution: None,
            extension: ".ts",
        }
    }

    /// A rendition of `profile`.
    pub fn rendition(profile: &VideoProfile) -> Self {
        Self {
            name: profile.name.clone(),
            bandwidth_bps: profile.bitrate_bps,
            resolution: Some((profile.width, profile.height)),
            extension: profile.format.extension(),
        }
    }

    /// The object name of segment `seq`: `<track>/<seq><ext>`.
    pub fn object_name(&self, seq: u64) -> String {
        format!("{}/{seq}{}", self.name, self.extension)
    }
}

/// go-livepeer's JSON playlist of a recording (`core/playlistmanager.go:JsonPlaylist`, written
/// with Go's `encoding/json`: `omitempty` fields, map keys sorted). Pure; the recorder writes
/// [`to_json`](Self::to_json) to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JsonPlaylist {
    /// Total duration of the source segments, ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duration_ms: u64,
    /// Tracks in the order their first segment was saved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<JsonTrack>,
    /// Segments per track name, in the order they were saved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, Vec<JsonSegment>>,
}

/// A track of a [`JsonPlaylist`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JsonTrack {
    /// `source` or the profile name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Bits per second.
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub bandwidth: u32,
    /// `WxH`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolution: String,
}

/// A segment of a [`JsonPlaylist`]. As in go, a `seq_no` of 0 is left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JsonSegment {
    /// Sequence number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq_no: u64,
    /// The object's URL in the record store.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Duration, ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duration_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero32(n: &u32) -> bool {
    *n == 0
}

impl JsonPlaylist {
    /// Adds a saved segment (go `JsonPlaylist.InsertHLSSegment`).
    pub fn insert(&mut self, track: &Track, seq: u64, uri: String, duration: Duration) {
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        if track.name == SOURCE {
            self.duration_ms = self.duration_ms.saturating_add(duration_ms);
        }
        if !self.segments.contains_key(&track.name) {
            self.tracks.push(JsonTrack {
                name: track.name.clone(),
                bandwidth: track.bandwidth_bps,
                resolution: track
                    .resolution
                    .map(|(w, h)| format!("{w}x{h}"))
                    .unwrap_or_default(),
            });
        }
        self.segments
            .entry(track.name.clone())
            .or_default()
            .push(JsonSegment {
                seq_no: seq,
                uri,
                duration_ms,
            });
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a playlist serializes")
    }

    /// The finished recording's playlists (go-livepeer `HandleRecordings` with `finalize`):
    /// `(name, text)` for `<track>.m3u8` of every track, VOD, segments in sequence order with
    /// URIs `<node_id>/<track>/<seq><ext>` relative to the manifest's directory, then
    /// `index.m3u8` naming them. `extensions` gives each track's segment extension (`.ts` when
    /// missing).
    pub fn finished_playlists(
        &self,
        node_id: &str,
        extensions: &HashMap<String, &'static str>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.tracks.len() + 1);
        for track in &self.tracks {
            let mut entries: Vec<Entry> = self
                .segments
                .get(&track.name)
                .into_iter()
                .flatten()
                .map(|s| Entry {
                    seq: s.seq_no,
                    duration: Duration::from_millis(s.duration_ms),
                })
                .collect();
            entries.sort_by_key(|e| e.seq);
            entries.dedup_by_key(|e| e.seq);
            let extension = extensions.get(&track.name).copied().unwrap_or(".ts");
            let dir = format!("{node_id}/{}", track.name);
            out.push((
                format!("{}.m3u8", track.name),
                hls::media_playlist(&dir, extension, &entries, true),
            ));
        }
        let variants: Vec<Variant> = self
            .tracks
            .iter()
            .map(|t| Variant {
                name: t.name.clone(),
                bandwidth_bps: t.bandwidth,
                resolution: t
                    .resolution
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))),
            })
            .collect();
        out.push((
            "index.m3u8".into(),
            hls::master_playlist_at(None, &variants),
        ));
        out
    }
}

/// The recording of one stream in its record store.
#[derive(Debug)]
pub(crate) struct Recording {
    store: Arc<NodeStore>,
    manifest: String,
    node_id: String,
    /// `playlist_<unix ns>.json`.
    playlist_name: String,
    playlist: Mutex<(JsonPlaylist, HashMap<String, &'static str>)>,
    /// Serializes playlist writes, so the last one written holds every segment saved before it.
    playlist_writes: tokio::sync::Mutex<()>,
    writes: Mutex<JoinSet<()>>,
}

impl Recording {
    /// A recording of `manifest` under `<manifest>/<node_id>` in `store`.
    pub(crate) fn new(store: Arc<NodeStore>, manifest: &str, node_id: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Self {
            store,
            manifest: manifest.to_string(),
            node_id: node_id.to_string(),
            playlist_name: format!("playlist_{nanos}.json"),
            playlist: Mutex::new(Default::default()),
            playlist_writes: tokio::sync::Mutex::new(()),
            writes: Mutex::new(JoinSet::new()),
        }
    }

    fn prefix(&self) -> String {
        format!("{}/{}", self.manifest, self.node_id)
    }

    /// Starts saving segment `seq` of `track`; once saved it joins the JSON playlist, which
    /// is rewritten. Returns at once.
    pub(crate) fn record(
        self: &Arc<Self>,
        track: Track,
        seq: u64,
        duration: Duration,
        data: Bytes,
    ) {
        let mut writes = lock(&self.writes);
        while writes.try_join_next().is_some() {}
        if writes.len() >= MAX_PENDING_RECORD_WRITES {
            warn!(manifest_id = %self.manifest, seq, track = %track.name, "record store behind; segment not recorded");
            return;
        }
        let this = self.clone();
        writes.spawn(async move {
            let name = track.object_name(seq);
            let started = std::time::Instant::now();
            let work = async {
                let uri = this
                    .store
                    .save_retried(&this.prefix(), &name, data, SAVE_ATTEMPTS)
                    .await?;
                info!(manifest_id = %this.manifest, name, took = ?started.elapsed(), "saved to the record store");
                {
                    let mut playlist = lock(&this.playlist);
                    playlist.0.insert(&track, seq, uri, duration);
                    playlist.1.insert(track.name.clone(), track.extension);
                }
                this.write_playlist().await;
                Ok::<_, livepeer_objectstore::ObjectStoreError>(())
            };
            match tokio::time::timeout(RECORD_SEGMENT_TIMEOUT, work).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    error!(manifest_id = %this.manifest, name, %err, "cannot save to the record store")
                }
                Err(_) => {
                    error!(manifest_id = %this.manifest, name, timeout = ?RECORD_SEGMENT_TIMEOUT, "cannot save to the record store: timed out")
                }
            }
        });
    }

    /// Rewrites the JSON playlist with every segment saved so far (go `FlushRecord`).
    async fn write_playlist(&self) {
        let _turn = self.playlist_writes.lock().await;
        let json = lock(&self.playlist).0.to_json();
        if let Err(err) = self
            .store
            .save_retried(
                &self.prefix(),
                &self.playlist_name,
                Bytes::from(json),
                SAVE_ATTEMPTS,
            )
            .await
        {
            error!(manifest_id = %self.manifest, %err, "cannot save the JSON playlist to the record store");
        }
    }

    /// Waits for the writes started so far, then saves the finished recording's playlists
    /// (`<manifest>/<track>.m3u8` and `<manifest>/index.m3u8`); all within
    /// [`RECORD_SEGMENT_TIMEOUT`], after which the writes left are abandoned.
    pub(crate) async fn finish(&self) {
        if tokio::time::timeout(RECORD_SEGMENT_TIMEOUT, self.finish_writes())
            .await
            .is_err()
        {
            error!(manifest_id = %self.manifest, timeout = ?RECORD_SEGMENT_TIMEOUT, "recording not finished in time");
        }
    }

    async fn finish_writes(&self) {
        let mut writes = std::mem::take(&mut *lock(&self.writes));
        while writes.join_next().await.is_some() {}
        let playlists = {
            let playlist = lock(&self.playlist);
            if playlist.0.tracks.is_empty() {
                return;
            }
            playlist.0.finished_playlists(&self.node_id, &playlist.1)
        };
        for (name, text) in playlists {
            match self
                .store
                .save_retried(&self.manifest, &name, Bytes::from(text), SAVE_ATTEMPTS)
                .await
            {
                Ok(url) => debug!(manifest_id = %self.manifest, url, "recorded playlist saved"),
                Err(err) => {
                    error!(manifest_id = %self.manifest, name, %err, "cannot save the recorded playlist")
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_playlist_is_gos_shape() {
        let mut playlist = JsonPlaylist::default();
        let source = Track::source();
        let p240 = Track::rendition(&VideoProfile::standard("P240p30fps16x9").expect("standard"));
        playlist.insert(
            &source,
            0,
            "http://s/b/m/n/source/0.ts".into(),
            Duration::from_millis(2000),
        );
        playlist.insert(
            &p240,
            0,
            "http://s/b/m/n/P240p30fps16x9/0.ts".into(),
            Duration::from_millis(2000),
        );
        playlist.insert(
            &source,
            1,
            "http://s/b/m/n/source/1.ts".into(),
            Duration::from_millis(1500),
        );
        assert_eq!(
            playlist.to_json(),
            concat!(
                r#"{"duration_ms":3500,"tracks":[{"name":"source","bandwidth":4000000},"#,
                r#"{"name":"P240p30fps16x9","bandwidth":600000,"resolution":"426x240"}],"#,
                r#""segments":{"P240p30fps16x9":[{"uri":"http://s/b/m/n/P240p30fps16x9/0.ts","duration_ms":2000}],"#,
                r#""source":[{"uri":"http://s/b/m/n/source/0.ts","duration_ms":2000},"#,
                r#"{"seq_no":1,"uri":"http://s/b/m/n/source/1.ts","duration_ms":1500}]}}"#
            )
        );
        let back: JsonPlaylist = serde_json::from_str(&playlist.to_json()).expect("it parses");
        assert_eq!(back, playlist);
    }

    #[test]
    fn finished_playlists_list_every_segment_in_order() {
        let mut playlist = JsonPlaylist::default();
        let source = Track::source();
        for seq in [2, 0, 1] {
            playlist.insert(&source, seq, format!("u{seq}"), Duration::from_millis(2000));
        }
        let extensions = HashMap::from([(SOURCE.to_string(), ".ts")]);
        let files = playlist.finished_playlists("node-1", &extensions);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["source.m3u8", "index.m3u8"]);
        let media = &files[0].1;
        let entries: Vec<&str> = media
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            entries,
            [
                "node-1/source/0.ts",
                "node-1/source/1.ts",
                "node-1/source/2.ts"
            ]
        );
        assert!(media.ends_with("#EXT-X-ENDLIST\n"), "{media}");
        assert!(
            files[1].1.contains("BANDWIDTH=4000000\nsource.m3u8\n"),
            "{}",
            files[1].1
        );
    }

    #[test]
    fn session_prefixes_stay_inside_the_stream() {
        assert_eq!(session_prefix("m", "abcd0123"), "m/abcd0123");
        for hostile in ["../../other", "a/b", "", "x".repeat(65).as_str(), "a b"] {
            let prefix = session_prefix("m", hostile);
            let rest = prefix.strip_prefix("m/").expect("under the manifest");
            assert_eq!(rest.len(), 16, "{hostile:?}");
            assert!(rest.bytes().all(|b| b.is_ascii_hexdigit()), "{hostile:?}");
        }
    }

    #[test]
    fn stream_urls_override_the_flags() {
        let defaults = StreamStorage::default();
        let same = defaults
            .with_urls(None, Some(""))
            .expect("nothing to parse");
        assert!(same.object_store.is_none() && same.record_store.is_none());
        let own = defaults
            .with_urls(Some("s3+http://k:s@127.0.0.1:9000/b"), None)
            .expect("an S3 URL");
        assert_eq!(
            own.object_store.as_ref().map(|s| s.kind()),
            Some(StorageKind::S3)
        );
        let err = defaults
            .with_urls(None, Some("ftp://x/y"))
            .expect_err("not a store");
        assert!(
            err.to_string()
                .starts_with("Failed to parse recording object store url"),
            "{err}"
        );
        assert_eq!(node_id(Some("0xabc")), format!("0xabc-{}", node_id(None)));
    }
}
