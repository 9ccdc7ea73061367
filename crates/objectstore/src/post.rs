//! Uploads with a presigned POST form (go-tools `s3Session.postData`): a
//! `multipart/form-data` POST to the target's host with the policy, its signature, `acl`,
//! `Content-Type`, `key` and the file last. The object is then at `<host>/<dir>/<file>`
//! (go-tools `getAbsURL`).
//!
//! go-tools sends `key` = `<dir>/${filename}` and lets the store substitute the file name;
//! here the key is sent whole, `<dir>/<file>`. Both name the same object and satisfy the
//! policy's `starts-with $key` condition, and stores that do not implement `${filename}` work
//! too.
//!
//! go-tools takes any answer with an empty body as success and makes its error from a
//! non-empty one (S3 answers 204 to a stored form and an XML `<Error>` otherwise); here an
//! answer must also be 2xx.

use std::time::Duration;

use bytes::Bytes;

use crate::fetch::{Fetcher, check_url, http_error, read_limited};
use crate::store::{PostTarget, StorageKind};
use crate::{MAX_ERROR_TEXT_CHARS, ObjectStoreError};

/// How long one upload may take (go-tools `defaultSaveTimeout`).
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer to an upload read, bytes (errors are short XML documents).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// The MIME type of an object by its extension (go-tools `TypeByExtension`).
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("ts") => "video/mp2t",
        Some("mp4") => "video/mp4",
        Some("m3u8") => "application/x-mpegurl",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The object key directory and file name `name` gets under `target`'s key (go's
/// `path.Split(path.Join(key, name))`).
fn split_key(key: &str, name: &str) -> (String, String) {
    let joined: Vec<&str> = key
        .split('/')
        .chain(name.split('/'))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let (file, dirs) = joined.split_last().map_or(("", &[][..]), |(f, d)| (*f, d));
    let mut dir = dirs.join("/");
    if !dir.is_empty() {
        dir.push('/');
    }
    (dir, file.to_string())
}

/// Stores `data` as `name` (e.g. `P240p30fps16x9/7.ts`) under `target` and returns its URL.
/// The target's host is checked with `fetcher`'s policy (it may come from the network).
///
/// Errors: [`ObjectStoreError::Refused`] for the host, [`ObjectStoreError::Upload`] with the
/// store's answer, [`ObjectStoreError::Http`] for transport failures and [`SAVE_TIMEOUT`].
pub async fn save(
    fetcher: &Fetcher,
    target: &PostTarget,
    name: &str,
    data: Bytes,
) -> Result<String, ObjectStoreError> {
    let post_url = check_url(&target.host, fetcher.policy())?;
    let (dir, file) = split_key(&target.key, name);
    if file.is_empty() || file == ".." || dir.split('/').any(|s| s == "..") {
        return Err(ObjectStoreError::Refused {
            url: target.host.clone(),
            reason: format!("bad object name {name:?}"),
        });
    }
    let mime = content_type(&file);
    let mut form = reqwest::multipart::Form::new()
        .text("acl", "public-read")
        .text("Content-Type", mime)
        .text("key", format!("{dir}{file}"))
        .text("policy", target.policy.clone());
    form = match target.kind {
        StorageKind::S3 => form
            .text("x-amz-algorithm", "AWS4-HMAC-SHA256")
            .text("x-amz-credential", target.credential.clone())
            .text("x-amz-date", target.x_amz_date.clone())
            .text("x-amz-signature", target.signature.clone()),
        StorageKind::Gcs => form
            .text("GoogleAccessId", target.credential.clone())
            .text("signature", target.signature.clone()),
    };
    let part = reqwest::multipart::Part::stream_with_length(data.clone(), data.len() as u64)
        .file_name(file.clone())
        .mime_str(mime)
        .map_err(|e| http_error(&target.host, &e))?;
    form = form.part("file", part);
    let host = target.host.clone();
    let send = async {
        let response = fetcher
            .client()
            .post(post_url)
            .multipart(form)
            .send()
            .await
            .map_err(|e| http_error(&host, &e))?;
        let status = response.status();
        let body = read_limited(response, MAX_ANSWER_BYTES, &host).await?;
        let text = String::from_utf8_lossy(&body).trim().to_string();
        if status.is_success() && text.is_empty() {
            return Ok(());
        }
        let message = if text.is_empty() {
            format!("upload to {host} answered {status}")
        } else {
            cut(&text)
        };
        Err(ObjectStoreError::Upload { message })
    };
    tokio::time::timeout(SAVE_TIMEOUT, send)
        .await
        .map_err(|_| ObjectStoreError::Http {
            url: target.host.clone(),
            reason: format!("upload timed out after {SAVE_TIMEOUT:?}"),
        })??;
    Ok(format!("{}/{dir}{file}", target.host.trim_end_matches('/')))
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_join_like_go_path_join() {
        for (key, name, dir, file) in [
            ("m/s", "P240p/3.ts", "m/s/P240p/", "3.ts"),
            ("", "source/0.ts", "source/", "0.ts"),
            ("m/", "/x.ts", "m/", "x.ts"),
            ("a//b", "./c.ts", "a/b/", "c.ts"),
        ] {
            assert_eq!(
                split_key(key, name),
                (dir.into(), file.into()),
                "{key} {name}"
            );
        }
        assert_eq!(content_type("P240p/3.ts"), "video/mp2t");
        assert_eq!(content_type("x.m3u8"), "application/x-mpegurl");
    }
}
