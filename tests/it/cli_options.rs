//! The CLI's options for operators, with the real binary: shell
//! completions that bash loads and completes with, the manual page,
//! secrets from files and stdin, `--timeout` against an endpoint that
//! never answers, `--min-lifetime` against the cache.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::cli::{binary, tokenmux};
use crate::support::{ID, SECRET};

#[tokio::test]
async fn completions_load_in_bash_and_complete_subcommands() {
    let run = tokenmux(&["completions", "bash"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tokenmux.bash");
    std::fs::write(&script, &run.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Loaded, and asked to complete `tokenmux e`.
    let completed = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(tokenmux e); COMP_CWORD=1; COMP_LINE='tokenmux e'; \
             COMP_POINT=10; _tokenmux tokenmux e tokenmux; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&completed.stdout);
    assert!(words.split_whitespace().any(|w| w == "exec"), "{words}");
    for shell in ["zsh", "fish"] {
        let run = tokenmux(&["completions", shell], &[]).await;
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("tokenmux"), "{shell}");
    }
    let man = tokenmux(&["man"], &[]).await;
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(man.stdout.contains(".TH tokenmux 1"), "{}", man.stdout);
    assert!(man.stdout.contains("exec"), "{}", man.stdout);
}

/// `tokenmux token` for the neonpanel mock at `base` with `args`, `stdin` written
/// to its standard input: (exit code, stdout, stderr).
fn token_with_stdin(base: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(binary())
        .args(["token", "--provider", "neonpanel", "--cache", "memory"])
        .args(["--base-url", base])
        .args(args)
        .env("TOKENMUX_CLIENT_ID", ID)
        .env_remove("TOKENMUX_CLIENT_SECRET")
        .env_remove("TOKENMUX_CONFIG")
        .env_remove("TOKENMUX_AGENT_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_come_from_a_file_or_stdin() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let file_arg = file.to_str().unwrap().to_owned();
    let base = mock.base_url("neonpanel");
    let outcomes = tokio::task::spawn_blocking({
        let mock = base;
        move || {
            [
                token_with_stdin(&mock, &["--client-secret-file", &file_arg], ""),
                token_with_stdin(
                    &mock,
                    &["--client-secret-file", "-"],
                    &format!("{SECRET}\n"),
                ),
                token_with_stdin(&mock, &["--client-secret-file", "-"], ""),
                token_with_stdin(
                    &mock,
                    &["--client-secret-file", "-", "--client-secret", "x"],
                    "",
                ),
                token_with_stdin(&mock, &["--client-secret-file", "/nonexistent/secret"], ""),
            ]
        }
    })
    .await
    .unwrap();
    let [from_file, from_stdin, empty, both, missing] = outcomes;
    assert_eq!(from_file.0, 0, "{}", from_file.2);
    assert!(from_file.1.starts_with("mock-neonpanel-access-"));
    assert_eq!(from_stdin.0, 0, "{}", from_stdin.2);
    assert_eq!(
        (empty.0, empty.2.contains("stdin is empty")),
        (2, true),
        "{}",
        empty.2
    );
    assert_eq!(both.0, 2, "{}", both.2);
    assert!(both.2.contains("cannot be used with"), "{}", both.2);
    assert_eq!(missing.0, 2, "{}", missing.2);
    assert!(missing.2.contains("--client-secret-file"), "{}", missing.2);
    for (_, _, stderr) in [&from_file, &from_stdin, &empty, &both, &missing] {
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_gives_up_on_an_endpoint_that_never_answers() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--cache",
            "memory",
            "--base-url",
            &format!("http://{address}"),
            "--timeout",
            "1s",
        ],
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", SECRET),
        ],
    )
    .await;
    let took = started.elapsed();
    held.abort();
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("no token within 1s (--timeout)"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn min_lifetime_replaces_a_cached_token_that_expires_too_soon() {
    let mock = MockServer::start(MockConfig {
        token_lifetime: Duration::from_secs(300),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap().to_owned();
    let base = mock.base_url("neonpanel");
    let run_with = |extra: &'static [&'static str]| {
        let (cache, base) = (cache.clone(), base.clone());
        async move {
            let mut args = vec!["token", "--provider", "neonpanel", "--base-url", &base];
            args.extend(["--cache", "file", "--cache-dir", &cache]);
            args.extend(extra);
            tokenmux(
                &args,
                &[
                    ("TOKENMUX_CLIENT_ID", ID),
                    ("TOKENMUX_CLIENT_SECRET", SECRET),
                ],
            )
            .await
        }
    };
    let first = run_with(&[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Four minutes and more left: the cached token does.
    let cached = run_with(&["--min-lifetime", "4m"]).await;
    assert_eq!(
        (cached.code, &cached.stdout),
        (0, &first.stdout),
        "{}",
        cached.stderr
    );
    assert_eq!(mock.requests_received("neonpanel"), 1);
    // Ten minutes: a new token is fetched, and it cannot last that long.
    let longer = run_with(&["--min-lifetime", "10m"]).await;
    assert_eq!(longer.code, 1, "{}", longer.stderr);
    assert!(
        longer.stderr.contains("less than --min-lifetime 10m"),
        "{}",
        longer.stderr
    );
    assert_eq!(mock.requests_received("neonpanel"), 2);
}
