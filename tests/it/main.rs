//! Cross-crate and end-to-end tests, one binary (faster to link than many).

// A failed unwrap in a test helper is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod agent_providers;
mod cache_files;
mod cli;
mod clients;
mod consent;
mod crash;
mod decoding;
mod discovery;
mod dpop;
mod edges_agent;
mod edges_cli;
mod examples;
mod facade;
mod faults;
mod fleet;
mod flight;
mod hooks;
mod hostile;
mod kubernetes;
mod lifecycle;
mod mock;
mod mtls;
mod observe;
mod oidc;
mod parameters;
mod presentation;
mod private_key_flags;
mod probes;
mod redis;
mod redis_cluster;
mod redis_hostile;
mod redis_sentinel;
mod redis_tls;
mod rotation;
mod secret_scan;
mod secret_scan_keys;
mod sinks;
mod store_conformance;
mod stores;
mod support;
mod systemd;
mod transport;
