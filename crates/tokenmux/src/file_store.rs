//! Tokens in files: they survive restarts, and processes on one host share them.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::AccessToken;
use crate::record::{self, EncryptionKey};
use crate::store::{PutOutcome, StoreError, StoreKey, TokenStore, Versioned, next_version};

/// Tokens in a directory, one file per [`StoreKey`], named by a hash of the
/// key (never by a secret).
///
/// Writes replace the file atomically (temp file, fsync, rename), files are
/// created `0600`, and a lock file serialises writers across processes so
/// the compare-and-swap holds between them. A corrupt or foreign file is
/// reported and treated as absent, never fatal. With
/// [`with_encryption`](Self::with_encryption), files hold no plaintext secret.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use tokenmux::{Credentials, EncryptionKey, FileStore, Provider, TokenSource};
///
/// let dir = tempfile::tempdir()?;
/// let store = FileStore::new(dir.path())?.with_encryption(EncryptionKey::generate());
/// let tokens = TokenSource::builder(Provider::neonpanel())
///     .credentials(Credentials::client("my-id", "my-secret"))
///     .store(Arc::new(store))
///     .build()?;
/// # let _ = tokens;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
    encryption: Option<EncryptionKey>,
}

impl FileStore {
    /// A store in `dir`, created (mode 0700) if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        restrict(&dir, 0o700).map_err(|e| io_error(&dir, e))?;
        Ok(Self {
            dir,
            encryption: None,
        })
    }

    /// Encrypts every token written, and reads only encrypted ones.
    pub fn with_encryption(mut self, key: EncryptionKey) -> Self {
        self.encryption = Some(key);
        self
    }

    /// The file a key's token is kept in.
    pub fn path_for(&self, key: &StoreKey) -> PathBuf {
        let digest = Sha256::digest(key.as_str().as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("token-{name}.json"))
    }

    fn read(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        let path = self.path_for(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        record::decode(key, &bytes, self.encryption.as_ref())
            .map(Some)
            .map_err(|why| StoreError::Corrupt(format!("{}: {why}", path.display())))
    }

    fn write(
        &self,
        key: &StoreKey,
        token: &AccessToken,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let path = self.path_for(key);
        let lock_path = path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error(&lock_path, e))?;
        restrict(&lock_path, 0o600).map_err(|e| io_error(&lock_path, e))?;
        lock.lock().map_err(|e| io_error(&lock_path, e))?;
        remove_dead_writers_temp_files(&self.dir, &path);
        // A corrupt file is as good as none: overwrite it.
        let current = self.read(key).unwrap_or(None);
        let version = match next_version(current.as_ref(), expected) {
            Ok(version) => version,
            Err(conflict) => return Ok(conflict),
        };
        let bytes = record::encode(key, version, token, self.encryption.as_ref())?;
        replace_atomically(&self.dir, &path, &bytes)?;
        Ok(PutOutcome::Stored { version })
    }
}

/// The temp files of `path`'s writers are `.<file name>.<random>.tmp`.
fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.")
}

/// Removes temp files a writer of `path` left when it died mid-write.
/// Called with `path`'s lock held, and writers make their temp file only
/// while holding it: any such file is a dead writer's.
fn remove_dead_writers_temp_files(dir: &Path, path: &Path) {
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            // Best effort: a leftover costs disk space, not correctness.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Temp file in the same directory, 0600, written and fsynced, renamed over
/// the target, directory fsynced: a reader sees the old file or the new one.
fn replace_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io_error(dir, e))?;
    restrict(temp.path(), 0o600).map_err(|e| io_error(temp.path(), e))?;
    temp.write_all(bytes)
        .map_err(|e| io_error(temp.path(), e))?;
    temp.as_file().sync_all().map_err(|e| io_error(path, e))?;
    temp.persist(path).map_err(|e| io_error(path, e.error))?;
    if let Ok(dir) = File::open(dir) {
        // Makes the rename durable; not all platforms allow it, hence no error.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn io_error(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {error}", path.display()))
}

#[async_trait]
impl TokenStore for FileStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        let store = self.clone();
        let key = key.clone();
        blocking(move || store.read(&key)).await
    }

    async fn put(
        &self,
        key: &StoreKey,
        token: &AccessToken,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let store = self.clone();
        let (key, token) = (key.clone(), token.clone());
        blocking(move || store.write(&key, &token, expected)).await
    }
}

/// File I/O off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Credentials, Provider, Secret};
    use std::time::SystemTime;

    fn key() -> StoreKey {
        StoreKey::new(
            &Provider::neonpanel(),
            &Credentials::client("client-ID-7", "s"),
        )
    }

    fn token() -> AccessToken {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        AccessToken::new("access-SECRET-1", at, Duration::from_secs(60))
            .with_refresh_token(Some(Secret::new("refresh-SECRET-2")))
    }

    #[tokio::test]
    async fn round_trip_and_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path()).unwrap();
        assert_eq!(store.get(&key()).await.unwrap(), None);
        assert_eq!(
            store.put(&key(), &token(), None).await.unwrap(),
            PutOutcome::Stored { version: 1 }
        );
        let read = store.get(&key()).await.unwrap().unwrap();
        assert_eq!((read.token.clone(), read.version), (token(), 1));
        assert!(matches!(
            store.put(&key(), &token(), None).await.unwrap(),
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
        store.put(&key(), &token(), None).await.unwrap();
        let bytes = fs::read_to_string(store.path_for(&key())).unwrap();
        assert!(!bytes.contains("SECRET"), "{bytes}");
        assert_eq!(store.get(&key()).await.unwrap().unwrap().token, token());

        // Another key, or no key, cannot read it: reported, not fatal.
        let other = FileStore::new(dir.path())
            .unwrap()
            .with_encryption(EncryptionKey::generate());
        assert!(matches!(
            other.get(&key()).await,
            Err(StoreError::Corrupt(_))
        ));
        let plain = FileStore::new(dir.path()).unwrap();
        assert!(matches!(
            plain.get(&key()).await,
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_corrupt_file_is_reported_and_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path()).unwrap();
        fs::write(store.path_for(&key()), b"{ not json").unwrap();
        assert!(matches!(
            store.get(&key()).await,
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(
            store.put(&key(), &token(), None).await.unwrap(),
            PutOutcome::Stored { version: 1 }
        );
        assert_eq!(store.get(&key()).await.unwrap().unwrap().token, token());
    }
}
