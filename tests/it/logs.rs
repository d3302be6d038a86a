//! What the CLI and the agent log, with the real binary: one format with a
//! timestamp; `--log-format json` lines that JSON parsers read, events
//! carrying `source` and `provider`; one warning for a Redis outage, not
//! one per store operation; `--log-level` checked; no secret in any line.

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::Agent;
use crate::cli::tokenmux;
use crate::support::{ID, SECRET};

fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}\n{stderr}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_call_during_a_redis_outage_logs_one_warning_in_json() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let closed = format!("redis://127.0.0.1:{}", tokenmux_redis_harness::free_port());
    let base = mock.base_url("neonpanel");
    let args = || {
        let mut args = vec!["--log-format", "json", "token", "--provider", "neonpanel"];
        args.extend(["--base-url", base.as_str(), "--cache", "redis"]);
        args.extend(["--redis-url", closed.as_str()]);
        args
    };
    let run = tokenmux(
        &args(),
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", SECRET),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stderr);
    assert_eq!(lines.len(), 1, "one warning for the outage: {}", run.stderr);
    assert_eq!(lines[0]["level"], "WARN");
    assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("Redis token store unreachable"),
        "{}",
        run.stderr
    );

    // A rejection: the reason is a JSON event too, with the exit code.
    let wrong = "a-wrong-secret-value";
    let run = tokenmux(
        &args(),
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", wrong),
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    let lines = json_lines(&run.stderr);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["fields"]["exit_code"], 3);
    assert!(!run.stderr.contains(wrong));
}

#[tokio::test(flavor = "multi_thread")]
async fn text_lines_have_timestamps_and_a_bad_level_is_a_usage_error() {
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--base-url",
            "http://127.0.0.1:9",
            "--client-secret",
            "s",
        ],
        &[("TOKENMUX_CLIENT_ID", ID)],
    )
    .await;
    let warning = run
        .stderr
        .lines()
        .find(|line| line.contains("shows in process lists"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let stamp = warning.split_whitespace().next().unwrap();
    assert!(humantime::parse_rfc3339(stamp).is_ok(), "{warning}");
    assert!(warning.contains(" WARN "), "{warning}");

    let run = tokenmux(&["--log-level", "loud=[", "config", "schema"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--log-level (TOKENMUX_LOG)"),
        "{}",
        run.stderr
    );
    let help = tokenmux(&["--help"], &[]).await;
    for documented in ["--log-level", "--log-format", "TOKENMUX_LOG", "Exit codes"] {
        assert!(
            help.stdout.contains(documented),
            "{documented}: {}",
            help.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agents_json_events_carry_source_and_provider() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config_path,
        format!(
            "sources:
  partner-x:
    provider: neonpanel
    base_url: {}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret: {{env: WRONG_SECRET}}}}
",
            mock.base_url("neonpanel")
        ),
    )
    .unwrap();
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path) = (dir.path().to_owned(), config_path.clone());
        move || {
            Agent::start_with_env(
                &dir,
                &config_path,
                &["--log-format", "json"],
                &[
                    ("WRONG_SECRET", "a-wrong-secret-value"),
                    ("TOKENMUX_LOG", "info"),
                ],
            )
        }
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        agent.wait_for_log("credentials rejected");
        let log = agent.log();
        let lines = json_lines(&log);
        assert!(
            lines.iter().any(|l| l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("serving 1 source(s)"))),
            "{log}"
        );
        let rejected = lines
            .iter()
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("credentials rejected"))
            })
            .unwrap();
        assert_eq!(rejected["level"], "ERROR", "{rejected}");
        assert_eq!(rejected["fields"]["source"], "partner-x", "{rejected}");
        assert_eq!(rejected["fields"]["provider"], "neonpanel", "{rejected}");
        assert!(!log.contains("a-wrong-secret-value"));
    })
    .await
    .unwrap();
}
