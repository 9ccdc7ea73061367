//! Capabilities: what a job needs and what an orchestrator offers.
//!
//! The IDs, the bitstring layout and the compatibility rule are go-livepeer's
//! (`core/capabilities.go`): capability `c` sets bit `c % 64` of word `c / 64` of a
//! `repeated uint64`, and a job is compatible with an orchestrator when its bitstring is a
//! subset of the orchestrator's, the orchestrator's mandatories are a subset of the job's, and
//! the orchestrator's version satisfies the job's minimum.

use std::collections::BTreeMap;
use std::fmt;

/// One capability ID, as numbered by go-livepeer (`core/capabilities.go`): every ID from 0 to
/// 37. Any other `u32` can still be carried in a [`CapabilitySet`].
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
    /// Deprecated scene classification; the ID stays reserved.
    SceneClassification = 13,
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
    /// Decoding H.264 in YUV 4:4:4, 8 bits.
    H264Decode444_8bit = 21,
    /// Decoding H.264 in YUV 4:2:2, 8 bits.
    H264Decode422_8bit = 22,
    /// Decoding H.264 in YUV 4:4:4, 10 bits.
    H264Decode444_10bit = 23,
    /// Decoding H.264 in YUV 4:2:2, 10 bits.
    H264Decode422_10bit = 24,
    /// Decoding H.264 in YUV 4:2:0, 10 bits.
    H264Decode420_10bit = 25,
    /// Transcoding a slice (`SegParameters` from/to) of a segment.
    SegmentSlicing = 26,
    /// AI text-to-image.
    TextToImage = 27,
    /// AI image-to-image.
    ImageToImage = 28,
    /// AI image-to-video.
    ImageToVideo = 29,
    /// AI upscale.
    Upscale = 30,
    /// AI audio-to-text.
    AudioToText = 31,
    /// AI segment-anything-2.
    SegmentAnything2 = 32,
    /// AI large language model.
    Llm = 33,
    /// AI image-to-text.
    ImageToText = 34,
    /// Live video-to-video.
    LiveVideoToVideo = 35,
    /// AI text-to-speech.
    TextToSpeech = 36,
    /// Bring-your-own-container jobs.
    Byoc = 37,
}

impl Capability {
    /// Every capability, in ID order.
    pub const ALL: [Capability; 38] = {
        use Capability::*;
        [
            H264,
            MpegTs,
            Mp4,
            FractionalFramerates,
            StorageDirect,
            StorageS3,
            StorageGcs,
            ProfileH264Baseline,
            ProfileH264Main,
            ProfileH264High,
            ProfileH264ConstrainedHigh,
            Gop,
            AuthToken,
            SceneClassification,
            Mpeg7VideoSignature,
            HevcDecode,
            HevcEncode,
            Vp8Decode,
            Vp9Decode,
            Vp8Encode,
            Vp9Encode,
            H264Decode444_8bit,
            H264Decode422_8bit,
            H264Decode444_10bit,
            H264Decode422_10bit,
            H264Decode420_10bit,
            SegmentSlicing,
            TextToImage,
            ImageToImage,
            ImageToVideo,
            Upscale,
            AudioToText,
            SegmentAnything2,
            Llm,
            ImageToText,
            LiveVideoToVideo,
            TextToSpeech,
            Byoc,
        ]
    };

