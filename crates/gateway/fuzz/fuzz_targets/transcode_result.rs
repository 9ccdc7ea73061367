//! Fuzzes the gateway's reading of an orchestrator's `/segment` answer: protobuf
//! `TranscodeResult` decoding and its checks (`parse_transcode_result`: size cap, result kind,
//! rendition count, rendition URLs, error text truncation). Nothing may panic, and whatever is
//! accepted must be what the downloader can use.
//!
//! The first byte is the number of renditions the job asked for (0..=15); the rest is the
//! answer body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livepeer_gateway::GatewayError;
use livepeer_gateway::dispatch::{MAX_REFUSAL_TEXT_CHARS, parse_transcode_result};

fuzz_target!(|input: &[u8]| {
    let Some((&first, body)) = input.split_first() else {
        return;
    };
    let renditions = usize::from(first & 0x0f);
    match parse_transcode_result("https://fuzz:8935/segment", body, renditions) {
        Ok(announced) => {
            assert_eq!(announced.len(), renditions);
            for rendition in announced {
                let uri: hyper::Uri = rendition.url.parse().expect("accepted URLs parse");
                assert!(matches!(uri.scheme_str(), Some("http" | "https")));
                assert!(uri.host().is_some());
            }
        }
        Err(GatewayError::Transcode { message, .. }) => {
            assert!(message.chars().count() <= MAX_REFUSAL_TEXT_CHARS + 1);
        }
        Err(err) => assert!(err.is_retryable(), "{err}"),
    }
});
