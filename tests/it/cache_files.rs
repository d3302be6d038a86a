//! The CLI's file cache as hostile ground: a directory others can write,
//! planted links and FIFOs, a lock held by a stuck process, and records
//! someone else wrote (far-future expiry, a token with CR/LF, a version at
//! the end of its range, a receipt in the future). Each gives a clear
//! error or a fresh token: never a panic, a hang or two lines of output.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tokenmux::{AccessToken, Credentials, FileStore, Provider, StoreKey, TokenStore};
use tokenmux_mock::{MockConfig, MockServer};

use crate::cli::{Run, binary};
use crate::support::{ID, SECRET};

const CREDENTIALS: [(&str, &str); 2] = [
    ("TOKENMUX_CLIENT_ID", ID),
    ("TOKENMUX_CLIENT_SECRET", SECRET),
];

/// One `tokenmux token` run on the file cache in `dir`, killed if it takes
/// over 30 s (a hang is a failure, not a stuck test).
async fn token(base: &str, dir: &Path, format: &str) -> Run {
    let dir = dir.to_str().unwrap();
    let mut command = tokio::process::Command::new(binary());
    command
        .args(["token", "--provider", "neonpanel", "--base-url", base])
        .args(["--cache", "file", "--cache-dir", dir, "--format", format])
        .env_remove("TOKENMUX_CACHE_KEY")
        .env_remove("TOKENMUX_REDIS_URL")
        .envs(CREDENTIALS)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("tokenmux hung: killed after 30 s")
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The file the CLI keeps this test's token in, and its store.
fn token_file(base: &str, dir: &Path) -> (std::path::PathBuf, FileStore, StoreKey) {
    let store = FileStore::new(dir).unwrap();
    let key = Provider::neonpanel()
        .with_base_url(base)
        .store_key(&Credentials::client(ID, SECRET));
    (store.path_for(&key), store, key)
}

#[tokio::test]
async fn a_shared_cache_directory_is_refused_and_left_as_it_was() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url("neonpanel");
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let run = token(&base, &shared, "raw").await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("writable by other users"),
        "{}",
        run.stderr
    );
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777);
    assert_eq!(mock.requests_received("neonpanel"), 0);
}

#[tokio::test]
async fn planted_links_fifos_and_stuck_locks_neither_hang_nor_leak() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url("neonpanel");
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = token_file(&base, dir.path());
    // A FIFO as the token file: read as unusable at once, then replaced.
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    let run = token(&base, dir.path(), "raw").await; // bounded: no hang on a FIFO
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());

    // A link planted as the lock file: refused; its target is not created.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(path.with_extension("lock")).unwrap();
    std::os::unix::fs::symlink(&target, path.with_extension("lock")).unwrap();
    let run = token(&base, dir.path(), "raw").await;
    assert_eq!(run.code, 0, "the token is still printed: {}", run.stderr);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(!target.exists());
    std::fs::remove_file(path.with_extension("lock")).unwrap();

    // A lock held by a stuck process: the write gives up, the token is
    // printed, in bounded time.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.with_extension("lock"))
        .unwrap();
    lock.lock().unwrap();
    let _ = std::fs::remove_file(&path);
    let started = std::time::Instant::now();
    let run = token(&base, dir.path(), "raw").await; // bounded: no hang on a held lock
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("locked by another process"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// How a test edits a valid record into a hostile one.
type Edit = Box<dyn Fn(String) -> String>;

/// Writes `record` (a plain-text store record made valid, then edited by
/// `edit`) as the CLI's token file.
async fn plant(base: &str, dir: &Path, token: &AccessToken, edit: impl Fn(String) -> String) {
    let (path, store, key) = token_file(base, dir);
    store.put(&key, &token.clone().into(), None).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit applies");
    std::fs::write(&path, edited).unwrap();
}

#[tokio::test]
async fn records_someone_else_wrote_are_checked_like_responses() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url("neonpanel");
    let now = SystemTime::now();
    let planted = AccessToken::new("planted-token", now, Duration::from_secs(3600));
    let future = AccessToken::new(
        "planted-token",
        now + Duration::from_secs(86_400 * 365),
        Duration::from_secs(3600),
    );
    let year_10000 = 253_402_300_800u64 + 86_400;
    let cases: Vec<(&str, AccessToken, Edit)> = vec![
        (
            "expires in the year 10000",
            planted.clone(),
            Box::new(move |t: String| {
                let at = t.find("\"expires_at\":{\"secs_since_epoch\":").unwrap();
                let end = at + t[at..].find(',').unwrap();
                format!(
                    "{}\"expires_at\":{{\"secs_since_epoch\":{year_10000}{}",
                    &t[..at],
                    &t[end..]
                )
            }),
        ),
        (
            "a token with CR/LF",
            planted.clone(),
            Box::new(|t: String| t.replace("planted-token", "planted\\r\\nX-Evil: 1")),
        ),
        (
            "version u64::MAX",
            planted.clone(),
            Box::new(|t: String| t.replace("\"version\":1", &format!("\"version\":{}", u64::MAX))),
        ),
        (
            "received a year from now",
            future,
            Box::new(|t: String| t.replace("\"version\":1", "\"version\":2")),
        ),
    ];
    for (case, token_planted, edit) in cases {
        let dir = tempfile::tempdir().unwrap();
        plant(&base, dir.path(), &token_planted, edit).await;
        let before = mock.requests_received("neonpanel");
        let run = token(&base, dir.path(), "json").await;
        assert_eq!(run.code, 0, "{case}: {}", run.stderr);
        assert_eq!(run.stdout.lines().count(), 1, "{case}: {}", run.stdout);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let printed = json["access_token"].as_str().unwrap();
        assert!(
            printed.starts_with("mock-neonpanel-access-"),
            "{case}: served {printed}"
        );
        assert_eq!(mock.requests_received("neonpanel"), before + 1, "{case}");
        // What it stored instead reads back.
        let (_, store, key) = token_file(&base, dir.path());
        let stored = store.get(&key).await.unwrap().unwrap();
        assert_eq!(
            stored.token().unwrap().secret().expose_secret(),
            printed,
            "{case}"
        );
    }
}
