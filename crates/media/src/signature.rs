//! MPEG-7 video signatures (ISO/IEC 15938-3 video signature tools) as ffmpeg's `signature`
//! filter writes them in its binary format, and the comparison go-livepeer's gateway applies
//! to two of them when it verifies an orchestrator's work (capability 14,
//! `MPEG7VideoSignature`).
//!
//! Pure: no I/O, nothing shared. The input is hostile (the bytes come from an orchestrator),
//! so decoding checks every length before it allocates, caps the sizes
//! ([`MAX_SIGNATURE_BYTES`], [`MAX_SIGNATURE_FRAMES`]) and the work of a comparison
//! ([`MAX_COMPARE_STEPS`]), and never panics.
//!
//! The format and the matching rules are those of ffmpeg's `libavfilter/vf_signature.c`
//! (`binary_export`) and `libavfilter/signature_lookup.c` as the livepeer FFmpeg fork builds
//! them into `avfilter_compare_sign_bybuff` (its `binary_import` and `compare_signbuffer`),
//! which lpms `ffmpeg/extras.c:lpms_compare_sign_bybuffer` calls and go-livepeer
//! `server/broadcast.go:chooseResults` reads as "equal" when it is above zero:
//!
//! 1. coarse stage: every pair of coarse signatures (bags of words over 90 frames, one every
//!    45 frames) whose Jaccard test passes;
//! 2. fine stage: the L1 (ternary) distance between the frame signatures of the two 90-frame
//!    windows, then a Hough transform over (frame-rate ratio, offset) of the close pairs;
//! 3. evaluation: from each strong Hough cell, walk both frame lists forward then backward
//!    while frames stay close; a walk that reaches both ends of the video is a whole match.
//!
//! The fork's thresholds are used, not the filter's defaults: word distance 9000,
//! composite distance 60000, frame distance ([`FRAME_DISTANCE_THRESHOLD`]) 150 instead of 116
//! (livepeer FFmpeg commit "Set frame similarity threshold to reduce fast verification
//! fails", go-livepeer issue #2654), minimum length 0 and good-frame ratio 0 (the fork stores
//! 0.5 in an `int`). Where the reference code has quirks that decide its answers (integer
//! division in the Jaccard test and the Hough slope, only negative offsets read back from the
//! Hough space, evaluation state carried from one candidate to the next), they are kept, so
//! that our answer is the one a go-livepeer gateway would reach on the same bytes.

use std::sync::LazyLock;

use crate::MediaError;

/// Largest signature accepted, in bytes. A 2 s segment at 60 fps gives ~11 KB (86 bytes a
/// frame); 1 MiB holds more than [`MAX_SIGNATURE_FRAMES`].
pub const MAX_SIGNATURE_BYTES: usize = 1 << 20;
/// Most frame (fine) signatures accepted in one signature: 60 s at 60 fps.
pub const MAX_SIGNATURE_FRAMES: usize = 3600;
/// Most coarse signatures accepted: one every 45 frames of [`MAX_SIGNATURE_FRAMES`], plus one.
pub const MAX_COARSE_SIGNATURES: usize = MAX_SIGNATURE_FRAMES / COARSE_STEP + 1;
/// Most elementary steps (frame-distance computations and Hough votes) one comparison may
/// take before it gives up with [`MediaError::SignatureTooCostly`]: about a second of CPU.
/// Two real 2 s renditions take well under 1 % of it; a still picture at 60 fps (every frame
/// alike, the Hough stage's worst case) about 40 %.
pub const MAX_COMPARE_STEPS: u64 = 1 << 28;
/// Frames closer than this L1 distance are "similar" (the fork's `thl1`; ffmpeg's `th_xh`).
pub const FRAME_DISTANCE_THRESHOLD: u32 = 150;

/// Bytes of a frame signature: 380 ternary elements, five to a byte.
const FRAME_SIG_BYTES: usize = 76;
/// Bytes of one coarse bag of words: 243 bits, the last byte holding 3.
const BAG_BYTES: usize = 31;
/// Frames a coarse signature covers, and how far apart they start.
const COARSE_FRAMES: usize = 90;
const COARSE_STEP: usize = 45;
/// Bits of one frame signature in the file: time flag, pts, confidence, 5 words, 76 bytes.
const FRAME_BITS: usize = 1 + 32 + 8 + 5 * 8 + FRAME_SIG_BYTES * 8;
/// Bits of one coarse signature: two frame indices, time flag, two pts, 5 bags of 243 bits.
const COARSE_BITS: usize = 32 + 32 + 1 + 32 + 32 + 5 * 243;
/// The fork's word-distance and composite-distance thresholds (`thworddist`, `thcomposdist`).
const WORD_DISTANCE_THRESHOLD: u32 = 9000;
const COMPOSITE_DISTANCE_THRESHOLD: u32 = 60000;
/// The Hough space: frame-rate ratios 1/30..60/30 and offsets -90..90.
const MAX_FRAME_RATE: usize = 60;
const HOUGH_MAX_OFFSET: i64 = 90;
const HOUGH_WIDTH: usize = 2 * HOUGH_MAX_OFFSET as usize + 1;
/// Largest value of a frame-signature byte: five ternary digits, 3^5 - 1.
const MAX_TERNARY_BYTE: u8 = 242;

