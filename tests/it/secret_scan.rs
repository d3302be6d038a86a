//! The secret scan: every error path of every provider driven with
//! recognisable secrets (client secret, password, and the tokens the mock
//! issues, `mock-<provider>-access-…` / `-refresh-…`), then none of them
//! may appear in: Debug/Display of the public types and errors, TRACE-level
//! `tracing` output, the CLI's stdout/stderr (but the token `token` was
//! asked to print), encrypted file-store and Redis values, file names and
//! Redis keys.

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{
    AccessToken, Credentials, EncryptionKey, FileStore, Lease, ManualClock, Provider, RedisStore,
    RefreshPolicy, RetryPolicy, Secret, TokenSource, TokenStore,
};
use tokenmux_config::{RedisStoreConfig, SourceConfig, StoreConfig};
use tokenmux_mock::{ClientCredentials, DEFAULT_USERNAME, Fault, MockConfig, MockServer};

use crate::faults::{Rig, rows};
use crate::support::{Echo, ID, echo_server, provider, providers, secret_encodings};
use tokenmux::endpoint::CredentialRole;
use tokenmux_redis_harness::RedisServer;

const CLIENT_SECRET: &str = "S3CRET-client-7f1c";
const PASSWORD: &str = "S3CRET-password-2b9e";
const REDIS_PASSWORD: &str = "S3CRET-redis-91aa";

fn mock_config() -> MockConfig {
    MockConfig {
        client: ClientCredentials::new(ID, CLIENT_SECRET),
        password: PASSWORD.to_owned(),
        ..MockConfig::default()
    }
}

fn credentials(kind: &'static str, secret: &str, password: &str) -> Credentials {
    crate::support::credentials_with(kind, secret, password)
}

/// Everything that was shown, logged or stored, by where it was.
#[derive(Default)]
struct Seen {
    places: Vec<(String, Vec<u8>)>,
    /// Every token issued, to look for.
    tokens: Vec<String>,
}

impl Seen {
    fn shown(&mut self, place: impl Into<String>, text: impl AsRef<[u8]>) {
        self.places.push((place.into(), text.as_ref().to_vec()));
    }

    fn token(&mut self, token: &AccessToken) {
        self.tokens.push(token.secret().expose_secret().to_owned());
        if let Some(refresh) = token.refresh_token() {
            self.tokens.push(refresh.expose_secret().to_owned());
        }
    }

