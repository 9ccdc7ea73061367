//! Verifying what orchestrators return.
//!
//! Two checks, as in go-livepeer:
//!
//! - **Multi-session verification** (`verificationFreq` > 0 from the auth webhook;
//!   go-livepeer `server/broadcast.go:selectSessions`, `collectResults`, `chooseResults`,
//!   `shouldSkipVerification`): a segment goes to one trusted and two untrusted sessions; the
//!   perceptual hash of one rendition, picked at random, of each untrusted result is compared
//!   with the trusted one's, then the rendition's video; the first untrusted result that
//!   matches both is used and its session becomes the stream's verified session, which later
//!   segments reuse alone with probability 1 − 1/freq. [`choose_results`] is that decision,
//!   over a [`RenditionComparator`].
//! - **Local verification** (`-localVerify`; go-livepeer `verification/verify.go` with
//!   `Policy{Retries: 2}`): the renditions' signature (on chain, in
//!   [`crate::dispatch::check_renditions_signature`]) and a recount of each rendition's
//!   decoded pixels against the `pixels` the orchestrator reported ([`count_pixels`],
//!   [`LocalVerifier`]). A mismatch is retried on another session; after more than
//!   [`LOCAL_VERIFY_RETRIES`] mismatches the first mismatching result is kept, as go keeps the
//!   best-scoring one (every local result scores 0).

use std::fmt::Debug;

use futures::future::BoxFuture;
use livepeer_media::Ffmpeg;

use crate::GatewayError;
use crate::dispatch::TranscodedRendition;

/// How many pixel mismatches a segment may have before the verifier keeps a mismatching
/// result anyway (go-livepeer `verification.Policy.Retries` as the starter sets it).
pub const LOCAL_VERIFY_RETRIES: usize = 2;

/// Compares the renditions two orchestrators made of the same segment.
///
/// The real implementation is crates/media's MPEG-7 signature comparison (lpms
/// `CompareSignatureByBuffer`: equal when the match is partial or whole) and video
/// comparison (lpms `CompareVideoByBuffer`: same dimensions and the same audio packet MD5s).
/// Both take the downloaded bytes.
pub trait RenditionComparator: Send + Sync + Debug {
    /// Whether two perceptual hashes (MPEG-7 binary signatures) match.
    ///
    /// Errors: whatever reading the signatures fails with; [`choose_results`] counts an error
    /// as a mismatch, as go-livepeer does.
    fn same_signature<'a>(
        &'a self,
        trusted: &'a [u8],
        untrusted: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, GatewayError>>;

    /// Whether two renditions hold the same video.
    ///
    /// Errors: whatever reading the renditions fails with; [`choose_results`] fails the
    /// segment on it (retryable), as go-livepeer does.
    fn same_video<'a>(
        &'a self,
        trusted: &'a [u8],
        untrusted: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, GatewayError>>;
}

/// Which result of a verified segment to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// The trusted session's.
    Trusted,
    /// The untrusted result at this index.
    Untrusted(usize),
}

/// What [`choose_results`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The result to publish.
    pub chosen: Chosen,
    /// The untrusted result (index) that matched the trusted one: its session becomes the
    /// stream's verified session.
    pub verified: Option<usize>,
    /// The untrusted results (indices) that did not match the trusted one: their sessions are
    /// suspended.
    pub failed: Vec<usize>,
}

