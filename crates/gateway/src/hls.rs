//! HLS playlists for a stream's renditions (pure functions, no I/O).
//!
//! Paths as go-livepeer's media server (`server/mediaserver.go`, `core/playlistmanager.go`):
//! the master playlist `/stream/<manifest>.m3u8` names variants `<manifest>/<profile>.m3u8`;
//! a media playlist `/stream/<manifest>/<profile>.m3u8` names segments `<profile>/<seq><ext>`,
//! with the rendition's real container: `.ts` for MPEG-TS, `.mp4` for MP4 profiles (lpms
//! `FormatExtensions`).
//! While the stream is live a media playlist holds the last [`LIVE_WINDOW`] segments; once
//! the push has ended it lists every segment and `#EXT-X-ENDLIST`, so it plays as VOD.

use std::fmt::Write;
use std::time::Duration;

/// Segments in a live media playlist (go-livepeer `LIVE_LIST_LENGTH`).
pub const LIVE_WINDOW: usize = 6;

/// One rendition in the master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Profile name; also the media playlist's name.
    pub name: String,
    /// Peak bandwidth, bits per second.
    pub bandwidth_bps: u32,
    /// Width × height in pixels, when known.
    pub resolution: Option<(u32, u32)>,
}

/// One segment in a media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Sequence number, as pushed.
    pub seq: u64,
    /// Duration.
    pub duration: Duration,
}

/// The master playlist of `manifest`: variant URIs `<manifest>/<profile>.m3u8`.
pub fn master_playlist(manifest: &str, variants: &[Variant]) -> String {
    master_playlist_at(Some(manifest), variants)
}

/// A master playlist whose variant URIs are `<dir>/<profile>.m3u8`, or `<profile>.m3u8`
/// without `dir` (a recording's `index.m3u8` beside its media playlists).
pub fn master_playlist_at(dir: Option<&str>, variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for v in variants {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:PROGRAM-ID=0,BANDWIDTH={}",
            v.bandwidth_bps
        );
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        match dir {
            Some(dir) => {
                let _ = write!(out, "\n{dir}/{}.m3u8\n", v.name);
            }
            None => {
                let _ = write!(out, "\n{}.m3u8\n", v.name);
            }
        }
    }
    out
}

/// The media playlist of `profile`, from its segments in sequence order; each segment URI is
/// `<profile>/<seq><extension>` (`extension` with its dot, e.g. `.ts`). `profile` may be a
/// path (`<node ID>/<profile>` in a recording).
///
/// `ended` selects VOD form (every segment, `#EXT-X-PLAYLIST-TYPE:VOD`, `#EXT-X-ENDLIST`);
/// otherwise the last [`LIVE_WINDOW`] segments with the matching media sequence.
pub fn media_playlist(profile: &str, extension: &str, entries: &[Entry], ended: bool) -> String {
    let shown = if ended {
        entries
    } else {
        &entries[entries.len().saturating_sub(LIVE_WINDOW)..]
    };
    let target = shown
        .iter()
        .map(|e| e.duration.as_secs_f64().ceil() as u64)
        .max()
        .unwrap_or(2)
        .max(1);
    let media_sequence = shown.first().map(|e| e.seq).unwrap_or(0);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    if ended {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{media_sequence}");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let mut previous: Option<u64> = None;
    for e in shown {
        if previous.is_some_and(|p| p + 1 != e.seq) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = write!(
            out,
            "#EXTINF:{:.3},\n{profile}/{}{extension}\n",
            e.duration.as_secs_f64(),
            e.seq
        );
        previous = Some(e.seq);
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(seqs: impl IntoIterator<Item = u64>) -> Vec<Entry> {
        seqs.into_iter()
            .map(|seq| Entry {
                seq,
                duration: Duration::from_millis(2000),
            })
            .collect()
    }

    #[test]
    fn master_lists_variants_relative_to_stream() {
        let m = master_playlist(
            "abc",
            &[
                Variant {
                    name: "P240p30fps16x9".into(),
                    bandwidth_bps: 600_000,
                    resolution: Some((426, 240)),
                },
                Variant {
                    name: "P360p30fps16x9".into(),
                    bandwidth_bps: 1_200_000,
                    resolution: None,
                },
            ],
        );
        assert_eq!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n\
             #EXT-X-STREAM-INF:PROGRAM-ID=0,BANDWIDTH=600000,RESOLUTION=426x240\nabc/P240p30fps16x9.m3u8\n\
             #EXT-X-STREAM-INF:PROGRAM-ID=0,BANDWIDTH=1200000\nabc/P360p30fps16x9.m3u8\n"
        );
    }

    #[test]
    fn live_playlist_keeps_a_window_of_six() {
        let p = media_playlist("P240p30fps16x9", ".ts", &entries(0..10), false);
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:4\n"));
        assert_eq!(p.matches("#EXTINF").count(), LIVE_WINDOW);
        assert!(p.contains("P240p30fps16x9/4.ts\n") && p.contains("P240p30fps16x9/9.ts\n"));
        assert!(!p.contains("P240p30fps16x9/3.ts"));
        assert!(!p.contains("ENDLIST"));
    }

    #[test]
    fn ended_playlist_lists_everything_as_vod() {
        let p = media_playlist("r", ".ts", &entries(0..10), true);
        assert_eq!(p.matches("#EXTINF:2.000,").count(), 10);
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(p.ends_with("r/9.ts\n#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn gaps_are_marked_and_target_duration_rounds_up() {
        let mut e = entries([0, 1, 3]);
        e[2].duration = Duration::from_millis(2600);
        let p = media_playlist("r", ".ts", &e, true);
        assert!(p.contains("#EXT-X-TARGETDURATION:3\n"));
        assert!(p.contains("r/1.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.600,\nr/3.ts"));
        let empty = media_playlist("r", ".ts", &[], false);
        assert!(empty.contains("#EXT-X-MEDIA-SEQUENCE:0") && !empty.contains("EXTINF"));
    }

    #[test]
    fn mp4_renditions_are_listed_as_mp4() {
        let p = media_playlist("P144p30fps16x9", ".mp4", &entries(0..2), true);
        assert!(p.contains("\nP144p30fps16x9/0.mp4\n") && p.contains("\nP144p30fps16x9/1.mp4\n"));
        assert!(!p.contains(".ts"), "{p}");
    }
}
