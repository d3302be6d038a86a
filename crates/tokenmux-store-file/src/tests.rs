//! The file store's own tests: round trips, compare-and-swap, the
//! testkit's rules, hostile files and directories.

use std::time::Duration;

use super::*;
use std::time::SystemTime;
use tokenmux_store::{AccessToken, FailureKind, SharedFailure, StoreErrorKind, testkit};
use tokenmux_wire::Secret;

fn key() -> StoreKey {
    StoreKey::from_parts("neonpanel", "https://example.com", "client-ID-7", None)
}

fn token() -> AccessToken {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    AccessToken::new("access-SECRET-1", at, Duration::from_secs(60))
        .with_refresh_token(Some(Secret::new("refresh-SECRET-2")))
}

#[tokio::test]
async fn round_trip_and_compare_and_swap() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    assert_eq!(store.get(&key()).await.unwrap(), None);
    assert_eq!(
        store.put(&key(), &token().into(), None).await.unwrap(),
        PutOutcome::Stored { version: 1 }
    );
    let read = store.get(&key()).await.unwrap().unwrap();
    assert_eq!((read.token().unwrap().clone(), read.version), (token(), 1));
    assert!(matches!(
        store.put(&key(), &token().into(), None).await.unwrap(),
        PutOutcome::Conflict { .. }
    ));
    // A new store on the same directory (a restart) reads it back.
    let again = FileStore::new(dir.path()).unwrap();
    assert_eq!(again.get(&key()).await.unwrap().unwrap().version, 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(store.path_for(&key()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Only the part the store chose: the temp dir's random name may hold anything.
    let name = store.path_for(&key());
    let name = name.strip_prefix(dir.path()).unwrap().to_string_lossy();
    assert!(!name.contains("client-ID"), "{name}");
}

#[tokio::test]
async fn encrypted_files_hold_no_plaintext_secret() {
    let dir = tempfile::tempdir().unwrap();
    let encryption = EncryptionKey::generate();
    let store = FileStore::new(dir.path())
        .unwrap()
        .with_encryption(encryption.clone());
    // A failure is sealed too: nobody but the holders reads or plants one.
    let failure = SharedFailure::new(
        FailureKind::Rejected,
        "credentials_rejected",
        "invalid_client: MESSAGE",
        SystemTime::now() + Duration::from_secs(60),
        1,
    );
    let record = Record {
        token: Some(token()),
        failure: Some(failure.clone()),
    };
    store.put(&key(), &record, None).await.unwrap();
    let bytes = fs::read_to_string(store.path_for(&key())).unwrap();
    assert!(!bytes.contains("SECRET"), "{bytes}");
    assert!(
        !bytes.contains("MESSAGE") && !bytes.contains("rejected"),
        "{bytes}"
    );
    let read = store.get(&key()).await.unwrap().unwrap();
    assert_eq!(read.token(), Some(&token()));
    assert_eq!(read.failure(), Some(&failure));
    // Its sealed parts cannot be swapped: each is bound to its place.
    let mut envelope: serde_json::Value = serde_json::from_str(&bytes).unwrap();
    let sealed = envelope["sealed"].take();
    envelope["sealed"] = envelope["sealed_failure"].take();
    envelope["sealed_failure"] = sealed;
    fs::write(store.path_for(&key()), envelope.to_string()).unwrap();
    let error = store.get(&key()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Corrupt);

    // Another key, or no key, cannot read it: reported, not fatal.
    let other = FileStore::new(dir.path())
        .unwrap()
        .with_encryption(EncryptionKey::generate());
    assert!(matches!(
        other.get(&key()).await,
        Err(ref e) if e.kind() == StoreErrorKind::Corrupt
    ));
    let plain = FileStore::new(dir.path()).unwrap();
    assert!(matches!(
        plain.get(&key()).await,
        Err(ref e) if e.kind() == StoreErrorKind::Corrupt
    ));
}

#[tokio::test]
async fn the_file_store_keeps_the_store_rules() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()).unwrap());
    let report = testkit::check_store(store.clone()).await.unwrap();
    assert!(report.shares_leases);
    let key = testkit::fresh_key("corrupt");
    fs::write(store.path_for(&key), b"{ not json").unwrap();
    testkit::check_corrupt_record(store.as_ref(), &key)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_corrupt_file_is_reported_and_then_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    fs::write(store.path_for(&key()), b"{ not json").unwrap();
    assert!(matches!(
        store.get(&key()).await,
        Err(ref e) if e.kind() == StoreErrorKind::Corrupt
    ));
    assert_eq!(
        store.put(&key(), &token().into(), None).await.unwrap(),
        PutOutcome::Stored { version: 1 }
    );
    assert_eq!(
        store.get(&key()).await.unwrap().unwrap().token(),
        Some(&token())
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_directory_others_can_write_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let error = FileStore::new(&shared).unwrap_err();
    assert!(
        error.kind() == StoreErrorKind::Config
            && error.message().contains("writable by other users"),
        "{error}"
    );
    let mode = fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode, 0o1777,
        "the mode of a directory it did not create is never changed"
    );
    // Through a symbolic link too.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&shared, &link).unwrap();
    assert!(FileStore::new(&link).is_err());
    // One it creates is private, parents included.
    let made = dir.path().join("a/b");
    FileStore::new(&made).unwrap();
    for path in [dir.path().join("a"), made] {
        assert_eq!(
            fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn planted_links_and_fifos_are_refused_without_blocking() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("target");
    // A symbolic link planted as the lock file: not followed, nothing made.
    let path = store.path_for(&key());
    std::os::unix::fs::symlink(&target, path.with_extension("lock")).unwrap();
    assert!(store.put(&key(), &token().into(), None).await.is_err());
    assert!(!target.exists(), "the link's target was created");
    fs::remove_file(path.with_extension("lock")).unwrap();
    // A link as the token file: refused, its target untouched.
    fs::write(&target, b"{}").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let error = store.get(&key()).await.unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o644
    );
    fs::remove_file(&path).unwrap();
    // A FIFO as the token file: an error at once, not a hang.
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let read = tokio::time::timeout(Duration::from_secs(5), store.get(&key())).await;
    assert!(
        matches!(read, Ok(Err(ref e)) if e.kind() == StoreErrorKind::Unavailable),
        "{read:?}"
    );
}

