//! The file store described in configuration: `store: {kind: file, …}` in
//! a config file (`tokenmux_config`).

use std::path::PathBuf;

use serde::Deserialize;
use tokenmux_store::{EncryptionKey, StoreError};

use crate::FileStore;

/// A directory of token files. Encryption keys are not written in the
/// file: `encryption_key_env` names the environment variable holding one
/// (base64, 32 bytes).
///
/// ```
/// use tokenmux_store_file::FileStoreConfig;
///
/// let dir = tempfile::tempdir().unwrap();
/// let config: FileStoreConfig = serde_json::from_value(serde_json::json!({
///     "dir": dir.path().join("tokens"),
/// })).unwrap();
/// assert!(config.open(None).is_ok());
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FileStoreConfig {
    /// The directory (created 0700 if missing); default the user's cache
    /// directory + `/tokenmux` ([`default_cache_dir`]).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Environment variable holding the encryption key, if any.
    #[serde(default)]
    pub encryption_key_env: Option<String>,
}

impl FileStoreConfig {
    /// The store this describes, encrypting with `encryption`: the key
    /// `encryption_key_env` names, which the caller reads.
    pub fn open(&self, encryption: Option<EncryptionKey>) -> Result<FileStore, StoreError> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => default_cache_dir().ok_or_else(|| {
                StoreError::config("no user cache directory; give the store's `dir`")
            })?,
        };
        let store = FileStore::new(&dir)?;
        Ok(match encryption {
            Some(key) => store.with_encryption(key),
            None => store,
        })
    }
}

/// The user's cache directory + `/tokenmux`: where the CLI's file cache
/// is; `None` when the platform has no cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("tokenmux"))
}
