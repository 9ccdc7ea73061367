//! What a verifying gateway checks in two renditions beyond their signatures (go-livepeer
//! `server/broadcast.go:chooseResults` and `verification/verify.go`), with ffprobe on bytes
//! that came from orchestrators: bounded in size ([`MAX_VERIFY_BYTES`]) and time, read as
//! MPEG-TS or MP4 only, local file only.

use std::time::Duration;

use serde::Deserialize;

use crate::{Ffmpeg, InputFormat, MediaError};

/// Largest rendition accepted for a comparison or a pixel count, in bytes (a 2 s rendition
/// at 8 Mb/s is 2 MB).
pub const MAX_VERIFY_BYTES: usize = 64 << 20;
/// Time limit of one ffprobe run over a rendition (a full decode for the pixel count).
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// Audio packets allowed to differ, and to be missing on one side (lpms `ffmpeg/extras.c`
/// `MAX_AMISMATCH`).
pub const MAX_AUDIO_MISMATCH: usize = 10;
/// Audio packets fingerprinted at most (lpms `MAX_MD5_COUNT`).
pub const MAX_AUDIO_PACKETS: usize = 30_000;

/// What lpms `get_matchinfo` keeps of a rendition to compare it with another: the video size
/// and the MD5 of each audio packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFingerprint {
    /// Width of the (last) video stream, in pixels; 0 without video.
    pub width: u32,
    /// Height of the (last) video stream, in pixels; 0 without video.
    pub height: u32,
    /// MD5 of each non-empty packet of the (last) audio stream, in order, at most
    /// [`MAX_AUDIO_PACKETS`].
    pub audio_md5s: Vec<[u8; 16]>,
}

impl VideoFingerprint {
    /// lpms `lpms_compare_video_bybuffer`'s rule: the same size, at most
    /// [`MAX_AUDIO_MISMATCH`] audio packets more on one side, and fewer than that many
    /// packets of the shorter side without an equal packet near its position in the other
    /// (within the count difference + 1). Renditions without audio compare on size alone;
    /// audio is copied, so honest renditions of one segment carry the very same packets.
    pub fn matches(&self, other: &Self) -> bool {
        (self.width, self.height) == (other.width, other.height) && self.audio_matches(other)
    }

    fn audio_matches(&self, other: &Self) -> bool {
        // lpms picks the shorter as the first, the second on ties.
        let (first, second) = if self.audio_md5s.len() < other.audio_md5s.len() {
            (&self.audio_md5s, &other.audio_md5s)
        } else {
            (&other.audio_md5s, &self.audio_md5s)
        };
        let diff = second.len() - first.len();
        if diff > MAX_AUDIO_MISMATCH {
            return false;
        }
        let scope = diff + 1;
        let matching = first
            .iter()
            .enumerate()
            .filter(|(i, md5)| {
                let start = i.saturating_sub(scope);
                let end = second.len().min(i + scope);
                second
                    .get(start..end)
                    .is_some_and(|near| near.contains(md5))
            })
            .count();
        first.len() - matching < MAX_AUDIO_MISMATCH
    }
}

/// The demuxer a rendition from the network is read with: MP4 when it starts like one
/// (an `ftyp` box), else MPEG-TS (go-livepeer renditions are one or the other).
pub fn rendition_format(data: &[u8]) -> InputFormat {
    if data.get(4..8) == Some(b"ftyp".as_slice()) {
        InputFormat::Mp4
    } else {
        InputFormat::MpegTs
    }
}

#[derive(Debug, Deserialize)]
struct PacketsJson {
    #[serde(default)]
    packets: Vec<PacketJson>,
    #[serde(default)]
    streams: Vec<StreamJson>,
}

