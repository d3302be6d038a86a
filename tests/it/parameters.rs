//! Per-source parameters (`x-tokenmux-parameter`) through the library, the
//! CLI, a config file and the agent.
//!
//! The committed specs have no parameter: here, every provider refuses one
//! by name. `cargo xtask new-provider-check` adds its `scoped` fixture (a
//! required `scope`, a secret `tenant_key`, a defaulted `region`) and runs
//! this suite again, where the other tests take every provider with a
//! required parameter; `TOKENMUX_EXPECT_PROVIDER` names the fixture there,
//! so that a fixture that did not compile in fails instead of passing
//! vacuously.

use std::path::Path;

use tokenmux::{Credentials, MemoryStore, TokenSource};
use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::Agent;
use crate::cli::tokenmux;
use crate::support::{ID, SECRET, credentials_for, named, provider, providers};

/// The providers whose spec has a required parameter.
fn with_parameters() -> Vec<&'static str> {
    let found: Vec<_> = providers()
        .into_iter()
        .filter(|name| named(name).spec().parameters().iter().any(|p| p.required))
        .collect();
    let expected = std::env::var("TOKENMUX_EXPECT_PROVIDER").unwrap_or_default();
    if expected.split(',').any(|name| name == "scoped") {
        assert!(found.contains(&"scoped"), "scoped is not in {found:?}");
    }
    found
}

/// The first required parameter's name.
fn required(name: &str) -> &'static str {
    let parameters = named(name).spec().parameters();
    parameters
        .iter()
        .find(|p| p.required)
        .map(|p| p.name)
        .expect("a required parameter")
}

/// The raw bodies (and query strings) of every request `mock` got for
/// `name`, each followed by the claims of the JWTs it carries (a JWT
/// bearer grant's parameters are claims of its signed assertion).
fn sent(mock: &MockServer, name: &str) -> Vec<String> {
    mock.requests()
        .into_iter()
        .filter(|r| r.provider == name)
        .map(|r| {
            let text = format!("{} {}", r.path, String::from_utf8_lossy(&r.body));
            let claims = crate::support::jwt_claims_in(&text);
            format!("{text} {claims}")
        })
        .collect()
}

#[tokio::test]
async fn a_parameter_the_spec_does_not_name_is_refused_by_name() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for name in providers() {
        let error = TokenSource::builder(provider(name, mock.base_url(name)))
            .credentials(credentials_for(name))
            .param("no_such_parameter", "s3cret-looking-value")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!(
                "params.no_such_parameter: the {name} provider has no parameter"
            )),
            "{error}"
        );
        assert!(!error.contains("s3cret-looking-value"), "{error}");
    }
    // The CLI and `config check` say the same, with exit code 2.
    let base = mock.base_url("neonpanel");
    let env = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let run = tokenmux(
        &["token", "--provider", "neonpanel", "--base-url", &base]
            .into_iter()
            .chain(["--cache", "memory", "--param", "scope=read"])
            .collect::<Vec<_>>(),
        &env,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("params.scope: the neonpanel provider has no parameter `scope`"),
        "{}",
        run.stderr
    );
    let run = tokenmux(
        &["token", "--provider", "neonpanel", "--param", "scope"],
        &env,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("expected NAME=VALUE"), "{}", run.stderr);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &file,
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    base_url: {base}\n    \
             credentials: {{client_id: x, client_secret: y}}\n    params: {{scope: read}}\n  \
             b:\n    provider: neonpanel\n    credentials: {{client_id: x, client_secret: y}}\n    \
             params: {{key: {{env: TOKENMUX_TEST_SURELY_UNSET}}}}\n"
        ),
    )
    .unwrap();
    let run = tokenmux(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    for key in [
        "sources.a.params.scope: the neonpanel provider has no parameter",
        "sources.b.params.key.env: the environment variable",
    ] {
        assert!(run.stderr.contains(key), "no `{key}` in:\n{}", run.stderr);
    }
    assert_eq!(mock.requests().len(), 0);
}