/// How two signatures match: lpms `lpms_compare_sign_bybuffer`'s 2, 1 and 0. go-livepeer
/// (`lpms/ffmpeg/ffmpeg.go:CompareSignatureByBuffer`) treats both [`SignatureMatch::Partial`]
/// and [`SignatureMatch::Whole`] as equal; see [`SignatureMatch::is_match`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureMatch {
    /// No matching sequence was found (0).
    None,
    /// A matching sequence was found, but dissimilar frames end it before it reaches an end
    /// of either video in one direction or the other (1).
    Partial,
    /// The matching sequence runs until an end of a video in both directions (2): the
    /// videos are the same, or one is a part of the other (ffmpeg: "whole video matching").
    Whole,
}

impl SignatureMatch {
    /// Whether go-livepeer counts the renditions as equal (lpms returns > 0).
    pub fn is_match(self) -> bool {
        self != Self::None
    }
}

/// One frame's (fine) signature.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FrameSignature {
    /// `MediaTimeOfFrame`, in the stream's time base (32 bits in the file).
    pts: u32,
    /// `FrameConfidence`: 0 for frames with next to no information (flat pictures).
    confidence: u8,
    /// The 380 ternary elements, five per byte (each byte at most 242).
    elements: [u8; FRAME_SIG_BYTES],
}

/// One coarse signature: five bags of words over up to 90 frames, and the range of frame
/// signatures it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CoarseSignature {
    /// 5 × 243 bits; bit `w` of bag `i` is set when word `i` of a frame had value `w`.
    bags: [[u8; BAG_BYTES]; 5],
    /// Index of its first frame signature in [`VideoSignature::frames`].
    first: usize,
}

/// A decoded MPEG-7 video signature (ffmpeg `signature` filter, `format=binary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSignature {
    width: u32,
    height: u32,
    coarse: Vec<CoarseSignature>,
    frames: Vec<FrameSignature>,
}

/// Reads big-endian bit fields, failing (never panicking) past the end.
struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// The next `n` bits (at most 32) as a number.
    fn bits(&mut self, n: usize, field: &'static str) -> Result<u32, MediaError> {
        if n > self.remaining() {
            return Err(invalid(format!("ends inside {field}")));
        }
        let mut value = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).copied().unwrap_or(0);
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.pos += 1;
        }
        Ok(value)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, MediaError> {
        // Eight bits always fit a byte.
        Ok(self.bits(8, field)?.to_be_bytes()[3])
    }

    fn skip(&mut self, n: usize, field: &'static str) -> Result<(), MediaError> {
        if n > self.remaining() {
            return Err(invalid(format!("ends inside {field}")));
        }
        self.pos += n;
        Ok(())
    }
}

fn invalid(reason: String) -> MediaError {
    MediaError::InvalidSignature { reason }
}

