//! Errors say what was tried, with the real binary: the method and URL
//! for an answer's status (never the query), a 404 as a configuration
//! mistake (exit 2) that says the spec's path is appended to the base URL,
//! the host and the number of attempts for a connection that fails, a TLS
//! request to a plain-http server, a base URL without a scheme.

use tokenmux_mock::{MockConfig, MockServer};

use crate::cli::tokenmux;
use crate::support::{ID, SECRET};

async fn token_at(base_url: &str) -> crate::cli::Run {
    tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--cache",
            "memory",
            "--base-url",
            base_url,
        ],
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", SECRET),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_says_what_was_tried_and_what_to_do() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let root = mock.base_url("neonpanel").replace("/neonpanel", "");

    // A wrong base URL: 404, a configuration mistake, the URL tried.
    let run = token_at(&format!("{root}/wrong")).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let tried = format!("HTTP 404 Not Found at POST {root}/wrong/auth/token");
    assert!(run.stderr.contains(&tried), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the spec's path is appended to the base URL"),
        "{}",
        run.stderr
    );

    // Rejected credentials name the request too; no query is shown.
    let run = tokenmux(
        &[
            "token",
            "--provider",
            "neonpanel",
            "--cache",
            "memory",
            "--base-url",
            &mock.base_url("neonpanel"),
        ],
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", "Zq8vLw3Kp-wrong"),
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    let tried = format!(
        "(HTTP 401 Unauthorized at POST {}/auth/token)",
        mock.base_url("neonpanel")
    );
    assert!(run.stderr.contains(&tried), "{}", run.stderr);

    // Nothing listens: the URL (its host and port) and the attempts.
    let closed = tokenmux_redis_harness::free_port();
    let run = token_at(&format!("http://127.0.0.1:{closed}/x")).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    let tried =
        format!("cannot reach the token endpoint (POST http://127.0.0.1:{closed}/x/auth/token)");
    assert!(run.stderr.contains(&tried), "{}", run.stderr);
    assert!(run.stderr.contains("(4 attempts)"), "{}", run.stderr);

    // https:// to a server that speaks plain http.
    let run = token_at(&mock.base_url("neonpanel").replace("http://", "https://")).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the server does not speak TLS: is it http://?"),
        "{}",
        run.stderr
    );

    // No scheme at all.
    let run = token_at(root.trim_start_matches("http://")).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("has no scheme: add https://"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_library_error_carries_the_request_line() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let root = mock.base_url("neonpanel").replace("/neonpanel", "");
    let tokens = tokenmux::TokenSource::builder(
        tokenmux::Provider::neonpanel().with_base_url(format!("{root}/wrong")),
    )
    .credentials(tokenmux::Credentials::client(ID, SECRET))
    .build()
    .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert_eq!(error.kind(), tokenmux::ErrorKind::Config, "{error}");
    assert_eq!(
        error.endpoint(),
        Some(format!("POST {root}/wrong/auth/token").as_str())
    );
}
