//! The Redis store over TLS (a CA made by the test, mutual TLS), its
//! certificate errors, the refusal of plaintext tokens on a remote Redis,
//! and the minimal ACL documented in the README.

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{
    Credentials, EncryptionKey, Error, Provider, RedisStore, StoreErrorKind, TokenSource,
    TokenStore,
};
use tokenmux_mock::{MockConfig, MockServer};
use tokenmux_redis_harness::{RedisServer, ServerOptions, TestPki};

use crate::cli::{token_from_redis, tokenmux};
use crate::support::{ID, SECRET};

fn source(mock: &MockServer, store: RedisStore) -> TokenSource {
    TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
        .credentials(Credentials::client(ID, SECRET))
        .store(Arc::new(store))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_with_a_private_ca_and_clear_certificate_errors() {
    let pki = TestPki::new();
    let Some(redis) = RedisServer::start_with(ServerOptions {
        require_client_certificate: true,
        ..ServerOptions::tls(&pki)
    }) else {
        return;
    };
    let (cert, key) = pki.client();
    let good = || {
        RedisStore::new(&redis.url())
            .unwrap()
            .with_ca_file(pki.ca())
            .unwrap()
            .with_client_certificate(&cert, &key)
            .unwrap()
            .timeout(Duration::from_secs(2))
    };
    good().ping().await.unwrap();
    // Neither the key nor the certificates show in Debug output or errors.
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let swapped = RedisStore::new(&redis.url())
        .unwrap()
        .with_client_certificate(&key, &cert)
        .unwrap_err();
    let shown = format!("{:?} {swapped} {swapped:?}", good());
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line), "key material in {shown}");
    }
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (a, b) = (source(&mock, good()), source(&mock, good()));
    assert_eq!(
        a.token().await.unwrap().secret(),
        b.token().await.unwrap().secret()
    );
    assert_eq!(mock.requests_received("neonpanel"), 1, "shared over TLS");

    // Each certificate problem is its own error, the same on every call.
    let system_roots = RedisStore::new(&redis.url()).unwrap();
    let other_ca = RedisStore::new(&redis.url())
        .unwrap()
        .with_ca_file(pki.other_ca())
        .unwrap();
    for (what, store) in [("system roots", system_roots), ("another CA", other_ca)] {
        for _ in 0..2 {
            let error = store.ping().await.unwrap_err();
            assert_eq!(error.kind(), StoreErrorKind::Tls, "{what}: {error:?}");
            assert!(error.to_string().contains("certificate"), "{what}: {error}");
        }
    }
    let no_client_certificate = RedisStore::new(&redis.url())
        .unwrap()
        .with_ca_file(pki.ca())
        .unwrap();
    let error = no_client_certificate.ping().await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Tls, "{error:?}");
    // A caller is never failed for the store's sake: the token comes
    // from the endpoint, and the store's error is logged.
    let untrusted = source(&mock, RedisStore::new(&redis.url()).unwrap());
    untrusted.token().await.unwrap();

    // Bad files are configuration errors, at once.
    let not_pem = pki.dir().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for result in [
        RedisStore::new(&redis.url())
            .unwrap()
            .with_ca_file(&not_pem),
        RedisStore::new(&redis.url())
            .unwrap()
            .with_ca_file("/nonexistent/ca.pem"),
        RedisStore::new(&redis.url())
            .unwrap()
            .with_client_certificate(&key, &cert),
        RedisStore::new("redis://127.0.0.1:1")
            .unwrap()
            .with_ca_file(pki.ca()),
    ] {
        assert!(
            matches!(result, Err(ref e) if e.kind() == StoreErrorKind::Config),
            "{result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_reaches_redis_over_tls_and_refuses_an_untrusted_one() {
    let pki = TestPki::new();
    let Some(redis) = RedisServer::start_with(ServerOptions::tls(&pki)) else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url("neonpanel");
    let ca = pki.ca().display().to_string();
    let url = redis.url();
    let mut printed = Vec::new();
    for _ in 0..2 {
        let store = ["--redis-url", &url, "--redis-ca-file", &ca];
        let run = token_from_redis(&mock, "neonpanel", &store, &[]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        printed.push(run.stdout);
    }
    assert_eq!(printed[0], printed[1]);
    assert_eq!(
        mock.requests_received("neonpanel"),
        1,
        "the second run read Redis"
    );

    // The same from a config file's `store:`.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config,
        format!(
            "provider: neonpanel\nbase_url: {base}\nstore:\n  kind: redis\n  url: {}\n  ca_file: {ca}\n",
            redis.url()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let credentials = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let from_file = tokenmux(&["token", "--config", &config], &credentials).await;
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    assert_eq!(from_file.stdout, printed[0]);

    let run = token_from_redis(&mock, "neonpanel", &["--redis-url", &url], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("TLS"), "{}", run.stderr);
    assert_eq!(mock.requests_received("neonpanel"), 1);
}

#[tokio::test]
async fn a_redis_on_another_host_needs_an_encryption_key_or_allow_plaintext() {
    // An IPv4-mapped address is not loopback by the letter (so treated as
    // another host), yet a connection to it reaches this machine: not even
    // a regression sends traffic elsewhere.
    let remote = || RedisStore::new("redis://[::ffff:127.0.0.1]:1").unwrap();
    let build = |store: RedisStore| {
        TokenSource::builder(Provider::neonpanel())
            .credentials(Credentials::client(ID, SECRET))
            .store(Arc::new(store))
            .build()
    };
    match build(remote()) {
        Err(Error::Config(why)) => {
            assert_eq!(why.at(), Some("store"));
            let why = why.reason();
            assert!(
                why.contains("::ffff:7f00:1") && why.contains("allow_plaintext"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let key = EncryptionKey::generate();
    assert!(build(remote().with_encryption(key)).is_ok());
    assert!(build(remote().allow_plaintext()).is_ok());
    let seeds = ["redis://127.0.0.1:7000", "redis://[::ffff:127.0.0.1]:7000"];
    assert!(build(RedisStore::cluster(seeds).unwrap()).is_err());
    assert!(build(RedisStore::new("redis://127.0.0.1:1").unwrap()).is_ok());
    assert!(build(RedisStore::new("rediss://localhost:1").unwrap()).is_ok());

    // The CLI refuses it before connecting (no "unreachable" warning).
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let run = token_from_redis(
        &mock,
        "neonpanel",
        &["--redis-url", "redis://[::ffff:127.0.0.1]:1"],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not on this machine"), "{}", run.stderr);
    assert!(!run.stderr.contains("unreachable"), "{}", run.stderr);
    assert_eq!(mock.requests_received("neonpanel"), 0);
    let plaintext = [
        "--redis-url",
        "redis://[::ffff:127.0.0.1]:1",
        "--redis-allow-plaintext",
    ];
    let allowed = token_from_redis(&mock, "neonpanel", &plaintext, &[]).await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

/// The ACL of the README: tokenmux's user reaches its own keys, with the
/// commands it needs and no others.
pub const MINIMAL_ACL: &str = "on >tokenmux-acl-pw resetkeys ~tokenmux:* resetchannels -@all +@read +@write -@dangerous +evalsha +script|load +ping +wait";

#[tokio::test(flavor = "multi_thread")]
async fn a_user_restricted_to_the_minimal_acl_shares_tokens() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rules: Vec<&str> = MINIMAL_ACL.split(' ').collect();
    redis.cli(&[&["ACL", "SETUSER", "tokenmux"][..], &rules].concat());
    let url = redis
        .url()
        .replace("redis://", "redis://tokenmux:tokenmux-acl-pw@");
    let store = || {
        RedisStore::new(&url)
            .unwrap()
            .timeout(Duration::from_secs(2))
            .wait_for_replicas(0)
    };
    store().ping().await.unwrap();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (a, b) = (source(&mock, store()), source(&mock, store()));
    let token = a.token().await.unwrap();
    assert_eq!(b.token().await.unwrap().secret(), token.secret());
    assert_eq!(mock.requests_received("neonpanel"), 1);
    // Lease, renew, release: all within the ACL.
    let key = Provider::neonpanel().store_key(&Credentials::client("acl", "s"));
    let lease = store().try_lease(&key).await.unwrap().unwrap();
    assert!(store().renew_lease(&key, &lease).await.unwrap());
    store().release_lease(&key, &lease).await.unwrap();

    // Outside its prefix the user is refused, as its own error, and the
    // password is not in it.
    let outside = store().with_key_prefix("elsewhere");
    let error = outside.get(&key).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Denied, "{error:?}");
    assert!(
        !format!("{error} {error:?}").contains("tokenmux-acl-pw"),
        "{error}"
    );
    // The CLI as that user, the URL in the environment.
    let run = token_from_redis(&mock, "neonpanel", &[], &[("TOKENMUX_REDIS_URL", &url)]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), token.secret().expose_secret());
    assert_eq!(mock.requests_received("neonpanel"), 1);
    let wrong = RedisStore::new(&url.replace("acl-pw", "acl-nope")).unwrap();
    let error = wrong.ping().await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Denied, "{error:?}");
    assert!(
        !format!("{error} {error:?} {wrong:?}").contains("acl-nope"),
        "{error}"
    );
}
