//! The mock's JSON control API, one test per fault kind, driven over HTTP
//! as a test written in any language would.

use std::time::Duration;

use serde_json::{Value, json};
use tokenmux_mock::{MockConfig, MockServer};

use crate::support::{ID, SECRET};

struct Mock {
    server: MockServer,
    http: reqwest::Client,
}

impl Mock {
    async fn start() -> Self {
        Self {
            server: MockServer::start(MockConfig::default()).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn control(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        let url = format!("http://{}/_mock/{path}", self.server.addr());
        match body {
            Some(body) => self.http.post(url).json(&body).send().await.unwrap(),
            None if path == "counters" => self.http.get(url).send().await.unwrap(),
            None => self.http.post(url).send().await.unwrap(),
        }
    }

    /// A valid NeonPanel token request.
    async fn token(&self, timeout: Duration) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/auth/token", self.server.base_url("neonpanel")))
            .timeout(timeout)
            .json(&json!({"client_id": ID, "client_secret": SECRET}))
            .send()
            .await
    }
}

const SHORT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn status_faults_with_retry_after_queue_in_order() {
    let mock = Mock::start().await;
    let queued = mock
        .control(
            "faults",
            Some(json!({"provider": "neonpanel", "status": 429, "retry_after": "7", "count": 2})),
        )
        .await;
    assert_eq!(queued.status().as_u16(), 201);
    for _ in 0..2 {
        let response = mock.token(SHORT).await.unwrap();
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(
        mock.token(SHORT).await.unwrap().status().as_u16(),
        200,
        "then normal again"
    );
}

#[tokio::test]
async fn delay_and_hang() {
    let mock = Mock::start().await;
    mock.control(
        "faults",
        Some(json!({"provider": "neonpanel", "kind": "delay", "delay_ms": 300})),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(mock.token(SHORT).await.unwrap().status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    mock.control(
        "faults",
        Some(json!({"provider": "neonpanel", "kind": "hang"})),
    )
    .await;
    let error = mock.token(Duration::from_millis(300)).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

#[tokio::test]
async fn html_malformed_and_truncated_bodies() {
    let mock = Mock::start().await;
    mock.control(
        "faults",
        Some(json!({"provider": "neonpanel", "kind": "html", "status": 503})),
    )
    .await;
    let html = mock.token(SHORT).await.unwrap();
    assert_eq!(html.status().as_u16(), 503);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    mock.control(
        "faults",
        Some(json!({"provider": "neonpanel", "kind": "malformed"})),
    )
    .await;
    let malformed = mock.token(SHORT).await.unwrap().bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&malformed).is_err());

    mock.control(
        "faults",
        Some(json!({"provider": "neonpanel", "kind": "truncated"})),
    )
    .await;
    let truncated = mock.token(SHORT).await.unwrap();
    assert_eq!(truncated.status().as_u16(), 200);
    assert!(truncated.bytes().await.is_err(), "the body is cut off");
}

#[tokio::test]
async fn counters_reset_revoke_and_bad_requests() {
    let mock = Mock::start().await;
    mock.token(SHORT).await.unwrap();
    let counters: Value = mock.control("counters", None).await.json().await.unwrap();
    assert_eq!(counters["requests"]["neonpanel"], 1);
    assert_eq!(counters["issued"]["neonpanel"]["client_credentials"], 1);
    assert_eq!(counters["issued"]["password"]["refresh_token"], 0);

    assert_eq!(mock.control("reset", None).await.status().as_u16(), 204);
    let counters: Value = mock.control("counters", None).await.json().await.unwrap();
    assert_eq!(counters["requests"]["neonpanel"], 0);
    assert_eq!(mock.control("revoke", None).await.status().as_u16(), 204);

    let unknown = mock
        .control("faults", Some(json!({"provider": "nope"})))
        .await;
    assert_eq!(unknown.status().as_u16(), 400);
    let kind = mock
        .control(
            "faults",
            Some(json!({"provider": "airalo", "kind": "gremlins"})),
        )
        .await;
    assert_eq!(kind.status().as_u16(), 400);
    let typo = mock
        .control("faults", Some(json!({"provider": "airalo", "stauts": 500})))
        .await;
    assert!(
        typo.status().is_client_error(),
        "unknown fields are refused"
    );
}
