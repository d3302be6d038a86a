//! Crash safety of the file store: a writer killed with SIGKILL at random
//! moments, 200 times, never leaves a torn or unreadable token; and two
//! processes rotating the same token never lose a write.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokenmux::{Credentials, EncryptionKey, FileStore, Provider, StoreKey, TokenStore};

const WRITER: &str = env!("CARGO_BIN_EXE_tokenmux-file-writer");
/// The writer's fixed key (tests/bin/file_writer.rs).
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn store(dir: &std::path::Path) -> (FileStore, StoreKey) {
    let store = FileStore::new(dir)
        .unwrap()
        .with_encryption(EncryptionKey::from_base64(KEY).unwrap());
    let key = Provider::neonpanel().store_key(&Credentials::client("crash", "x"));
    (store, key)
}

#[tokio::test]
async fn sigkill_at_random_moments_never_tears_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store(dir.path());
    let mut last = 0;
    let mut progressed = 0;
    // A fixed-seed generator: the same "random" moments on every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for kill in 0..200 {
        let mut writer = Command::new(WRITER)
            .arg(dir.path())
            .arg("forever")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Once it has written (so every kill follows progress, on a fast
        // machine or a loaded one), at a random moment of its writing.
        let mut first = String::new();
        BufReader::new(writer.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("wrote "), "kill {kill}: {first:?}");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 10_000));
        writer.kill().unwrap(); // SIGKILL
        writer.wait().unwrap();

        let stored = store
            .get(&key)
            .await
            .unwrap_or_else(|e| panic!("after kill {kill}: {e}"));
        let Some(stored) = stored else {
            assert_eq!(last, 0, "after kill {kill}: the token vanished");
            continue;
        };
        let version = stored.version;
        assert_eq!(
            stored.token().unwrap().secret().expose_secret(),
            format!("token-{version}"),
            "after kill {kill}"
        );
        assert_eq!(
            stored
                .token()
                .unwrap()
                .refresh_token()
                .map(|t| t.expose_secret().to_owned()),
            Some(format!("refresh-{version}")),
            "after kill {kill}"
        );
        assert!(version >= last, "after kill {kill}: went back to {version}");
        progressed += usize::from(version > last);
        last = version;
    }
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        })
        .count();
    println!(
        "crash safety: 200 kills survived, the token read back intact after each \
         ({progressed} kills after progress, {last} versions written, {leftovers} temp files left)"
    );
    // Each writer wrote before it was killed: every kill follows progress.
    assert_eq!(progressed, 200, "a kill lost or undid a write");
    // The next writer removes what a killed one left: at most the last one's.
    assert!(leftovers <= 1, "{leftovers} temp files left behind");
}

#[tokio::test]
async fn two_processes_rotating_one_token_never_lose_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(WRITER)
                .arg(dir.path())
                .args(["count", "300"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut all = BTreeSet::new();
    let mut total = 0;
    for writer in writers {
        let output = writer.wait_with_output().unwrap();
        assert!(output.status.success());
        let versions: Vec<u64> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(versions.len(), 300);
        total += versions.len();
        all.extend(versions);
    }
    // Each write replaced exactly the version it read: 600 distinct versions, 1..=600.
    assert_eq!(all.len(), total, "two writers stored the same version");
    assert_eq!(all, (1..=600).collect::<BTreeSet<u64>>());
    let (store, key) = store(dir.path());
    let stored = store.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.version, 600);
    assert_eq!(
        stored
            .token()
            .unwrap()
            .refresh_token()
            .unwrap()
            .expose_secret(),
        "refresh-600"
    );
}
