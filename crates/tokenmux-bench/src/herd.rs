//! Row 3: 10,000 concurrent callers on one `TokenSource` (empty cache, at
//! expiry, and in the refresh-ahead window) against the mock: upstream
//! requests, caller waits against one exchange, callers blocked; the peak
//! RSS of the run. Row 6: heap bytes per cached token.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenmux_bench_report::{self as report, Measurement};

use tokenmux::{Credentials, ManualClock, Provider, TokenSource};
use tokenmux_mock::{DEFAULT_CLIENT_ID as ID, DEFAULT_CLIENT_SECRET as SECRET, Fault, MockServer};

use crate::alloc_count::live_bytes;
use crate::measure::{Samples, emit};

const CALLERS: usize = 10_000;
/// How long the mock takes to answer in the refresh-ahead case, so that a
/// caller that waited for the exchange is told apart from one that did not.
const SLOW_EXCHANGE: Duration = Duration::from_millis(50);

/// Runs of the herd at expiry for its 10-of-10 row.
const REPEATS: usize = 10;

/// A source with a client of its own, built here: a source's own default
/// client is built at its first fetch (reading the system's TLS roots, a
/// few milliseconds), which is not what the rows measure.
fn source(mock: &MockServer, clock: &Arc<ManualClock>) -> TokenSource {
    TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
        .credentials(Credentials::client(ID, SECRET))
        .clock(clock.clone())
        .http_client(reqwest::Client::new())
        .build()
        .unwrap()
}

/// Every caller's wait inside `token()`, and from its spawn (the
/// scheduler's queue of 10,000 tasks on this machine's cores included).
async fn herd(tokens: &TokenSource) -> (Samples, Samples) {
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let tokens = tokens.clone();
            let spawned = Instant::now();
            tokio::spawn(async move {
                let asked = Instant::now();
                tokens.token().await.unwrap();
                (asked.elapsed(), spawned.elapsed())
            })
        })
        .collect();
    let (mut inside, mut from_spawn) = (Vec::new(), Vec::new());
    for caller in callers {
        let (wait, total) = caller.await.unwrap();
        inside.push(wait);
        from_spawn.push(total);
    }
    (Samples::new(inside), Samples::new(from_spawn))
}

pub async fn run() {
    // The mock on a runtime of its own, as in row 2: a token endpoint is
    // not served by its callers' threads. On the herd's runtime, its tasks
    // queued behind the 10,000 callers and the flight took several times
    // one exchange now and then, which measured the mock's queueing.
    let (mock, _mock_runtime) = crate::measure::mock_on_own_runtime();
    let clock = Arc::new(ManualClock::default());

    // One exchange alone: the yardstick for the callers' waits.
    let mut singles = Vec::new();
    for _ in 0..20 {
        let alone = source(&mock, &clock);
        let start = Instant::now();
        alone.token().await.unwrap();
        singles.push(start.elapsed());
    }
    let exchange = Samples::new(singles).percentile_us(50.0);
    mock.reset();

    let tokens = source(&mock, &clock);
    for (case, prepare) in [
        ("empty cache", 0u64),
        ("at expiry", 3600),
        ("refresh-ahead window", 3300),
    ] {
        let before = mock.requests_received("neonpanel");
        if prepare > 0 {
            // Expire (or make stale) the token of the previous case.
            tokens.token().await.unwrap();
            clock.advance(Duration::from_secs(prepare));
            if prepare == 3300 {
                mock.inject("neonpanel", Fault::delay(SLOW_EXCHANGE));
            }
        }
        let before = mock.requests_received("neonpanel").max(before);
        let (waits, from_spawn) = herd(&tokens).await;
        // Let a background refresh finish before counting.
        tokio::time::sleep(SLOW_EXCHANGE * 3).await;
        let upstream = mock.requests_received("neonpanel") - before;
        let blocked = (prepare == 3300).then(|| waits.at_least(SLOW_EXCHANGE));
        emit(Measurement::Herd(report::Herd {
            case: case.to_owned(),
            callers: CALLERS,
            upstream_requests: upstream as u64,
            wait_p50_us: waits.percentile_us(50.0),
            wait_p99_us: waits.percentile_us(99.0),
            from_spawn_p50_us: from_spawn.percentile_us(50.0),
            from_spawn_p99_us: from_spawn.percentile_us(99.0),
            one_exchange_us: exchange,
            blocked,
        }));
        clock.advance(Duration::from_secs(4000)); // next case starts expired
        tokens.invalidate();
    }
    // The herd at expiry again and again: its tail spikes now and then on
    // 2 cores, so one run proves little.
    let mut worst: f64 = 0.0;
    let mut met = 0;
    for _ in 0..REPEATS {
        tokens.token().await.unwrap();
        clock.advance(Duration::from_secs(3600));
        let (waits, _) = herd(&tokens).await;
        let p99 = waits.percentile_us(99.0);
        worst = worst.max(p99);
        met += usize::from(p99 <= exchange);
        clock.advance(Duration::from_secs(4000));
        tokens.invalidate();
    }
    emit(Measurement::HerdRepeats(report::HerdRepeats {
        runs: REPEATS,
        met,
        worst_p99_us: worst,
        one_exchange_us: exchange,
    }));
    emit(Measurement::HerdRss(report::HerdRss {
        peak_rss_kib: peak_rss_kib(),
    }));
}

/// VmHWM of this process (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Heap bytes one more cached token costs: 1,000 sources, each holding
/// a fresh token it took from a shared, pre-filled store (no HTTP, so no
/// connection or mock allocations count), against the bytes of the token
/// alone (its text and header).
pub async fn memory() {
    let provider = Provider::neonpanel();
    let credentials = Credentials::client(ID, SECRET);
    let store = Arc::new(tokenmux::MemoryStore::default());
    let key = provider.store_key(&credentials);
    // Marked as obtained with these credentials, as a source publishes
    // it: a stored token without a verifier is not taken up.
    let token = tokenmux::AccessToken::new(
        format!("mock-neonpanel-access-{}", "x".repeat(40)),
        std::time::SystemTime::now(),
        Duration::from_secs(3600),
    )
    .with_verifier(Some(Arc::new(tokenmux::Verifier::in_process(
        [SECRET],
        key.as_str(),
    ))));
    tokenmux::TokenStore::put(&*store, &key, &token.clone().into(), None)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let make = || {
        TokenSource::builder(provider.clone())
            .credentials(credentials.clone())
            .store(store.clone())
            .http_client(client.clone())
            .build()
            .unwrap()
    };
    make().token().await.unwrap(); // lazy statics
    let n = 1000;
    let mut sources = Vec::with_capacity(n);
    let before = live_bytes();
    for _ in 0..n {
        let tokens = make();
        tokens.token().await.unwrap();
        sources.push(tokens);
    }
    let per_source = (live_bytes() - before) as f64 / n as f64;
    let raw = token.secret().expose_secret().len() + token.authorization().len();
    emit(Measurement::Memory(report::Memory {
        bytes_per_cached_token: per_source,
        raw_token_bytes: raw,
    }));
    drop(sources);
}
