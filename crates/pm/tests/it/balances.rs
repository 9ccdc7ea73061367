//! balances tests.
