//! `tokenmux exec` with the real binary: the command gets the tokens in
//! its environment (named from the source, or as `--env` says; raw or as
//! the header), exits with its code (128 + a signal that ended it),
//! receives the signals tokenmux gets, and with `--restart-on-refresh` is
//! started again with each new token (through the agent). The commands
//! loop only while tokenmux runs (`kill -0 $PPID`), so that a failed test
//! leaves none behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, ENV, KillOnDrop};
use crate::cli::{binary, tokenmux};

/// One named source on the mock, cached in `dir`.
fn config(mock: &MockServer, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tokenmux.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:
  neon-eu:
    provider: neonpanel
    base_url: {}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    store: {{kind: file, dir: {}}}
",
            mock.base_url("neonpanel"),
            dir.join("cache").display()
        ),
    )
    .unwrap();
    path
}

fn wait_for(path: &Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} in {}: {text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_gets_the_tokens_and_its_exit_code_is_the_result() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&mock, dir.path());
    let out = dir.path().join("seen");
    let script = format!(
        "printf '%s|%s' \"$NEON_EU_TOKEN\" \"$API\" > {}; exit 7",
        out.display()
    );
    let run = tokenmux(
        &[
            "exec",
            "--no-agent",
            "--config",
            config.to_str().unwrap(),
            "--source",
            "neon-eu",
            "--env",
            "API=neon-eu",
            "--",
            "sh",
            "-c",
            &script,
            // The command's own flags are its own, not tokenmux's.
            "--provider",
        ],
        &ENV,
    )
    .await;
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let seen = std::fs::read_to_string(&out).unwrap();
    let (token, api) = seen.split_once('|').unwrap();
    assert!(token.starts_with("mock-neonpanel-access-"), "{seen}");
    assert_eq!(token, api);

    // --format header; a command ended by a signal: 128 + its number.
    let run = tokenmux(
        &[
            "exec",
            "--no-agent",
            "--config",
            config.to_str().unwrap(),
            "--env",
            "AUTH=neon-eu",
            "--format",
            "header",
            "--",
            "sh",
            "-c",
            &format!("printf %s \"$AUTH\" > {}; kill -9 $$", out.display()),
        ],
        &ENV,
    )
    .await;
    assert_eq!(run.code, 137, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("Bearer {token}")
    );
    assert_eq!(mock.requests_received("neonpanel"), 1, "the cached token");

    // Usage: no token asked for; a command that does not exist (127).
    let run = tokenmux(&["exec", "--", "true"], &ENV).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--source NAME"), "{}", run.stderr);
    let run = tokenmux(
        &[
            "exec",
            "--no-agent",
            "--config",
            config.to_str().unwrap(),
            "--source",
            "neon-eu",
            "--",
            "/nonexistent/command",
        ],
        &ENV,
    )
    .await;
    assert_eq!(run.code, 127, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot run /nonexistent/command"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_reach_the_command_and_its_code_is_returned() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&mock, dir.path());
    let log = dir.path().join("log");
    let script = format!(
        "trap 'echo hup >> {log}' HUP; trap 'echo term >> {log}; exit 5' TERM; \
         echo ready >> {log}; while kill -0 $PPID 2>/dev/null; do sleep 0.05; done",
        log = log.display()
    );
    tokio::task::spawn_blocking(move || {
        let child = Command::new(binary())
            .args(["exec", "--no-agent", "--config", config.to_str().unwrap()])
            .args(["--source", "neon-eu", "--", "sh", "-c", &script])
            .envs(ENV)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        wait_for(&log, "ready");
        let kill = |name: &str| {
            let pid = child.0.id().to_string();
            assert!(
                Command::new("kill")
                    .args([name, &pid])
                    .status()
                    .unwrap()
                    .success()
            );
        };
        kill("-HUP");
        wait_for(&log, "hup");
        kill("-TERM");
        wait_for(&log, "term");
        let status = child.0.wait().unwrap();
        assert_eq!(status.code(), Some(5));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_on_refresh_starts_the_command_again_with_each_new_token() {
    let mock = MockServer::start(MockConfig {
        token_lifetime: Duration::from_secs(6),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&mock, dir.path());
    let agent = tokio::task::spawn_blocking({
        let (dir, config) = (dir.path().to_owned(), config.clone());
        move || Agent::start(&[], &dir, &config, &[])
    })
    .await
    .unwrap();
    let starts = dir.path().join("starts");
    let script = format!(
        "echo \"$NEON_EU_TOKEN\" >> {}; while kill -0 $PPID 2>/dev/null; do sleep 0.05; done",
        starts.display()
    );
    let socket = agent.socket.clone();
    tokio::task::spawn_blocking(move || {
        let child = Command::new(binary())
            .args([
                "exec",
                "--restart-on-refresh",
                "--config",
                config.to_str().unwrap(),
            ])
            .args(["--socket", socket.to_str().unwrap()])
            .args(["--source", "neon-eu", "--", "sh", "-c", &script])
            .envs(ENV)
            .spawn()
            .unwrap();
        let _child = KillOnDrop(child);
        // The agent refreshes the 6 s token ahead of its expiry; the
        // command is started again with the new one.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&starts).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() >= 2 {
                assert_ne!(lines[0], lines[1], "{text}");
                assert!(
                    lines
                        .iter()
                        .all(|l| l.starts_with("mock-neonpanel-access-"))
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no restart: {text} {}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
}
