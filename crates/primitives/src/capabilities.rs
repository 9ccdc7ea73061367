//! Capabilities: what a job needs and what an orchestrator offers.
//!
//! The IDs, the bitstring layout and the compatibility rule are go-livepeer's
//! (`core/capabilities.go`): capability `c` sets bit `c % 64` of word `c / 64` of a
//! `repeated uint64`, and a job is compatible with an orchestrator when its bitstring is a
//! subset of the orchestrator's, the orchestrator's mandatories are a subset of the job's, and
//! the orchestrator's version satisfies the job's minimum.

use std::collections::BTreeMap;
use std::fmt;

/// One capability ID, as numbered by go-livepeer (`core/capabilities.go`).
///
/// Only the IDs this node reasons about by name are listed; any other `u32` can still be
/// carried in a [`CapabilitySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum Capability {
    /// H.264 decoding and encoding.
    H264 = 0,
    /// MPEG-TS output.
    MpegTs = 1,
    /// MP4 output.
    Mp4 = 2,
    /// Output frame rates with a denominator (`fpsDen`).
    FractionalFramerates = 3,
    /// Direct (in-memory, served over HTTP) storage of renditions.
    StorageDirect = 4,
    /// S3 object storage.
    StorageS3 = 5,
    /// Google Cloud Storage.
    StorageGcs = 6,
    /// H.264 Baseline profile.
    ProfileH264Baseline = 7,
    /// H.264 Main profile.
    ProfileH264Main = 8,
    /// H.264 High profile.
    ProfileH264High = 9,
    /// H.264 Constrained High profile.
    ProfileH264ConstrainedHigh = 10,
    /// Explicit GOP length.
    Gop = 11,
    /// Auth tokens in `SegData`.
    AuthToken = 12,
    /// MPEG-7 video signature (perceptual hash) of renditions.
    Mpeg7VideoSignature = 14,
    /// HEVC decoding.
    HevcDecode = 15,
    /// HEVC encoding.
    HevcEncode = 16,
    /// VP8 decoding.
    Vp8Decode = 17,
    /// VP9 decoding.
    Vp9Decode = 18,
    /// VP8 encoding.
    Vp8Encode = 19,
    /// VP9 encoding.
    Vp9Encode = 20,
    /// Transcoding a slice (`SegParameters` from/to) of a segment.
    SegmentSlicing = 26,
}

impl Capability {
    /// The numeric ID used on the wire.
    pub const fn id(self) -> u32 {
        self as u32
    }
}

/// A set of capability IDs in go-livepeer's bitstring layout (`repeated uint64`).
///
/// Invariant: no trailing zero words, so two equal sets have equal words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CapabilitySet {
    words: Vec<u64>,
}

impl CapabilitySet {
    /// The empty set.
    pub const fn new() -> Self {
        Self { words: Vec::new() }
    }

    /// Builds a set from capabilities.
    pub fn from_capabilities(caps: impl IntoIterator<Item = Capability>) -> Self {
        Self::from_ids(caps.into_iter().map(Capability::id))
    }

    /// Builds a set from raw IDs.
    pub fn from_ids(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut set = Self::new();
        for id in ids {
            set.insert_id(id);
        }
        set
    }

    /// Builds a set from wire words, dropping trailing zero words.
    pub fn from_words(words: &[u64]) -> Self {
        let mut words = words.to_vec();
        while words.last() == Some(&0) {
            words.pop();
        }
        Self { words }
    }

    /// The wire words (`Capabilities.bitstring`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Adds a raw ID.
    pub fn insert_id(&mut self, id: u32) {
        let (word, bit) = ((id / 64) as usize, id % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << bit;
    }

    /// Adds a capability.
    pub fn insert(&mut self, cap: Capability) {
        self.insert_id(cap.id());
    }

    /// Removes a capability.
    pub fn remove(&mut self, cap: Capability) {
        let id = cap.id();
        let (word, bit) = ((id / 64) as usize, id % 64);
        if let Some(w) = self.words.get_mut(word) {
            *w &= !(1 << bit);
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    /// Whether the raw ID is in the set.
    pub fn contains_id(&self, id: u32) -> bool {
        let (word, bit) = ((id / 64) as usize, id % 64);
        self.words.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Whether the capability is in the set.
    pub fn contains(&self, cap: Capability) -> bool {
        self.contains_id(cap.id())
    }

    /// The IDs in the set, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            (0..64u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| i as u32 * 64 + b)
        })
    }

    /// Whether every member of `self` is in `other`, word by word (go-livepeer
    /// `bitstring.CompatibleWith`: a longer job bitstring is never a subset).
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.words.len() <= other.words.len()
            && self
                .words
                .iter()
                .zip(&other.words)
                .all(|(mine, theirs)| mine & !theirs == 0)
    }

    /// Whether the set needs only the legacy IDs 0–11 (go-livepeer `LegacyOnly`): such a job
    /// may go to an orchestrator that sends no capabilities at all.
    pub fn is_legacy_only(&self) -> bool {
        self.is_subset_of(&Self::legacy())
    }

    /// go-livepeer's default set {0–12, 14, 26} = `0x4005FFF`.
    pub fn default_transcoding() -> Self {
        Self::from_words(&[DEFAULT_CAPABILITY_WORD])
    }

    /// go-livepeer's legacy set {0–11} = `0xFFF`.
    pub fn legacy() -> Self {
        Self::from_words(&[LEGACY_CAPABILITY_WORD])
    }
}

