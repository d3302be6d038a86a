//! Tokens in files: they survive restarts, and processes on one host
//! share them. The facade `tokenmux` re-exports [`FileStore`] (feature
//! `file`, on by default); it keeps the rules of
//! `tokenmux_store::testkit`, checked in this crate's tests.

mod config;

pub use config::{FileStoreConfig, default_cache_dir};

use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use tokenmux_store::{
    EncryptionKey, Lease, PutOutcome, Record, StoreError, StoreKey, TokenStore, Versioned,
    decode_record, next_version,
};

/// The largest token file read; a record is a few hundred bytes.
const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// The longest wait for another process's write lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// The nominal ttl of a lease: a file lock lasts while its holder lives,
/// and the kernel releases it when the holder dies.
const LEASE_TTL: Duration = Duration::from_secs(10);

/// Tokens in a directory, one file per [`StoreKey`], named by a hash of the
/// key (never by a secret).
///
/// Writes replace the file atomically (temp file, fsync, rename), files are
/// created `0600`, and a lock file serialises writers across processes so
/// the compare-and-swap holds between them. A corrupt or foreign file is
/// reported and treated as absent, never fatal. With
/// [`with_encryption`](Self::with_encryption), files hold no plaintext secret.
///
/// Processes sharing the directory share one refresh: the lease is an
/// exclusive lock on a `.lease` file, held while the holder fetches and
/// released by the kernel if it dies, so N processes on one cache make one
/// upstream request.
///
/// The directory is trusted only if it is private: a directory the store
/// creates is made `0700`; an existing one must be owned by this user and
/// writable by nobody else (its mode is never changed). Files are opened
/// without following symbolic links, only regular files are read, reads
/// are capped, and every lock wait is bounded.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::{Duration, SystemTime};
/// use tokenmux_store::{AccessToken, EncryptionKey, PutOutcome, StoreKey, TokenStore};
/// use tokenmux_store_file::FileStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = FileStore::new(dir.path())?.with_encryption(EncryptionKey::generate());
/// let key = StoreKey::from_parts("neonpanel", "https://example.com", "my-id", None);
/// let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
/// assert_eq!(store.put(&key, &token.into(), None).await?, PutOutcome::Stored { version: 1 });
/// // A source uses it with `TokenSource::builder(…).store(Arc::new(store))`.
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
    encryption: Option<EncryptionKey>,
    /// Held leases: owner → the locked `.lease` file.
    leases: Arc<Mutex<HashMap<String, File>>>,
}

impl FileStore {
    /// A store in `dir`: created (mode 0700, parents too) if missing;
    /// refused if it exists but is not private (see the type's docs).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        match fs::metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_private_dir(&dir).map_err(|e| io_error(&dir, e))?
            }
            Err(e) => return Err(io_error(&dir, e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(StoreError::config(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            Ok(_) => {}
        }
        check_private(&dir)?;
        Ok(Self {
            dir,
            encryption: None,
            leases: Arc::default(),
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
        let file = match open_regular(&path, OpenOptions::new().read(true)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(&path, e))?;
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            return Err(StoreError::corrupt(format!(
                "{}: larger than {MAX_RECORD_BYTES} bytes",
                path.display()
            )));
        }
        decode_record(key, &bytes, self.encryption.as_ref())
            .map(Some)
            .map_err(|e| StoreError::corrupt(format!("{}: {}", path.display(), e.message())))
    }

    fn lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        let path = self.path_for(key).with_extension("lease");
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(io_error(&path, e)),
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let owner = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut leases = self.leases.lock();
        leases.insert(owner.clone(), file);
        Ok(Some(Lease::new(owner, LEASE_TTL)))
    }

    fn write(
        &self,
        key: &StoreKey,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let path = self.path_for(key);
        let lock_path = path.with_extension("lock");
        let lock = open_lock_file(&lock_path)?;
        lock_within(&lock, &lock_path, LOCK_WAIT)?;
        remove_dead_writers_temp_files(&self.dir, &path);
        // A corrupt file is as good as none: overwrite it.
        let current = self.read(key).unwrap_or(None);
        let version = match next_version(current.as_ref(), expected) {
            Ok(version) => version,
            Err(conflict) => return Ok(conflict),
        };
        let bytes = tokenmux_store::encode_record(key, version, record, self.encryption.as_ref())?;
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

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Refuses a directory others could write to, or that another user owns:
/// they could plant or replace token files.
#[cfg(unix)]
fn check_private(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = fs::metadata(dir).map_err(|e| io_error(dir, e))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StoreError::config(format!(
            "{} belongs to another user (uid {}); use a directory of your own",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(StoreError::config(format!(
            "{} is writable by other users (mode {:o}); use a private directory (0700)",
            dir.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Opens `path` with `options`, refusing symbolic links (the last
/// component), FIFOs and devices (opened without blocking, then checked).
fn open_regular(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt as _;
        options
            .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
            .mode(0o600);
    }
    let file = options.open(path).map_err(|e| {
        // ELOOP: the last component is a symbolic link.
        #[cfg(unix)]
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            return std::io::Error::other("is a symbolic link; refused");
        }
        e
    })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file; refused"));
    }
    Ok(file)
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    open_regular(
        path,
        OpenOptions::new().create(true).truncate(false).write(true),
    )
    .map_err(|e| io_error(path, e))
}

/// Takes `file`'s exclusive lock, waiting at most `wait` for another holder.
fn lock_within(file: &File, path: &Path, wait: Duration) -> Result<(), StoreError> {
    let give_up = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < give_up => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::unavailable(format!(
                    "{}: locked by another process for over {wait:?}",
                    path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error(path, e)),
        }
    }
}

fn io_error(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::unavailable(format!("{}: {error}", path.display()))
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
        record: &Record,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let store = self.clone();
        let (key, record) = (key.clone(), record.clone());
        blocking(move || store.write(&key, &record, expected)).await
    }

    async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        let store = self.clone();
        let key = key.clone();
        blocking(move || store.lease(&key)).await
    }

    async fn renew_lease(&self, _key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
        // A file lock lasts as long as its holder: held means renewed.
        let leases = self.leases.lock();
        Ok(leases.contains_key(lease.owner()))
    }

    async fn release_lease(&self, _key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
        let released = self.leases.lock().remove(lease.owner());
        if let Some(file) = released {
            // Unlock rather than only close: a child forked meanwhile by any
            // thread of this process holds a copy of the descriptor, which
            // keeps the lock of a merely closed file until the child execs
            // or exits. Unlocking through any copy frees it for all. If
            // unlocking fails, closing still frees it once the copies go.
            let _ = file.unlock();
        }
        Ok(())
    }
}

/// File I/O off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::unavailable(format!("store task failed: {e}")))?
}

#[cfg(test)]
mod tests;
