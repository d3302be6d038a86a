//! What the load harness (`tokenmux-bench`'s `tokenmux-loadbench`)
//! measured, one [`Measurement`] per JSON line on its standard output,
//! tagged by `row`. `cargo xtask bench` reads them back with
//! [`Measurement::parse_lines`] and turns them into the rows of
//! `docs/benchmarks.md`. One type for both sides, so a renamed or missing
//! field is a compile error, not a `–` in the table. It depends on serde
//! alone: the xtask must build even when the facade does not.
//!
//! ```
//! use tokenmux_bench_report::{HerdRss, Measurement};
//!
//! let line = Measurement::HerdRss(HerdRss { peak_rss_kib: Some(51_200) }).to_line();
//! assert_eq!(line, r#"{"row":"herd_rss","peak_rss_kib":51200}"#);
//! let (read, unreadable) = Measurement::parse_lines(&format!("{line}\nnot json\n"));
//! assert_eq!(read.len(), 1);
//! assert_eq!(unreadable, vec!["not json".to_owned()]);
//! ```

use serde::{Deserialize, Serialize};

/// One measurement of the load harness. Times are in microseconds (`_us`)
/// or milliseconds (`_ms`), sizes in bytes or KiB (`_kib`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "row", rename_all = "snake_case")]
pub enum Measurement {
    /// Row 2: one cold exchange per provider, against hand-written reqwest.
    Exchange(Exchange),
    /// Row 3: a herd of callers on one source, per case.
    Herd(Herd),
    /// Row 3: the herd at expiry, run again and again.
    HerdRepeats(HerdRepeats),
    /// Row 6: the herd process's peak RSS.
    HerdRss(HerdRss),
    /// Row 6: heap bytes per cached token.
    Memory(Memory),
    /// Row 4: reading a shared token from Redis.
    RedisRead(RedisRead),
    /// Row 4: processes sharing one store.
    RedisProcesses(RedisProcesses),
    /// Row 7: many callers against an endpoint that always fails.
    FailingHerd(FailingHerd),
    /// Row 7: many processes sharing a store against an endpoint that
    /// always fails.
    FleetBackoff(FleetBackoff),
    /// Row 8: the agent's latency, against a cached CLI process.
    Agent(Agent),
    /// Row 8: the agent's memory per named source.
    AgentMemory(AgentMemory),
}

impl Measurement {
    /// The JSON line the harness prints.
    pub fn to_line(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The measurements in the harness's output, and the lines that are
    /// none (to report: a row the table will miss).
    pub fn parse_lines(output: &str) -> (Vec<Measurement>, Vec<String>) {
        let mut read = Vec::new();
        let mut unreadable = Vec::new();
        for line in output.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str(line) {
                Ok(measurement) => read.push(measurement),
                Err(_) => unreadable.push(line.to_owned()),
            }
        }
        (read, unreadable)
    }
}

/// Row 2, one provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// The provider (spec name).
    pub provider: String,
    /// Exchanges measured per side.
    pub samples: usize,
    /// tokenmux's median.
    pub tokenmux_p50_us: f64,
    /// Hand-written reqwest's median.
    pub handwritten_p50_us: f64,
    /// The `oauth2` crate's median (password grant only).
    pub oauth2_p50_us: Option<f64>,
    /// tokenmux ÷ hand-written.
    pub ratio: f64,
}

/// Row 3, one case (empty cache, at expiry, in the refresh-ahead window,
/// a slow exchange).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Herd {
    /// Which case.
    pub case: String,
    /// Callers in the herd.
    pub callers: usize,
    /// Requests the endpoint received.
    pub upstream_requests: u64,
    /// Wait inside `token()`.
    pub wait_p50_us: f64,
    /// Wait inside `token()`, p99.
    pub wait_p99_us: f64,
    /// Wait from the caller's spawn (the scheduler's queue included).
    pub from_spawn_p50_us: f64,
    /// Wait from spawn, p99.
    pub from_spawn_p99_us: f64,
    /// One exchange alone, for comparison.
    pub one_exchange_us: f64,
    /// Callers that waited a whole slow exchange (the refresh-ahead case).
    pub blocked: Option<usize>,
}

/// Row 3: the herd at expiry, run again and again: in how many runs the
/// p99 wait stayed within one exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HerdRepeats {
    /// Runs.
    pub runs: usize,
    /// Runs whose p99 wait in `token()` was at most one exchange.
    pub met: usize,
    /// The worst run's p99 wait.
    pub worst_p99_us: f64,
    /// One exchange alone, for comparison.
    pub one_exchange_us: f64,
}

