//! The `multipart/mixed` answer to an HTTP push (go-livepeer `server/mediaserver.go:HandlePush`).
//!
//! One part per rendition, each with `Content-Type: <mime>; name="<profile>_<seq><ext>"`,
//! `Content-Length`, `Content-Disposition: attachment; filename="<profile>_<seq><ext>"` and
//! `Rendition-Name: <profile>`, framed as Go's `mime/multipart` writer frames them.

use bytes::{BufMut, Bytes, BytesMut};

/// One rendition to put in a part.
#[derive(Debug, Clone)]
pub struct Part<'a> {
    /// Profile name (`Rendition-Name`).
    pub rendition: &'a str,
    /// Sequence number of the segment.
    pub seq: u64,
    /// File extension with the dot, e.g. `.ts`.
    pub extension: &'a str,
    /// MIME type, e.g. `video/mp2t`.
    pub mime: &'a str,
    /// The bytes.
    pub data: &'a Bytes,
}

/// A random boundary of 30 hex characters, as Go's writer makes.
pub fn new_boundary() -> String {
    hex::encode(rand::random::<[u8; 15]>())
}

/// The `Content-Type` header value for a body framed with `boundary`.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/mixed; boundary={boundary}")
}

/// The whole multipart body.
pub fn encode(boundary: &str, parts: &[Part<'_>]) -> Bytes {
    let mut out = BytesMut::with_capacity(parts.iter().map(|p| p.data.len() + 256).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.put_slice(b"\r\n");
        }
        let file = format!("{}_{}{}", part.rendition, part.seq, part.extension);
        out.put_slice(format!("--{boundary}\r\n").as_bytes());
        out.put_slice(format!("Content-Type: {}; name=\"{file}\"\r\n", part.mime).as_bytes());
        out.put_slice(format!("Content-Length: {}\r\n", part.data.len()).as_bytes());
        out.put_slice(
            format!("Content-Disposition: attachment; filename=\"{file}\"\r\n").as_bytes(),
        );
        out.put_slice(format!("Rendition-Name: {}\r\n\r\n", part.rendition).as_bytes());
        out.put_slice(part.data);
    }
    out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_parse_back_with_their_headers() {
        let a = Bytes::from_static(b"first rendition");
        let b = Bytes::from(vec![0u8, 1, 2, b'\r', b'\n', b'-', b'-']);
        let boundary = new_boundary();
        assert_eq!(boundary.len(), 30);
        let body = encode(
            &boundary,
            &[
                Part {
                    rendition: "P240p30fps16x9",
                    seq: 3,
                    extension: ".ts",
                    mime: "video/mp2t",
                    data: &a,
                },
                Part {
                    rendition: "P360p30fps16x9",
                    seq: 3,
                    extension: ".ts",
                    mime: "video/mp2t",
                    data: &b,
                },
            ],
        );
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut seen = Vec::new();
        while let Some(field) = multipart.next_field().await.expect("well-formed") {
            let headers = field.headers().clone();
            assert_eq!(
                headers["content-disposition"],
                format!(
                    "attachment; filename=\"{}_3.ts\"",
                    headers["rendition-name"].to_str().expect("ascii")
                )
            );
            assert!(
                headers["content-type"]
                    .to_str()
                    .expect("ascii")
                    .starts_with("video/mp2t; name=")
            );
            let name = headers["rendition-name"]
                .to_str()
                .expect("ascii")
                .to_string();
            let len: usize = headers["content-length"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("number");
            let data = field.bytes().await.expect("part body");
            assert_eq!(data.len(), len);
            seen.push((name, data));
        }
        assert_eq!(
            seen,
            vec![
                ("P240p30fps16x9".to_string(), a),
                ("P360p30fps16x9".to_string(), b)
            ]
        );
    }
}
