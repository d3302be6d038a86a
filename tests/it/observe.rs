//! What a source tells the world: fleet jitter of refresh points, lifecycle
//! events, the metrics facade's figures, and the tower layer's header.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokenmux::{
    AuthLayer, LifecycleEvent, ManualClock, RefreshPolicy, RetryPolicy, TokenOrigin, TokenSource,
    TokenState,
};
use tokenmux_mock::{Fault, MockConfig, MockServer};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::support::{SECRET, credentials_for, provider};

/// With the mock's one-hour tokens: the window opens 300 s before expiry
/// (10 %, at most 5 min) and ends 10 s before it (the clock skew).
const WINDOW_START: Duration = Duration::from_secs(300);
const WINDOW_END: Duration = Duration::from_secs(10);

fn source(
    mock: &MockServer,
    name: &str,
    clock: Option<Arc<ManualClock>>,
) -> tokenmux::TokenSourceBuilder {
    let builder = TokenSource::builder(provider(name, mock.base_url(name)))
        .credentials(credentials_for(name))
        .retry_policy(RetryPolicy::none());
    match clock {
        Some(clock) => builder.clock(clock),
        None => builder,
    }
}

/// Seconds between a fresh source's refresh point and its token's expiry.
async fn refresh_lead(tokens: &TokenSource) -> Duration {
    tokens.token().await.unwrap();
    let status = tokens.status();
    let (refresh_at, expires_at) = (status.refresh_at.unwrap(), status.expires_at.unwrap());
    expires_at.duration_since(refresh_at).unwrap()
}

#[tokio::test]
async fn each_process_refreshes_at_its_own_point_of_the_window_but_a_manual_clock_is_fixed() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // A fleet: 40 sources on the system clock, each its own draw.
    let mut leads = Vec::new();
    for _ in 0..40 {
        leads.push(refresh_lead(&source(&mock, "neonpanel", None).build().unwrap()).await);
    }
    let (min, max) = (leads.iter().min().unwrap(), leads.iter().max().unwrap());
    assert!(*max <= WINDOW_START && *min >= WINDOW_END, "{leads:?}");
    // 40 uniform draws all inside half the window: odds below 1e-11.
    assert!(
        *max - *min > (WINDOW_START - WINDOW_END) / 2,
        "refresh points in lock-step: {leads:?}"
    );

    // Without fleet jitter: the window's start, for everyone.
    let fixed = RefreshPolicy {
        fleet_jitter: false,
        ..RefreshPolicy::default()
    };
    let lead = refresh_lead(
        &source(&mock, "neonpanel", None)
            .refresh_policy(fixed)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(lead.as_secs(), WINDOW_START.as_secs());

    // A manual clock: the window's start unless told, then where told.
    let clock = Arc::new(ManualClock::default());
    let lead = refresh_lead(
        &source(&mock, "neonpanel", Some(clock.clone()))
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(lead, WINDOW_START);
    clock.set_refresh_jitter(0.5);
    let tokens = source(&mock, "neonpanel", Some(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(refresh_lead(&tokens).await, Duration::from_secs(155));
    // Fresh until that point, stale after it.
    clock.advance(Duration::from_secs(3600 - 156));
    assert_eq!(tokens.status().state, TokenState::Fresh);
    clock.advance(Duration::from_secs(2));
    assert_eq!(tokens.status().state, TokenState::Stale);
}

#[tokio::test]
async fn subscribers_see_refreshed_rotated_and_failed_and_no_secret() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&mock, "password", Some(clock.clone()))
        .name("events-test")
        .background_refresh(false)
        .build()
        .unwrap();
    let mut events = tokens.subscribe();
    let first = tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(3600 - 100));
    let second = tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(3600));
    mock.inject("password", Fault::status(503));
    mock.inject("password", Fault::status(503));
    let error = tokens.token().await.unwrap_err();
    assert_eq!(
        tokens.status().last_error.map(|e| e.code()),
        Some("server_error")
    );

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let kinds: Vec<_> = seen
        .iter()
        .map(|event| match event {
            LifecycleEvent::Refreshed {
                origin: TokenOrigin::Fetched,
                source,
                ..
            } => format!("refreshed:{source}"),
            LifecycleEvent::Rotated { source } => format!("rotated:{source}"),
            LifecycleEvent::Failed { error, .. } => format!("failed:{}", error.code()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "refreshed:events-test",
            "rotated:events-test",
            "refreshed:events-test",
            format!("failed:{}", error.code()).as_str(),
        ]
    );
    let shown = format!("{seen:?}");
    for token in [&first, &second] {
        assert!(!shown.contains(token.secret().expose_secret()));
        let refresh = token.refresh_token().unwrap().expose_secret();
        assert!(!shown.contains(refresh));
        assert!(
            !shown.contains(&token.fingerprint()),
            "fingerprints stay out too"
        );
    }
    assert!(!shown.contains(SECRET));
}

/// The process's Prometheus recorder, installed once, before this test
/// builds its sources (their handles bind to the recorder installed then).
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("no other recorder in this test binary");
        handle
    })
}

