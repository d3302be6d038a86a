//! The `tokenmux` binary end to end against the mock: every provider and
//! output format, exit codes, the file cache across runs, and stderr free
//! of secrets.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use tokenmux_mock::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Fault, Grant, MockConfig, MockServer};

use crate::support::{ID, SECRET};

/// Builds the binary once (it belongs to another package, so cargo does
/// not build it for this test) and returns its path.
/// `TOKENMUX_TEST_BINARY` runs the tests against another build instead
/// (the code before a change, to see a new test fail on it).
pub(crate) fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(other) = std::env::var_os("TOKENMUX_TEST_BINARY") {
            return PathBuf::from(other);
        }
        let status = Command::new(env!("CARGO"))
            .args(BUILD_ARGS)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the tokenmux binary builds");
        // This test binary is target/<profile>/deps/it-…; the CLI is target/<profile>/tokenmux.
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .and_then(|deps| deps.parent())
            .unwrap()
            .join("tokenmux")
    })
}

/// How [`binary`] builds the CLI: with the features `cargo test
/// --workspace` (the README's test command) resolved, so every dependency
/// it needs is already built and only the binary is linked. Asking for the
/// one package alone resolves other features for 79 dependencies (tokio,
/// serde, reqwest…) and rebuilt them all, about 80 s on 2 cores when the
/// dev profile built dependencies at opt-level 1, while the first tests
/// waited.
const BUILD_ARGS: [&str; 6] = [
    "build",
    "--quiet",
    "--workspace",
    "--tests",
    "--bin",
    "tokenmux",
];

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) async fn tokenmux(args: &[&str], env: &[(&str, &str)]) -> Run {
    crate::support::write_mock_client_key();
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("TOKENMUX_CACHE_KEY")
        .env_remove("TOKENMUX_REDIS_URL");
    for variable in [
        "TOKENMUX_CLIENT_ID",
        "TOKENMUX_CLIENT_SECRET",
        "TOKENMUX_USERNAME",
        "TOKENMUX_PASSWORD",
        "TOKENMUX_REDIS_CLUSTER",
        "TOKENMUX_REDIS_SENTINEL",
        "TOKENMUX_REDIS_MASTER",
        "TOKENMUX_REDIS_CA_FILE",
        "TOKENMUX_REDIS_CLIENT_CERT",
        "TOKENMUX_REDIS_CLIENT_KEY",
        "TOKENMUX_CONFIG",
        "TOKENMUX_AGENT_SOCKET",
    ] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// `tokenmux token --provider P --base-url <the mock's> --cache redis
/// <store…>` with the mock's client credentials and `env`: the CLI on a
/// Redis store the `store` flags name.
pub(crate) async fn token_from_redis(
    mock: &MockServer,
    provider: &str,
    store: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let base = mock.base_url(provider);
    let args = [
        "token",
        "--provider",
        provider,
        "--base-url",
        &base,
        "--cache",
        "redis",
    ];
    let env = [&CREDENTIALS[..], env].concat();
    tokenmux(&[&args[..], store].concat(), &env).await
}

pub(crate) const CREDENTIALS: [(&str, &str); 5] = [
    ("TOKENMUX_CLIENT_ID", ID),
    ("TOKENMUX_CLIENT_SECRET", SECRET),
    ("TOKENMUX_USERNAME", DEFAULT_USERNAME),
    ("TOKENMUX_PASSWORD", DEFAULT_PASSWORD),
    (
        "TOKENMUX_PRIVATE_KEY_FILE",
        crate::support::MOCK_CLIENT_KEY_FILE,
    ),
];

#[tokio::test]
async fn every_provider_and_format() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    for name in server.providers() {
        let base = server.base_url(name);
        let mock_token = |token: &str| crate::support::is_mock_token(name, token);
        let presented = crate::support::presentation_prefix(name);
        let params = crate::support::param_flags(name);
        for format in ["raw", "header", "json"] {
            let mut args = vec![
                "token",
                "--provider",
                name,
                "--base-url",
                &base,
                "--format",
                format,
                "--cache",
                "memory",
            ];
            args.extend(params.iter().map(String::as_str));
            let run = tokenmux(&args, &CREDENTIALS).await;
            assert_eq!(run.code, 0, "{name} {format}: {}", run.stderr);
            let out = run.stdout.trim_end();
            match format {
                "raw" => assert!(mock_token(out), "{out}"),
                "header" => assert!(
                    out.strip_prefix(&presented).is_some_and(mock_token),
                    "{name}: {out}"
                ),
                _ => {
                    let json: serde_json::Value = serde_json::from_str(out).unwrap();
                    assert!(mock_token(json["access_token"].as_str().unwrap()));
                    assert_eq!(
                        json["header_value"],
                        format!("{presented}{}", json["access_token"].as_str().unwrap())
                    );
                    assert_eq!(json["token_type"], "Bearer");
                    assert!((3590..=3600).contains(&json["expires_in"].as_u64().unwrap()));
                    assert!(
                        json["expires_at"].as_str().unwrap().ends_with('Z'),
                        "RFC 3339"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn exit_codes_for_rejected_credentials_exhausted_retries_and_usage() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let base = server.base_url("jsonapi");
    let wrong = "S3CRET-not-the-right-one";
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "jsonapi",
            "--base-url",
            &base,
            "--cache",
            "memory",
        ],
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", wrong),
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("invalid_client"), "{}", run.stderr);
    assert!(!run.stderr.contains(wrong) && run.stdout.is_empty());
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "one clear line: {}",
        run.stderr
    );

    for _ in 0..10 {
        server.inject("jsonapi", Fault::status(503).retry_after("0"));
    }
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "jsonapi",
            "--base-url",
            &base,
            "--cache",
            "memory",
        ],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("503"), "{}", run.stderr);

    let run = tokenmux(
        &["token", "--provider", "jsonapi", "--cache", "memory"],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(run.code, 2, "jsonapi needs a base URL: {}", run.stderr);
    let run = tokenmux(&["token", "--provider", "nope"], &CREDENTIALS).await;
    assert_eq!(run.code, 2);
}

#[tokio::test]
async fn the_file_cache_is_reused_and_the_refresh_token_used_once_stale() {
    let config = MockConfig {
        token_lifetime: Duration::from_secs(8),
        ..MockConfig::default()
    };
    let server = MockServer::start(config).await.unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let base = server.base_url("password");
    let args = [
        "token",
        "--provider",
        "password",
        "--base-url",
        &base,
        "--cache",
        "file",
        "--cache-dir",
        cache_dir,
    ];
    let first = tokenmux(&args, &CREDENTIALS).await;
    let second = tokenmux(&args, &CREDENTIALS).await;
    assert_eq!((first.code, second.code), (0, 0), "{}", second.stderr);
    assert_eq!(
        first.stdout, second.stdout,
        "the second run reads the cache"
    );
    assert_eq!(server.requests_received("password"), 1);

    // An 8 s token is due 4 s in (clock skew: at most half the lifetime);
    // the next run uses the stored refresh token. Long enough that a slow
    // machine still runs the second run before then.
    tokio::time::sleep(Duration::from_millis(4300)).await;
    let third = tokenmux(&args, &CREDENTIALS).await;
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_ne!(third.stdout, first.stdout);
    assert_eq!(server.tokens_issued("password", Grant::Password), 1);
    assert_eq!(server.tokens_issued("password", Grant::RefreshToken), 1);
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains(SECRET) && !name.contains(ID), "{name}");
    }
}

