//! A client's private key given to the CLI (`--private-key-file`,
//! `--key-id`, `--key-algorithm` and their variables) and in a config
//! file (`credentials.private_key`): a FIFO, a secret file that is not a
//! key, a public key or an algorithm that does not fit the key is a usage
//! error that names the flag or the key, at once, and never quotes what
//! the file holds.

use std::time::Duration;

use tokenmux_mock::{MockConfig, MockServer};

use crate::edges_cli::bounded;

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/tokenmux-jose/tests/keys"
);
const NOT_A_KEY: &str = "s3cret-that-is-not-a-key";

/// The flags, the environment, and what the error must say.
type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn a_key_the_cli_cannot_use_is_named_by_its_flag_and_never_quoted() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key-fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, NOT_A_KEY).unwrap();
    let base = mock.base_url("neonpanel");
    let source = [
        "token",
        "--no-agent",
        "--cache",
        "memory",
        "--provider",
        "neonpanel",
        "--base-url",
        &base,
        "--client-id",
        "id",
    ];
    let (fifo, secret) = (fifo.to_str().unwrap(), secret.to_str().unwrap());
    let (ec, public) = (
        format!("{KEYS}/ec-pkcs8.pem"),
        format!("{KEYS}/rsa-public.pem"),
    );
    let cases: [Case; 5] = [
        (
            vec!["--private-key-file", fifo],
            &[],
            "is not a regular file (a FIFO)",
        ),
        (vec!["--private-key-file", secret], &[], "not a private key"),
        (
            vec![],
            &[("TOKENMUX_PRIVATE_KEY_FILE", secret)],
            "TOKENMUX_PRIVATE_KEY_FILE",
        ),
        (
            vec!["--private-key-file", &public],
            &[],
            "not a private key",
        ),
        (
            vec!["--private-key-file", &ec, "--key-algorithm", "RS256"],
            &[],
            "--key-algorithm (or TOKENMUX_KEY_ALGORITHM): a EC P-256 key cannot sign RS256",
        ),
    ];
    for (flags, env, expected) in cases {
        let args = [&source[..], &flags[..]].concat();
        let (run, took) = bounded(&args, env, Duration::from_secs(10));
        assert_eq!(run.code, 2, "{flags:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{flags:?}: {}", run.stderr);
        assert!(!run.stderr.contains(NOT_A_KEY), "{}", run.stderr);
        assert!(!run.stderr.contains("MII"), "{}", run.stderr);
        assert!(took < Duration::from_secs(3), "{flags:?}: {took:?}");
    }
    // An issuer that is not an RFC 8414 issuer identifier.
    let args = [
        &source[..],
        &["--client-secret", "s", "--issuer", "login.example.com"],
    ]
    .concat();
    let (run, _) = bounded(&args, &[], Duration::from_secs(10));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the issuer has no scheme: add https://"),
        "{}",
        run.stderr
    );
    // The mock's client public key: a FIFO is refused at once.
    let (run, took) = bounded(
        &["mock", "--client-public-key-file", fifo],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--client-public-key-file: not a regular file"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // `--key-id` describes a key file: alone, it is a usage error.
    let args = [&source[..], &["--key-id", "k1"]].concat();
    let (run, _) = bounded(&args, &[], Duration::from_secs(10));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--private-key-file"), "{}", run.stderr);
    assert_eq!(mock.requests_received("neonpanel"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_files_key_problems_are_at_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, NOT_A_KEY).unwrap();
    let config = dir.path().join("keys.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  \
               public:\n    provider: neonpanel\n    credentials:\n      client_id: x\n      \
                 client_secret: {{env: NEON_SECRET}}\n      private_key: {{file: {KEYS}/rsa-public.pem}}\n  \
               secret:\n    provider: neonpanel\n    credentials:\n      client_id: x\n      \
                 client_secret: {{env: NEON_SECRET}}\n      private_key: {{file: {}}}\n  \
               misfit:\n    provider: neonpanel\n    credentials:\n      client_id: x\n      \
                 client_secret: {{env: NEON_SECRET}}\n      private_key: {{file: {KEYS}/ed25519.jwk}}\n      \
                 key_algorithm: ES256\n",
            secret.display()
        ),
    )
    .unwrap();
    let (run, took) = bounded(
        &["config", "check", "--config", config.to_str().unwrap()],
        &[("NEON_SECRET", "x")],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    for at in [
        "sources.public.credentials.private_key",
        "sources.secret.credentials.private_key",
        "sources.misfit.credentials.key_algorithm",
    ] {
        assert!(run.stderr.contains(at), "{at}: {}", run.stderr);
    }
    assert!(!run.stderr.contains(NOT_A_KEY), "{}", run.stderr);
    assert!(took < Duration::from_secs(3), "{took:?}");
}
