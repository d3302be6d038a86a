//! The agent's probes with the real binary: `/livez` stays 200 while a
//! partner is down, `/readyz` follows the required sources only,
//! `/healthz?source=NAME` answers for one, `--metrics-listen` serves the
//! probes and nothing else without the bearer; the token JSON's
//! `expires_at`; a rotated secret file picked up without SIGHUP.

use std::path::Path;
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, curl};
use crate::cli::tokenmux;
use crate::support::SECRET;

/// `good` on the mock; `down` on a port where nothing listens, required
/// or not as `down_required` says.
fn config(mock: &MockServer, down_required: bool) -> String {
    format!(
        "sources:
  good:
    provider: neonpanel
    base_url: {neon}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
  down:
    provider: neonpanel
    base_url: http://127.0.0.1:{closed}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    retry: {{max_attempts: 1}}
    required: {down_required}
",
        neon = mock.base_url("neonpanel"),
        closed = tokenmux_redis_harness::free_port(),
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// GETs `path` until `done` holds of the answer, for up to 20 s.
fn poll(agent: &Agent, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = agent.curl(path);
        if done(status, &body) || Instant::now() > deadline {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn liveness_survives_a_partner_outage_and_readiness_follows_required_sources() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("tokenmux.yaml");
    std::fs::write(&config_path, config(&mock, false)).unwrap();
    let probes_port = tokenmux_redis_harness::free_port();
    let listen_port = tokenmux_redis_harness::free_port();
    let metrics_listen = format!("127.0.0.1:{probes_port}");
    let listen = format!("127.0.0.1:{listen_port}");
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path) = (dir.path().to_owned(), config_path.clone());
        let extra = ["--metrics-listen", &metrics_listen, "--listen", &listen].map(str::to_owned);
        move || {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            Agent::start(&[], &dir, &config_path, &extra)
        }
    })
    .await
    .unwrap();

    tokio::task::spawn_blocking(move || {
        // `down` is optional: ready once `good` has its token, degraded.
        let (status, body) = poll(&agent, "/readyz", |status, _| status == 200);
        assert_eq!(status, 200, "{body}");
        let report = json(&body);
        assert_eq!(report["status"], "degraded", "{body}");
        assert_eq!(report["sources"]["good"]["usable"], true, "{body}");
        assert_eq!(report["sources"]["good"]["required"], true, "{body}");
        assert_eq!(report["sources"]["down"]["usable"], false, "{body}");
        assert_eq!(report["sources"]["down"]["required"], false, "{body}");
        let (status, body) = agent.curl("/livez");
        assert_eq!((status, json(&body)["status"].clone()), (200, "ok".into()));
        let (status, body) = agent.curl("/healthz?source=good");
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["state"], "fresh", "{body}");
        let (status, body) = poll(&agent, "/healthz?source=down", |_, body| {
            body.contains("failing")
        });
        assert_eq!(status, 503, "{body}");
        assert_eq!(json(&body)["state"], "failing", "{body}");
        let (status, body) = agent.curl("/healthz?source=nope");
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("unknown_source"), "{body}");

        // The token's JSON says when it expires, as the CLI's does.
        let (status, body) = agent.curl("/v1/sources/good/token");
        assert_eq!(status, 200, "{body}");
        let token = json(&body);
        let expires_at = humantime::parse_rfc3339(token["expires_at"].as_str().unwrap()).unwrap();
        let expires_in = token["expires_in"].as_u64().unwrap();
        let from_now = expires_at
            .duration_since(std::time::SystemTime::now())
            .unwrap()
            .as_secs();
        assert!(from_now.abs_diff(expires_in) <= 2, "{body}");

        // The probe listener: the probes and /metrics without the bearer,
        // no token route; the main TCP listener still wants its bearer.
        let probe = |path: &str| curl(&[&format!("http://{metrics_listen}{path}")]);
        assert_eq!(probe("/livez").0, 200);
        let (status, body) = probe("/readyz");
        assert_eq!(
            (status, json(&body)["status"].clone()),
            (200, "degraded".into())
        );
        assert_eq!(probe("/healthz?source=down").0, 503);
        let (status, metrics) = probe("/metrics");
        assert_eq!(status, 200);
        assert!(metrics.contains("tokenmux_fetches_total"), "{metrics}");
        for path in [
            "/v1/sources/good/token",
            "/v1/sources/good/header",
            "/v1/sources",
        ] {
            let (status, body) = probe(path);
            assert_eq!(status, 404, "{path}: {body}");
            assert!(!body.contains("mock-"), "{body}");
        }
        let (status, body) = curl(&[&format!("http://{listen}/readyz")]);
        assert_eq!(status, 401, "{body}");

        // `down` made required (SIGHUP): not ready, still live; `good`
        // keeps its token (nothing is rebuilt for `required`).
        std::fs::write(&config_path, config_with_port(&config_path, true)).unwrap();
        agent.signal("HUP");
        agent.wait_for_log("reloaded");
        assert!(agent.log().contains("rebuilt: []"), "{}", agent.log());
        let (status, body) = agent.curl("/readyz");
        assert_eq!(status, 503, "{body}");
        assert_eq!(json(&body)["status"], "unavailable", "{body}");
        assert_eq!(agent.curl("/livez").0, 200);
        assert_eq!(agent.curl("/healthz").0, 503);
        assert_eq!(mock.requests_received("neonpanel"), 1);
    })
    .await
    .unwrap();
}

