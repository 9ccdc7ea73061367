//! Plain shared types of the Livepeer network, with no I/O: capabilities in go-livepeer's
//! bitstring layout, video profiles (the standard ladder by name and JSON profile files), and
//! stream identifiers.

pub mod capabilities;
pub mod profile;

pub use capabilities::{
    Capabilities, Capability, CapabilitySet, LIVEPEER_VERSION, ModelConstraint, capability_name,
    is_version_compatible, models_compatible,
};
pub use profile::{
    ChromaSubsampling, Format, Gop, H264Profile, ProfileError, VideoCodec, VideoProfile,
    parse_profiles_json, parse_transcoding_options,
};

/// A stream's manifest ID: the name a gateway publishes a stream under
/// (`/live/<manifest>/<seq>.ts` in, `/stream/<manifest>.m3u8` out).
///
/// go-livepeer allows any path segment; we accept 1–128 characters of `[A-Za-z0-9_.-]` so the
/// ID is safe in URLs and file names, and reject anything else with [`InvalidManifestId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestId(String);

/// Returned by [`ManifestId::new`] for an empty, over-long or unsafe manifest ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid manifest id {0:?}: use 1-128 characters of A-Z a-z 0-9 _ . -")]
pub struct InvalidManifestId(pub String);

impl ManifestId {
    /// Longest accepted manifest ID, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Validates and wraps a manifest ID.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidManifestId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id != "."
            && id != ".."
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(id))
        } else {
            Err(InvalidManifestId(id))
        }
    }

    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ManifestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_ids() {
        for ok in ["a", "stream-1", "abc_DEF.9", &"x".repeat(128)] {
            assert!(ManifestId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(ManifestId::new(bad).is_err(), "{bad}");
        }
    }
}