#[tokio::test]
async fn the_redis_cache_is_shared_between_runs_and_optional_when_down() {
    let Some(redis) = tokenmux_redis_harness::RedisServer::start() else {
        return;
    };
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let base = server.base_url("airalo");
    let url = redis.url();
    let key = tokenmux::EncryptionKey::generate();
    let key = key.to_base64();
    let mut env = CREDENTIALS.to_vec();
    env.push(("TOKENMUX_CACHE_KEY", key.expose_secret()));
    let args = |url: &str| {
        [
            "token",
            "--provider",
            "airalo",
            "--base-url",
            &base,
            "--cache",
            "redis",
            "--redis-url",
            url,
        ]
        .map(str::to_owned)
    };
    let run = |args: [String; 9]| {
        let env = env.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tokenmux(&args, &env).await
        }
    };
    let first = run(args(&url)).await;
    let second = run(args(&url)).await;
    assert_eq!((first.code, second.code), (0, 0), "{}", first.stderr);
    assert_eq!(first.stdout, second.stdout, "the second run reads Redis");
    assert_eq!(server.requests_received("airalo"), 1);
    let dump = redis.cli(&["--scan"]);
    assert!(!String::from_utf8_lossy(&dump).contains(ID));

    // Redis unreachable: a warning, and a token all the same.
    let down = run(args("redis://127.0.0.1:1")).await;
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert!(down.stderr.contains("unreachable"), "{}", down.stderr);
    assert!(!down.stderr.contains(SECRET));

    // No URL, or not a Redis URL: usage errors.
    let no_url = tokenmux(
        &[
            "token",
            "--provider",
            "airalo",
            "--base-url",
            &base,
            "--cache",
            "redis",
        ],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(no_url.code, 2, "{}", no_url.stderr);
    let bad = run(args("https://:pw-secret@example.com")).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(!bad.stderr.contains("pw-secret"), "{}", bad.stderr);
}

