//! Integration tests for livepeer-proto: every message of go-livepeer's `net` package, its
//! wire encoding, the shared ticket vectors, the header helpers and the gRPC services.

mod grpc;
mod headers;
mod roundtrip;
mod samples;
mod vectors;
mod wire;
