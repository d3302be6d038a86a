//! A master, its replica and three sentinels watching them, on loopback.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{RedisServer, ServerOptions, free_port, skipped, wait_until};

/// The master name the sentinels monitor.
pub const MASTER_NAME: &str = "tokenmux-test";

/// A master, one replica and three sentinels (quorum 2, a node is down
/// after 1 s). Killing the master promotes the replica.
pub struct RedisSentinels {
    /// `[master, replica]` at start; roles swap after a failover.
    nodes: Vec<RedisServer>,
    sentinels: Vec<(u16, Child, tempfile::TempDir)>,
}

impl RedisSentinels {
    /// Starts every process and waits until the sentinels see the replica
    /// (`None` when skipped).
    pub fn start() -> Option<Self> {
        if skipped() {
            return None;
        }
        let master = RedisServer::start().expect("not skipped");
        let replica = RedisServer::start_with(ServerOptions {
            args: vec![
                "--replicaof".into(),
                "127.0.0.1".into(),
                master.port().to_string(),
            ],
            ..ServerOptions::default()
        })
        .expect("not skipped");
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let sentinels = (0..3)
            .map(|_| {
                let port = free_port();
                let dir = tempfile::tempdir().unwrap();
                let config = dir.path().join("sentinel.conf");
                std::fs::write(
                    &config,
                    format!(
                        "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                         sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n\
                         sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                         sentinel failover-timeout {MASTER_NAME} 5000\n",
                        dir = dir.path().display(),
                        master = master.port()
                    ),
                )
                .unwrap();
                let child = Command::new(&binary)
                    .arg(&config)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server --sentinel");
                (port, child, dir)
            })
            .collect();
        let setup = Self {
            nodes: vec![master, replica],
            sentinels,
        };
        wait_until(Duration::from_secs(20), "the replica in sync", || {
            let replica = setup.nodes[1].cli_text(&["INFO", "replication"]);
            let master = setup.nodes[0].cli_text(&["INFO", "replication"]);
            replica.contains("master_link_status:up") && master.contains("state=online")
        });
        wait_until(
            Duration::from_secs(20),
            "sentinels seeing the replica",
            || {
                setup.sentinel_ports().iter().all(|port| {
                    sentinel_cli(*port, &["SENTINEL", "REPLICAS", MASTER_NAME])
                        .is_some_and(|out| out.contains("slave"))
                })
            },
        );
        Some(setup)
    }

    /// The sentinels' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.sentinel_ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The index (0 or 1) of the node the sentinels name master now.
    pub fn master(&self) -> usize {
        let port = self.master_port();
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .expect("one of ours")
    }

    /// The node at `index`.
    pub fn node(&self, index: usize) -> &RedisServer {
        &self.nodes[index]
    }

    /// Kills the master (SIGKILL) and waits until the sentinels have
    /// promoted the replica and it accepts writes (bounded: 30 s).
    pub fn fail_over(&mut self) {
        let old = self.master();
        self.nodes[old].stop();
        let new = 1 - old;
        wait_until(Duration::from_secs(30), "the replica promoted", || {
            self.master_port() == self.nodes[new].port()
                && self.nodes[new].cli_text(&["ROLE"]).starts_with("master")
        });
    }

    fn master_port(&self) -> u16 {
        self.sentinel_ports()
            .iter()
            .find_map(|port| {
                let out =
                    sentinel_cli(*port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])?;
                out.lines().nth(1)?.trim().parse().ok()
            })
            .expect("a sentinel naming the master")
    }

    fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|(port, ..)| *port).collect()
    }
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sentinel_cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}
