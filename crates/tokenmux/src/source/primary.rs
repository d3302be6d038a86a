//! The primary grant, and the never-twice rule for a refresh token the
//! user configured (obtained out of band) on an endpoint that may rotate
//! it: it is presented while nothing it obtained exists; after that, the
//! refresh token to present is the one kept with the token (in the store
//! and in memory), claimed like any other (see `rotation`).

use tokenmux_store::Versioned;
use tracing::warn;

use super::Inner;
use super::failure_recorder::FailureRecorder;
use crate::exchange::Grant;
use crate::{AccessToken, ConfigError, Error};

impl Inner {
    /// Whether a token obtained with these credentials exists: in memory,
    /// or in `stored`.
    pub(super) fn obtained_before(&self, stored: Option<&Versioned>) -> bool {
        self.current.load().is_some()
            || stored
                .and_then(Versioned::token)
                .is_some_and(|token| self.obtained_by_us(token))
    }

    /// The primary grant. `obtained_before`: a token these credentials
    /// obtained exists (in the store or in memory). A configured refresh
    /// token the endpoint may rotate is then not presented again: the
    /// rotated one is in flight with another holder, or lost.
    pub(super) async fn primary(
        &self,
        obtained_before: bool,
        recorder: Option<&mut FailureRecorder<'_>>,
    ) -> Result<AccessToken, Error> {
        let spec = self.fetcher.provider().spec();
        let Some(configured) = self.fetcher.credentials().single_use_refresh_token(spec) else {
            return self.fetch(Grant::Primary, recorder).await;
        };
        if obtained_before || self.spent_refresh_tokens.contains(configured) {
            self.observe.reuse_refused();
            warn!(
                source = &*self.observe.name,
                "the configured refresh token was presented before, and no newer one is left to present"
            );
            return Err(ConfigError::new(
                "credentials.refresh_token",
                format!(
                    "the configured refresh token was already presented to the {} endpoint, \
                     which may rotate it, and the token store holds no newer one to present \
                     (another holder has it in flight, or it was lost): give a newly \
                     obtained refresh token",
                    spec.name
                ),
            )
            .into());
        }
        // Spent from here on, unless the answer shows it is still valid.
        self.spent_refresh_tokens.insert(configured);
        let result = self.fetch(Grant::Primary, recorder).await;
        let still_valid = match &result {
            // Not replaced in the answer: still valid (RFC 6749 §6).
            Ok(token) => token.refresh_token() == Some(configured),
            // Answered unprocessed (RFC 9110 §15.6.4, RFC 6585 §4): not
            // consumed. A timeout or a lost connection leaves it unknown.
            Err(error) => matches!(error, Error::Server { .. } | Error::RateLimited { .. }),
        };
        if still_valid {
            self.spent_refresh_tokens.revive(configured);
        }
        result
    }
}