#[tokio::test]
async fn a_secret_flag_warns_and_the_schema_prints() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let base = server.base_url("neonpanel");
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--base-url",
            &base,
            "--cache",
            "memory",
            "--client-id",
            ID,
            "--client-secret",
            SECRET,
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--client-secret shows in process lists"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(SECRET));

    let run = tokenmux(&["config", "schema"], &[]).await;
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(schema["title"], "TokenmuxConfig");
    let text = schema.to_string();
    for key in [
        "client_secret_file",
        "sources",
        "allowed_uids",
        "fleet_jitter",
    ] {
        assert!(text.contains(key), "{key} missing from the schema");
    }
}

#[tokio::test]
async fn config_files_in_yaml_and_toml() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = server.base_url("airalo");
    let yaml = dir.path().join("tokenmux.yaml");
    std::fs::write(&yaml, format!("provider: airalo\nbase_url: {base}\n")).unwrap();
    let toml = dir.path().join("tokenmux.toml");
    std::fs::write(
        &toml,
        format!(
            "provider = \"jsonapi\"\nbase_url = \"{}\"\n[credentials]\nclient_id = \"{ID}\"\nclient_secret = \"{SECRET}\"\n",
            server.base_url("jsonapi")
        ),
    )
    .unwrap();
    // Provider from the file, secrets from the environment.
    let run = tokenmux(
        &[
            "token",
            "--config",
            yaml.to_str().unwrap(),
            "--cache",
            "memory",
        ],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("mock-airalo-access-"));
    // Everything from the file.
    let run = tokenmux(
        &[
            "token",
            "--config",
            toml.to_str().unwrap(),
            "--cache",
            "memory",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("mock-jsonapi-access-"));
    // A broken file is a usage error that does not echo its content.
    std::fs::write(
        &toml,
        format!("provider = \"jsonapi\"\nclient_secret = \"{SECRET}\" oops"),
    )
    .unwrap();
    let run = tokenmux(&["token", "--config", toml.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
}

#[tokio::test]
async fn secrets_given_as_flags_are_warned_about_without_showing_them() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let base = server.base_url("neonpanel");
    // The flag overrides the environment: said, secret not shown.
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--base-url",
            &base,
            "--cache",
            "memory",
            "--client-id",
            ID,
            "--client-secret",
            SECRET,
        ],
        &[("TOKENMUX_CLIENT_SECRET", "from-the-ENVIRONMENT")],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--client-secret overrides TOKENMUX_CLIENT_SECRET"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(SECRET) && !run.stderr.contains("ENVIRONMENT"),
        "{}",
        run.stderr
    );
    // A Redis URL with a password on the command line.
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--base-url",
            &base,
            "--cache",
            "redis",
            "--redis-url",
            "redis://:REDIS-pw-77@127.0.0.1:1",
        ],
        &CREDENTIALS,
    )
    .await;
    assert!(
        run.stderr.contains("--redis-url holds a password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("REDIS-pw-77"), "{}", run.stderr);
}

#[tokio::test]
async fn a_rate_limit_past_the_deadline_says_when_to_try_again() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    server.inject("jsonapi", Fault::status(429).retry_after("600"));
    let base = server.base_url("jsonapi");
    let started = std::time::Instant::now();
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "jsonapi",
            "--base-url",
            &base,
            "--cache",
            "memory",
        ],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("retry after 600s") && run.stderr.contains("try again after"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server.requests_received("jsonapi"), 1);
}

#[tokio::test]
async fn providers_and_servers_are_the_specs() {
    // --provider takes every name of the registry, and only those.
    let run = tokenmux(&["token", "--provider", "nope"], &CREDENTIALS).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    for name in crate::support::providers() {
        assert!(run.stderr.contains(name), "{name} offered: {}", run.stderr);
    }
    // --server takes the names a spec gives its servers.
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "airalo",
            "--server",
            "staging",
            "--cache",
            "memory",
        ],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no server named `staging`") && run.stderr.contains("sandbox"),
        "{}",
        run.stderr
    );
    // A templated server needs a base URL, and says so.
    let run = tokenmux(
        &["token", "--provider", "jsonapi", "--cache", "memory"],
        &CREDENTIALS,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("needs a `base_url`"), "{}", run.stderr);
}
