//! A configuration that cannot work, at the key it belongs to: the
//! builder, config files and the CLI report the same error the same way.

use std::fmt;

/// What is wrong with a source's configuration, and at which key: the
/// config file's key path relative to the source (`base_url`,
/// `credentials.client_secret`, `refresh`), which names the builder
/// method and the CLI flag too. Reasons name keys, files and variables,
/// never a value that may be a secret.
///
/// ```
/// use tokenmux::{ConfigError, Credentials, Error, Provider, TokenSource};
///
/// let error = TokenSource::builder(Provider::jsonapi("ftp://auth.example.com"))
///     .credentials(Credentials::client("id", "secret"))
///     .build()
///     .unwrap_err();
/// let Error::Config(config) = &error else { panic!("{error}") };
/// assert_eq!(config.at(), Some("base_url"));
/// assert_eq!(config.reason(), "base URL `ftp://auth.example.com` is not http(s)");
/// assert_eq!(error.to_string(), "configuration error: base_url: base URL `ftp://auth.example.com` is not http(s)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    at: String,
    reason: String,
}

impl ConfigError {
    /// `reason` is what is wrong with the setting at key path `at`.
    pub fn new(at: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            reason: reason.into(),
        }
    }

    /// A problem that belongs to no one key (the HTTP client cannot be
    /// built, a provider refuses a grant it has no operation for).
    pub fn general(reason: impl Into<String>) -> Self {
        Self::new(String::new(), reason)
    }

    /// The key path, relative to the source; `None` for a general problem.
    pub fn at(&self) -> Option<&str> {
        (!self.at.is_empty()).then_some(self.at.as_str())
    }

    /// What is wrong, without the key.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at() {
            Some(at) => write!(f, "{at}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for crate::Error {
    fn from(error: ConfigError) -> Self {
        crate::Error::Config(error)
    }
}