#[derive(Debug, Deserialize)]
struct PacketJson {
    stream_index: Option<u32>,
    size: Option<String>,
    data_hash: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StreamJson {
    index: u32,
    codec_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

fn parse_md5(text: &str) -> Option<[u8; 16]> {
    let hex = text.strip_prefix("MD5:")?;
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse_fingerprint(json: &[u8]) -> Result<VideoFingerprint, MediaError> {
    let parsed: PacketsJson = serde_json::from_slice(json).map_err(|e| MediaError::Probe {
        detail: format!("invalid packet JSON: {e}"),
    })?;
    // lpms keeps the last video stream's size and the last audio stream's packets.
    let video = parsed
        .streams
        .iter()
        .rev()
        .find(|s| s.codec_type.as_deref() == Some("video"));
    let audio = parsed
        .streams
        .iter()
        .rev()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| s.index);
    let mut audio_md5s = Vec::new();
    for packet in &parsed.packets {
        if audio.is_none() || packet.stream_index != audio || audio_md5s.len() >= MAX_AUDIO_PACKETS
        {
            continue;
        }
        let size: u64 = packet
            .size
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if size == 0 {
            continue;
        }
        let md5 = packet
            .data_hash
            .as_deref()
            .and_then(parse_md5)
            .ok_or_else(|| MediaError::Probe {
                detail: "an audio packet without an MD5".into(),
            })?;
        audio_md5s.push(md5);
    }
    Ok(VideoFingerprint {
        width: video.and_then(|v| v.width).unwrap_or(0),
        height: video.and_then(|v| v.height).unwrap_or(0),
        audio_md5s,
    })
}

fn check_size(data: &[u8]) -> Result<(), MediaError> {
    if data.len() > MAX_VERIFY_BYTES {
        return Err(MediaError::TooLarge {
            what: "rendition bytes",
            got: data.len() as u64,
            limit: MAX_VERIFY_BYTES as u64,
        });
    }
    Ok(())
}

impl Ffmpeg {
    /// The [`VideoFingerprint`] of a rendition's bytes: one ffprobe run listing its streams
    /// and its packets with their MD5s (no decode).
    ///
    /// Errors: [`MediaError::TooLarge`] past [`MAX_VERIFY_BYTES`];
    /// [`MediaError::Ffmpeg`] for bytes ffprobe cannot read as MPEG-TS or MP4;
    /// [`MediaError::Probe`] for unusable output; [`MediaError::Timeout`] after
    /// [`DEFAULT_VERIFY_TIMEOUT`].
    pub async fn video_fingerprint(&self, data: &[u8]) -> Result<VideoFingerprint, MediaError> {
        check_size(data)?;
        let out = self
            .probe_bytes(
                data,
                &[
                    "-show_entries",
                    "stream=index,codec_type,width,height:packet=stream_index,size,data_hash",
                    "-show_data_hash",
                    "MD5",
                    "-print_format",
                    "json",
                ],
            )
            .await?;
        parse_fingerprint(&out)
    }

    /// Whether two renditions are the same video by lpms `lpms_compare_video_bybuffer`'s
    /// rule ([`VideoFingerprint::matches`]); go-livepeer's gateway asks it after the
    /// signatures matched (`server/broadcast.go:chooseResults`, `CompareVideoByBuffer`).
    ///
    /// Errors: those of [`Ffmpeg::video_fingerprint`] for either input.
    pub async fn compare_videos(&self, a: &[u8], b: &[u8]) -> Result<bool, MediaError> {
        let a = self.video_fingerprint(a).await?;
        let b = self.video_fingerprint(b).await?;
        Ok(a.matches(&b))
    }

    /// The pixels of a rendition as go-livepeer's verifier recounts them
    /// (`verification/verify.go:countPixels`, lpms decoded pixels): width × height of every
    /// decoded frame of the first video stream, summed. A full decode by ffprobe.
    ///
    /// Errors: as [`Ffmpeg::video_fingerprint`]; [`MediaError::NoVideoStream`] when no frame
    /// decodes.
    pub async fn decoded_pixels(&self, data: &[u8]) -> Result<u64, MediaError> {
        check_size(data)?;
        let out = self
            .probe_bytes(
                data,
                &[
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "frame=width,height",
                    "-print_format",
                    "csv=p=0",
                ],
            )
            .await?;
        let text = String::from_utf8_lossy(&out);
        let mut pixels = 0u64;
        let mut frames = 0u64;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.trim().trim_end_matches(',').split(',');
            let dim = |f: Option<&str>| f.and_then(|v| v.trim().parse::<u64>().ok());
            let (Some(w), Some(h)) = (dim(fields.next()), dim(fields.next())) else {
                return Err(MediaError::Probe {
                    detail: format!("unusable frame line {line:.80}"),
                });
            };
            pixels = pixels.saturating_add(w.saturating_mul(h));
            frames += 1;
        }
        if frames == 0 {
            return Err(MediaError::NoVideoStream);
        }
        Ok(pixels)
    }

    /// Runs ffprobe with `args` on `data` written to a scratch file, read with
    /// [`rendition_format`]; returns its stdout.
    async fn probe_bytes(&self, data: &[u8], args: &[&str]) -> Result<Vec<u8>, MediaError> {
        let scratch = self.scratch_dir().await?;
        let result = async {
            let path = scratch.write_input(data).await?;
            let mut all: Vec<String> = ["-hide_banner", "-loglevel", "level+error"]
                .map(String::from)
                .to_vec();
            all.extend(args.iter().map(|a| (*a).to_owned()));
            all.extend(rendition_format(data).input_args());
            all.push(crate::file_url(&path));
            let out = self
                .ffprobe_job()
                .run(all, Some(DEFAULT_VERIFY_TIMEOUT), None)
                .await?;
            Ok(out.stdout)
        }
        .await
        .map_err(|e| self.redact(e, scratch.path()));
        scratch.remove().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(size: (u32, u32), audio: &[u8]) -> VideoFingerprint {
        VideoFingerprint {
            width: size.0,
            height: size.1,
            audio_md5s: audio.iter().map(|&b| [b; 16]).collect(),
        }
    }

    #[test]
    fn lpms_video_match_rule() {
        let base: Vec<u8> = (0..40).collect();
        let mut eleven_swapped = base.clone();
        for b in eleven_swapped.iter_mut().take(11) {
            *b += 100;
        }
        let mut nine_swapped = base.clone();
        for b in nine_swapped.iter_mut().take(9) {
            *b += 100;
        }
        let cases: [(&str, VideoFingerprint, VideoFingerprint, bool); 8] = [
            ("same", fp((426, 240), &base), fp((426, 240), &base), true),
            (
                "other size",
                fp((426, 240), &base),
                fp((640, 360), &base),
                false,
            ),
            (
                "no audio, same size",
                fp((426, 240), &[]),
                fp((426, 240), &[]),
                true,
            ),
            (
                "audio on one side only",
                fp((426, 240), &base),
                fp((426, 240), &[]),
                false,
            ),
            (
                "ten packets more",
                fp((426, 240), &base[..30]),
                fp((426, 240), &base),
                true,
            ),
            (
                "eleven packets more",
                fp((426, 240), &base[..29]),
                fp((426, 240), &base),
                false,
            ),
            (
                "nine packets differ",
                fp((426, 240), &nine_swapped),
                fp((426, 240), &base),
                true,
            ),
            (
                "eleven packets differ",
                fp((426, 240), &eleven_swapped),
                fp((426, 240), &base),
                false,
            ),
        ];
        for (what, a, b, want) in cases {
            assert_eq!(a.matches(&b), want, "{what}");
            assert_eq!(b.matches(&a), want, "{what}, swapped");
        }
    }

    #[test]
    fn formats_and_hashes() {
        assert_eq!(rendition_format(b"\0\0\0\x20ftypisom"), InputFormat::Mp4);
        assert_eq!(rendition_format(&[0x47; 188]), InputFormat::MpegTs);
        assert_eq!(rendition_format(b""), InputFormat::MpegTs);
        assert_eq!(
            parse_md5("MD5:f41453e69719c798f9a1012cd1c8d69a").map(|m| m[0]),
            Some(0xf4)
        );
        for bad in [
            "f41453e69719c798f9a1012cd1c8d69a",
            "MD5:f4",
            "MD5:zz1453e69719c798f9a1012cd1c8d69a",
        ] {
            assert_eq!(parse_md5(bad), None, "{bad}");
        }
    }
}