impl VideoSignature {
    /// Decodes ffmpeg's binary signature format (`vf_signature.c:binary_export`), accepting
    /// what the livepeer FFmpeg fork's `binary_import` accepts: the frame count is taken from
    /// the length of the data (the header's `NumOfFrames` is ignored), there must be at least
    /// one coarse and one frame signature, and each coarse signature covers the frames from
    /// the first whose time is at or after its start.
    ///
    /// Layout (bits, big-endian): regions (32), location flag (1), x1/y1 (16 each),
    /// width − 1 and height − 1 (16 each), start frame (32), frames (32), time unit (16),
    /// time flag (1), start/end time (32 each), coarse count (32); per coarse signature:
    /// first/last frame (32 each), time flag (1), first/last time (32 each), 5 bags of 243
    /// bits; then a compression flag (1) and, per frame, time flag (1), time (32),
    /// confidence (8), 5 words (8 each) and 76 bytes of ternary elements (689 bits).
    ///
    /// Errors: [`MediaError::InvalidSignature`] for data that is empty, truncated, names no
    /// coarse or frame signature, has an element byte above 242 (which ffmpeg never writes),
    /// or has a coarse signature no frame falls in; [`MediaError::TooLarge`] past
    /// [`MAX_SIGNATURE_BYTES`], [`MAX_COARSE_SIGNATURES`] or [`MAX_SIGNATURE_FRAMES`].
    pub fn decode(data: &[u8]) -> Result<Self, MediaError> {
        if data.is_empty() {
            return Err(invalid("empty".into()));
        }
        if data.len() > MAX_SIGNATURE_BYTES {
            return Err(MediaError::TooLarge {
                what: "bytes",
                got: data.len() as u64,
                limit: MAX_SIGNATURE_BYTES as u64,
            });
        }
        let mut r = BitReader::new(data);
        r.skip(32 + 1 + 16 + 16, "the spatial region")?;
        let width = r.bits(16, "the width")? + 1;
        let height = r.bits(16, "the height")? + 1;
        r.skip(32 + 32 + 16 + 1 + 32 + 32, "the header")?;
        let coarse_count = r.bits(32, "the coarse signature count")? as usize;
        if coarse_count == 0 {
            return Err(invalid("no coarse signature".into()));
        }
        if coarse_count > MAX_COARSE_SIGNATURES {
            return Err(MediaError::TooLarge {
                what: "coarse signatures",
                got: coarse_count as u64,
                limit: MAX_COARSE_SIGNATURES as u64,
            });
        }
        if coarse_count.saturating_mul(COARSE_BITS) >= r.remaining() {
            return Err(invalid(format!(
                "{coarse_count} coarse signatures do not fit in {} bytes",
                data.len()
            )));
        }
        // (start time, end time, bags) of each coarse signature.
        let mut bounds = Vec::with_capacity(coarse_count);
        for _ in 0..coarse_count {
            r.skip(32 + 32 + 1, "a coarse signature's frame range")?;
            let start = r.bits(32, "a coarse signature's start time")?;
            let end = r.bits(32, "a coarse signature's end time")?;
            let mut bags = [[0u8; BAG_BYTES]; 5];
            for bag in &mut bags {
                for byte in bag.iter_mut().take(BAG_BYTES - 1) {
                    *byte = r.byte("a bag of words")?;
                }
                // The 243rd..241st bits, kept at the top of the last byte as ffmpeg does.
                bag[BAG_BYTES - 1] = (r.bits(3, "a bag of words")? << 5).to_be_bytes()[3];
            }
            bounds.push((start, end, bags));
        }
        r.skip(1, "the compression flag")?;
        let frame_count = r.remaining() / FRAME_BITS;
        if frame_count == 0 {
            return Err(invalid("no frame signature".into()));
        }
        if frame_count > MAX_SIGNATURE_FRAMES {
            return Err(MediaError::TooLarge {
                what: "frame signatures",
                got: frame_count as u64,
                limit: MAX_SIGNATURE_FRAMES as u64,
            });
        }
        let mut frames = Vec::with_capacity(frame_count);
        for index in 0..frame_count {
            r.skip(1, "a frame's time flag")?;
            let pts = r.bits(32, "a frame's time")?;
            let confidence = r.byte("a frame's confidence")?;
            r.skip(5 * 8, "a frame's words")?;
            let mut elements = [0u8; FRAME_SIG_BYTES];
            for element in &mut elements {
                *element = r.byte("a frame signature")?;
                if *element > MAX_TERNARY_BYTE {
                    return Err(invalid(format!(
                        "frame {index} has element byte {element} (at most {MAX_TERNARY_BYTE})"
                    )));
                }
            }
            frames.push(FrameSignature {
                pts,
                confidence,
                elements,
            });
        }
        let coarse = bounds
            .into_iter()
            .enumerate()
            .map(|(index, (start, end, bags))| {
                // The fork clamps a start after the end, and checks no upper bound.
                let start = start.min(end);
                let first = frames
                    .iter()
                    .position(|f| f.pts >= start)
                    .ok_or_else(|| invalid(format!("coarse signature {index} covers no frame")))?;
                Ok(CoarseSignature { bags, first })
            })
            .collect::<Result<Vec<_>, MediaError>>()?;
        Ok(Self {
            width,
            height,
            coarse,
            frames,
        })
    }

    /// Width of the signed video, in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of the signed video, in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Number of frame signatures (frames signed).
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Compares `self` (the first video) with `other` as the livepeer FFmpeg fork's
    /// `compare_signbuffer` does (full mode, its thresholds; see the module documentation).
    ///
    /// Errors: [`MediaError::SignatureTooCostly`] when the comparison would take more than
    /// [`MAX_COMPARE_STEPS`].
    pub fn compare(&self, other: &Self) -> Result<SignatureMatch, MediaError> {
        self.compare_within(other, MAX_COMPARE_STEPS)
            .map(|(outcome, _)| outcome)
    }

