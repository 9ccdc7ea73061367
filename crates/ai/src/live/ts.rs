//! Counting video frames in an MPEG-TS byte stream without decoding it: the live pipeline's
//! input and output frame rates in its status events.
//!
//! A TS muxer starts one PES packet per video access unit (one frame): ffmpeg's mpegts muxer,
//! go-livepeer's segmenter and the WHIP segmenter all do, so a frame is a TS packet on the
//! video PID with `payload_unit_start_indicator` set. The video PID is read from the PAT and
//! PMT (ISO/IEC 13818-1 §2.4.4); sections are taken from single packets (ffmpeg writes each in
//! one). Bytes that are not TS are skipped one at a time until a sync byte comes back.

/// One MPEG-TS packet.
pub const TS_PACKET_BYTES: usize = 188;
const SYNC_BYTE: u8 = 0x47;
const PAT_PID: u16 = 0;

/// PMT stream types that carry video: MPEG-1, MPEG-2, MPEG-4 part 2, H.264, HEVC.
const VIDEO_STREAM_TYPES: [u8; 5] = [0x01, 0x02, 0x10, 0x1b, 0x24];

/// Counts video frames across the chunks of a TS stream, in any chunking.
#[derive(Debug, Default, Clone)]
pub struct TsFrameCounter {
    /// The start of a packet cut by the previous chunk (< 188 bytes).
    carry: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    frames: u64,
}

impl TsFrameCounter {
    /// A counter that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the stream; returns the frames that started in them.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        let before = self.frames;
        let mut at = 0;
        while at + TS_PACKET_BYTES <= buf.len() {
            if buf[at] != SYNC_BYTE {
                at += 1;
                continue;
            }
            self.packet(&buf[at..at + TS_PACKET_BYTES]);
            at += TS_PACKET_BYTES;
        }
        // Keep the cut packet's start (skipping junk before a sync byte).
        let rest = &buf[at..];
        let start = rest
            .iter()
            .position(|&b| b == SYNC_BYTE)
            .unwrap_or(rest.len());
        self.carry = rest[start..].to_vec();
        self.frames - before
    }

    /// Frames counted so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The video PID, once the PMT named one.
    pub fn video_pid(&self) -> Option<u16> {
        self.video_pid
    }

    fn packet(&mut self, packet: &[u8]) {
        let (Some(&b1), Some(&b2), Some(&b3)) = (packet.get(1), packet.get(2), packet.get(3))
        else {
            return;
        };
        let pid = (u16::from(b1 & 0x1f) << 8) | u16::from(b2);
        let unit_start = b1 & 0x40 != 0;
        let adaptation = (b3 >> 4) & 0x3;
        if adaptation & 0x1 == 0 {
            return; // no payload
        }
        let payload_at = if adaptation & 0x2 != 0 {
            match packet.get(4) {
                Some(&len) => 5 + usize::from(len),
                None => return,
            }
        } else {
            4
        };
        let Some(payload) = packet.get(payload_at..) else {
            return;
        };
        if Some(pid) == self.video_pid {
            if unit_start {
                self.frames += 1;
            }
        } else if pid == PAT_PID && unit_start {
            if let Some(pmt) = section(payload, 0x00).and_then(pat_pmt_pid) {
                self.pmt_pid = Some(pmt);
            }
        } else if Some(pid) == self.pmt_pid
            && unit_start
            && let Some(video) = section(payload, 0x02).and_then(pmt_video_pid)
        {
            self.video_pid = Some(video);
        }
    }
}

/// The body of the PSI section with `table_id` that starts in `payload` (after the pointer
/// field): the bytes after `section_length`, without the CRC.
fn section(payload: &[u8], table_id: u8) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    let table = payload.get(1 + pointer..)?;
    if *table.first()? != table_id {
        return None;
    }
    let length = (usize::from(*table.get(1)? & 0x0f) << 8) | usize::from(*table.get(2)?);
    let body = table.get(3..3 + length)?;
    body.get(..body.len().checked_sub(4)?)
}

/// The PMT PID of the first program in a PAT section body.
fn pat_pmt_pid(body: &[u8]) -> Option<u16> {
    // transport_stream_id (2), version (1), section_number (1), last_section_number (1).
    let entries = body.get(5..)?;
    entries.chunks_exact(4).find_map(|entry| {
        let program = u16::from_be_bytes([entry[0], entry[1]]);
        (program != 0).then(|| (u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3]))
    })
}