    /// The numeric ID used on the wire.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// The capability with wire ID `id`, if go-livepeer defines one.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(id).ok()?).copied()
    }

    /// go-livepeer's display name (`core/capabilities.go:CapabilityNameLookup`), e.g.
    /// "H.264", "Segment slicing", "Text to image". Scene classification (13) has no entry
    /// there; go prints its number, and so does this.
    pub const fn name(self) -> &'static str {
        use Capability::*;
        match self {
            H264 => "H.264",
            MpegTs => "MPEGTS",
            Mp4 => "MP4",
            FractionalFramerates => "Fractional framerates",
            StorageDirect => "Storage direct",
            StorageS3 => "Storage S3",
            StorageGcs => "Storage GCS",
            ProfileH264Baseline => "H264 Baseline profile",
            ProfileH264Main => "H264 Main profile",
            ProfileH264High => "H264 High profile",
            ProfileH264ConstrainedHigh => "H264 Constrained, Contained High profile",
            Gop => "GOP",
            AuthToken => "Auth token",
            SceneClassification => "13",
            Mpeg7VideoSignature => "MPEG7 signature",
            HevcDecode => "HEVC decode",
            HevcEncode => "HEVC encode",
            Vp8Decode => "VP8 decode",
            Vp9Decode => "VP9 decode",
            Vp8Encode => "VP8 encode",
            Vp9Encode => "VP9 encode",
            H264Decode444_8bit => "H264 Decode YUV444 8-bit",
            H264Decode422_8bit => "H264 Decode YUV422 8-bit",
            H264Decode444_10bit => "H264 Decode YUV444 10-bit",
            H264Decode422_10bit => "H264 Decode YUV422 10-bit",
            H264Decode420_10bit => "H264 Decode YUV420 10-bit",
            SegmentSlicing => "Segment slicing",
            TextToImage => "Text to image",
            ImageToImage => "Image to image",
            ImageToVideo => "Image to video",
            Upscale => "Upscale",
            AudioToText => "Audio to text",
            SegmentAnything2 => "Segment anything 2",
            Llm => "Llm",
            ImageToText => "Image to text",
            LiveVideoToVideo => "Live video to video",
            TextToSpeech => "Text to speech",
            Byoc => "byoc",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// go-livepeer's name for capability ID `id` (`Capability.String()`): the
/// `CapabilityNameLookup` entry, or the number for an ID it does not name.
pub fn capability_name(id: u32) -> String {
    match Capability::from_id(id) {
        Some(cap) => cap.name().to_owned(),
        None => id.to_string(),
    }
}

/// A set of capability IDs in go-livepeer's bitstring layout (`repeated uint64`).
///
/// The words are kept exactly as built or received, trailing zero words included, because
/// go-livepeer's subset test is length-sensitive (a job bitstring with more words than the
/// orchestrator's is never compatible, whatever those words hold). Equality and hashing
/// ignore trailing zero words: `[1]` and `[1, 0]` hold the same capabilities.
#[derive(Debug, Clone, Default)]
pub struct CapabilitySet {
    words: Vec<u64>,
}

impl PartialEq for CapabilitySet {
    fn eq(&self, other: &Self) -> bool {
        self.trimmed() == other.trimmed()
    }
}

impl Eq for CapabilitySet {}

impl std::hash::Hash for CapabilitySet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.trimmed().hash(state);
    }
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

    /// Builds a set from wire words, kept as they are (trailing zero words included).
    pub fn from_words(words: &[u64]) -> Self {
        Self {
            words: words.to_vec(),
        }
    }

    fn trimmed(&self) -> &[u64] {
        let len = self
            .words
            .iter()
            .rposition(|&w| w != 0)
            .map_or(0, |i| i + 1);
        &self.words[..len]
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

    /// Removes a capability, dropping the trailing zero words this leaves (go-livepeer's
    /// `removeCapability` keeps them; a shorter bitstring only makes fewer jobs compatible with
    /// a set this node advertises, never more).
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
    /// `CapabilityString.CompatibleWith`): a bitstring with more words than `other` is never
    /// a subset, even when the extra words are zero.
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

    /// go-livepeer's default set {0–12, 14, 26} = `0x4005FFF` (`DefaultCapabilities`).
    pub fn default_transcoding() -> Self {
        Self::from_words(&[DEFAULT_CAPABILITY_WORD])
    }

    /// go-livepeer's legacy set {0–11} = `0xFFF`.
    pub fn legacy() -> Self {
        Self::from_words(&[LEGACY_CAPABILITY_WORD])
    }

    /// go-livepeer's optional set (`OptionalCapabilities`): HEVC decode/encode, VP8/VP9
    /// decode, the H.264 4:4:4 / 4:2:2 / 10-bit decoders (21–25) and the AI pipelines 27–32,
    /// 34 and 36.
    pub fn optional() -> Self {
        use Capability::*;
        Self::from_capabilities([
            HevcDecode,
            HevcEncode,
            Vp8Decode,
            Vp9Decode,
            H264Decode444_8bit,
            H264Decode422_8bit,
            H264Decode444_10bit,
            H264Decode422_10bit,
            H264Decode420_10bit,
            TextToImage,
            ImageToImage,
            ImageToVideo,
            Upscale,
            AudioToText,
            SegmentAnything2,
            ImageToText,
            TextToSpeech,
        ])
    }

    /// What a go-livepeer software transcoder (`-transcoder` without `-nvidia`/`-netint`)
    /// advertises (`cmd/livepeer/starter/starter.go`): the default set plus the optional set
    /// minus HEVC decode/encode, VP8 encode and VP9 decode/encode (15, 16, 18, 19, 20), i.e.
    /// {0–12, 14, 17, 21–32, 34, 36}. `-hevcDecoding=true` adds 15 back.
    pub fn go_software_transcoder() -> Self {
        let mut set = Self::default_transcoding();
        for id in Self::optional().ids() {
            set.insert_id(id);
        }
        for cap in [
            Capability::HevcDecode,
            Capability::HevcEncode,
            Capability::Vp8Encode,
            Capability::Vp9Decode,
            Capability::Vp9Encode,
        ] {
            set.remove(cap);
        }
        set
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
    /// Per-capability model constraints (`constraints.PerCapability`): capability id → model
    /// id → [`ModelConstraint`]. An orchestrator lists the AI models it serves; a job lists
    /// the model it needs.
    pub per_capability: BTreeMap<u32, BTreeMap<String, ModelConstraint>>,
}

/// One model of a capability (`net.Capabilities.CapabilityConstraints.ModelConstraint`,
/// go-livepeer `core/capabilities.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelConstraint {
    /// Kept loaded (an orchestrator's warm model); on a job: only warm models will do.
    pub warm: bool,
    /// Concurrent requests the orchestrator takes for the model.
    pub capacity: u32,
    /// The lowest runner version serving the model; on a job: the minimum runner version.
    pub runner_version: String,
    /// Requests in flight for the model.
    pub capacity_in_use: u32,
}