    /// [`VideoSignature::compare`] with a budget of `max_steps`; also returns the steps taken.
    fn compare_within(
        &self,
        other: &Self,
        max_steps: u64,
    ) -> Result<(SignatureMatch, u64), MediaError> {
        let mut budget = Budget {
            left: max_steps,
            limit: max_steps,
        };
        let mut outcome = SignatureMatch::None;
        for first in &self.coarse {
            for second in &other.coarse {
                if !coarse_pair_is_candidate(first, second) {
                    continue;
                }
                let candidates =
                    hough_candidates(self, first.first, other, second.first, &mut budget)?;
                match evaluate(self, other, &candidates, &mut budget)? {
                    SignatureMatch::Whole => {
                        return Ok((SignatureMatch::Whole, max_steps - budget.left));
                    }
                    SignatureMatch::Partial => outcome = SignatureMatch::Partial,
                    SignatureMatch::None => {}
                }
            }
        }
        Ok((outcome, max_steps - budget.left))
    }
}

/// Decodes both signatures and compares them (lpms `lpms_compare_sign_bybuffer`; go-livepeer
/// `server/broadcast.go:chooseResults` counts [`SignatureMatch::is_match`] as equal).
///
/// Errors: those of [`VideoSignature::decode`] for either input (lpms: a negative result, go
/// `ErrSignCompare` "InvalidSignData"), and [`MediaError::SignatureTooCostly`].
pub fn compare_signatures(a: &[u8], b: &[u8]) -> Result<SignatureMatch, MediaError> {
    let a = VideoSignature::decode(a)?;
    let b = VideoSignature::decode(b)?;
    a.compare(&b)
}

/// The work left to a comparison.
struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    fn spend(&mut self, steps: u64) -> Result<(), MediaError> {
        self.left = self
            .left
            .checked_sub(steps)
            .ok_or(MediaError::SignatureTooCostly { limit: self.limit })?;
        Ok(())
    }
}

/// L1 distance between two ternary bytes: the sum of the absolute differences of their five
/// base-3 digits (ffmpeg's `l1distlut`), for every pair of bytes up to 242.
static TERNARY_DISTANCE: LazyLock<Vec<[u8; 243]>> = LazyLock::new(|| {
    (0..243u32)
        .map(|a| {
            let mut row = [0u8; 243];
            for (b, cell) in (0u32..).zip(row.iter_mut()) {
                let (mut x, mut y, mut dist) = (a, b, 0u32);
                while x > 0 || y > 0 {
                    dist += (x % 3).abs_diff(y % 3);
                    x /= 3;
                    y /= 3;
                }
                // At most 5 digits × 2.
                *cell = u8::try_from(dist).unwrap_or(u8::MAX);
            }
            row
        })
        .collect()
});

/// L1 distance between two frame signatures (ffmpeg `get_l1dist`).
fn frame_distance(a: &FrameSignature, b: &FrameSignature) -> u32 {
    let table = &*TERNARY_DISTANCE;
    a.elements
        .iter()
        .zip(&b.elements)
        .map(|(&x, &y)| {
            // Decoding keeps every byte at or below 242, so the lookups are in range.
            table
                .get(usize::from(x))
                .and_then(|row| row.get(usize::from(y)))
                .map_or(0, |&d| u32::from(d))
        })
        .sum()
}

/// ffmpeg's `get_jaccarddist`: whether a pair of coarse signatures is worth the fine stage.
///
/// The reference divides intersection by union in integers, so each word's "distance" is 0
/// or 1 and neither threshold is ever reached: every pair passes. Kept as written, so that a
/// change of thresholds would behave as the reference's would.
fn coarse_pair_is_candidate(a: &CoarseSignature, b: &CoarseSignature) -> bool {
    let mut wide_words = 0;
    let mut composite = 0u32;
    for (x, y) in a.bags.iter().zip(&b.bags) {
        let intersection: u32 = x.iter().zip(y).map(|(p, q)| (p & q).count_ones()).sum();
        let union: u32 = x.iter().zip(y).map(|(p, q)| (p | q).count_ones()).sum();
        let distance = if intersection > 0 {
            intersection / union.max(1)
        } else {
            0
        };
        if distance >= WORD_DISTANCE_THRESHOLD {
            wide_words += 1;
            if wide_words > 2 {
                return false;
            }
        }
        composite += distance;
        if composite > COMPOSITE_DISTANCE_THRESHOLD {
            return false;
        }
    }
    true
}

/// A strong cell of the Hough space: where to start evaluating, and at what frame-rate ratio.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Frames of the second video per frame of the first: (cell row + 1) / 30.
    frame_rate_ratio: f64,
    /// Frame index in the first video.
    a: usize,
    /// Frame index in the second video.
    b: usize,
}

