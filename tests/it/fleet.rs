//! One back-off for the whole fleet: `tokenmux token` processes sharing a
//! store (a file cache, Redis, a Redis Cluster) hold back together when
//! the token endpoint fails, rate-limits or refuses the credentials,
//! because a failure is kept in the store beside the token.
//!
//! Run against the code before fleet-wide back-off
//! (`TOKENMUX_TEST_BINARY=<old tokenmux>`), each test fails: 20 processes
//! against an always-503 endpoint made 80 requests there.

use std::time::{Duration, Instant};

use tokenmux_mock::{Fault, MockServer};
use tokenmux_redis_harness::{RedisCluster, RedisServer};

use crate::agent::{Agent, curl};
use crate::cli::{CREDENTIALS, Run, tokenmux};

/// The provider asked; any would do.
const PROVIDER: &str = "jsonapi";
/// Processes per round.
const FLEET: usize = 20;
/// The CLI's retry policy (the library's default).
const MAX_ATTEMPTS: usize = 4;
const COOL_DOWN: Duration = Duration::from_secs(5);

/// The store the fleet shares, and the CLI flags that name it.
enum Shared {
    File(tempfile::TempDir),
    Redis(RedisServer),
    Cluster(RedisCluster),
}

impl Shared {
    fn flags(&self) -> Vec<String> {
        match self {
            Shared::File(dir) => vec![
                "--cache",
                "file",
                "--cache-dir",
                dir.path().to_str().unwrap(),
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            Shared::Redis(redis) => vec![
                "--cache".into(),
                "redis".into(),
                "--redis-url".into(),
                redis.url(),
            ],
            Shared::Cluster(cluster) => vec![
                "--cache".into(),
                "redis".into(),
                "--redis-cluster".into(),
                cluster.seeds().join(","),
            ],
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Shared::File(_) => "file",
            Shared::Redis(_) => "Redis",
            Shared::Cluster(_) => "Redis Cluster",
        }
    }
}

/// A module named `$name` with one test per kind of shared store
/// (`file`, `redis`, `cluster`), each running `$scenario` on it.
macro_rules! on_each_store {
    ($name:ident: $scenario:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn file() {
                $scenario(Shared::File(tempfile::tempdir().unwrap())).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn redis() {
                if let Some(redis) = RedisServer::start() {
                    $scenario(Shared::Redis(redis)).await;
                }
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn cluster() {
                if let Some(cluster) = RedisCluster::start() {
                    $scenario(Shared::Cluster(cluster)).await;
                }
            }
        }
    };
}

/// `tokenmux token` against the mock, on the shared store, with `env`.
async fn token(mock: &MockServer, shared: &Shared, env: &[(&str, &str)]) -> (Run, Duration) {
    let base = mock.base_url(PROVIDER);
    let flags = shared.flags();
    let mut args = vec!["token", "--provider", PROVIDER, "--base-url", &base];
    args.extend(flags.iter().map(String::as_str));
    let started = Instant::now();
    let run = tokenmux(&args, env).await;
    (run, started.elapsed())
}

/// `n` processes at once; their runs and how long each took.
async fn round(
    mock: &MockServer,
    shared: &Shared,
    env: &[(&str, &str)],
    n: usize,
) -> Vec<(Run, Duration)> {
    let runs = (0..n).map(|_| token(mock, shared, env));
    futures_util::future::join_all(runs).await
}

/// A mock whose endpoint answers every request with `fault`.
async fn failing(fault: Fault) -> MockServer {
    let mock = MockServer::start(tokenmux_mock::MockConfig::default())
        .await
        .unwrap();
    for _ in 0..2_000 {
        mock.inject(PROVIDER, fault.clone());
    }
    mock
}

/// 20 processes × 3 rounds against an always-503 endpoint on `shared`:
/// one holder's attempts (`max_attempts`) per cool-down window, the other
/// processes answered at once.
async fn always_failing(shared: Shared) {
    let mock = failing(Fault::status(503)).await;
    let mut figures = Vec::new();
    let mut requests = 0;
    // Rounds 1 and 2 in the first window; round 3 after it ends.
    for n in 1..=3 {
        if n == 3 {
            tokio::time::sleep(COOL_DOWN + Duration::from_millis(500)).await;
        }
        let runs = round(&mock, &shared, &CREDENTIALS, FLEET).await;
        let now = mock.requests_received(PROVIDER);
        let (made, slowest) = (now - requests, runs.iter().map(|(_, d)| *d).max().unwrap());
        requests = now;
        for (run, _) in &runs {
            assert_eq!(run.code, 4, "{}: {}", shared.name(), run.stderr);
        }
        let held = runs
            .iter()
            .filter(|(run, _)| run.stderr.contains("not asking the token endpoint again"))
            .count();
        figures.push(format!(
            "round {n}: {made} requests, {held} of {FLEET} held back, slowest {slowest:.1?}"
        ));
        match n {
            1 => assert!(
                made <= MAX_ATTEMPTS,
                "{}: {made} requests in round 1",
                shared.name()
            ),
            2 => assert_eq!(made, 0, "{}: round 2 is inside the window", shared.name()),
            _ => assert!(
                (1..=MAX_ATTEMPTS).contains(&made),
                "{}: {made} requests in a new window",
                shared.name()
            ),
        }
    }
    println!(
        "fleet back-off on {}: {}",
        shared.name(),
        figures.join("; ")
    );
}

on_each_store!(an_always_failing_endpoint_sees_max_attempts_per_window: always_failing);

/// A 429 with `Retry-After: 5`, whoever asks: for 20 s, 4 workers run
/// the CLI back to back; the endpoint sees one request per 5 s.
async fn rate_limited(shared: Shared) {
    let mock = failing(Fault::status(429).retry_after("5")).await;
    let started = Instant::now();
    let until = started + Duration::from_secs(20);
    let watch = async {
        // When each request arrived, to 25 ms.
        let mut arrivals = Vec::new();
        while Instant::now() < until {
            let seen = mock.requests_received(PROVIDER);
            while arrivals.len() < seen {
                arrivals.push(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        arrivals
    };
    let worker = || async {
        let mut runs = 0;
        while Instant::now() < until {
            let (run, _) = token(&mock, &shared, &CREDENTIALS).await;
            assert_eq!(run.code, 4, "{}", run.stderr);
            runs += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        runs
    };
    let (arrivals, runs) = tokio::join!(
        watch,
        futures_util::future::join_all((0..4).map(|_| worker()))
    );
    let runs: usize = runs.iter().sum();
    println!(
        "rate limit on {}, Retry-After 5: {runs} runs in 20 s, requests at {arrivals:.1?}",
        shared.name()
    );
    assert!(
        arrivals.len() <= 5,
        "{} requests in 20 s: {arrivals:?}",
        arrivals.len()
    );
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(4_500),
            "requests {gap:?} apart: {arrivals:?}"
        );
    }
}

/// A process waiting for the lease while its holder fails learns of the
/// failure from the store within a second, instead of waiting out the
/// holder's retries and then retrying itself.
async fn failing_holder(shared: Shared) {
    let slow_failure = Fault {
        delay: Duration::from_secs(2),
        ..Fault::status(503)
    };
    let mock = MockServer::start(tokenmux_mock::MockConfig::default())
        .await
        .unwrap();
    mock.inject(PROVIDER, slow_failure);
    for _ in 0..100 {
        mock.inject(PROVIDER, Fault::status(503));
    }
    let holder = token(&mock, &shared, &CREDENTIALS);
    let waiter = async {
        // The holder's first request is in (it fails 2 s after).
        while mock.requests_received(PROVIDER) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let fails_at = Instant::now() + Duration::from_secs(2);
        let (run, _) = token(&mock, &shared, &CREDENTIALS).await;
        (run, Instant::now().saturating_duration_since(fails_at))
    };
    let ((held, holder_took), (waited, after_failure)) = tokio::join!(holder, waiter);
    println!(
        "failing holder on {}: its waiter answered {after_failure:.2?} after the holder's first failure; \
         the holder took {holder_took:.1?}",
        shared.name()
    );
    assert!(after_failure < Duration::from_secs(1), "{after_failure:?}");
    assert_eq!(held.code, 4, "{}", held.stderr);
    assert_eq!(waited.code, 4, "{}", waited.stderr);
    assert!(
        waited
            .stderr
            .contains("not asking the token endpoint again"),
        "{}",
        waited.stderr
    );
    assert_eq!(
        mock.requests_received(PROVIDER),
        MAX_ATTEMPTS,
        "the holder's attempts only"
    );
}

/// Rejected credentials: one request per (long) window, fleet-wide; a
/// changed secret starts fresh.
async fn rejected(shared: Shared) {
    let mock = MockServer::start(tokenmux_mock::MockConfig::default())
        .await
        .unwrap();
    let mut wrong = CREDENTIALS.to_vec();
    wrong.retain(|(name, _)| *name != "TOKENMUX_CLIENT_SECRET");
    wrong.push(("TOKENMUX_CLIENT_SECRET", "a-mistyped-secret"));
    for _ in 0..2 {
        for (run, _) in round(&mock, &shared, &wrong, FLEET).await {
            assert_eq!(run.code, 3, "{}", run.stderr);
            assert!(!run.stderr.contains("a-mistyped-secret"), "{}", run.stderr);
        }
    }
    assert_eq!(
        mock.requests_received(PROVIDER),
        1,
        "40 runs with a wrong secret"
    );
    // The failure kept in a cache file names no secret.
    if let Shared::File(dir) = &shared {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&text);
            assert!(
                !text.contains("a-mistyped-secret") && !text.contains(crate::support::SECRET),
                "{text}"
            );
        }
    }
    let (fixed, _) = token(&mock, &shared, &CREDENTIALS).await;
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert_eq!(mock.requests_received(PROVIDER), 2);
    println!(
        "rejected credentials on {}: 40 runs with a wrong secret made 1 request; the right one got a token",
        shared.name()
    );
}

on_each_store!(a_rate_limit_is_honoured_by_the_whole_fleet: rate_limited);
on_each_store!(a_process_waiting_on_a_failing_holder_is_answered_within_a_second: failing_holder);
on_each_store!(rejected_credentials_are_tried_once_per_window_by_the_fleet: rejected);

/// Two agents (replicas) on one file cache: the second learns of the
/// first's failure from the store, sends nothing, and answers its clients
/// 503 `backing_off` with `Retry-After`.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_agent_backs_off_with_the_first_and_says_when_to_retry() {
    let mock = failing(Fault::status(503)).await;
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let config = format!(
        "sources:
  partner-a:
    provider: {PROVIDER}
    base_url: {base}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    store: {{kind: file, dir: {cache}}}
",
        base = mock.base_url(PROVIDER),
        cache = cache.display(),
    );
    let start = |name: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let config_path = dir.join("tokenmux.yaml");
        std::fs::write(&config_path, &config).unwrap();
        tokio::task::spawn_blocking(move || Agent::start(&[], &dir, &config_path, &[]))
    };
    let first = start("first").await.unwrap();
    first.wait_for_log("refresh failed; backing off");
    assert_eq!(mock.requests_received(PROVIDER), MAX_ATTEMPTS);
    let second = start("second").await.unwrap();
    let socket = second.socket.to_str().unwrap().to_owned();
    let (status, answer) = tokio::task::spawn_blocking(move || {
        curl(&[
            "-i",
            "--unix-socket",
            &socket,
            "http://agent/v1/sources/partner-a/token",
        ])
    })
    .await
    .unwrap();
    println!("second agent: {status}, {answer}");
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer.contains(r#""code":"backing_off""#) && answer.contains(r#""kind":"transient""#),
        "{answer}"
    );
    let retry_after = answer
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Retry-After: {answer}"));
    let seconds: u64 = retry_after.parse().unwrap();
    assert!(seconds <= COOL_DOWN.as_secs(), "{seconds}");
    assert_eq!(
        mock.requests_received(PROVIDER),
        MAX_ATTEMPTS,
        "the second agent sent nothing"
    );
}