#[tokio::test]
async fn two_scope_sets_hold_two_tokens_and_each_value_reaches_the_endpoint() {
    for name in with_parameters() {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let parameter = required(name);
        let store = std::sync::Arc::new(MemoryStore::default());
        let source = |value: &str| {
            TokenSource::builder(provider(name, mock.base_url(name)))
                .credentials(credentials_for(name))
                .param(parameter, value)
                .store(store.clone())
                .build()
                .unwrap()
        };
        let a = source("value-for-a").token().await.unwrap();
        let b = source("value-for-b").token().await.unwrap();
        assert_ne!(a.secret(), b.secret(), "{name}");
        // Cached per value: asking again sends nothing.
        let again = source("value-for-a").token().await.unwrap();
        assert_eq!(again.secret(), a.secret(), "{name}");
        let bodies = sent(&mock, name);
        assert_eq!(bodies.len(), 2, "{name}: {bodies:?}");
        assert!(bodies[0].contains("value-for-a"), "{name}: {bodies:?}");
        assert!(bodies[1].contains("value-for-b"), "{name}: {bodies:?}");

        // A value the endpoint refuses is a request mistake to fix in the
        // config, not rejected credentials.
        // (Where the spec's error shape has no code, a refusal cannot be
        // told apart from rejected credentials: it is still refused.)
        let error = source("invalid-value").token().await.unwrap_err();
        if named(name).spec().error.code.is_empty() {
            assert!(!error.is_transient(), "{name}: {error:?}");
        } else {
            assert!(
                matches!(error, tokenmux::Error::RequestRefused { .. }),
                "{name}: {error:?}"
            );
            assert_eq!(error.provider_code(), Some("invalid_scope"), "{name}");
            assert_eq!(error.kind(), tokenmux::ErrorKind::Config, "{name}");
        }

        // A secret parameter reaches the endpoint and nothing else.
        let spec = named(name).spec();
        let Some(secret) = spec.parameters().into_iter().find(|p| p.secret) else {
            continue;
        };
        let credentials = credentials_for(name).with_param(secret.name, "t3nant-s3cret");
        let tokens = TokenSource::builder(provider(name, mock.base_url(name)))
            .credentials(credentials.clone())
            .build()
            .unwrap();
        tokens.token().await.unwrap();
        assert!(sent(&mock, name)[3].contains("t3nant-s3cret"), "{name}");
        let key = named(name).store_key(&credentials);
        let shown = format!("{key:?} {tokens:?} {credentials:?}");
        assert!(!shown.contains("t3nant-s3cret"), "{name}: {shown}");
    }
}

/// A config file with two sources of `name` that differ in `parameter`.
fn two_sources(dir: &Path, mock: &MockServer, name: &str, parameter: &str) -> String {
    let base = mock.base_url(name);
    let path = dir.join("tokenmux.yaml");
    let credentials = crate::support::credentials_from_agent_env(name);
    let mut text = String::from("sources:\n");
    for source in ["first", "second"] {
        text.push_str(&format!(
            "  {source}:\n    provider: {name}\n    base_url: {base}\n    \
             credentials: {{{credentials}}}\n    \
             params: {{{parameter}: {source}-value}}\n    store: {{kind: memory}}\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

// Multi-threaded: the agent is driven with blocking calls while the
// mock answers it from this process.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_a_config_file_and_the_agent_send_each_source_s_values() {
    for name in with_parameters() {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let parameter = required(name);
        let base = mock.base_url(name);
        let env = crate::cli::CREDENTIALS;
        let flags = [
            "token",
            "--provider",
            name,
            "--base-url",
            &base,
            "--cache",
            "memory",
        ];

        // Left out: a config error naming it, and no request.
        let run = tokenmux(&flags, &env).await;
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("params.{parameter}")),
            "{name}: {}",
            run.stderr
        );
        assert!(sent(&mock, name).is_empty());

        let given = format!("{parameter}=from-the-flag");
        let run = tokenmux(&[&flags[..], &["--param", &given]].concat(), &env).await;
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(sent(&mock, name)[0].contains("from-the-flag"), "{name}");

        let dir = tempfile::tempdir().unwrap();
        let config = two_sources(dir.path(), &mock, name, parameter);
        let agent_env = crate::agent::ENV;
        for source in ["first", "second"] {
            let run = tokenmux(
                &["token", source, "--no-agent", "--config", &config],
                &agent_env,
            )
            .await;
            assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        }
        let bodies = sent(&mock, name);
        assert!(bodies[1].contains("first-value"), "{name}: {bodies:?}");
        assert!(bodies[2].contains("second-value"), "{name}: {bodies:?}");

        // The agent serves both sources, each with its own token.
        let agent = Agent::start(&[], dir.path(), Path::new(&config), &[]);
        let (status, first) = agent.curl("/v1/sources/first/token");
        assert_eq!(status, 200, "{name}: {first}\n{}", agent.log());
        let (status, second) = agent.curl("/v1/sources/second/token");
        assert_eq!(status, 200, "{name}: {second}\n{}", agent.log());
        let (first, second) = (
            crate::agent::access_token(&first),
            crate::agent::access_token(&second),
        );
        assert_ne!(first, second, "{name}");
        let bodies = sent(&mock, name);
        assert_eq!(bodies.len(), 5, "{name}: {bodies:?}");
        assert!(
            bodies[3..].iter().any(|b| b.contains("first-value"))
                && bodies[3..].iter().any(|b| b.contains("second-value")),
            "{name}: {bodies:?}"
        );
        drop(agent);
    }
}

#[test]
fn credentials_carry_parameters_and_show_no_value() {
    let credentials = Credentials::client("id", "secret").with_param("scope", "read");
    assert_eq!(
        credentials.params().get("scope").map(|v| v.expose_secret()),
        Some("read")
    );
    assert!(!format!("{credentials:?}").contains("read"));
}