/// The config at `path` with `down`'s `required` set as given (its
/// closed port kept).
fn config_with_port(path: &Path, required: bool) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.replace(
        &format!("required: {}", !required),
        &format!("required: {required}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_listen_off_loopback_needs_metrics_public() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("tokenmux.yaml");
    std::fs::write(&config_path, config(&mock, false)).unwrap();
    let socket = dir.path().join("agent.sock");
    let run = tokenmux(
        &[
            "serve",
            "--config",
            config_path.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--metrics-listen",
            "0.0.0.0:9",
        ],
        &crate::agent::ENV,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--metrics-listen 0.0.0.0:9 is not a loopback address")
            && run.stderr.contains("--metrics-public"),
        "{}",
        run.stderr
    );
    assert!(!socket.exists(), "a failed start leaves no socket");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_file_is_picked_up_without_sighup() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    rotate(&secrets, "..v1", SECRET);
    std::os::unix::fs::symlink("..data/client_secret", secrets.join("client_secret")).unwrap();
    let config_path = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config_path,
        format!(
            "sources:
  neon:
    provider: neonpanel
    base_url: {}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_file: {}}}
agent:
  watch_interval: 200ms
",
            mock.base_url("neonpanel"),
            secrets.join("client_secret").display()
        ),
    )
    .unwrap();
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path) = (dir.path().to_owned(), config_path.clone());
        move || Agent::start(&[], &dir, &config_path, &[])
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        let (status, body) = agent.curl("/v1/sources/neon/token");
        assert_eq!(status, 200, "{body}");
        std::thread::sleep(Duration::from_millis(600));
        assert!(!agent.log().contains("a file changed"), "{}", agent.log());

        // Rotated to a secret the mock refuses: the source is rebuilt with
        // it (no token kept from the old secret), so the next request is
        // refused; rotated back, tokens again. No signal is sent.
        rotate(&secrets, "..v2", "a-rotated-secret");
        agent.wait_for_log("rebuilt: [neon]");
        assert!(agent.log().contains("(a file changed)"), "{}", agent.log());
        let (status, body) = poll(&agent, "/v1/sources/neon/token", |s, _| s != 200);
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("\"rejected\""), "{body}");
        rotate(&secrets, "..v3", SECRET);
        let (status, body) = poll(&agent, "/v1/sources/neon/token", |s, _| s == 200);
        assert_eq!(status, 200, "{body}");
        let log = agent.log();
        assert_eq!(log.matches("(a file changed)").count(), 2, "{log}");
        assert!(!log.contains("a-rotated-secret"), "{log}");
    })
    .await
    .unwrap();
}

/// Writes `secret` as version `version` of a mounted Kubernetes Secret in
/// `secrets`: its files are links through `..data`, itself a link that
/// the kubelet swaps atomically.
fn rotate(secrets: &Path, version: &str, secret: &str) {
    let target = secrets.join(version);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("client_secret"), format!("{secret}\n")).unwrap();
    let staged = secrets.join("..data_tmp");
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(version, &staged).unwrap();
    std::fs::rename(&staged, secrets.join("..data")).unwrap();
}
