//! `tokenmux config check` with the real binary: a file with many
//! mistakes (unknown keys, wrong types, an unknown provider, a URL without
//! a scheme, a missing secret) lists every one in one run, each at one key
//! path, with "did you mean"; the JSON Schema has no rustdoc code in its
//! descriptions and lists the providers compiled in.

use crate::cli::tokenmux;

const MISTAKES: &str = "sources:
  a:
    provider: neonpanl
    base_url: https://x.example
    credentials: {client_id_env: A_ID, client_secret_env: A_SECRET}
    refresh: {ahead_max: soon}
  b:
    provider: airalo
    credentials: {client_id_env: A_ID, client_secrt_env: A_SECRET}
    allow_insecure_htp: true
  c:
    provider: neonpanel
    base_url: x.example
    credentials: {client_id_env: A_ID, client_secret_env: A_SECRET}
    retry: {max_attempts: lots}
agent:
  socket_mod: \"0660\"
";

#[tokio::test]
async fn every_problem_is_listed_in_one_run_with_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, MISTAKES).unwrap();
    let run = tokenmux(
        &["config", "check", "--config", path.to_str().unwrap()],
        &[("A_ID", "x"), ("A_SECRET", "the-secret-value")],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    for expected in [
        "sources.a.provider: no provider named `neonpanl` is compiled in",
        "did you mean `neonpanel`?",
        "sources.a.refresh.ahead_max: invalid value: string, expected a duration",
        "sources.b.allow_insecure_htp: unknown key; did you mean `allow_insecure_http`?",
        "sources.b.credentials.client_secrt_env: unknown key; did you mean `client_secret_env`?",
        "sources.c.base_url: the base URL has no scheme: add https://",
        "sources.c.retry.max_attempts: invalid type: string, expected a whole number",
        "agent.socket_mod: unknown key; did you mean `socket_mode`?",
    ] {
        assert!(run.stderr.contains(expected), "{expected}:\n{}", run.stderr);
    }
    // One key path a line: the path is never said twice.
    for line in &lines[..lines.len() - 1] {
        let (_, rest) = line.split_once(": ").unwrap();
        let (path, message) = rest.split_once(": ").unwrap();
        assert!(!message.contains(path), "{line}");
    }
    assert!(
        lines.last().unwrap().contains("has 8 problem(s)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("the-secret-value"));
}

#[tokio::test]
async fn the_schema_is_plain_for_editors_and_lists_the_providers() {
    let run = tokenmux(&["config", "schema"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("```"), "rustdoc code in a description");
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let providers = schema["definitions"]["SourceConfig"]["properties"]["provider"]["enum"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = providers.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, tokenmux::Provider::names());
}
