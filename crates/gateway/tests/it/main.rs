//! Integration tests of livepeer-gateway: a real gateway on 127.0.0.1 port 0 in front of real
//! orchestrators (livepeer-orchestrator with the local ffmpeg, over TLS), fed real segments of
//! the test clips by HTTP push (and RTMP), and read back over its HLS routes. The harness is
//! `livepeer-testing`.

mod ai;
mod failover;
mod hardening;
mod hls;
mod live;
mod mediamtx;
mod nodes;
mod objstore;
mod onchain_pool;
mod paid;
mod push;
mod rogue;
mod rtmp;
mod signer;
mod slicing;
mod webhooks;

pub(crate) use std::time::Duration;

pub(crate) use bytes::Bytes;
pub(crate) use hyper::header::CONTENT_TYPE;
pub(crate) use livepeer_testing::gateway::get;
pub(crate) use livepeer_testing::*;
