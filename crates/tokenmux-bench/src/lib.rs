//! What the benchmark binaries share: the two sides of a cold exchange.

// A benchmark fails loudly on set-up errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod exchange_sides;
