//! The agent's file sinks with the real binary: written at start in each
//! format with the mode asked for, rewritten by an atomic rename (a new
//! inode each time, no temporary file left) when the token changes, and
//! config problems at their keys.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, access_token};
use crate::cli::tokenmux;

fn config(mock: &MockServer, dir: &Path) -> String {
    format!(
        "sources:
  neon:
    provider: neonpanel
    base_url: {}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    sinks:
      - {{kind: file, path: {dir}/token}}
      - {{kind: file, path: {dir}/header, mode: \"0640\", format: header}}
      - {{kind: file, path: {dir}/token.json, format: json}}
",
        mock.base_url("neonpanel"),
        dir = dir.display(),
    )
}

/// Waits until `path` holds something other than `old`; its content.
fn changed(path: &Path, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = std::fs::read_to_string(path).unwrap_or_default();
        if !now.is_empty() && now != old {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{} never changed",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sinks_are_written_atomically_in_their_format_and_mode_and_on_every_refresh() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sinks = dir.path().join("sinks");
    std::fs::create_dir(&sinks).unwrap();
    let config_path = dir.path().join("tokenmux.yaml");
    std::fs::write(&config_path, config(&mock, &sinks)).unwrap();
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path) = (dir.path().to_owned(), config_path.clone());
        move || Agent::start(&[], &dir, &config_path, &[])
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        let raw = changed(&sinks.join("token"), "");
        let (status, body) = agent.curl("/v1/sources/neon/token");
        assert_eq!((status, access_token(&body)), (200, raw.clone()));
        assert_eq!(changed(&sinks.join("header"), ""), format!("Bearer {raw}"));
        let json: serde_json::Value =
            serde_json::from_str(&changed(&sinks.join("token.json"), "")).unwrap();
        assert_eq!(json["access_token"], raw.as_str());
        assert_eq!(json["header_value"], format!("Bearer {raw}"));
        assert!(json["expires_at"].is_string(), "{json}");
        let mode = |name: &str| std::fs::metadata(sinks.join(name)).unwrap().mode() & 0o777;
        assert_eq!(
            (mode("token"), mode("header"), mode("token.json")),
            (0o600, 0o640, 0o600)
        );

        // A client reports the token refused: the new one reaches every
        // sink, each by a rename (a new inode), nothing left beside them.
        let inode = std::fs::metadata(sinks.join("token")).unwrap().ino();
        let (status, _) = agent.curl_post("/v1/sources/neon/invalidate", "");
        assert_eq!(status, 200);
        let new = changed(&sinks.join("token"), &raw);
        assert!(new.starts_with("mock-neonpanel-access-"), "{new}");
        assert_eq!(
            changed(&sinks.join("header"), &format!("Bearer {raw}")),
            format!("Bearer {new}")
        );
        assert_ne!(std::fs::metadata(sinks.join("token")).unwrap().ino(), inode);
        assert_eq!(mode("header"), 0o640);
        let mut names: Vec<String> = std::fs::read_dir(&sinks)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["header", "token", "token.json"]);
        assert_eq!(mock.requests_received("neonpanel"), 2);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_problems_are_named_at_their_keys() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config_path,
        format!(
            "sources:
  a:
    provider: neonpanel
    base_url: {url}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    sinks:
      - {{kind: file, path: relative/token}}
      - {{kind: file, path: /tmp/x/token, mode: \"0666\"}}
  b:
    provider: neonpanel
    base_url: {url}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    sinks:
      - {{kind: file, path: /tmp/x/token}}
",
            url = mock.base_url("neonpanel")
        ),
    )
    .unwrap();
    let run = tokenmux(
        &["config", "check", "--config", config_path.to_str().unwrap()],
        &crate::agent::ENV,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    for expected in [
        "sources.a.sinks.0.path: must be an absolute path",
        "sources.a.sinks.1.mode: is not an octal mode",
        "sources.b.sinks.0.path: the same file as sources.a.sinks.1.path",
    ] {
        assert!(
            run.stderr.contains(expected) || run.stdout.contains(expected),
            "{expected}: {}{}",
            run.stdout,
            run.stderr
        );
    }
}
