//! Per-client settings that generated clients carry as their `inner` value.

use crate::BasicAuth;

/// The default cap on a response body: token responses are small, and a
/// hostile or broken server must not make the client buffer megabytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Settings a generated client needs beyond what progenitor models.
///
/// ```
/// use tokenmux_wire::{BasicAuth, ClientConfig};
///
/// let config = ClientConfig::default()
///     .with_basic_auth(BasicAuth::new("my-client", "my-secret"))
///     .with_max_response_bytes(16 * 1024);
/// assert_eq!(config.max_response_bytes(), 16 * 1024);
/// assert!(!format!("{config:?}").contains("my-secret"));
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    basic_auth: Option<BasicAuth>,
    max_response_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            basic_auth: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl ClientConfig {
    /// Sets the client credentials for operations that require HTTP Basic
    /// client authentication.
    pub fn with_basic_auth(mut self, basic_auth: BasicAuth) -> Self {
        self.basic_auth = Some(basic_auth);
        self
    }

    /// Caps the bytes read of any response body; a larger body is an error.
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// The Basic credentials, if set.
    pub fn basic_auth(&self) -> Option<&BasicAuth> {
        self.basic_auth.as_ref()
    }

    /// The response body cap in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }
}
