//! The package of `cargo run --example quickstart` (see
//! `examples/quickstart.rs`): tokens from every provider in `specs/`
//! against the mock token server, started in the same process.
//!
//! It holds no code of its own. It is a package only so that the example
//! is built from the `tokenmux` facade, as a user depends on it, and from
//! the mock without its JWT checker, which the example does not use.