/// `token --refresh` does not wait out a cool-down, and its success
/// clears it for everyone.
#[tokio::test(flavor = "multi_thread")]
async fn refresh_asks_at_once_and_its_token_ends_the_cool_down() {
    let mock = MockServer::start(tokenmux_mock::MockConfig::default())
        .await
        .unwrap();
    for _ in 0..MAX_ATTEMPTS {
        mock.inject(PROVIDER, Fault::status(503));
    }
    let shared = Shared::File(tempfile::tempdir().unwrap());
    let (failed, _) = token(&mock, &shared, &CREDENTIALS).await;
    assert_eq!(failed.code, 4, "{}", failed.stderr);
    let (held, _) = token(&mock, &shared, &CREDENTIALS).await;
    assert_eq!(held.code, 4, "{}", held.stderr);
    assert!(held.stderr.contains("--refresh"), "{}", held.stderr);
    assert_eq!(mock.requests_received(PROVIDER), MAX_ATTEMPTS);

    let base = mock.base_url(PROVIDER);
    let flags = shared.flags();
    let mut args = vec![
        "token",
        "--refresh",
        "--provider",
        PROVIDER,
        "--base-url",
        &base,
    ];
    args.extend(flags.iter().map(String::as_str));
    let refreshed = tokenmux(&args, &CREDENTIALS).await;
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    let (cached, _) = token(&mock, &shared, &CREDENTIALS).await;
    assert_eq!(
        (cached.code, &cached.stdout),
        (0, &refreshed.stdout),
        "{}",
        cached.stderr
    );
    assert_eq!(mock.requests_received(PROVIDER), MAX_ATTEMPTS + 1);
}
