//! [`SentSecrets`]: secrets made for one request rather than given by the
//! user (a signed client assertion), recorded as the request hook makes
//! them, so that whoever shows the outcome scrubs them as it scrubs the
//! client secret: a server may echo the request in its error.

use std::sync::{Arc, Mutex, PoisonError};

use crate::Secret;

/// The secrets a request carried that its caller did not give. Clones
/// share one list.
///
/// ```
/// use tokenmux_wire::{ClientConfig, SentSecrets};
///
/// let sent = SentSecrets::default();
/// let config = ClientConfig::default().with_sent_secrets(sent.clone());
/// config.sent_secrets().record("eyJ.assertion.sig".into());
/// assert_eq!(sent.all()[0].expose_secret(), "eyJ.assertion.sig");
/// assert!(!format!("{sent:?}").contains("assertion"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SentSecrets(Arc<Mutex<Vec<Secret>>>);

impl SentSecrets {
    /// Records `secret` as sent.
    pub fn record(&self, secret: Secret) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(secret);
    }

    /// Every secret recorded so far.
    pub fn all(&self) -> Vec<Secret> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
