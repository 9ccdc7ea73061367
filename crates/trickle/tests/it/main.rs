//! Integration tests of livepeer-trickle: the server on 127.0.0.1 (real HTTP, axum with
//! graceful stop) with raw requests, its HTTP clients, and its in-process API.

mod clients;
mod fanout;
mod local;
mod support;
mod wire;