/// Chooses between the successful results of one segment sent to a trusted and to untrusted
/// sessions (go-livepeer `server/broadcast.go:chooseResults`).
///
/// `untrusted` holds the untrusted results in order of preference (the stream's verified
/// session first, go-livepeer `collectResults`); `index` is the rendition compared (the
/// caller draws it at random). The rules:
///
/// - no trusted result: the first untrusted one, unverified; none at all is an error;
/// - no untrusted result: the trusted one;
/// - else, in order, each untrusted result whose rendition `index` has the same perceptual
///   hash as the trusted one's (a comparison error is a mismatch) and then the same video is
///   chosen and verified; those before it that did not match are `failed`;
/// - when none matches, the trusted result is used and every untrusted one is `failed`.
///   (go-livepeer suspends the failed ones only when a later one matches; we suspend them
///   whenever the trusted session disagrees with them.)
///
/// Errors: [`GatewayError::Verification`] without any result, without the perceptual hash
/// or rendition `index` of the trusted result, without the perceptual hash of an untrusted
/// one, or when the video comparison fails (go returns these errors too, and the segment is
/// retried).
pub async fn choose_results(
    comparator: &dyn RenditionComparator,
    trusted: Option<&[TranscodedRendition]>,
    untrusted: &[&[TranscodedRendition]],
    index: usize,
) -> Result<Decision, GatewayError> {
    let fail = |reason: String| GatewayError::Verification { reason };
    let Some(trusted) = trusted else {
        if untrusted.is_empty() {
            return Err(fail("no results at all".into()));
        }
        return Ok(Decision {
            chosen: Chosen::Untrusted(0),
            verified: None,
            failed: Vec::new(),
        });
    };
    if untrusted.is_empty() {
        return Ok(Decision {
            chosen: Chosen::Trusted,
            verified: None,
            failed: Vec::new(),
        });
    }
    let reference = trusted
        .get(index)
        .ok_or_else(|| fail(format!("no rendition {index} in the trusted result")))?;
    let reference_hash = reference
        .perceptual_hash
        .as_deref()
        .ok_or_else(|| fail("no perceptual hash in the trusted result".into()))?;
    let mut failed = Vec::new();
    for (i, result) in untrusted.iter().enumerate() {
        let candidate = result
            .get(index)
            .ok_or_else(|| fail(format!("no rendition {index} in untrusted result {i}")))?;
        let hash = candidate
            .perceptual_hash
            .as_deref()
            .ok_or_else(|| fail(format!("no perceptual hash in untrusted result {i}")))?;
        let same_hash = match comparator.same_signature(reference_hash, hash).await {
            Ok(same) => same,
            Err(err) => {
                tracing::warn!(%err, untrusted = i, "comparing perceptual hashes failed");
                false
            }
        };
        if same_hash
            && comparator
                .same_video(&reference.data, &candidate.data)
                .await
                .map_err(|err| fail(format!("comparing video: {err}")))?
        {
            return Ok(Decision {
                chosen: Chosen::Untrusted(i),
                verified: Some(i),
                failed,
            });
        }
        failed.push(i);
    }
    Ok(Decision {
        chosen: Chosen::Trusted,
        verified: None,
        failed,
    })
}

/// Whether a verified stream skips verification for this segment and reuses its verified
/// session alone: with probability 1 − 1/`freq`, and only while that session is among those
/// selected (go-livepeer `shouldSkipVerification`, `common.RandomUintUnder(freq) != 0`).
/// `draw` is a uniform draw in `0..freq`.
pub fn should_skip_verification(verified_selected: bool, draw: u64) -> bool {
    verified_selected && draw != 0
}

/// The decoded pixels of a rendition (the sum of width × height over its decoded video
/// frames, what lpms's `Transcode3` reports as `Decoded.Pixels`), by
/// [`Ffmpeg::decoded_pixels`]: one bounded ffprobe decode of the bytes as MPEG-TS or MP4 only.
///
/// Errors: [`GatewayError::PixelCount`] when ffprobe cannot run, fails, times out or finds
/// no video frame.
pub async fn count_pixels(ffmpeg: &Ffmpeg, data: &[u8]) -> Result<u64, GatewayError> {
    ffmpeg
        .decoded_pixels(data)
        .await
        .map_err(|e| GatewayError::PixelCount {
            reason: e.to_string(),
        })
}

