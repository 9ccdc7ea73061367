//! Integration tests of livepeer-pm: known answers from `testdata/pm_tickets.json`, the
//! orchestrator's validation failures, the gateway's rules, balances, the SQLite store (with a
//! SIGKILL crash test), redemption, payments and property tests.

mod support;

mod balances;
#[cfg(unix)]
mod crash;
mod inspect;
mod payment;
mod properties;
mod recipient;
mod redeem;
mod sender;
mod store;
mod vectors;