/// Whether an orchestrator's models `orch` satisfy a job's `job` (go-livepeer
/// `ModelConstraints.CompatibleWith`): every model the job names is present, warm where the
/// job asks for warm, and at a runner version at least the job's.
pub fn models_compatible(
    job: &BTreeMap<String, ModelConstraint>,
    orch: &BTreeMap<String, ModelConstraint>,
) -> bool {
    job.iter().all(|(model, want)| {
        orch.get(model).is_some_and(|have| {
            (!want.warm || have.warm)
                && is_version_compatible(&want.runner_version, &have.runner_version)
        })
    })
}

impl Capabilities {
    /// Whether an orchestrator offering `orch` can serve a job needing `self`
    /// (go-livepeer `Capabilities.CompatibleWith`), in go's order: the version floor
    /// ([`is_version_compatible`]), the orchestrator's mandatories ⊆ the job, the job's model
    /// constraints ([`models_compatible`]; a capability the orchestrator gives none for
    /// passes), the job ⊆ the orchestrator (both word-length sensitive, see
    /// [`CapabilitySet::is_subset_of`]).
    pub fn compatible_with(&self, orch: &Capabilities) -> bool {
        is_version_compatible(&self.min_version, &orch.version)
            && orch.mandatories.is_subset_of(&self.bitstring)
            && self.per_capability.iter().all(|(cap, models)| {
                // No constraints of the orchestrator for the capability: compatible (go).
                orch.per_capability
                    .get(cap)
                    .is_none_or(|have| models_compatible(models, have))
            })
            && self.bitstring.is_subset_of(&orch.bitstring)
    }
}

/// The go-livepeer release whose wire protocol this node speaks (its `VERSION` file at the
/// snapshot studied). Orchestrators report it in `Capabilities.version`, because go gateways
/// compare that field with their `-orchMinLivepeerVersion` floor; this node's own version
/// (the crate version) is reported separately, by `livepeer -version` and the CLI status.
pub const LIVEPEER_VERSION: &str = "0.9.1";

/// A version as go-livepeer's semver library reads it (Masterminds/semver v3
/// `NewVersion`): `v?MAJOR(.MINOR)?(.PATCH)?(-PRERELEASE)?(+METADATA)?`, missing parts 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseSemver {
    /// Major, minor and patch.
    pub core: (u64, u64, u64),
    /// The pre-release suffix, without the dash; empty for none.
    pub pre: String,
}