/// The real [`RenditionComparator`]: crates/media's MPEG-7 signature matcher (lpms
/// `CompareSignatureByBuffer`, equal when the match is partial or whole), run off the async
/// workers since it is CPU work (bounded by the matcher's own step cap), and its video
/// comparison (lpms `CompareVideoByBuffer`) through ffprobe.
#[derive(Debug, Clone)]
pub struct MediaComparator {
    ffmpeg: Ffmpeg,
}

impl MediaComparator {
    /// A comparator probing with `ffmpeg`'s ffprobe.
    pub fn new(ffmpeg: Ffmpeg) -> Self {
        Self { ffmpeg }
    }
}

impl RenditionComparator for MediaComparator {
    fn same_signature<'a>(
        &'a self,
        trusted: &'a [u8],
        untrusted: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, GatewayError>> {
        let (a, b) = (trusted.to_vec(), untrusted.to_vec());
        Box::pin(async move {
            let compared =
                tokio::task::spawn_blocking(move || livepeer_media::compare_signatures(&a, &b))
                    .await
                    .map_err(|e| GatewayError::Verification {
                        reason: format!("signature comparison stopped: {e}"),
                    })?;
            compared
                .map(|m| m.is_match())
                .map_err(|e| GatewayError::Verification {
                    reason: format!("perceptual hash: {e}"),
                })
        })
    }

    fn same_video<'a>(
        &'a self,
        trusted: &'a [u8],
        untrusted: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, GatewayError>> {
        Box::pin(async move {
            self.ffmpeg
                .compare_videos(trusted, untrusted)
                .await
                .map_err(|e| GatewayError::Verification {
                    reason: format!("video comparison: {e}"),
                })
        })
    }
}

/// Local verification of one segment's results across its attempts (go-livepeer
/// `verification.SegmentVerifier` under `Policy{Retries: 2}` without a verifier URL).
#[derive(Debug, Default)]
pub struct LocalVerifier {
    /// Failed verifications so far.
    failures: usize,
    /// The first result that failed with a pixel mismatch, kept in case every attempt does.
    fallback: Option<Vec<TranscodedRendition>>,
}

/// What [`LocalVerifier::judge`] says about one attempt's renditions.
#[derive(Debug)]
pub enum Verdict {
    /// Use these renditions (the attempt's, or after too many mismatches an earlier one).
    Accept(Vec<TranscodedRendition>),
    /// Try another session; the error says why.
    Retry(GatewayError),
}