/// The closest frames of the second window to one frame of the first.
#[derive(Debug, Clone, Default)]
struct ClosePairs {
    dist: u32,
    /// (position in the second window, frame index), in window order.
    matches: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    dist: u32,
    score: usize,
    a: usize,
    b: usize,
}

/// ffmpeg's `get_matching_parameters`: the 90-frame windows from `a_start` and `b_start`
/// (never reaching either video's last frame, as in the reference), each frame of the first
/// paired with its closest frames of the second under [`FRAME_DISTANCE_THRESHOLD`], then a
/// Hough vote over every two pairs, and the cells scoring above 70 % of the best returned.
fn hough_candidates(
    first: &VideoSignature,
    a_start: usize,
    second: &VideoSignature,
    b_start: usize,
    budget: &mut Budget,
) -> Result<Vec<Candidate>, MediaError> {
    let window = |sig: &VideoSignature, start: usize| {
        let end = sig.frames.len().saturating_sub(1);
        start..end.min(start + COARSE_FRAMES).max(start)
    };
    let a_window = window(first, a_start);
    let b_window = window(second, b_start);
    budget.spend((a_window.len() * b_window.len()) as u64)?;
    let mut pairs: Vec<ClosePairs> = Vec::with_capacity(a_window.len());
    for fa in &first.frames[a_window.clone()] {
        let mut close = ClosePairs {
            dist: u32::MAX,
            matches: Vec::new(),
        };
        for (pos, (fb, sb)) in second.frames[b_window.clone()]
            .iter()
            .zip(b_window.clone())
            .enumerate()
        {
            let dist = frame_distance(fa, fb);
            if dist >= FRAME_DISTANCE_THRESHOLD {
                continue;
            }
            if dist < close.dist {
                close.dist = dist;
                close.matches.clear();
            }
            if dist == close.dist {
                close.matches.push((pos, sb));
            }
        }
        pairs.push(close);
    }
    // The vote's cost is known now: every match of a frame against every match of each later
    // frame. Spend it before voting, so a hopeless comparison stops at once.
    let mut later = pairs.iter().map(|p| p.matches.len() as u64).sum::<u64>();
    let mut votes = 0u64;
    for p in &pairs {
        later -= p.matches.len() as u64;
        votes = votes.saturating_add((p.matches.len() as u64).saturating_mul(later));
    }
    budget.spend(votes)?;

    let empty = Cell {
        dist: u32::MAX,
        score: 0,
        a: 0,
        b: 0,
    };
    let mut hough = vec![empty; MAX_FRAME_RATE * HOUGH_WIDTH];
    let mut best_score = 0usize;
    for (i, pi) in pairs.iter().enumerate() {
        for &(pos_i, frame_i) in &pi.matches {
            for (k, pk) in pairs.iter().enumerate().skip(i + 1) {
                for &(pos_k, frame_k) in &pk.matches {
                    if frame_i == frame_k || pos_k < pos_i {
                        // The same frame twice, or a negative slope (in the reference an
                        // unsigned division makes that slope huge, so it never votes).
                        continue;
                    }
                    // The reference's slope is an integer division: 0, 1, 2, ...
                    let slope = (pos_k - pos_i) / (k - i);
                    // nearbyint(m * 30 + 0.5) with m whole rounds half to even: 30 m.
                    let frame_rate = slope * 30;
                    if frame_rate == 0 || frame_rate > MAX_FRAME_RATE {
                        continue;
                    }
                    // nearbyint(m * i + 0.5): n + 0.5 rounds to the even one of n, n + 1.
                    let n = (slope * i) as i64;
                    let rounded = if n % 2 == 0 { n } else { n + 1 };
                    let offset = pos_i as i64 - rounded;
                    if offset <= -HOUGH_MAX_OFFSET || offset >= HOUGH_MAX_OFFSET {
                        continue;
                    }
                    let column = (offset + HOUGH_MAX_OFFSET) as usize;
                    let Some(cell) = hough.get_mut((frame_rate - 1) * HOUGH_WIDTH + column) else {
                        continue;
                    };
                    let (dist, a, b) = if pi.dist < pk.dist {
                        (pi.dist, a_window.start + i, frame_i)
                    } else {
                        (pk.dist, a_window.start + k, frame_k)
                    };
                    if dist < cell.dist {
                        (cell.dist, cell.a, cell.b) = (dist, a, b);
                    }
                    cell.score += 1;
                    best_score = best_score.max(cell.score);
                }
            }
        }
    }
    if best_score == 0 {
        return Ok(Vec::new());
    }
    // (int)(0.7 * hmax), and only the first HOUGH_MAX_OFFSET columns (offsets -90..-1) of
    // each row are read back, as in the reference.
    let floor = (best_score as f64 * 0.7) as usize;
    let mut candidates = Vec::new();
    for (row, cells) in hough.chunks(HOUGH_WIDTH).enumerate() {
        for cell in cells.iter().take(HOUGH_MAX_OFFSET as usize) {
            if cell.score > floor {
                candidates.push(Candidate {
                    frame_rate_ratio: (row as f64 + 1.0) / 30.0,
                    a: cell.a,
                    b: cell.b,
                });
            }
        }
    }
    Ok(candidates)
}