#[tokio::test]
async fn a_held_lock_is_waited_for_a_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    let lock_path = store.path_for(&key()).with_extension("lock");
    let holder = open_lock_file(&lock_path).unwrap();
    holder.lock().unwrap();
    let started = std::time::Instant::now();
    let error = store.put(&key(), &token().into(), None).await.unwrap_err();
    assert!(
        error.to_string().contains("locked by another process"),
        "{error}"
    );
    assert!(started.elapsed() < LOCK_WAIT + Duration::from_secs(5));
    drop(holder);
    assert!(store.put(&key(), &token().into(), None).await.is_ok());
}

#[tokio::test]
async fn one_lease_between_stores_on_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        FileStore::new(dir.path()).unwrap(),
        FileStore::new(dir.path()).unwrap(),
    );
    let lease = a.try_lease(&key()).await.unwrap().expect("free");
    assert_eq!(b.try_lease(&key()).await.unwrap(), None);
    assert_eq!(
        a.try_lease(&key()).await.unwrap(),
        None,
        "a second holder in one process waits too"
    );
    assert!(a.renew_lease(&key(), &lease).await.unwrap());
    a.release_lease(&key(), &lease).await.unwrap();
    assert!(b.try_lease(&key()).await.unwrap().is_some());
}

#[tokio::test]
async fn a_released_lease_is_free_while_a_forked_child_holds_its_file() {
    // A child forked by any thread of the process (a `Command::spawn`)
    // holds a copy of every descriptor until its exec closes it, and a
    // child that never execs holds it until it exits. The copy shares the
    // lock; release must free it anyway.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        FileStore::new(dir.path()).unwrap(),
        FileStore::new(dir.path()).unwrap(),
    );
    let lease = a.try_lease(&key()).await.unwrap().expect("free");
    let childs_copy = a.leases.lock()[lease.owner()].try_clone().unwrap();
    a.release_lease(&key(), &lease).await.unwrap();
    assert!(
        b.try_lease(&key()).await.unwrap().is_some(),
        "the released lease is held by the copy of its file"
    );
    drop(childs_copy);
}

#[tokio::test]
async fn hostile_records_are_corrupt_or_expired_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path()).unwrap();
    let good =
        String::from_utf8(tokenmux_store::encode_record(&key(), 1, &token().into(), None).unwrap())
            .unwrap();
    let year_10000 = 253_402_300_800u64 + 86_400;
    let cases = [
        // Expiring in the year 10000: read, as expired.
        (
            good.replace(
                "\"expires_at\":{\"secs_since_epoch\":1700000060",
                &format!("\"expires_at\":{{\"secs_since_epoch\":{year_10000}"),
            ),
            true,
        ),
        // Expiring before it was received: expired.
        (
            good.replace(
                "\"obtained_at\":{\"secs_since_epoch\":1700000000",
                "\"obtained_at\":{\"secs_since_epoch\":1700000100",
            ),
            true,
        ),
        (
            good.replace("\"version\":1", &format!("\"version\":{}", u64::MAX)),
            false,
        ),
        (good.replace("access-SECRET-1", "access\\r\\nSECRET"), false),
        (
            good.replace("\"version\":1", "\"version\":1,\"version\":2"),
            false,
        ),
    ];
    for (bytes, readable) in cases {
        assert_ne!(bytes, good);
        fs::write(store.path_for(&key()), &bytes).unwrap();
        match store.get(&key()).await {
            Ok(Some(read)) if readable => {
                assert!(
                    read.token().unwrap().expires_at() <= SystemTime::now(),
                    "{bytes}"
                );
                assert!(read.token().unwrap().refresh_token().is_some());
            }
            Err(error) if !readable && error.kind() == StoreErrorKind::Corrupt => {
                assert!(!error.to_string().contains("SECRET"), "{error}")
            }
            other => panic!("{bytes}: {other:?}"),
        }
    }
    // The corrupt one is replaced by the next write.
    assert_eq!(
        store.put(&key(), &token().into(), None).await.unwrap(),
        PutOutcome::Stored { version: 1 }
    );
}