impl LocalVerifier {
    /// Attempts that failed verification so far (an accepted earlier result included).
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Judges one attempt given the recounted pixels of each rendition (or the recount's
    /// error). A count that differs from the reported one is [`GatewayError::PixelMismatch`]
    /// (retryable, go-livepeer `ErrPixelMismatch`); after more than
    /// [`LOCAL_VERIFY_RETRIES`] mismatches the first mismatching result is accepted. A
    /// recount that fails is retried but never accepted later (go: not a `Retryable`).
    pub fn judge(
        &mut self,
        renditions: Vec<TranscodedRendition>,
        counted: &[Result<u64, GatewayError>],
    ) -> Verdict {
        let mut error = None;
        for (rendition, count) in renditions.iter().zip(counted) {
            match count {
                Ok(n) if *n == rendition.pixels => {}
                Ok(n) => {
                    error = Some(GatewayError::PixelMismatch {
                        profile: rendition.profile.name.clone(),
                        reported: rendition.pixels,
                        counted: *n,
                    });
                    break;
                }
                Err(err) => {
                    error = Some(GatewayError::PixelCount {
                        reason: err.to_string(),
                    });
                    break;
                }
            }
        }
        let Some(error) = error else {
            return Verdict::Accept(renditions);
        };
        self.failures += 1;
        if matches!(error, GatewayError::PixelMismatch { .. }) && self.fallback.is_none() {
            self.fallback = Some(renditions);
        }
        if self.failures > LOCAL_VERIFY_RETRIES
            && let Some(kept) = self.fallback.take()
        {
            tracing::warn!(%error, "verification failed too often; keeping an earlier result");
            return Verdict::Accept(kept);
        }
        Verdict::Retry(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use livepeer_primitives::profile::VideoProfile;

    /// A comparator that compares bytes: the one place a fake stands in for the real thing,
    /// because the MPEG-7 comparison (crates/media `compare_signatures`/`compare_videos`) is
    /// being written on another branch; the decision logic under test does not depend on how
    /// equality is computed. Bytes starting with `!` make the comparison fail.
    #[derive(Debug)]
    struct BytesEqual;

    impl RenditionComparator for BytesEqual {
        fn same_signature<'a>(
            &'a self,
            a: &'a [u8],
            b: &'a [u8],
        ) -> BoxFuture<'a, Result<bool, GatewayError>> {
            Box::pin(async move { compare(a, b) })
        }

        fn same_video<'a>(
            &'a self,
            a: &'a [u8],
            b: &'a [u8],
        ) -> BoxFuture<'a, Result<bool, GatewayError>> {
            Box::pin(async move { compare(a, b) })
        }
    }

    fn compare(a: &[u8], b: &[u8]) -> Result<bool, GatewayError> {
        if b.starts_with(b"!") {
            return Err(GatewayError::Verification {
                reason: "unreadable".into(),
            });
        }
        Ok(a == b)
    }

    /// A result of two renditions: (hash, video) of each.
    fn result(renditions: [(&'static str, &'static str); 2]) -> Vec<TranscodedRendition> {
        renditions
            .iter()
            .map(|(hash, video)| TranscodedRendition {
                profile: VideoProfile::standard("P144p30fps16x9").expect("standard"),
                data: Bytes::from_static(video.as_bytes()),
                pixels: 1,
                perceptual_hash: (!hash.is_empty()).then(|| Bytes::from_static(hash.as_bytes())),
            })
            .collect()
    }

    #[tokio::test]
    async fn choose_results_follows_gos_rules() {
        let good = result([("h0", "v0"), ("h1", "v1")]);
        let same_as_good = result([("h0", "v0"), ("h1", "v1")]);
        let bad_hash = result([("x0", "v0"), ("x1", "v1")]);
        let bad_video = result([("h0", "w0"), ("h1", "w1")]);
        let unreadable_hash = result([("!0", "v0"), ("!1", "v1")]);
        let unreadable_video = result([("h0", "!0"), ("h1", "!1")]);
        let only_second_bad = result([("h0", "v0"), ("x1", "v1")]);
        let no_hash = result([("", "v0"), ("", "v1")]);
        // (what, trusted, untrusted, rendition index, decision or None for an error)
        type Case<'a> = (
            &'a str,
            Option<&'a [TranscodedRendition]>,
            Vec<&'a [TranscodedRendition]>,
            usize,
            Option<(Chosen, Option<usize>, Vec<usize>)>,
        );
        let cases: Vec<Case<'_>> = vec![
            ("nothing at all", None, vec![], 0, None),
            (
                "no trusted: the first untrusted, unverified",
                None,
                vec![&bad_hash, &good],
                0,
                Some((Chosen::Untrusted(0), None, vec![])),
            ),
            (
                "no untrusted: the trusted",
                Some(&good),
                vec![],
                1,
                Some((Chosen::Trusted, None, vec![])),
            ),
            (
                "a matching untrusted is verified and used",
                Some(&good),
                vec![&same_as_good],
                1,
                Some((Chosen::Untrusted(0), Some(0), vec![])),
            ),
            (
                "the first that matches wins; those before it failed",
                Some(&good),
                vec![&bad_hash, &bad_video, &good],
                0,
                Some((Chosen::Untrusted(2), Some(2), vec![0, 1])),
            ),
            (
                "same hash, other video: not verified",
                Some(&good),
                vec![&bad_video],
                0,
                Some((Chosen::Trusted, None, vec![0])),
            ),
            (
                "a hash comparison error is a mismatch",
                Some(&good),
                vec![&unreadable_hash, &good],
                1,
                Some((Chosen::Untrusted(1), Some(1), vec![0])),
            ),
            (
                "only the drawn rendition is compared",
                Some(&good),
                vec![&only_second_bad],
                0,
                Some((Chosen::Untrusted(0), Some(0), vec![])),
            ),
            (
                "the other draw catches it",
                Some(&good),
                vec![&only_second_bad],
                1,
                Some((Chosen::Trusted, None, vec![0])),
            ),
            (
                "a video comparison error fails the segment",
                Some(&good),
                vec![&unreadable_video],
                0,
                None,
            ),
            (
                "a trusted result without hashes fails the segment",
                Some(&no_hash),
                vec![&good],
                0,
                None,
            ),
            (
                "an untrusted result without hashes fails the segment",
                Some(&good),
                vec![&no_hash],
                0,
                None,
            ),
            (
                "a rendition index out of range fails the segment",
                Some(&good),
                vec![&good],
                2,
                None,
            ),
        ];
        for (what, trusted, untrusted, index, want) in cases {
            let got = choose_results(&BytesEqual, trusted, &untrusted, index).await;
            match want {
                Some((chosen, verified, failed)) => {
                    let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(
                        got,
                        Decision {
                            chosen,
                            verified,
                            failed
                        },
                        "{what}"
                    );
                }
                None => assert!(
                    matches!(got, Err(GatewayError::Verification { .. })),
                    "{what}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn verified_session_is_reused_unless_the_draw_is_zero() {
        assert!(!should_skip_verification(false, 3));
        assert!(!should_skip_verification(true, 0));
        assert!(should_skip_verification(true, 1));
        // With freq 1 every draw is 0: every segment is verified.
        let mut rng = rand::rng();
        assert!(
            (0..100).all(|_| !should_skip_verification(
                true,
                rand::Rng::random_range(&mut rng, 0..1u64)
            ))
        );
    }

    fn rendition(pixels: u64) -> TranscodedRendition {
        TranscodedRendition {
            profile: VideoProfile::standard("P144p30fps16x9").expect("standard"),
            data: Bytes::from(pixels.to_string()),
            pixels,
            perceptual_hash: None,
        }
    }

    #[test]
    fn pixel_mismatches_are_retried_then_the_first_is_kept() {
        let mut verifier = LocalVerifier::default();
        // Matching counts pass at once.
        assert!(matches!(
            verifier.judge(vec![rendition(10), rendition(20)], &[Ok(10), Ok(20)]),
            Verdict::Accept(r) if r.len() == 2
        ));
        // Three mismatching attempts: retried twice, then the first mismatching result.
        let mut verifier = LocalVerifier::default();
        for attempt in 0..LOCAL_VERIFY_RETRIES {
            let verdict = verifier.judge(vec![rendition(100 + attempt as u64)], &[Ok(1)]);
            assert!(
                matches!(&verdict, Verdict::Retry(e @ GatewayError::PixelMismatch { reported, counted: 1, .. })
                    if *reported == 100 + attempt as u64 && e.is_retryable()),
                "{verdict:?}"
            );
        }
        match verifier.judge(vec![rendition(300)], &[Ok(1)]) {
            Verdict::Accept(kept) => assert_eq!(kept[0].pixels, 100, "the first mismatch is kept"),
            other => panic!("{other:?}"),
        }
        // A recount that fails is retried, and never kept.
        let mut verifier = LocalVerifier::default();
        for _ in 0..=LOCAL_VERIFY_RETRIES {
            let verdict = verifier.judge(
                vec![rendition(5)],
                &[Err(GatewayError::PixelCount {
                    reason: "no frame".into(),
                })],
            );
            assert!(matches!(
                verdict,
                Verdict::Retry(GatewayError::PixelCount { .. })
            ));
        }
    }
}