/// Row 6: the herd run's peak RSS (Linux only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HerdRss {
    /// VmHWM, when the platform tells.
    pub peak_rss_kib: Option<u64>,
}

/// Row 6: memory per cached token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Heap bytes per source with a cached token.
    pub bytes_per_cached_token: f64,
    /// The token and its header alone.
    pub raw_token_bytes: usize,
}

/// Row 4: reads of a shared token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisRead {
    /// Reads measured per variant.
    pub samples: usize,
    /// Through the store, one node, plaintext.
    pub store_get_p50_us: f64,
    /// The same, p99.
    pub store_get_p99_us: f64,
    /// A bare `GET`, the floor.
    pub bare_get_p50_us: f64,
    /// A bare `GET`, p99.
    pub bare_get_p99_us: f64,
    /// Through the store over TLS.
    pub tls_get_p50_us: f64,
    /// Over TLS, p99.
    pub tls_get_p99_us: f64,
    /// Through the store on a 3-master cluster.
    pub cluster_get_p50_us: f64,
    /// On the cluster, p99.
    pub cluster_get_p99_us: f64,
}

/// Row 4: upstream requests of processes sharing a store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisProcesses {
    /// Processes.
    pub processes: usize,
    /// Callers in each.
    pub callers_per_process: usize,
    /// Requests with one Redis node shared.
    pub upstream_shared_redis: u64,
    /// Requests with a Redis Cluster shared.
    pub upstream_shared_cluster: u64,
    /// Requests with a memory store each (the baseline).
    pub upstream_memory_each: u64,
}

/// Row 7: the failing herd.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailingHerd {
    /// Callers.
    pub callers: usize,
    /// The retry policy's attempts.
    pub max_attempts: usize,
    /// The retry policy's deadline.
    pub deadline_ms: u64,
    /// Requests the endpoint received.
    pub upstream_requests: u64,
    /// When the slowest caller got its answer.
    pub slowest_ms: f64,
    /// Requests with per-waiter retries (the baseline).
    pub baseline_upstream_requests: u64,
    /// The baseline's slowest caller.
    pub baseline_slowest_ms: f64,
}

/// Row 7 (fleet): processes sharing a file cache against an endpoint that
/// always fails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetBackoff {
    /// Processes.
    pub processes: usize,
    /// Callers in each.
    pub callers_per_process: usize,
    /// The retry policy's attempts.
    pub max_attempts: usize,
    /// Requests the endpoint received.
    pub upstream_requests: u64,
    /// When the slowest caller got its answer.
    pub slowest_ms: f64,
    /// Requests with per-process back-off (the baseline).
    pub baseline_upstream_requests: u64,
    /// The baseline's slowest caller.
    pub baseline_slowest_ms: f64,
}

/// Row 8: the agent's latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Concurrent connections.
    pub connections: usize,
    /// Over loopback TCP under wrk.
    pub tcp_wrk_p50_us: f64,
    /// Over TCP, p99.
    pub tcp_wrk_p99_us: f64,
    /// Requests per second over TCP.
    pub tcp_wrk_rps: f64,
    /// Over the Unix socket while wrk loads TCP.
    pub unix_under_wrk_p50_us: f64,
    /// The same, p99.
    pub unix_under_wrk_p99_us: f64,
    /// Over the Unix socket alone.
    pub unix_p50_us: f64,
    /// The same, p99.
    pub unix_p99_us: f64,
    /// Requests per second over the Unix socket.
    pub unix_rps: f64,
    /// A `tokenmux token` process with a cached token (the baseline).
    pub cli_cached_p50_us: f64,
    /// The same, p99.
    pub cli_cached_p99_us: f64,
    /// A minimal axum server answering a constant body, under the same
    /// wrk load in the same run: requests per second.
    #[serde(default)]
    pub axum_wrk_rps: f64,
    /// `tokenmux --version`, the floor of a process of the same binary,
    /// run in the same rounds.
    #[serde(default)]
    pub cli_version_p50_us: f64,
    /// A `tokenmux token NAME` process through the agent.
    pub cli_via_agent_p50_us: f64,
    /// The same, p99.
    pub cli_via_agent_p99_us: f64,
}

/// Row 8: the agent's memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentMemory {
    /// Named sources in the large run.
    pub sources: usize,
    /// RSS with one source.
    pub rss_one_kib: u64,
    /// RSS with all of them.
    pub rss_many_kib: u64,
    /// (many − one) ÷ (sources − 1), in bytes.
    pub bytes_per_source: f64,
    /// When every token was fresh after start.
    pub all_fresh_after_s: f64,
}
