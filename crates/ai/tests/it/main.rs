//! Integration tests of livepeer-ai: runners on 127.0.0.1 and the built-in engines, with the
//! real models of `.setup/models`, and live streams over real trickle channels.

mod live;
mod llm;
mod ocr;
mod runner;
mod speech;