impl LooseSemver {
    /// Parses `s` as Masterminds/semver v3 `NewVersion` does (no trimming, an optional
    /// lowercase `v`, numbers that fit a `u64`, identifiers of `[0-9A-Za-z-]`, no numeric
    /// pre-release identifier with a leading zero); `None` where it returns an error.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let (rest, metadata) = match s.split_once('+') {
            Some((rest, meta)) => (rest, Some(meta)),
            None => (s, None),
        };
        let (numbers, pre) = match rest.split_once('-') {
            Some((numbers, pre)) => (numbers, Some(pre)),
            None => (rest, None),
        };
        let idents_ok = |text: &str| {
            text.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        if metadata.is_some_and(|m| !idents_ok(m)) {
            return None;
        }
        if let Some(pre) = pre {
            let leading_zero = pre.split('.').any(|id| {
                id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit())
            });
            if !idents_ok(pre) || leading_zero {
                return None;
            }
        }
        let mut parts = numbers.split('.');
        let mut number = |required: bool| -> Option<u64> {
            match parts.next() {
                None if !required => Some(0),
                None => None,
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
                Some(_) => None,
            }
        };
        let core = (number(true)?, number(false)?, number(false)?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            core,
            pre: pre.unwrap_or_default().to_owned(),
        })
    }
}