/// Direction of an evaluation walk (ffmpeg's `DIR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Next,
    Prev,
    NextEnd,
    PrevEnd,
}

/// Moves one step (ffmpeg `iterate_frame`): forward when `walk` is [`Walk::Next`], else
/// backward; the faster video skips a frame when the ratio says so.
fn step(
    ratio: f64,
    (a, b): (&mut usize, &mut usize),
    (a_len, b_len): (usize, usize),
    frames_seen: u64,
    walk: Walk,
) -> Walk {
    // `(int) 0.5 + n * frr - ((int) 0.5 + (n - 1) * frr)`, truncated to an int.
    let skip = (frames_seen as f64 * ratio - (frames_seen as f64 - 1.0) * ratio) as i64;
    let stride = if skip == 1 { 1 } else { 2 };
    // The video that moves by one every time, then the one that moves by `stride`.
    let (one, other, one_len, other_len) = if ratio >= 1.0 {
        (a, b, a_len, b_len)
    } else {
        (b, a, b_len, a_len)
    };
    if walk == Walk::Next {
        if *one + 1 >= one_len {
            return Walk::NextEnd;
        }
        *one += 1;
        if *other + stride >= other_len {
            return Walk::NextEnd;
        }
        *other += stride;
        Walk::Next
    } else {
        if *one == 0 {
            return Walk::PrevEnd;
        }
        *one -= 1;
        if *other < stride {
            return Walk::PrevEnd;
        }
        *other -= stride;
        Walk::Prev
    }
}

