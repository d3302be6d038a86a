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
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether the caller asked to skip Redis tests (prints why).
pub fn skipped() -> bool {
    let skip = std::env::var("TOKENMUX_SKIP_REDIS_TESTS").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("skipped: TOKENMUX_SKIP_REDIS_TESTS=1");
    }
    skip
}

/// The first port [`free_port`] hands out.
const FIRST_PORT: u16 = 12_000;
/// How many ports [`free_port`] chooses from.
const PORTS: u16 = 10_000;
/// A cluster node also listens on its port + 10,000 (its bus).
const BUS_OFFSET: u16 = 10_000;

/// A loopback port nobody listens on now, whose cluster bus port (+10,000)
/// is free too, for a server this process starts or for a port meant to
/// stay closed.
///
/// Both lie below Linux's default ephemeral range (32,768 up; see
/// `/proc/sys/net/ipv4/ip_local_port_range`), so no `bind(0)` and
/// no outgoing connection of a test running beside it can take them
/// between this check and the server's own bind, or while a test has
/// stopped the server to restart it on the same port. Asking the kernel
/// for a port did give ephemeral ones, and a cluster's bus port then
/// collided with another test's connection now and then (`Address already
/// in use`). Each call in a process gets the next port, from a start that
/// depends on the process id.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919);
    for _ in 0..PORTS {
        let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = FIRST_PORT + (n % u32::from(PORTS)) as u16;
        if bindable(port) && bindable(port + BUS_OFFSET) {
            return port;
        }
    }
    panic!(
        "no free loopback port between {FIRST_PORT} and {} (with its +{BUS_OFFSET} free too)",
        FIRST_PORT + PORTS - 1
    )
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Polls `done` every 20 ms until it holds; panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_below_the_ephemeral_range_with_their_bus_port_free() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            // Linux hands out 32,768 and up to bind(0) and to connections.
            assert!(port + BUS_OFFSET < 32_768, "{port}");
            assert!(bindable(port) && bindable(port + BUS_OFFSET), "{port}");
        }
    }
}
