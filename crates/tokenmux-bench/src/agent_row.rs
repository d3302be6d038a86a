//! Row 8: the agent (`tokenmux serve`, the release binary). Token requests
//! over loopback TCP under load from `wrk`; over the Unix socket while wrk
//! loads it, and alone under this harness's own load (wrk speaks TCP only);
//! against a `tokenmux token` process reading its file cache, run in the
//! same run. Then the agent's resident memory with 10,000 named sources
//! against one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokenmux_bench_report::{self as report, Measurement};

use crate::measure::{Samples, emit, mock_on_own_runtime};

const CONNECTIONS: usize = 32;
const LOAD: Duration = Duration::from_secs(4);
const CLI_RUNS: usize = 100;
const MANY_SOURCES: usize = 10_000;
const ID: &str = tokenmux_mock::DEFAULT_CLIENT_ID;
const SECRET: &str = tokenmux_mock::DEFAULT_CLIENT_SECRET;

/// A running agent.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(base_url: &str, sources: usize) -> String {
    let mut text = String::from("sources:\n");
    for i in 0..sources {
        text.push_str(&format!(
            "  s{i}:\n    provider: neonpanel\n    base_url: {base_url}\n    \
             credentials: {{client_id_env: BENCH_ID, client_secret_env: BENCH_SECRET}}\n"
        ));
    }
    text
}

