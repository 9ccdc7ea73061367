//! Test support shared by every crate's tests: where the real test footage lives.
//!
//! The clips (see the repository's `.setup/media`, filled by `scripts/setup.sh`, which
//! `make test` runs) are found in `$LIVEPEER_TEST_MEDIA` when set, else in `.setup/media` at
//! the repository root. Tests that need them must fail, not skip, when they are missing:
//! use [`media_file`], which panics with instructions.

use std::path::PathBuf;

/// Environment variable naming a directory that holds the test clips.
pub const TEST_MEDIA_ENV: &str = "LIVEPEER_TEST_MEDIA";

/// 7.6 s of city footage: MPEG-2 video in MPEG-PS, 720x405, 25 fps, no audio.
pub const CITY_MPG: &str = "city-cc0-720x405-25fps.mpg";
/// 5.3 s of Big Buck Bunny: H.264 Main 1280x720 25 fps with AAC 5.1 audio, in MP4.
pub const BBB_MP4: &str = "bbb-cc-by-1280x720-25fps.mp4";
/// 10 s of bikes: H.264 High 640x272 25 fps, no audio, in MP4.
pub const BIKES_MP4: &str = "bikes-640x272.mp4";

/// All three clips.
pub const ALL_CLIPS: [&str; 3] = [CITY_MPG, BBB_MP4, BIKES_MP4];

/// The test media directory: `$LIVEPEER_TEST_MEDIA` if set and a directory, else the
/// repository's `.setup/media` if it exists, else `None`.
pub fn media_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(TEST_MEDIA_ENV).map(PathBuf::from) {
        return dir.is_dir().then_some(dir);
    }
    repository_dir(".setup/media")
}

/// `rel` under the repository root, found at run time: from `$CARGO_MANIFEST_DIR` (set by
/// `cargo test` and `cargo run` for the running package) two levels up, else from the current
/// directory and each of its parents. Never from a path baked in at compile time: build
/// artifacts are shared between checkouts at different paths (one `CARGO_TARGET_DIR`), and a
/// compiled-in path would point into another checkout.
pub fn repository_dir(rel: &str) -> Option<PathBuf> {
    let from_manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join("../..").join(rel))
        .filter(|p| p.exists());
    if from_manifest.is_some() {
        return from_manifest;
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|a| a.join(rel)).find(|p| p.exists())
}

/// The path of test clip `name` (one of [`ALL_CLIPS`]).
///
/// # Panics
/// When the clip is missing, with a message telling to run `make test` (which installs the
/// media) or to set `LIVEPEER_TEST_MEDIA`. Meant for tests, which must fail rather than skip.
pub fn media_file(name: &str) -> PathBuf {
    let path = media_dir()
        .map(|dir| dir.join(name))
        .filter(|p| p.is_file());
    match path {
        Some(path) => path,
        None => panic!(
            "test media {name:?} not found (looked in ${TEST_MEDIA_ENV}, then .setup/media at the repository root); \
             run `make test`, which installs it, or point {TEST_MEDIA_ENV} at a directory holding the clips"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_clip_panics_with_instructions() {
        let err =
            std::panic::catch_unwind(|| media_file("no-such-clip.mp4")).expect_err("must panic");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("make test"), "{msg}");
        assert!(msg.contains("no-such-clip.mp4"), "{msg}");
    }
}