/// The value of the sample `name{labels…}` whose labels include `with`.
fn sample(text: &str, name: &str, with: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| with.iter().all(|label| line.contains(label)))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn the_metrics_count_what_the_mock_saw() {
    let handle = recorder();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&mock, "password", Some(clock.clone()))
        .name("metrics-test")
        .background_refresh(false)
        .build()
        .unwrap();
    for _ in 0..5 {
        tokens.token().await.unwrap();
    }
    clock.advance(Duration::from_secs(3600 - 100));
    tokens.token().await.unwrap();
    mock.inject("password", Fault::status(401));
    mock.inject("password", Fault::status(401));
    clock.advance(Duration::from_secs(3600));
    tokens.token().await.unwrap_err();

    let text = handle.render();
    let me = "source=\"metrics-test\"";
    let fetches = sample(&text, "tokenmux_fetches_total", &[me]);
    assert_eq!(
        fetches as usize,
        mock.requests_received("password"),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tokenmux_fetches_total",
            &[me, "grant=\"refresh\"", "outcome=\"ok\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "tokenmux_fetches_total",
            &[me, "outcome=\"credentials_rejected\""]
        ),
        2.0,
        "the refresh grant and then the password grant were refused"
    );
    assert_eq!(sample(&text, "tokenmux_cache_hits_total", &[me]), 4.0);
    assert_eq!(sample(&text, "tokenmux_refresh_ahead_total", &[me]), 1.0);
    assert_eq!(
        sample(&text, "tokenmux_refresh_token_rotations_total", &[me]),
        1.0
    );
    assert!(sample(&text, "tokenmux_token_expiry_timestamp_seconds", &[me]) > 1.7e9);
    assert!(text.contains("tokenmux_fetch_duration_seconds"), "{text}");
}

/// A source that has done nothing yet shows each of its series at zero, so
/// that a scrape sees the first event as a change (the rarer handles are
/// looked up when they change, not held).
#[tokio::test]
async fn a_new_source_shows_its_series_at_zero() {
    let handle = recorder();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let _tokens = source(&mock, "password", None)
        .name("zero-series-test")
        .build()
        .unwrap();
    let text = handle.render();
    let me = "source=\"zero-series-test\"";
    for name in [
        "tokenmux_cache_hits_total",
        "tokenmux_refresh_ahead_total",
        "tokenmux_lease_waits_total",
        "tokenmux_lease_takeovers_total",
        "tokenmux_refresh_token_rotations_total",
        "tokenmux_refresh_token_reuse_refusals_total",
        "tokenmux_token_expiry_timestamp_seconds",
    ] {
        let shown = text
            .lines()
            .any(|line| line.starts_with(&format!("{name}{{")) && line.contains(me));
        assert!(shown, "{name} for the new source is missing:\n{text}");
        assert_eq!(sample(&text, name, &[me]), 0.0, "{name}");
    }
}

#[tokio::test]
async fn the_tower_layer_sends_the_header_and_a_401_brings_a_new_token() {
    use axum::http::{HeaderMap, StatusCode};
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let tokens = source(&mock, "airalo", None).build().unwrap();
    // An API that refuses the first token it sees.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let api = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/v1/things",
            axum::routing::get(move |headers: HeaderMap| async move {
                let header = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push(header);
                match seen.len() {
                    1 => StatusCode::UNAUTHORIZED,
                    _ => StatusCode::OK,
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/things", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await });

    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut client = ServiceBuilder::new()
        .layer(AuthLayer::new(tokens.clone()))
        .service(hyper);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let request = http::Request::get(&url).body(Empty::new()).unwrap();
        let response = client.ready().await.unwrap().call(request).await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 200]);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|h| h.starts_with("Bearer mock-airalo-access-")),
        "{seen:?}"
    );
    assert_ne!(seen[0], seen[1], "the refused token was replaced");
    assert_eq!(mock.requests_received("airalo"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_for_another_holders_fetch_is_counted() {
    let handle = recorder();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let store: Arc<dyn tokenmux::TokenStore> = Arc::new(tokenmux::MemoryStore::default());
    let holder = |name: &str| {
        source(&mock, "neonpanel", None)
            .name(name)
            .store(store.clone())
            .build()
            .unwrap()
    };
    let (first, second) = (holder("lease-first"), holder("lease-second"));
    // The first holder's fetch is slow: the second finds the lease taken.
    mock.inject("neonpanel", Fault::delay(Duration::from_millis(300)));
    let (a, b) = tokio::join!(first.token(), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        second.token().await
    });
    assert_eq!(a.unwrap().secret(), b.unwrap().secret());
    assert_eq!(mock.requests_received("neonpanel"), 1);
    let text = handle.render();
    assert_eq!(
        sample(
            &text,
            "tokenmux_lease_waits_total",
            &["source=\"lease-second\""]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tokenmux_lease_waits_total",
            &["source=\"lease-first\""]
        ),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            "tokenmux_lease_takeovers_total",
            &["source=\"lease-second\""]
        ),
        0.0
    );
}