/// The first bitstring word of go-livepeer's default capability set {0–12, 14, 26}.
pub const DEFAULT_CAPABILITY_WORD: u64 = 0x4005FFF;
/// The first bitstring word of go-livepeer's legacy capability set {0–11}.
pub const LEGACY_CAPABILITY_WORD: u64 = 0xFFF;

impl fmt::Display for CapabilitySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.ids().map(|id| id.to_string()).collect();
        write!(f, "{{{}}}", ids.join(","))
    }
}

/// The capabilities a job needs or an orchestrator offers (the domain side of
/// `net.Capabilities`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Capabilities present.
    pub bitstring: CapabilitySet,
    /// Capabilities the other side must have (orchestrators currently send none).
    pub mandatories: CapabilitySet,
    /// Capacity per capability ID; empty means 1 for each member.
    pub capacities: BTreeMap<u32, u32>,
    /// Node version (e.g. `0.9.1`); empty on jobs.
    pub version: String,
    /// Minimum orchestrator version a job accepts (`constraints.minVersion`); empty for none.
    pub min_version: String,
}

impl Capabilities {
    /// Whether an orchestrator offering `orch` can serve a job needing `self`
    /// (go-livepeer `Capabilities.CompatibleWith`, without AI model constraints):
    /// the version floor, mandatories ⊆ job, job ⊆ orchestrator.
    pub fn compatible_with(&self, orch: &Capabilities) -> bool {
        if !self.min_version.is_empty() && !version_at_least(&orch.version, &self.min_version) {
            return false;
        }
        orch.mandatories.is_subset_of(&self.bitstring)
            && self.bitstring.is_subset_of(&orch.bitstring)
    }
}

/// Whether semver `version` is ≥ `minimum`, comparing major.minor.patch after stripping any
/// pre-release or build suffix (go-livepeer uses the same loose rule). An empty or
/// unparseable `version` (e.g. "undefined") fails.
pub fn version_at_least(version: &str, minimum: &str) -> bool {
    match (parse_semver(version), parse_semver(minimum)) {
        (Some(v), Some(m)) => v >= m,
        (None, _) => false,
        (Some(_), None) => true,
    }
}

fn parse_semver(s: &str) -> Option<(u64, u64, u64)> {
    let s = s.trim().trim_start_matches('v');
    let core = s.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    let patch = parts.next().unwrap_or("0").parse().ok()?;
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_legacy_words_match_go_livepeer() {
        let default: Vec<u32> = CapabilitySet::default_transcoding().ids().collect();
        let mut expected: Vec<u32> = (0..=12).collect();
        expected.extend([14, 26]);
        assert_eq!(default, expected);
        assert_eq!(
            CapabilitySet::legacy().ids().collect::<Vec<_>>(),
            (0..=11).collect::<Vec<_>>()
        );
    }

    #[test]
    fn bit_layout_grows_words() {
        let set = CapabilitySet::from_ids([0, 63, 64, 130]);
        assert_eq!(set.words(), &[1 | 1 << 63, 1, 1 << 2]);
        assert!(set.contains_id(130));
        assert!(!set.contains_id(129));
    }

    #[test]
    fn subset_rules() {
        let cases: &[(&[u64], &[u64], bool)] = &[
            (&[0b011], &[0b111], true),
            (&[0b111], &[0b011], false),
            (&[], &[0b1], true),
            (&[0b1, 0b1], &[0b1], false),
            (&[0b1], &[0b1, 0b1], true),
        ];
        for (job, orch, want) in cases {
            let (j, o) = (
                CapabilitySet::from_words(job),
                CapabilitySet::from_words(orch),
            );
            assert_eq!(j.is_subset_of(&o), *want, "{job:?} ⊆ {orch:?}");
        }
    }

    #[test]
    fn remove_trims_trailing_words() {
        let mut set = CapabilitySet::from_ids([1, 70]);
        set.remove(Capability::H264);
        set.insert(Capability::H264);
        assert_eq!(set.words().len(), 2);
        let mut set = CapabilitySet::from_ids([1]);
        set.remove(Capability::MpegTs);
        assert_eq!(set, CapabilitySet::new());
    }

    #[test]
    fn compatibility_checks_version_mandatories_and_bits() {
        let orch = Capabilities {
            bitstring: CapabilitySet::default_transcoding(),
            version: "0.9.1".into(),
            ..Default::default()
        };
        let job = Capabilities {
            bitstring: CapabilitySet::from_capabilities([Capability::H264, Capability::AuthToken]),
            ..Default::default()
        };
        assert!(job.compatible_with(&orch));

        let newer = Capabilities {
            min_version: "0.9.2".into(),
            ..job.clone()
        };
        assert!(!newer.compatible_with(&orch));
        let older = Capabilities {
            min_version: "0.9.1-rc1".into(),
            ..job.clone()
        };
        assert!(older.compatible_with(&orch));

        let hevc = Capabilities {
            bitstring: CapabilitySet::from_capabilities([Capability::HevcDecode]),
            ..Default::default()
        };
        assert!(!hevc.compatible_with(&orch));

        let demanding = Capabilities {
            mandatories: CapabilitySet::from_capabilities([Capability::Mpeg7VideoSignature]),
            ..orch.clone()
        };
        assert!(!job.compatible_with(&demanding));
    }

    #[test]
    fn versions() {
        let cases = [
            ("0.9.1", "0.9.1", true),
            ("0.10.0", "0.9.9", true),
            ("0.9.0", "0.9.1", false),
            ("undefined", "0.1.0", false),
            ("", "0.1.0", false),
            ("v1.2.3-dirty", "1.2.3", true),
        ];
        for (v, m, want) in cases {
            assert_eq!(version_at_least(v, m), want, "{v} >= {m}");
        }
    }
}
