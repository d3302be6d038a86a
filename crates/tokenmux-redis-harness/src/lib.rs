//! Real `redis-server` processes on free loopback ports, for the tests and
//! benchmarks that need Redis: started, waited for, stopped on drop.
//!
//! - [`RedisServer`]: one node, plaintext or TLS ([`TestPki`]), with any
//!   extra configuration (an ACL user, say);
//! - [`RedisCluster`]: masters with replicas, made by `redis-cli --cluster
//!   create`, whose masters can be killed to force a failover;
//! - [`RedisSentinels`]: a master, a replica and sentinels watching them.
//!
//! Every wait is bounded. A test that needs Redis fails when it cannot
//! start it, unless `TOKENMUX_SKIP_REDIS_TESTS=1` says to skip (CI never
//! sets it); `REDIS_SERVER` names the binary (default `redis-server`).

// Test scaffolding: a setup step that fails is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster;
mod pki;
mod sentinel;
mod server;

pub use cluster::RedisCluster;
pub use pki::TestPki;
pub use sentinel::{MASTER_NAME, RedisSentinels};
pub use server::{RedisServer, ServerOptions};

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

/// Whether the caller asked to skip Redis tests (prints why).
pub fn skipped() -> bool {
    let skip = std::env::var("TOKENMUX_SKIP_REDIS_TESTS").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("skipped: TOKENMUX_SKIP_REDIS_TESTS=1");
    }
    skip
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `done` every 20 ms until it holds; panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
