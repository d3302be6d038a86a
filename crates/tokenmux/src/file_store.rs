//! Tokens in files: they survive restarts, and processes on one host share them.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::store::{PutOutcome, StoreError, StoreKey, TokenStore, Versioned, next_version};
use crate::{AccessToken, Secret};

const FORMAT: &str = "tokenmux-token/1";

/// A 256-bit key for encrypting tokens at rest (ChaCha20-Poly1305). `Debug`
/// never shows it.
///
/// ```
/// use tokenmux::EncryptionKey;
///
/// let key = EncryptionKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
/// assert_eq!(format!("{key:?}"), "EncryptionKey([redacted])");
/// assert!(EncryptionKey::from_base64("too short").is_err());
/// ```
#[derive(Clone)]
pub struct EncryptionKey(Key);

impl EncryptionKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Key::from(bytes))
    }

    /// A key from its standard base64 form (32 bytes once decoded).
    pub fn from_base64(text: &str) -> Result<Self, crate::Error> {
        let bytes = BASE64
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                crate::Error::Config("an encryption key is 32 bytes in standard base64".into())
            })?;
        Ok(Self::from_bytes(bytes))
    }

    /// A new random key (print it with [`to_base64`](Self::to_base64) once, and keep it secret).
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The key in standard base64.
    pub fn to_base64(&self) -> Secret {
        Secret::new(BASE64.encode(self.0.as_slice()))
    }

    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, StoreError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = ChaCha20Poly1305::new(&self.0)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StoreError::Unavailable("encryption failed".into()))?;
        Ok(Sealed {
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    pub(crate) fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let corrupt = || StoreError::Corrupt("cannot decrypt: wrong key, or altered".into());
        let nonce = BASE64.decode(&sealed.nonce).map_err(|_| corrupt())?;
        let ciphertext = BASE64.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
        if nonce.len() != 12 {
            return Err(corrupt());
        }
        ChaCha20Poly1305::new(&self.0)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .map_err(|_| corrupt())
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

/// An encrypted payload.
#[derive(Serialize, Deserialize)]
pub(crate) struct Sealed {
    nonce: String,
    ciphertext: String,
}

/// How a token is written down (the secrets in the clear: only ever stored
/// encrypted, or in a 0600 file).
#[derive(Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    access_token: String,
    token_type: String,
    obtained_at: SystemTime,
    expires_at: SystemTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl TokenRecord {
    pub(crate) fn from_token(token: &AccessToken) -> Self {
        Self {
            access_token: token.secret().expose_secret().to_owned(),
            token_type: token.token_type().to_owned(),
            obtained_at: token.obtained_at(),
            expires_at: token.expires_at(),
            refresh_token: token.refresh_token().map(|t| t.expose_secret().to_owned()),
        }
    }

    pub(crate) fn into_token(self) -> AccessToken {
        let lifetime = self
            .expires_at
            .duration_since(self.obtained_at)
            .unwrap_or_default();
        AccessToken::new(self.access_token, self.obtained_at, lifetime)
            .with_refresh_token(self.refresh_token.map(Secret::new))
    }
}

/// The file: which key it belongs to, its version, and the token, sealed
/// or in the clear.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    store_key: String,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<TokenRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
}

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
        let corrupt = |why: &str| StoreError::Corrupt(format!("{}: {why}", path.display()));
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|_| corrupt("not a tokenmux token file"))?;
        if envelope.format != FORMAT {
            return Err(corrupt("unknown format"));
        }
        if envelope.store_key != key.as_str() {
            return Err(corrupt("belongs to another key"));
        }
        let record = match (&self.encryption, envelope.sealed, envelope.token) {
            (Some(encryption), Some(sealed), None) => {
                let plaintext = encryption.open(&sealed, &aad(key, envelope.version))?;
                serde_json::from_slice(&plaintext).map_err(|_| corrupt("undecodable token"))?
            }
            (None, None, Some(record)) => record,
            (Some(_), _, _) => return Err(corrupt("not encrypted, but encryption is on")),
            (None, _, _) => return Err(corrupt("encrypted, but no key is configured")),
        };
        Ok(Some(Versioned {
            token: TokenRecord::into_token(record),
            version: envelope.version,
        }))
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
        // A corrupt file is as good as none: overwrite it.
        let current = self.read(key).unwrap_or(None);
        let version = match next_version(current.as_ref(), expected) {
            Ok(version) => version,
            Err(conflict) => return Ok(conflict),
        };
        let record = TokenRecord::from_token(token);
        let (token, sealed) = match &self.encryption {
            Some(encryption) => {
                let plaintext = serde_json::to_vec(&record)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                (None, Some(encryption.seal(&plaintext, &aad(key, version))?))
            }
            None => (Some(record), None),
        };
        let envelope = Envelope {
            format: FORMAT.to_owned(),
            store_key: key.as_str().to_owned(),
            version,
            token,
            sealed,
        };
        let bytes =
            serde_json::to_vec(&envelope).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        replace_atomically(&self.dir, &path, &bytes)?;
        Ok(PutOutcome::Stored { version })
    }
}

/// Binds a sealed token to its key and version: a file copied to another
/// key or rolled back to another version does not decrypt.
fn aad(key: &StoreKey, version: u64) -> Vec<u8> {
    format!("{FORMAT}|{}|{version}", key.as_str()).into_bytes()
}

/// Temp file in the same directory, 0600, written and fsynced, renamed over
/// the target, directory fsynced: a reader sees the old file or the new one.
fn replace_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut temp = tempfile::Builder::new()
        .prefix(".token-")
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
    use crate::{Credentials, Provider};

    fn key() -> StoreKey {
        StoreKey::new(&Provider::neonpanel(), &Credentials::client("id", "s"))
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
        assert!(!store.path_for(&key()).to_string_lossy().contains("id"));
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
