//! Async one-shot control calls (tmq).
