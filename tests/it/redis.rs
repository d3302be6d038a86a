//! The Redis store against a real `redis-server`: compare-and-swap, leases,
//! many OS processes sharing one token, a lease holder killed mid-fetch,
//! rotation across processes, Redis stopped, frozen and restarted, and
//! encrypted values.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokenmux::{
    AccessToken, Credentials, EncryptionKey, ManualClock, Provider, PutOutcome, RedisStore, Secret,
    StoreErrorKind, StoreKey, TokenSource, TokenStore,
};
use tokenmux_mock::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Fault, Grant, MockConfig, MockServer};

use crate::support::{ID, SECRET, providers};
use tokenmux_redis_harness::RedisServer;

fn key() -> StoreKey {
    Provider::neonpanel().store_key(&Credentials::client("id", "s"))
}

fn token(secret: &str) -> AccessToken {
    // One instant for every token, so equal secrets make equal tokens.
    static NOW: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();
    AccessToken::new(
        secret,
        *NOW.get_or_init(SystemTime::now),
        Duration::from_secs(60),
    )
    .with_refresh_token(Some(Secret::new(format!("{secret}-refresh"))))
}

#[tokio::test]
async fn put_is_compare_and_swap_with_a_ttl() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .refresh_token_retention(Duration::ZERO);
    assert_eq!(store.get(&key()).await.unwrap(), None);
    assert_eq!(
        store.put(&key(), &token("a").into(), None).await.unwrap(),
        PutOutcome::Stored { version: 1 }
    );
    // A writer that read nothing, or an old version, loses and sees the current value.
    match store.put(&key(), &token("b").into(), None).await.unwrap() {
        PutOutcome::Conflict { current: Some(c) } => {
            assert_eq!((c.version, c.token().unwrap().clone()), (1, token("a")))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .put(&key(), &token("c").into(), Some(1))
            .await
            .unwrap(),
        PutOutcome::Stored { version: 2 }
    );
    assert!(matches!(
        store
            .put(&key(), &token("d").into(), Some(1))
            .await
            .unwrap(),
        PutOutcome::Conflict { .. }
    ));
    let stored = store.get(&key()).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.token().unwrap().clone()),
        (2, token("c"))
    );

    // Redis drops the entry when the token expires.
    let (token_key, _) = store.redis_keys(&key());
    let ttl: u64 = String::from_utf8(redis.cli(&["PTTL", &token_key]))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((55_000..=60_000).contains(&ttl), "PTTL {ttl}");
}

/// A failure is kept until its cool-down ends, with or without a token
/// (Redis would otherwise drop it with the token, or at once).
#[tokio::test]
async fn a_shared_failure_lives_until_its_window_ends() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .refresh_token_retention(Duration::ZERO);
    let (token_key, _) = store.redis_keys(&key());
    let pttl = || -> u64 {
        String::from_utf8(redis.cli(&["PTTL", &token_key]))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let failure = |secs| {
        tokenmux::SharedFailure::new(
            tokenmux::FailureKind::Transient,
            "server_error",
            "HTTP 503",
            SystemTime::now() + Duration::from_secs(secs),
            1,
        )
    };
    let alone = tokenmux::Record {
        token: None,
        failure: Some(failure(30)),
    };
    store.put(&key(), &alone, None).await.unwrap();
    assert!((29_000..=30_000).contains(&pttl()), "PTTL {}", pttl());
    // A token expiring in 60 s beside a 600 s window: the window's.
    let both = tokenmux::Record {
        token: Some(token("a")),
        failure: Some(failure(600)),
    };
    store.put(&key(), &both, Some(1)).await.unwrap();
    assert!((599_000..=600_000).contains(&pttl()), "PTTL {}", pttl());
    let read = store.get(&key()).await.unwrap().unwrap();
    assert_eq!(read.record, both);
}