fn start(cli: &Path, dir: &Path, config: &Path, listen: Option<&str>) -> Agent {
    let socket = dir.join("agent.sock");
    let mut command = Command::new(cli);
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--socket", socket.to_str().unwrap()])
        .env("BENCH_ID", ID)
        .env("BENCH_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(listen) = listen {
        command.args(["--listen", listen]);
    }
    let child = command.spawn().expect("the agent starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the agent never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Agent { child, socket }
}

/// Waits until `/healthz` says every source is fresh; how long it took.
async fn until_healthy(client: &reqwest::Client) -> Duration {
    let started = Instant::now();
    loop {
        let ok = client
            .get("http://agent/healthz")
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "never healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn unix_client(socket: &Path) -> reqwest::Client {
    reqwest::Client::builder()
        .unix_socket(socket)
        .build()
        .unwrap()
}

/// `connections` tasks asking for `url` back to back for `LOAD`.
async fn load(client: &reqwest::Client, url: &str, connections: usize) -> (Samples, f64) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while started.elapsed() < LOAD {
                    let asked = Instant::now();
                    let response = client.get(&url).send().await.unwrap();
                    assert!(response.status().is_success());
                    response.bytes().await.unwrap();
                    samples.push(asked.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (Samples::new(all), rate)
}

/// wrk's latency distribution: (p50 µs, p99 µs, requests/s).
fn wrk(url: &str, bearer: &str) -> (f64, f64, f64) {
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{}s", LOAD.as_secs()),
        ])
        .args([
            "--latency",
            "-H",
            &format!("Authorization: Bearer {bearer}"),
            url,
        ])
        .output()
        .expect("wrk runs (cargo xtask bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("Non-2xx"), "wrk saw errors: {text}");
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{prefix}` in wrk's output: {text}"))
            .to_owned()
    };
    (
        micros(&field("50%")),
        micros(&field("99%")),
        field("Requests/sec:").parse().unwrap(),
    )
}

/// wrk's `812.00us`, `1.20ms`, `2.01s` in microseconds.
fn micros(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().unwrap();
    match unit {
        "us" => value,
        "ms" => value * 1e3,
        "s" => value * 1e6,
        other => panic!("unit {other}"),
    }
}

/// A minimal axum server on loopback answering `body` to every GET, on a
/// runtime of its own (as the agent has its process): its URL.
async fn minimal_axum(body: axum::body::Bytes) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/",
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([("content-type", "application/json")], body) }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

/// Each of `commands` (`tokenmux ARGS`, a process each) `CLI_RUNS` times,
/// one of each in turn, so that the machine's drift (this VM's process
/// start swings by a third within a minute) slows them alike: their wall
/// times, in the order of `commands`.
fn cli_runs(cli: &Path, commands: &[&[&str]], env: &[(&str, &str)]) -> Vec<Samples> {
    let mut samples = vec![Vec::new(); commands.len()];
    for _ in 0..CLI_RUNS {
        for (args, samples) in commands.iter().zip(&mut samples) {
            let started = Instant::now();
            let output = Command::new(cli)
                .args(*args)
                .envs(env.iter().copied())
                .output()
                .unwrap();
            samples.push(started.elapsed());
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    samples.into_iter().map(Samples::new).collect()
}

fn rss_kib(agent: &Agent) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.child.id())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

pub async fn run(cli: &Path) {
    let (mock, _runtime) = mock_on_own_runtime();
    let base_url = mock.base_url("neonpanel");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("one.yaml");
    std::fs::write(&config_path, config(&base_url, 1)).unwrap();
    let port = tokenmux_redis_harness::free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = start(cli, dir.path(), &config_path, Some(&listen));
    let unix = unix_client(&agent.socket);
    until_healthy(&unix).await;
    let bearer = std::fs::read_to_string(dir.path().join("agent.bearer")).unwrap();
    let bearer = bearer.trim();

    // TCP under wrk; the Unix socket probed by one client meanwhile.
    let tcp_url = format!("http://{listen}/v1/sources/s0/token");
    let wrk_run = tokio::task::spawn_blocking({
        let (url, bearer) = (tcp_url.clone(), bearer.to_owned());
        move || wrk(&url, &bearer)
    });
    let (probe, _) = load(&unix, "http://agent/v1/sources/s0/token", 1).await;
    let (tcp_p50, tcp_p99, tcp_rate) = wrk_run.await.unwrap();
    // The floor of any HTTP server here: minimal axum, a constant body of
    // the agent's answer's size, under the same wrk load.
    let body = unix
        .get("http://agent/v1/sources/s0/token")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let axum_url = minimal_axum(body).await;
    let axum_rps = tokio::task::spawn_blocking(move || wrk(&axum_url, "unused").2)
        .await
        .unwrap();
    // The Unix socket alone, under this harness's 32 connections.
    let (alone, unix_rate) = load(&unix, "http://agent/v1/sources/s0/token", CONNECTIONS).await;

    // The baseline: a `tokenmux token` process per token, from its file
    // cache (warmed once), and the same command through the agent.
    let cache = dir.path().join("cache");
    let env = [("BENCH_ID", ID), ("BENCH_SECRET", SECRET)];
    let cached_args = [
        "token",
        "s0",
        "--no-agent",
        "--config",
        config_path.to_str().unwrap(),
        "--cache",
        "file",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let via_agent_args = [
        "token",
        "s0",
        "--socket",
        agent.socket.to_str().unwrap(),
        "--config",
        config_path.to_str().unwrap(),
    ];
    cli_runs(cli, &[&cached_args], &env); // warms the cache
    // The floor: a process of the same binary that prints its version.
    let version_args = ["--version"];
    let (mut cached, mut via_agent, mut version) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let mut runs = cli_runs(cli, &[&version_args, &cached_args, &via_agent_args], &env);
        via_agent.push(runs.pop().unwrap());
        cached.push(runs.pop().unwrap());
        version.push(runs.pop().unwrap());
    }
    let median_of = |runs: &[Samples], p: f64| {
        let mut xs: Vec<f64> = runs.iter().map(|s| s.percentile_us(p)).collect();
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    emit(Measurement::Agent(report::Agent {
        connections: CONNECTIONS,
        tcp_wrk_p50_us: tcp_p50,
        tcp_wrk_p99_us: tcp_p99,
        tcp_wrk_rps: tcp_rate,
        unix_under_wrk_p50_us: probe.percentile_us(50.0),
        unix_under_wrk_p99_us: probe.percentile_us(99.0),
        unix_p50_us: alone.percentile_us(50.0),
        unix_p99_us: alone.percentile_us(99.0),
        unix_rps: unix_rate,
        axum_wrk_rps: axum_rps,
        cli_cached_p50_us: median_of(&cached, 50.0),
        cli_cached_p99_us: median_of(&cached, 99.0),
        cli_version_p50_us: median_of(&version, 50.0),
        cli_via_agent_p50_us: median_of(&via_agent, 50.0),
        cli_via_agent_p99_us: median_of(&via_agent, 99.0),
    }));
    drop(agent);

    // Memory: one source, then 10,000, each once every token is fresh.
    let mut rss = Vec::new();
    let mut fresh_after = Duration::ZERO;
    for sources in [1, MANY_SOURCES] {
        let run_dir = tempfile::tempdir().unwrap();
        let path = run_dir.path().join("sources.yaml");
        std::fs::write(&path, config(&base_url, sources)).unwrap();
        let started = Instant::now();
        let agent = start(cli, run_dir.path(), &path, None);
        until_healthy(&unix_client(&agent.socket)).await;
        fresh_after = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss.push(rss_kib(&agent));
    }
    emit(Measurement::AgentMemory(report::AgentMemory {
        sources: MANY_SOURCES,
        rss_one_kib: rss[0],
        rss_many_kib: rss[1],
        bytes_per_source: (rss[1].saturating_sub(rss[0]) * 1024) as f64 / (MANY_SOURCES - 1) as f64,
        all_fresh_after_s: fresh_after.as_secs_f64(),
    }));
}
