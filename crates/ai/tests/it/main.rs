//! Integration tests of livepeer-ai, one binary (STYLE.md).

mod ocr;