#[tokio::test]
async fn an_unreadable_value_is_reported_then_replaced() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::new(&redis.url()).unwrap();
    let (token_key, _) = store.redis_keys(&key());
    for garbage in [
        vec!["SET", &token_key, "not a token"],
        vec!["HSET", &token_key, "v", "7", "d", "{}"],
    ] {
        redis.cli(&["DEL", &token_key]);
        redis.cli(&garbage);
        assert!(matches!(
            store.get(&key()).await,
            Err(ref e) if e.kind() == StoreErrorKind::Corrupt
        ));
        assert!(matches!(
            store.put(&key(), &token("a").into(), None).await.unwrap(),
            PutOutcome::Stored { .. }
        ));
        assert_eq!(
            store.get(&key()).await.unwrap().unwrap().token(),
            Some(&token("a"))
        );
    }
    // A value written with another key does not decrypt: reported, not fatal.
    let encrypted = store.clone().with_encryption(EncryptionKey::generate());
    assert!(matches!(
        encrypted.get(&key()).await,
        Err(ref e) if e.kind() == StoreErrorKind::Corrupt
    ));
}

#[tokio::test]
async fn a_lease_has_one_holder_and_only_its_owner_releases_it() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .lease_ttl(Duration::from_millis(1000));
    let first = store.try_lease(&key()).await.unwrap().expect("granted");
    assert_eq!(store.try_lease(&key()).await.unwrap(), None);
    assert!(store.renew_lease(&key(), &first).await.unwrap());

    // A lapsed lease goes to the next asker; the old owner can neither
    // renew nor release the new one.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = store.try_lease(&key()).await.unwrap().expect("lapsed");
    assert!(!store.renew_lease(&key(), &first).await.unwrap());
    store.release_lease(&key(), &first).await.unwrap();
    assert_eq!(store.try_lease(&key()).await.unwrap(), None);
    store.release_lease(&key(), &second).await.unwrap();
    assert!(store.try_lease(&key()).await.unwrap().is_some());
}

/// One worker process (`tests/bin/redis_worker.rs`), started and waiting for "go".
pub(crate) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    fn spawn(
        provider: &'static str,
        mock: &MockServer,
        redis: &RedisServer,
        args: &[&str],
    ) -> Self {
        Self::spawn_on(
            provider,
            mock,
            &serde_json::json!({"url": redis.url()}),
            args,
        )
    }

    /// A worker on the store `redis` describes (`RedisStoreConfig` as JSON).
    pub(crate) fn spawn_on(
        provider: &'static str,
        mock: &MockServer,
        redis: &Value,
        args: &[&str],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokenmux-redis-worker"))
            .args(["--provider", provider])
            .args(["--base-url", &mock.base_url(provider)])
            .args(["--redis-config", &redis.to_string()])
            .args(args)
            .env_remove("TOKENMUX_CACHE_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Self {
            child,
            stdin,
            stdout,
        }
    }

    pub(crate) fn go(&mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Its summary: every caller's outcome.
    pub(crate) fn finish(mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(self.child.wait().unwrap().success());
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }
}

/// The failover workload: 4 processes × 20 callers asking the password
/// provider for tokens every 20 ms for `duration_ms`, each Redis call
/// bounded by 1 s, on the store `redis` describes; started.
pub(crate) fn start_failover_workload(
    mock: &MockServer,
    redis: &Value,
    duration_ms: &str,
) -> Vec<Worker> {
    let args = [
        "--callers",
        "20",
        "--duration-ms",
        duration_ms,
        "--redis-timeout-ms",
        "1000",
    ];
    let mut workers: Vec<Worker> = (0..4)
        .map(|_| Worker::spawn_on("password", mock, redis, &args))
        .collect();
    for worker in &mut workers {
        worker.go();
    }
    workers
}