    /// Places holding a secret, and which.
    fn hits(&self) -> Vec<String> {
        let mut secrets: Vec<&str> = vec![
            CLIENT_SECRET,
            PASSWORD,
            REDIS_PASSWORD,
            "S3CRET-wrong",
            // Any token the mock issued, recorded or not.
            "-access-",
            "-refresh-",
        ];
        secrets.extend(self.tokens.iter().map(String::as_str));
        let mut hits = Vec::new();
        // Each secret in every encoding a server could echo it in (the
        // short markers only as they are).
        let forms: Vec<String> = secrets
            .iter()
            .flat_map(|secret| match secret.starts_with('-') {
                true => vec![(*secret).to_owned()],
                false => secret_encodings(ID, secret),
            })
            .collect();
        // One pass over each place for every form at once: the places and
        // the forms both grow with the providers compiled in.
        let finder = aho_corasick::AhoCorasick::new(&forms).unwrap();
        for (place, bytes) in &self.places {
            let found: std::collections::BTreeSet<usize> = finder
                .find_overlapping_iter(bytes)
                .map(|m| m.pattern().as_usize())
                .collect();
            hits.extend(found.into_iter().map(|i| format!("{place}: {}", forms[i])));
        }
        hits
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_is_shown_logged_or_stored_in_the_clear() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (log, _guard) = LogWriter::capture();
    let mut seen = Seen::default();
    let mut paths = 0;

    for mocked in providers() {
        let kind = mocked;
        // Every fault of the matrix, from an empty cache and with a cached token.
        let rig = Rig::with_config(mocked, mock_config()).await;
        for row in rows().into_iter().filter(|row| row.applies_to(mocked)) {
            for cached in [false, true] {
                rig.mock.reset();
                let tokens = rig.source();
                if cached {
                    let token = tokens.token().await.unwrap();
                    seen.token(&token);
                    rig.clock.advance(Duration::from_secs(3300));
                }
                (row.inject)(&rig);
                match tokens.token().await {
                    Ok(token) => {
                        seen.shown(
                            format!("{}: {}: token Debug", mocked, row.fault),
                            format!("{token:?}"),
                        );
                        seen.token(&token);
                    }
                    Err(error) => seen.shown(
                        format!("{}: {}: error", mocked, row.fault),
                        format!("{error}\n{error:?}"),
                    ),
                }
                seen.shown(format!("{}: source Debug", mocked), format!("{tokens:?}"));
                paths += 1;
            }
        }

        // Errors that echo what was sent, refused refresh tokens, wrong credentials.
        let server = MockServer::start(mock_config()).await.unwrap();
        let clock = Arc::new(ManualClock::default());
        let at_mock = provider(kind, server.base_url(mocked));
        let good = credentials(kind, CLIENT_SECRET, PASSWORD);
        seen.shown("credentials Debug", format!("{good:?}"));
        let tokens = TokenSource::builder(at_mock.clone())
            .credentials(good)
            .clock(clock.clone())
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        seen.token(&tokens.token().await.unwrap());
        server.revoke_refresh_tokens();
        clock.advance(Duration::from_secs(3600));
        // The endpoint echoes the secrets this source sent it (a source
        // whose requests are signed sends no client secret; its
        // assertions are never the same twice).
        let needs = tokenmux::endpoint::Needs::of(at_mock.spec());
        let sent = [
            (CredentialRole::ClientSecret, CLIENT_SECRET),
            (CredentialRole::Password, PASSWORD),
        ]
        .into_iter()
        .filter(|(role, _)| needs.uses(*role))
        .map(|(_, secret)| secret)
        .collect::<Vec<_>>()
        .join(" ");
        let echo = format!(r#"{{"access_token": 5, "echo": "{sent}"}}"#);
        for status in [200, 400, 401, 403, 422, 429, 500, 503] {
            // Twice: the password provider's failed refresh falls back to the password grant.
            for _ in 0..2 {
                server.inject(
                    mocked,
                    Fault::status(status).body("application/json", &echo),
                );
            }
            clock.advance(Duration::from_secs(3600));
            let outcome = tokens.token().await;
            seen.shown(format!("{}: echo {status}", mocked), format!("{outcome:?}"));
            if let Err(error) = outcome {
                seen.shown(
                    format!("{}: echo {status} Display", mocked),
                    error.to_string(),
                );
            }
            server.reset();
            paths += 1;
        }
        // Servers that echo the whole request back, in every encoding.
        for status in [200, 400, 401, 500] {
            for echo in Echo::ALL {
                let base = echo_server(status, echo).await;
                let echoed = TokenSource::builder(provider(kind, base.as_str()))
                    .credentials(credentials(kind, CLIENT_SECRET, PASSWORD))
                    .retry_policy(RetryPolicy::none())
                    .build()
                    .unwrap();
                let outcome = echoed.token().await;
                seen.shown(
                    format!("{}: request echoed {echo:?} with {status}", mocked),
                    match outcome {
                        Ok(token) => format!("{token:?}"),
                        Err(error) => format!("{error}\n{error:?}"),
                    },
                );
                paths += 1;
            }
        }
        for (secret, password) in [
            ("S3CRET-wrong-secret", PASSWORD),
            (CLIENT_SECRET, "S3CRET-wrong-pw"),
        ] {
            let wrong = TokenSource::builder(at_mock.clone())
                .credentials(credentials(kind, secret, password))
                .build()
                .unwrap();
            // (A wrong password is no error for the client-credentials providers.)
            match wrong.token().await {
                Ok(token) => seen.token(&token),
                Err(error) => seen.shown(
                    format!("{}: rejected", mocked),
                    format!("{error}\n{error:?}"),
                ),
            }
            paths += 1;
        }

        // Stores with encryption on: values, file names, Redis keys.
        let dir = tempfile::tempdir().unwrap();
        let key = EncryptionKey::generate();
        let files = FileStore::new(dir.path())
            .unwrap()
            .with_encryption(key.clone());
        let redis_store = RedisStore::new(&redis.url())
            .unwrap()
            .with_encryption(key.clone());
        for store in [
            Arc::new(files.clone()) as Arc<dyn TokenStore>,
            Arc::new(redis_store.clone()),
        ] {
            let tokens = TokenSource::builder(at_mock.clone())
                .credentials(credentials(kind, CLIENT_SECRET, PASSWORD))
                .store(store.clone())
                .build()
                .unwrap();
            seen.token(&tokens.token().await.unwrap());
            let store_key = at_mock.store_key(&credentials(kind, CLIENT_SECRET, PASSWORD));
            let stored = store.get(&store_key).await;
            seen.shown(
                "stored Debug",
                format!("{stored:?} {store:?} {store_key:?}"),
            );
        }
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            seen.shown("file name", entry.file_name().to_string_lossy().as_bytes());
            seen.shown("file contents", std::fs::read(entry.path()).unwrap());
        }
        seen.shown(
            "other Debug",
            format!(
                "{key:?} {files:?} {redis_store:?} {:?} {:?} {:?}",
                Lease::unshared(),
                RefreshPolicy::default(),
                at_mock
            ),
        );
    }
    for key in String::from_utf8(redis.cli(&["--scan"])).unwrap().lines() {
        seen.shown("redis key", key);
        seen.shown("redis value", redis.cli(&["--raw", "HGETALL", key]));
        seen.shown("redis dump", redis.cli(&["--raw", "DUMP", key]));
    }

    // Configuration holding secrets.
    let config: SourceConfig = serde_json::from_value(serde_json::json!({
        "provider": "password",
        "base_url": "https://auth.example.com",
        "credentials": {"client_id": ID, "client_secret": CLIENT_SECRET, "username": "u", "password": PASSWORD},
        "store": {"kind": "redis", "url": format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1/0")},
    }))
    .unwrap();
    seen.shown("config Debug", format!("{config:?}"));
    let bad = StoreConfig::Redis(RedisStoreConfig {
        url: Some(format!("ftp://:{REDIS_PASSWORD}@127.0.0.1:1").into()),
        ..RedisStoreConfig::default()
    });
    seen.shown("store config error", format!("{:?}", bad.open().err()));
    let seeds = vec![Secret::from(format!(
        "rediss://:{REDIS_PASSWORD}@127.0.0.1:1"
    ))];
    let no_ca = StoreConfig::Redis(RedisStoreConfig {
        cluster: Some(seeds),
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..RedisStoreConfig::default()
    });
    seen.shown(
        "cluster config error",
        format!("{:?} {no_ca:?}", no_ca.open().err()),
    );
    let down = RedisStore::new(&format!("redis://:{REDIS_PASSWORD}@127.0.0.1:1")).unwrap();
    seen.shown(
        "redis down",
        format!(
            "{down:?} {:?}",
            down.get(&Provider::neonpanel().store_key(&Credentials::client(ID, "x")))
                .await
        ),
    );

    // The CLI: every outcome, at TRACE; stdout may hold only the token it printed.
    let server = MockServer::start(mock_config()).await.unwrap();
    for mocked in providers() {
        let base = server.base_url(mocked);
        let cache = tempfile::tempdir().unwrap();
        let key = EncryptionKey::generate().to_base64();
        let env = |secret: &'static str| {
            vec![
                ("TOKENMUX_CLIENT_ID", ID.to_owned()),
                ("TOKENMUX_CLIENT_SECRET", secret.to_owned()),
                ("TOKENMUX_USERNAME", DEFAULT_USERNAME.to_owned()),
                ("TOKENMUX_PASSWORD", PASSWORD.to_owned()),
                ("TOKENMUX_LOG", "trace".to_owned()),
                ("TOKENMUX_CACHE_KEY", key.expose_secret().to_owned()),
                (
                    "TOKENMUX_PRIVATE_KEY_FILE",
                    crate::support::MOCK_CLIENT_KEY_FILE.to_owned(),
                ),
            ]
        };
        let args = [
            "token",
            "--provider",
            mocked,
            "--base-url",
            &base,
            "--cache",
            "file",
            "--cache-dir",
            cache.path().to_str().unwrap(),
            "--format",
            "json",
        ];
        // (client secret, fault, whether the run starts with an empty cache)
        // The secret echoed where the source sends it.
        let sends_secret = tokenmux::endpoint::Needs::of(crate::support::named(mocked).spec())
            .uses(CredentialRole::ClientSecret);
        let echoed = if sends_secret { CLIENT_SECRET } else { "" };
        let echo = format!(r#"{{"echo": "{echoed}"}}"#);
        for (secret, fault, fresh) in [
            (CLIENT_SECRET, None, false),
            (CLIENT_SECRET, None, false), // from the cache
            ("S3CRET-wrong-secret", None, true),
            (
                CLIENT_SECRET,
                Some(Fault::status(200).body("application/json", &echo)),
                true,
            ),
        ] {
            if let Some(fault) = fault {
                for _ in 0..4 {
                    server.inject(mocked, fault.clone());
                }
            }
            let env = env(secret);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let fresh_dir = tempfile::tempdir().unwrap();
            let mut args = args.to_vec();
            if fresh {
                args[8] = fresh_dir.path().to_str().unwrap();
            }
            let params = crate::support::param_flags(mocked);
            args.extend(params.iter().map(String::as_str));
            let run = crate::cli::tokenmux(&args, &env).await;
            seen.shown(format!("cli {} stderr", mocked), &run.stderr);
            if run.code == 0 {
                let printed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
                let token = printed["access_token"].as_str().unwrap().to_owned();
                // The one secret allowed anywhere: the token asked for, on stdout.
                seen.shown(
                    format!("cli {} stdout", mocked),
                    run.stdout.replace(&token, "<the token>"),
                );
                seen.tokens.push(token);
            } else {
                seen.shown(format!("cli {} stdout", mocked), &run.stdout);
            }
            paths += 1;
        }
        for entry in std::fs::read_dir(cache.path()).unwrap() {
            let entry = entry.unwrap();
            seen.shown(
                "cli cache file name",
                entry.file_name().to_string_lossy().as_bytes(),
            );
            seen.shown("cli cache file", std::fs::read(entry.path()).unwrap());
        }
    }

    let log = log.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&log).contains("token refreshed"),
        "TRACE output was captured"
    );
    seen.shown("TRACE log", log);
    let hits = seen.hits();
    println!(
        "secret scan: {paths} paths driven, {} places scanned for {} secrets, {} hits",
        seen.places.len(),
        seen.tokens
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
            + 4,
        hits.len()
    );
    assert!(hits.is_empty(), "secrets found:\n{}", hits.join("\n"));
}

/// A TRACE log kept in memory, to search (the other scans use it too).
pub(crate) struct LogWriter(pub(crate) Arc<std::sync::Mutex<Vec<u8>>>);

impl LogWriter {
    /// Captures this thread's TRACE log until the guard drops: the log,
    /// and the guard.
    pub(crate) fn capture() -> (
        Arc<std::sync::Mutex<Vec<u8>>>,
        tracing::subscriber::DefaultGuard,
    ) {
        let log = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let writer = Arc::clone(&log);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(Arc::clone(&writer)))
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
