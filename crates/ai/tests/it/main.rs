//! Integration tests of livepeer-ai: runners on 127.0.0.1 with real engines.

mod runner;