/// The PID of the first video stream in a PMT section body.
fn pmt_video_pid(body: &[u8]) -> Option<u16> {
    // program_number (2), version (1), section_number (1), last (1), PCR_PID (2),
    // program_info_length (2).
    let info_len = (usize::from(*body.get(7)? & 0x0f) << 8) | usize::from(*body.get(8)?);
    let mut streams = body.get(9 + info_len..)?;
    while streams.len() >= 5 {
        let stream_type = streams[0];
        let pid = (u16::from(streams[1] & 0x1f) << 8) | u16::from(streams[2]);
        let es_info = (usize::from(streams[3] & 0x0f) << 8) | usize::from(streams[4]);
        if VIDEO_STREAM_TYPES.contains(&stream_type) {
            return Some(pid);
        }
        streams = streams.get(5 + es_info..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 188-byte packet on `pid` with `payload` (padded with 0xff).
    fn packet(pid: u16, unit_start: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            SYNC_BYTE,
            (if unit_start { 0x40 } else { 0 }) | (pid >> 8) as u8,
            pid as u8,
            0x10,
        ];
        p.extend_from_slice(payload);
        p.resize(TS_PACKET_BYTES, 0xff);
        p
    }

    /// A PSI payload (pointer field 0) for `table_id` with `body`, CRC left as zeros.
    fn psi(table_id: u8, body: &[u8]) -> Vec<u8> {
        let length = body.len() + 4;
        let mut s = vec![0, table_id, 0xb0 | (length >> 8) as u8, length as u8];
        s.extend_from_slice(body);
        s.extend_from_slice(&[0; 4]);
        s
    }

    fn stream(video_type: u8, frames: usize) -> Vec<u8> {
        // PAT: program 1 → PMT PID 0x1000.
        let pat = psi(0x00, &[0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00]);
        // PMT: PCR 0x100, no program info; audio (0x0f) on 0x101 with a 3-byte
        // descriptor, then video on 0x100.
        let pmt = psi(
            0x02,
            &[
                0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x03, 1, 2, 3,
                video_type, 0xe1, 0x00, 0xf0, 0x00,
            ],
        );
        let mut out = packet(PAT_PID, true, &pat);
        out.extend(packet(0x1000, true, &pmt));
        for _ in 0..frames {
            out.extend(packet(0x100, true, &[0, 0, 1, 0xe0]));
            out.extend(packet(0x100, false, &[1, 2, 3]));
            out.extend(packet(0x101, true, &[0, 0, 1, 0xc0]));
        }
        out
    }

    #[test]
    fn counts_unit_starts_on_the_video_pid_in_any_chunking() {
        let ts = stream(0x1b, 7);
        for chunk in [1, 5, 187, 188, 189, 1000, ts.len()] {
            let mut counter = TsFrameCounter::new();
            let total: u64 = ts.chunks(chunk).map(|c| counter.push(c)).sum();
            assert_eq!(total, 7, "chunk {chunk}");
            assert_eq!(counter.frames(), 7);
            assert_eq!(counter.video_pid(), Some(0x100));
        }
    }

    #[test]
    fn video_types_and_garbage() {
        for (video_type, frames) in [(0x1b, 3), (0x24, 3), (0x02, 3), (0x0f, 0), (0x06, 0)] {
            let mut counter = TsFrameCounter::new();
            assert_eq!(
                counter.push(&stream(video_type, 3)),
                frames,
                "{video_type:#x}"
            );
        }
        // Junk before and between packets is skipped; a stream without tables counts nothing.
        let mut ts = vec![0x00, 0x12, 0x34];
        ts.extend(stream(0x1b, 2));
        ts.splice(400..400, [0xaa; 13]);
        assert_eq!(TsFrameCounter::new().push(&ts), 2);
        assert_eq!(
            TsFrameCounter::new().push(&packet(0x100, true, &[0, 0, 1])),
            0
        );
        // Truncated tables and adaptation fields longer than the packet do not panic.
        let mut bad = packet(PAT_PID, true, &[200]);
        bad.extend(packet(0x1000, true, &[0, 2, 0xbf, 0xff]));
        let mut af = packet(0x100, true, &[]);
        af[3] = 0x30;
        af[4] = 250;
        bad.extend(af);
        assert_eq!(TsFrameCounter::new().push(&bad), 0);
    }
}
