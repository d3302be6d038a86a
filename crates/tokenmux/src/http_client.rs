//! The HTTP client a source fetches with: the one given to the builder, or
//! the source's own.
//!
//! The source's own default client is built at its first fetch, not when
//! the source is: building it loads the system's TLS roots (a few
//! milliseconds, and a few hundred KiB), which a source serving a cached
//! token never needs: a one-shot `tokenmux token` whose file cache holds a
//! fresh token, or an agent's thousands of sources sharing one store.
//! A client with extra roots or a client certificate is built at once, so
//! that a bad certificate is still an error of `build()`.

use std::sync::OnceLock;
use std::time::Duration;

use crate::ConfigError;

/// The builder's (connect, request) timeouts.
pub(crate) const DEFAULT_TIMEOUTS: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(15));

/// A client, or what builds one at first use.
#[derive(Debug)]
pub(crate) enum HttpClient {
    /// Built (given, or with extra roots or a certificate).
    Ready(reqwest::Client),
    /// The default client, built the first time it is asked for (with
    /// the timeouts given then: the source keeps them with its other
    /// shared settings, not here).
    Deferred(OnceLock<reqwest::Client>),
}

impl From<reqwest::Client> for HttpClient {
    fn from(client: reqwest::Client) -> Self {
        Self::Ready(client)
    }
}

impl HttpClient {
    /// The builder's own client: the extra roots, the client certificate,
    /// the timeouts, and no redirects (the request carries credentials:
    /// never to another URL). Deferred when there is nothing to check.
    pub(crate) fn own(
        roots: Vec<reqwest::Certificate>,
        certificate: Option<&crate::ClientCertificate>,
        timeouts: (Duration, Duration),
    ) -> Result<Self, ConfigError> {
        if roots.is_empty() && certificate.is_none() {
            return Ok(Self::Deferred(OnceLock::new()));
        }
        build(roots, certificate, timeouts).map(Self::Ready)
    }

    /// The client, built now with `timeouts` if it was deferred.
    pub(crate) fn get(
        &self,
        timeouts: (Duration, Duration),
    ) -> Result<&reqwest::Client, ConfigError> {
        match self {
            Self::Ready(client) => Ok(client),
            Self::Deferred(built) => {
                if let Some(client) = built.get() {
                    return Ok(client);
                }
                // Two first fetches at once may both build: one is kept.
                let client = build(Vec::new(), None, timeouts)?;
                Ok(built.get_or_init(|| client))
            }
        }
    }

    /// Whether the client exists yet (for tests of the deferral).
    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        match self {
            Self::Ready(_) => true,
            Self::Deferred(built) => built.get().is_some(),
        }
    }
}

fn build(
    roots: Vec<reqwest::Certificate>,
    certificate: Option<&crate::ClientCertificate>,
    (connect, request): (Duration, Duration),
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = roots
        .into_iter()
        .fold(reqwest::Client::builder(), |builder, ca| {
            builder.add_root_certificate(ca)
        });
    if let Some(certificate) = certificate {
        builder = builder.identity(certificate.identity());
    }
    builder
        .connect_timeout(connect)
        .timeout(request)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::general(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(2));

    #[test]
    fn the_default_client_waits_for_its_first_use_and_is_built_once() {
        let client = HttpClient::own(Vec::new(), None, TIMEOUTS).unwrap();
        assert!(!client.is_built());
        let first: *const reqwest::Client = client.get(TIMEOUTS).unwrap();
        assert!(client.is_built());
        assert!(std::ptr::eq(first, client.get(TIMEOUTS).unwrap()));
    }

    #[test]
    fn a_client_with_extra_roots_is_built_at_once() {
        let pem = include_bytes!("../tests/data/test-ca.pem");
        let root = reqwest::Certificate::from_pem(pem).unwrap();
        assert!(
            HttpClient::own(vec![root], None, TIMEOUTS)
                .unwrap()
                .is_built()
        );
    }
}