/// Waits for workers already started: their summaries, and how many calls
/// succeeded and failed in all.
pub(crate) async fn finish_all(workers: Vec<Worker>) -> (Vec<Value>, u64, u64) {
    let summaries = tokio::task::spawn_blocking(move || {
        workers.into_iter().map(Worker::finish).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let total = |field: &str| summaries.iter().map(|s| s[field].as_u64().unwrap()).sum();
    let (ok, failed) = (total("ok"), total("failed"));
    (summaries, ok, failed)
}

/// The failover tests' verdict, printed for the record: no failed call,
/// no refresh token presented twice, and tokens shared again (at most 3
/// upstream requests in the 2 s `shared_window` after the failover
/// settled, where 4 processes alone make about 4).
pub(crate) async fn assert_failover_outcome(
    what: &str,
    mock: &MockServer,
    promoted_after: Duration,
    workers: Vec<Worker>,
    shared_window: usize,
) {
    let (summaries, ok, failed) = finish_all(workers).await;
    eprintln!(
        "{what}: promoted in {promoted_after:?}; {ok} calls, {failed} failed, {} refresh tokens \
         reused; upstream {} in all ({} refresh grants), {shared_window} in 2 s after it settled",
        mock.refresh_tokens_reused(),
        mock.requests_received("password"),
        mock.tokens_issued("password", Grant::RefreshToken),
    );
    assert_eq!(failed, 0, "{summaries:?}");
    assert_eq!(mock.refresh_tokens_reused(), 0);
    assert!(
        shared_window <= 3,
        "{shared_window} requests in 2 s: not shared"
    );
}

pub(crate) fn tokens_of(summary: &Value) -> HashSet<String> {
    summary["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// Runs `workers` processes at once; their summaries.
pub(crate) async fn run_workers(workers: Vec<Worker>) -> Vec<Value> {
    let mut workers = workers;
    for worker in &mut workers {
        worker.go();
    }
    tokio::task::spawn_blocking(move || workers.into_iter().map(Worker::finish).collect())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_processes_times_a_hundred_callers_make_one_upstream_request() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for provider in providers() {
        let workers = (0..8)
            .map(|_| Worker::spawn(provider, &mock, &redis, &["--callers", "100"]))
            .collect();
        let summaries = run_workers(workers).await;
        let mut tokens = HashSet::new();
        for summary in &summaries {
            assert_eq!(summary["ok"], 100, "{summary}");
            assert_eq!(summary["failed"], 0, "{summary}");
            tokens.extend(tokens_of(summary));
        }
        assert_eq!(
            mock.requests_received(provider),
            1,
            "{}: 800 callers in 8 processes",
            provider
        );
        assert_eq!(tokens.len(), 1, "every process uses the one token");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_holder_killed_mid_fetch_is_taken_over() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // The first request hangs: its process holds the lease while it waits.
    mock.inject("neonpanel", Fault::delay(Duration::from_secs(120)));
    let lease = ["--lease-ttl-ms", "2000", "--callers", "10"];
    let mut holder = Worker::spawn("neonpanel", &mock, &redis, &lease);
    holder.go();
    wait_for(|| mock.requests_received("neonpanel") == 1).await;

    let mut waiter = Worker::spawn("neonpanel", &mock, &redis, &lease);
    waiter.go();
    // Longer than the lease ttl: the live holder keeps renewing it, so the
    // waiter waits instead of fetching.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(mock.requests_received("neonpanel"), 1);

    holder.child.kill().unwrap(); // SIGKILL: no release, no cleanup
    holder.child.wait().unwrap();
    let summary = tokio::task::spawn_blocking(move || waiter.finish())
        .await
        .unwrap();
    assert_eq!(summary["ok"], 10, "{summary}");
    assert_eq!(mock.requests_received("neonpanel"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_across_processes_never_reuses_a_refresh_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Two-second tokens: refreshed about every second, for six seconds.
    let mock = MockServer::start(MockConfig {
        token_lifetime: Duration::from_secs(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let args = ["--callers", "20", "--duration-ms", "6000"];
    let workers = (0..8)
        .map(|_| Worker::spawn("password", &mock, &redis, &args))
        .collect();
    let summaries = run_workers(workers).await;
    for summary in &summaries {
        assert_eq!(summary["failed"], 0, "{summary}");
    }
    let refreshes = mock.tokens_issued("password", Grant::RefreshToken);
    assert_eq!(mock.refresh_tokens_reused(), 0);
    assert_eq!(
        mock.tokens_issued("password", Grant::Password),
        1,
        "one password grant; every later token came from the refresh token"
    );
    assert!(refreshes >= 3, "only {refreshes} refreshes");
    // Every request got a token: none was refused.
    assert_eq!(mock.requests_received("password"), 1 + refreshes);
}

fn shared_source(
    mock: &MockServer,
    redis: &RedisServer,
    clock: &Arc<ManualClock>,
    key: Option<&EncryptionKey>,
) -> (TokenSource, RedisStore) {
    // Longer than the 500 ms default, so that a loaded CI machine does not
    // fall back by accident; still short enough for the freeze below.
    let mut store = RedisStore::new(&redis.url())
        .unwrap()
        .timeout(Duration::from_secs(2));
    if let Some(key) = key {
        store = store.with_encryption(key.clone());
    }
    let source = TokenSource::builder(Provider::password(mock.base_url("password")))
        .credentials(Credentials::password(
            ID,
            SECRET,
            DEFAULT_USERNAME,
            DEFAULT_PASSWORD,
        ))
        .store(Arc::new(store.clone()))
        .clock(clock.clone())
        .background_refresh(false)
        .build()
        .unwrap();
    (source, store)
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stopped_frozen_and_restarted_never_fails_a_caller() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let (a, a_store) = shared_source(&mock, &redis, &clock, None);
    let (b, b_store) = shared_source(&mock, &redis, &clock, None);
    let upstream = || mock.requests_received("password");
    let expire = || clock.advance(Duration::from_secs(3600));

    a.token().await.unwrap();
    b.token().await.unwrap();
    assert_eq!(upstream(), 1, "b took a's token from Redis");

    redis.stop();
    expire();
    a.token().await.unwrap();
    b.token().await.unwrap();
    // Nothing shared while Redis is down, and without the store's lease
    // nobody presents the refresh token both hold (the other might be
    // presenting it): each used the password grant.
    assert_eq!(
        upstream(),
        3,
        "each fetched on its own while Redis was down"
    );
    assert_eq!(mock.refresh_tokens_reused(), 0);

    redis.restart();
    // Each store's background probe finds it again.
    wait_until_reachable(&a_store).await;
    wait_until_reachable(&b_store).await;
    expire();
    a.token().await.unwrap();
    b.token().await.unwrap();
    assert_eq!(upstream(), 4, "sharing resumed once Redis was back");

    // Frozen (accepts connections, never answers): calls time out and
    // fall back instead of hanging.
    redis.pause();
    expire();
    a.token().await.unwrap();
    b.token().await.unwrap();
    assert_eq!(upstream(), 6);
    assert_eq!(mock.refresh_tokens_reused(), 0);
    redis.resume();
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypted_values_and_key_names_hold_no_secret() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let encryption = EncryptionKey::generate();
    let (tokens, _) = shared_source(&mock, &redis, &clock, Some(&encryption));
    let token = tokens.token().await.unwrap();
    let refresh = token.refresh_token().unwrap().expose_secret().to_owned();
    let secrets = [
        token.secret().expose_secret(),
        refresh.as_str(),
        SECRET,
        DEFAULT_PASSWORD,
    ];
    let dump = dump_everything(&redis);
    assert!(!dump.keys.is_empty(), "nothing stored");
    for secret in secrets {
        let found = dump
            .bytes
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(!found, "a secret is readable in Redis");
    }
    for key in &dump.keys {
        assert!(
            !key.contains(ID) && !key.contains(DEFAULT_USERNAME),
            "{key}"
        );
    }
    // The scan can see a secret: without encryption, the same dump has one.
    clock.advance(Duration::from_secs(3600));
    let (plain, _) = shared_source(&mock, &redis, &clock, None);
    let plain_token = plain.token().await.unwrap();
    let dump = dump_everything(&redis);
    let secret = plain_token.secret().expose_secret();
    assert!(
        dump.bytes
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
}

struct Dump {
    keys: Vec<String>,
    bytes: Vec<u8>,
}

/// Every key, and everything `redis-cli` shows of each (`HGETALL`, `DUMP`).
fn dump_everything(redis: &RedisServer) -> Dump {
    let keys: Vec<String> = String::from_utf8(redis.cli(&["--scan"]))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut bytes = Vec::new();
    for key in &keys {
        bytes.extend(redis.cli(&["--no-raw", "HGETALL", key]));
        bytes.extend(redis.cli(&["--raw", "HGETALL", key]));
        bytes.extend(redis.cli(&["--raw", "DUMP", key]));
    }
    Dump { keys, bytes }
}

async fn wait_for(mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met in 10 s");
}

/// Until `store` answers again.
async fn wait_until_reachable(store: &RedisStore) {
    for _ in 0..100 {
        if store.get(&key()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("redis did not come back");
}
