//! Transport security: rustls only, https required for hosts that are not
//! loopback (unless explicitly allowed), TLS failures as their own error.

use tokenmux::{Credentials, Error, Provider, TokenSource};
use tokenmux_config::SourceConfig;
use tokenmux_mock::{MockConfig, MockServer};

use crate::support::{ID, SECRET};

fn build(base: &str, allow: bool) -> Result<TokenSource, Error> {
    TokenSource::builder(Provider::jsonapi(base))
        .credentials(Credentials::client(ID, SECRET))
        .allow_insecure_http(allow)
        .build()
}

#[test]
fn plain_http_is_refused_for_hosts_that_are_not_loopback() {
    for remote in [
        "http://auth.example.com",
        "http://10.0.0.7:8080/api",
        "http://[2001:db8::1]/",
        "http://localhost.example.com",
    ] {
        let error = build(remote, false).unwrap_err();
        assert!(
            matches!(&error, Error::Config(m) if m.at() == Some("base_url") && m.reason().contains("plain http")),
            "{remote}: {error}"
        );
        assert!(build(remote, true).is_ok(), "{remote} when allowed");
    }
    for local in [
        "http://127.0.0.1:9000",
        "http://127.8.0.1",
        "http://[::1]:9000/x",
        "http://localhost:9000",
        "http://api.localhost",
        "https://auth.example.com",
    ] {
        assert!(build(local, false).is_ok(), "{local}");
    }
    // The config file has the same switch, off by default.
    let config = |allow: bool| {
        serde_json::from_value::<SourceConfig>(serde_json::json!({
            "provider": "jsonapi",
            "base_url": "http://auth.example.com",
            "credentials": {"client_id": ID, "client_secret": SECRET},
            "allow_insecure_http": allow,
        }))
        .unwrap()
    };
    assert!(config(false).into_builder().unwrap().build().is_err());
    assert!(config(true).into_builder().unwrap().build().is_ok());
}

#[tokio::test]
async fn a_failed_tls_handshake_is_a_tls_error_not_retried() {
    // https to a server that speaks plain HTTP: rustls refuses its answer.
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url("neonpanel").replace("http://", "https://");
    let tokens = TokenSource::builder(Provider::neonpanel().with_base_url(base))
        .credentials(Credentials::client(ID, SECRET))
        .build()
        .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(matches!(error, Error::Tls { .. }), "{error:?}");
    assert!(!error.is_transient());
    // What was tried, and what to do.
    let said = error.to_string();
    assert!(
        said.starts_with("TLS with the token endpoint (POST https://127.0.0.1:"),
        "{said}"
    );
    assert!(
        said.contains("the server does not speak TLS: is it http://?"),
        "{said}"
    );
    assert_eq!(mock.requests_received("neonpanel"), 0);
}

#[test]
fn only_rustls_is_compiled_in() {
    // native-tls (OpenSSL) is not in the dependency graph: the lock file
    // has no such package.
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"rustls\""));
    for absent in ["name = \"native-tls\"", "name = \"openssl\""] {
        assert!(!lock.contains(absent), "{absent} is in Cargo.lock");
    }
}
