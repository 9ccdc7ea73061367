//! Integration tests of livepeer-ai: one binary, one module per engine.

mod speech;
