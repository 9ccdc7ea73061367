//! Integration tests of livepeer-orchestrator: a real orchestrator bound on 127.0.0.1 port 0,
//! transcoding with the local ffmpeg, driven over real TLS (and h2c) sockets by the gateway's
//! own client, with real segments cut from the test clips. The harness is `livepeer-testing`.

mod ai;
mod ai_remote;
mod exploits;
mod limits;
mod live;
mod live_noop;
mod objstore;
mod payment;
mod phash;
mod remote;
mod segment;
mod sessions;
mod transport;

pub(crate) use livepeer_testing::orchestrator::get;
pub(crate) use livepeer_testing::*;
