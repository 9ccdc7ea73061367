//! In-memory storage of transcoded renditions and their perceptual hashes, served at
//! `GET /stream/<session>/<profile>/<seq>.<ext>` and `.../<seq>.<ext>.phash`.
//!
//! As go-tools' local driver (`drivers/local.go:dataCacheLen`): each storage path
//! (`<session>/<profile>`) keeps only its last [`RENDITIONS_KEPT`] objects.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// How many objects each storage path keeps.
pub const RENDITIONS_KEPT: usize = 12;

/// Renditions by `<session>/<profile>` path, newest last.
#[derive(Debug, Default)]
pub struct RenditionStore {
    paths: Mutex<HashMap<String, VecDeque<(String, Bytes)>>>,
}

impl RenditionStore {
    /// Stores `data` as `<session>/<profile>/<file>`, dropping the oldest object of that path
    /// beyond [`RENDITIONS_KEPT`].
    pub fn put(&self, session: &str, profile: &str, file: &str, data: Bytes) {
        let mut paths = self.lock();
        let objects = paths.entry(format!("{session}/{profile}")).or_default();
        objects.retain(|(name, _)| name != file);
        objects.push_back((file.to_string(), data));
        while objects.len() > RENDITIONS_KEPT {
            objects.pop_front();
        }
    }

    /// The object at `<session>/<profile>/<file>`, if still kept.
    pub fn get(&self, session: &str, profile: &str, file: &str) -> Option<Bytes> {
        let paths = self.lock();
        let objects = paths.get(&format!("{session}/{profile}"))?;
        objects
            .iter()
            .find(|(name, _)| name == file)
            .map(|(_, data)| data.clone())
    }

    /// Frees everything stored for `session`.
    pub fn remove_session(&self, session: &str) {
        let prefix = format!("{session}/");
        self.lock().retain(|path, _| !path.starts_with(&prefix));
    }

    /// Total bytes held, for metrics and tests.
    pub fn bytes_held(&self) -> usize {
        self.lock()
            .values()
            .flatten()
            .map(|(_, data)| data.len())
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<(String, Bytes)>>> {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        self.paths
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A path component safe to put in a URL and a storage key: characters outside
/// `[A-Za-z0-9_.-]` become `_`, and `.`/`..` are refused by the same mapping.
pub fn safe_component(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        s.replace('.', "_") + "_"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_twelve_per_path() {
        let store = RenditionStore::default();
        for seq in 0..20 {
            store.put(
                "abcd0001",
                "P240p30fps16x9",
                &format!("{seq}.ts"),
                Bytes::from(vec![seq as u8]),
            );
        }
        store.put(
            "abcd0001",
            "P360p30fps16x9",
            "0.ts",
            Bytes::from_static(b"other"),
        );
        assert!(store.get("abcd0001", "P240p30fps16x9", "7.ts").is_none());
        assert_eq!(
            store.get("abcd0001", "P240p30fps16x9", "8.ts"),
            Some(Bytes::from(vec![8u8]))
        );
        assert_eq!(
            store.get("abcd0001", "P240p30fps16x9", "19.ts"),
            Some(Bytes::from(vec![19u8]))
        );
        assert_eq!(
            store.get("abcd0001", "P360p30fps16x9", "0.ts"),
            Some(Bytes::from_static(b"other"))
        );
        assert_eq!(store.bytes_held(), 12 + 5);
        store.remove_session("abcd0001");
        assert_eq!(store.bytes_held(), 0);
    }

    #[test]
    fn components_are_made_safe() {
        for (given, want) in [
            ("P240p30fps16x9", "P240p30fps16x9"),
            ("a/b", "a_b"),
            ("..", "___"),
            ("", "_"),
            ("x y", "x_y"),
        ] {
            assert_eq!(safe_component(given), want);
        }
    }
}
