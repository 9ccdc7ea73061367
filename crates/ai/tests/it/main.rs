//! Integration tests of livepeer-ai, with the real models of `.setup/models`.

mod llm;