/// ffmpeg's `evaluate_parameters` (full mode): walks from each candidate while the frames stay
/// similar, tolerating two dissimilar frames that carry information; a walk that meets both
/// ends is a whole match. As in the reference, the walk's counters and direction carry over
/// from one candidate to the next within one call.
fn evaluate(
    first: &VideoSignature,
    second: &VideoSignature,
    candidates: &[Candidate],
    budget: &mut Budget,
) -> Result<SignatureMatch, MediaError> {
    const END_REACHED: u8 = 1;
    const BEGIN_REACHED: u8 = 2;
    let lens = (first.frames.len(), second.frames.len());
    let confidence = |sig: &VideoSignature, i: usize| sig.frames.get(i).map_or(0, |f| f.confidence);
    let mut walk = Walk::Next;
    let (mut frames_seen, mut good, mut good_a, mut good_b) = (0u64, 0u64, 0u64, 0u64);
    let mut tolerance = 0u32;
    let mut status = 0u8;
    let mut outcome = SignatureMatch::None;
    for candidate in candidates {
        let (mut a, mut b) = (candidate.a, candidate.b);
        loop {
            budget.spend(1)?;
            let (Some(fa), Some(fb)) = (first.frames.get(a), second.frames.get(b)) else {
                break;
            };
            if frame_distance(fa, fb) > FRAME_DISTANCE_THRESHOLD {
                if confidence(first, a) >= 1 || confidence(second, b) >= 1 {
                    // A frame that differs although it carries information.
                    tolerance += 1;
                }
                if tolerance > 2 {
                    if walk == Walk::Next {
                        // Turn around at the start.
                        (a, b) = (candidate.a, candidate.b);
                        walk = Walk::Prev;
                    } else {
                        break;
                    }
                }
            } else {
                good += 1;
                tolerance = 0;
                good_a += u64::from(confidence(first, a) < 1);
                good_b += u64::from(confidence(second, b) < 1);
            }
            frames_seen += 1;
            walk = step(
                candidate.frame_rate_ratio,
                (&mut a, &mut b),
                lens,
                frames_seen,
                walk,
            );
            if walk == Walk::NextEnd {
                status = END_REACHED;
                (a, b) = (candidate.a, candidate.b);
                walk = step(
                    candidate.frame_rate_ratio,
                    (&mut a, &mut b),
                    lens,
                    frames_seen,
                    Walk::Prev,
                );
            }
            if walk == Walk::PrevEnd {
                status |= BEGIN_REACHED;
                break;
            }
        }
        // Too few good frames that carry information (also: none at all).
        if good as f64 * 0.5 <= good_a.max(good_b) as f64 {
            continue;
        }
        if status == END_REACHED | BEGIN_REACHED {
            return Ok(SignatureMatch::Whole);
        }
        outcome = SignatureMatch::Partial;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes big-endian bit fields, for building signatures in tests.
    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        fn put(&mut self, n: usize, value: u64) {
            for i in (0..n).rev() {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let bit = ((value >> i) & 1) as u8;
                if let Some(last) = self.bytes.last_mut() {
                    *last |= bit << (7 - self.bits % 8);
                }
                self.bits += 1;
            }
        }
    }

    /// A signature as ffmpeg's `binary_export` lays it out, for frames with the given
    /// element bytes and confidences, one coarse signature every 45 frames.
    fn encode(width: u16, height: u16, frames: &[([u8; FRAME_SIG_BYTES], u8)]) -> Vec<u8> {
        let mut w = BitWriter::default();
        let coarse = frames.len().div_ceil(COARSE_STEP).max(1);
        w.put(32, 1);
        w.put(1, 1);
        w.put(32, 0);
        w.put(16, u64::from(width - 1));
        w.put(16, u64::from(height - 1));
        w.put(32, 0);
        w.put(32, frames.len() as u64);
        w.put(16, 30);
        w.put(1, 1);
        w.put(32, 0);
        w.put(32, frames.len().saturating_sub(1) as u64);
        w.put(32, coarse as u64);
        for c in 0..coarse {
            let start = c * COARSE_STEP;
            let end = (start + COARSE_FRAMES - 1).min(frames.len().saturating_sub(1));
            w.put(32, start as u64);
            w.put(32, end as u64);
            w.put(1, 1);
            w.put(32, start as u64);
            w.put(32, end as u64);
            for _ in 0..5 * 243 {
                w.put(1, 0);
            }
        }
        w.put(1, 0);
        for (pts, (elements, confidence)) in frames.iter().enumerate() {
            w.put(1, 1);
            w.put(32, pts as u64);
            w.put(8, u64::from(*confidence));
            w.put(40, 0);
            for &e in elements {
                w.put(8, u64::from(e));
            }
        }
        w.bytes
    }

    /// Frames with pseudo-random elements (a moving picture: no two frames alike).
    fn moving(seed: u64, count: usize) -> Vec<([u8; FRAME_SIG_BYTES], u8)> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..count)
            .map(|_| {
                let mut e = [0u8; FRAME_SIG_BYTES];
                for byte in &mut e {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    *byte = ((state >> 33) % 243) as u8;
                }
                (e, 20)
            })
            .collect()
    }

    #[test]
    fn ternary_distances() {
        // (a, b, digits of a, digits of b) -> sum of digit differences.
        let cases = [
            (0, 0, 0),
            (0, 1, 1),
            (0, 2, 2),
            (0, 3, 1),
            (0, 242, 10),
            (121, 121, 0),
            (5, 7, 2),
        ];
        for (a, b, want) in cases {
            assert_eq!(u32::from(TERNARY_DISTANCE[a][b]), want, "{a} vs {b}");
            assert_eq!(TERNARY_DISTANCE[a][b], TERNARY_DISTANCE[b][a]);
        }
    }

    #[test]
    fn decodes_what_binary_export_writes() {
        let frames = moving(1, 100);
        let data = encode(640, 360, &frames);
        let sig = VideoSignature::decode(&data).expect("decodes");
        assert_eq!((sig.width(), sig.height()), (640, 360));
        assert_eq!(sig.frame_count(), 100);
        assert_eq!(sig.coarse.len(), 3);
        assert_eq!(
            sig.coarse.iter().map(|c| c.first).collect::<Vec<_>>(),
            [0, 45, 90]
        );
        assert_eq!(sig.frames[7].elements, frames[7].0);
        assert_eq!(sig.frames[7].pts, 7);
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let good = encode(64, 64, &moving(2, 10));
        let mut frames = moving(2, 10);
        frames[4].0[3] = 243;
        let high_element = encode(64, 64, &frames);
        let mut no_coarse = good.clone();
        // The coarse count sits at bit 242 (after 32+1+32+32+32+32+16+1+64).
        for byte in &mut no_coarse[30..35] {
            *byte = 0;
        }
        let mut huge_coarse = good.clone();
        for byte in &mut huge_coarse[30..35] {
            *byte = 0xFF;
        }
        let cases: [(&str, &[u8]); 6] = [
            ("empty", b""),
            ("header only", &good[..20]),
            ("truncated in the coarse signatures", &good[..100]),
            ("element byte above 242", &high_element),
            ("no coarse signature", &no_coarse),
            ("too many coarse signatures", &huge_coarse),
        ];
        for (what, data) in cases {
            let err = VideoSignature::decode(data).expect_err(what);
            assert!(
                matches!(
                    err,
                    MediaError::InvalidSignature { .. } | MediaError::TooLarge { .. }
                ),
                "{what}: {err}"
            );
        }
        let big = vec![0u8; MAX_SIGNATURE_BYTES + 1];
        assert!(matches!(
            VideoSignature::decode(&big),
            Err(MediaError::TooLarge { what: "bytes", .. })
        ));
    }

    #[test]
    fn identical_moving_videos_match_whole() {
        for count in [10, 60, 120] {
            let data = encode(426, 240, &moving(3, count));
            assert_eq!(
                compare_signatures(&data, &data).expect("compares"),
                SignatureMatch::Whole,
                "{count} frames"
            );
        }
    }

    #[test]
    fn unrelated_videos_do_not_match() {
        let a = encode(426, 240, &moving(4, 60));
        let b = encode(426, 240, &moving(5, 60));
        assert_eq!(
            compare_signatures(&a, &b).expect("compares"),
            SignatureMatch::None
        );
    }

    #[test]
    fn a_video_inside_a_longer_one_matches_whole() {
        // ffmpeg's "whole" is reached when the walk meets an end of either video both ways.
        let long = moving(6, 120);
        let a = encode(426, 240, &long);
        let b = encode(426, 240, &long[30..90]);
        assert_eq!(
            compare_signatures(&a, &b).expect("compares"),
            SignatureMatch::Whole
        );
    }

    #[test]
    fn videos_sharing_a_middle_match_in_part() {
        let shared = moving(7, 60);
        let video = |before: u64, after: u64| {
            let mut frames = moving(before, 30);
            frames.extend(shared.iter().cloned());
            frames.extend(moving(after, 30));
            encode(426, 240, &frames)
        };
        let got = compare_signatures(&video(8, 9), &video(10, 11)).expect("compares");
        assert_eq!(got, SignatureMatch::Partial);
        assert!(got.is_match());
        assert!(SignatureMatch::Whole.is_match());
        assert!(!SignatureMatch::None.is_match());
    }

    #[test]
    fn flat_pictures_never_match() {
        // Zero-confidence frames (no information) are not evidence: ffmpeg refuses a match
        // made mostly of them, even between identical videos.
        let flat: Vec<_> = (0..60).map(|_| ([121u8; FRAME_SIG_BYTES], 0u8)).collect();
        let data = encode(64, 64, &flat);
        assert_eq!(
            compare_signatures(&data, &data).expect("compares"),
            SignatureMatch::None
        );
    }

    #[test]
    fn still_pictures_cost_the_most_and_are_bounded() {
        // Every frame alike: the Hough stage's worst case (every frame pairs with every
        // frame). A real segment of that (2 s at 60 fps) fits the budget easily and matches
        // itself whole...
        let still = |count, confidence| {
            let frames: Vec<_> = (0..count)
                .map(|_| ([100u8; FRAME_SIG_BYTES], confidence))
                .collect();
            VideoSignature::decode(&encode(64, 64, &frames)).expect("decodes")
        };
        let segment = still(120, 30);
        let (outcome, steps) = segment
            .compare_within(&segment, MAX_COMPARE_STEPS)
            .expect("within the budget");
        assert_eq!(outcome, SignatureMatch::Whole);
        assert!(steps < MAX_COMPARE_STEPS / 2, "{steps} steps");
        // ...while a long flat one (no coarse pair ever matches, so every pair is tried)
        // stops at the budget instead of doing the work it would cost.
        let flat = still(MAX_SIGNATURE_FRAMES, 0);
        assert!(matches!(
            flat.compare_within(&flat, steps),
            Err(MediaError::SignatureTooCostly { limit }) if limit == steps
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(a in proptest::collection::vec(proptest::num::u8::ANY, 0..4096),
                                       b in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            let _ = compare_signatures(&a, &b);
            let _ = VideoSignature::decode(&a);
        }

        #[test]
        fn mutated_signatures_never_panic(flips in proptest::collection::vec((0usize..6000, proptest::num::u8::ANY), 1..16),
                                          cut in 0usize..6000) {
            let mut data = encode(426, 240, &moving(7, 60));
            for (at, value) in flips {
                let len = data.len();
                data[at % len] = value;
            }
            let len = data.len();
            data.truncate(len - cut % len);
            let reference = encode(426, 240, &moving(7, 60));
            let _ = compare_signatures(&data, &reference);
            let _ = compare_signatures(&reference, &data);
        }
    }
}