/// Whether `version` meets the floor `min_version`, exactly as go-livepeer decides it
/// (`core/capabilities.go:isVersionCompatible`), in this order:
/// no floor (`""`) → compatible; `version` `""` or `"undefined"` → incompatible; a floor
/// that does not parse → compatible; a `version` that does not parse → incompatible;
/// otherwise major.minor.patch compared with the pre-release suffixes dropped (go-livepeer
/// and ai-runner use them as post-release tags), so `0.9.1-rc1` meets `0.9.1`.
pub fn is_version_compatible(min_version: &str, version: &str) -> bool {
    if min_version.is_empty() {
        return true;
    }
    if version.is_empty() || version == "undefined" {
        return false;
    }
    let Some(min) = LooseSemver::parse(min_version) else {
        return true;
    };
    let Some(version) = LooseSemver::parse(version) else {
        return false;
    };
    version.core >= min.core
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
        assert!(set.words().is_empty());
    }

    #[test]
    fn trailing_zero_words_compare_as_go_does() {
        // Equal as sets, but go's length-sensitive subset test tells them apart.
        let one = CapabilitySet::from_words(&[0b11]);
        let padded = CapabilitySet::from_words(&[0b11, 0]);
        assert_eq!(one, padded);
        assert_eq!(padded.words(), &[0b11, 0], "wire words kept as received");
        assert!(one.is_subset_of(&padded));
        assert!(!padded.is_subset_of(&one));

        let orch = |bits: &[u64], mandatories: &[u64]| Capabilities {
            bitstring: CapabilitySet::from_words(bits),
            mandatories: CapabilitySet::from_words(mandatories),
            version: LIVEPEER_VERSION.into(),
            ..Default::default()
        };
        let job = |bits: &[u64]| Capabilities {
            bitstring: CapabilitySet::from_words(bits),
            ..Default::default()
        };
        assert!(job(&[0b1]).compatible_with(&orch(&[0b11], &[])));
        assert!(!job(&[0b1, 0]).compatible_with(&orch(&[0b11], &[])));
        assert!(job(&[0b1, 0]).compatible_with(&orch(&[0b11, 0], &[])));
        // Mandatories with an extra zero word are not a subset of a one-word job.
        assert!(!job(&[0b1]).compatible_with(&orch(&[0b11], &[0b1, 0])));
        assert!(job(&[0b1]).compatible_with(&orch(&[0b11], &[0b1])));
        // A segment that carries no capabilities is the empty set: compatible with anyone
        // who has no mandatories.
        assert!(Capabilities::default().compatible_with(&orch(&[0b11], &[])));
        assert!(!Capabilities::default().compatible_with(&orch(&[0b11], &[0b1])));
    }

    #[test]
    fn names_are_go_livepeers() {
        let cases = [
            (0, "H.264"),
            (10, "H264 Constrained, Contained High profile"),
            (12, "Auth token"),
            (13, "13"),
            (14, "MPEG7 signature"),
            (25, "H264 Decode YUV420 10-bit"),
            (26, "Segment slicing"),
            (27, "Text to image"),
            (33, "Llm"),
            (37, "byoc"),
            (38, "38"),
        ];
        for (id, name) in cases {
            assert_eq!(capability_name(id), name, "{id}");
        }
        for (i, cap) in Capability::ALL.iter().enumerate() {
            assert_eq!(cap.id() as usize, i);
            assert_eq!(Capability::from_id(cap.id()), Some(*cap));
        }
        assert_eq!(Capability::SegmentSlicing.to_string(), "Segment slicing");
    }

    #[test]
    fn go_software_transcoder_set() {
        let mut want: Vec<u32> = (0..=12).collect();
        want.extend([14, 17]);
        want.extend(21..=32);
        want.extend([34, 36]);
        assert_eq!(
            CapabilitySet::go_software_transcoder()
                .ids()
                .collect::<Vec<_>>(),
            want
        );
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
        // (floor, version, compatible), go-livepeer's isVersionCompatible with
        // Masterminds/semver v3 parsing.
        let cases = [
            ("", "", true),
            ("", "anything", true),
            ("0.9.1", "0.9.1", true),
            ("0.9.9", "0.10.0", true),
            ("0.9.1", "0.9.0", false),
            ("0.1.0", "undefined", false),
            ("0.1.0", "", false),
            ("1.2.3", "v1.2.3-dirty", true),
            ("0.9.1", "0.9.1-rc1", true),
            ("0.9.1-rc1", "0.9.1", true),
            ("0.9.2", "0.9.1-10-gabcdef", false),
            ("0.9", "0.9.0", true),
            ("1", "0.9.9", false),
            ("0.9.1", "0.9.1+build.7", true),
            // An unparseable floor lets everyone through; an unparseable version fails.
            ("not-a-version", "0.0.1", true),
            ("0.9.1", "0.9.1.4", false),
            ("0.9.1", " 0.9.1", false),
            ("0.9.1", "V0.9.1", false),
            ("0.9.1", "0.9.1-01", false),
            ("0.9.1", "0.9.1-", false),
            ("0.9.1", "99999999999999999999.0.0", false),
            ("0.9.1", LIVEPEER_VERSION, true),
        ];
        for (floor, version, want) in cases {
            assert_eq!(
                is_version_compatible(floor, version),
                want,
                "{version:?} meets {floor:?}"
            );
        }
    }

    #[test]
    fn model_constraints_decide_ai_compatibility() {
        let model = |warm: bool, version: &str| ModelConstraint {
            warm,
            capacity: 1,
            runner_version: version.into(),
            capacity_in_use: 0,
        };
        let orch = Capabilities {
            bitstring: CapabilitySet::from_ids([33, 36]),
            version: LIVEPEER_VERSION.into(),
            per_capability: BTreeMap::from([(
                33,
                BTreeMap::from([("m".to_string(), model(false, "0.14.1"))]),
            )]),
            ..Default::default()
        };
        let job = |cap: u32, id: &str, warm: bool, min: &str| Capabilities {
            bitstring: CapabilitySet::from_ids([cap]),
            per_capability: BTreeMap::from([(
                cap,
                BTreeMap::from([(id.to_string(), model(warm, min))]),
            )]),
            ..Default::default()
        };
        assert!(job(33, "m", false, "").compatible_with(&orch));
        assert!(job(33, "m", false, "0.14.0").compatible_with(&orch));
        assert!(
            !job(33, "m", false, "0.15.0").compatible_with(&orch),
            "runner too old"
        );
        assert!(!job(33, "m", true, "").compatible_with(&orch), "not warm");
        assert!(
            !job(33, "other", false, "").compatible_with(&orch),
            "model missing"
        );
        // The orchestrator gives no constraints for 36: compatible, as go-livepeer.
        assert!(job(36, "any", false, "").compatible_with(&orch));
        assert!(
            !job(27, "m", false, "").compatible_with(&orch),
            "capability missing"
        );
    }
}
