//! A source's DPoP state (RFC 9449): the key its token requests prove
//! (the key of the token it last held, so a refresh token bound to it
//! stays usable, else a new one), and the nonces servers gave: the token
//! endpoint's, and each API origin's. The proofs themselves are
//! `tokenmux_jose::DpopProof`s.

use std::collections::VecDeque;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use parking_lot::Mutex;
use secrecy::ExposeSecret as _;
use tokenmux_jose::{DpopKey, DpopProof};

use crate::{AccessToken, ConfigError, Error};

/// How many API origins' nonces are remembered (the oldest goes first).
const MAX_ORIGINS: usize = 64;

/// The DPoP state of one source.
#[derive(Debug, Default)]
pub(crate) struct Dpop {
    key: Mutex<Option<Arc<DpopKey>>>,
    token_nonce: Mutex<Option<String>>,
    api_nonces: Mutex<VecDeque<(String, String)>>,
}

impl Dpop {
    /// The key the next token request proves: the last token's, else a
    /// new one (kept for the requests after).
    pub(crate) fn key(&self) -> Result<Arc<DpopKey>, Error> {
        let mut key = self.key.lock();
        if let Some(key) = key.as_ref() {
            return Ok(Arc::clone(key));
        }
        let fresh = Arc::new(DpopKey::generate().map_err(|error| {
            ConfigError::new("dpop", format!("cannot generate a DPoP key: {error}"))
        })?);
        *key = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Takes up the key of a token held now (one from the store, made by
    /// another holder): its refresh token is bound to it.
    pub(crate) fn hold(&self, token: &AccessToken) {
        if let Some(key) = token.dpop_key_handle() {
            *self.key.lock() = Some(key);
        }
    }

    /// The token endpoint's last nonce.
    pub(crate) fn token_nonce(&self) -> Option<String> {
        self.token_nonce.lock().clone()
    }

    /// Keeps the nonce the token endpoint sent in `headers`, if any;
    /// whether it is new.
    pub(crate) fn token_nonce_from(&self, headers: &HeaderMap) -> bool {
        let Some(nonce) = tokenmux_wire::dpop_nonce(headers) else {
            return false;
        };
        self.token_nonce.lock().replace(nonce.clone()) != Some(nonce)
    }

    /// Keeps the nonce an API at `url` sent in `headers`, if any; whether
    /// it is new.
    pub(crate) fn api_nonce_from(&self, url: &reqwest::Url, headers: &HeaderMap) -> bool {
        let Some(nonce) = tokenmux_wire::dpop_nonce(headers) else {
            return false;
        };
        let origin = url.origin().ascii_serialization();
        let mut nonces = self.api_nonces.lock();
        if let Some(known) = nonces.iter_mut().find(|(o, _)| *o == origin) {
            return std::mem::replace(&mut known.1, nonce.clone()) != nonce;
        }
        if nonces.len() == MAX_ORIGINS {
            nonces.pop_front();
        }
        nonces.push_back((origin, nonce));
        true
    }

    fn api_nonce(&self, url: &reqwest::Url) -> Option<String> {
        let origin = url.origin().ascii_serialization();
        let nonces = self.api_nonces.lock();
        nonces
            .iter()
            .find(|(o, _)| *o == origin)
            .map(|(_, n)| n.clone())
    }

    /// The `DPoP` header for a request with `token` to `url`: a fresh
    /// proof with `ath` and the origin's nonce. `None` for a bearer token.
    pub(crate) async fn proof_for(
        &self,
        token: &AccessToken,
        method: &Method,
        url: &reqwest::Url,
    ) -> Result<Option<HeaderValue>, Error> {
        let Some(key) = token.dpop_key() else {
            return Ok(None);
        };
        let mut proof = DpopProof::new(method.as_str(), url.as_str())
            .with_access_token(token.secret().expose_secret());
        if let Some(nonce) = self.api_nonce(url) {
            proof = proof.with_nonce(&nonce);
        }
        let signed = proof.sign(key).await.map_err(|error| {
            ConfigError::new("dpop", format!("cannot sign a DPoP proof: {error}"))
        })?;
        let mut value = HeaderValue::try_from(signed.expose_secret())
            .map_err(|_| ConfigError::new("dpop", "the DPoP proof is not a header value"))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Whether a 401's `WWW-Authenticate` asks for a DPoP nonce (RFC 9449 §9:
/// `DPoP error="use_dpop_nonce"`).
#[cfg(any(feature = "middleware", feature = "tower"))]
pub(crate) fn asks_for_nonce(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains(tokenmux_wire::USE_DPOP_NONCE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_kept_until_a_held_token_brings_its_own() {
        let dpop = Dpop::default();
        let first = dpop.key().unwrap();
        assert_eq!(dpop.key().unwrap(), first);
        let other = Arc::new(DpopKey::generate().unwrap());
        let token = AccessToken::new("t", std::time::SystemTime::now(), Default::default())
            .with_dpop_key(Some(Arc::clone(&other)));
        dpop.hold(&token);
        assert_eq!(dpop.key().unwrap(), other);
        // A bearer token leaves the key as it is.
        dpop.hold(&AccessToken::new(
            "b",
            std::time::SystemTime::now(),
            Default::default(),
        ));
        assert_eq!(dpop.key().unwrap(), other);
    }

    #[test]
    fn nonces_are_kept_per_origin_and_bounded() {
        let dpop = Dpop::default();
        let headers = |nonce: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("dpop-nonce", HeaderValue::from_static(nonce));
            h
        };
        let url = |host: &str| reqwest::Url::parse(&format!("https://{host}/a?b")).unwrap();
        assert!(dpop.api_nonce_from(&url("api.example"), &headers("n1")));
        assert!(!dpop.api_nonce_from(&url("api.example"), &headers("n1")));
        assert_eq!(dpop.api_nonce(&url("api.example")).as_deref(), Some("n1"));
        assert_eq!(dpop.api_nonce(&url("other.example")), None);
        for i in 0..MAX_ORIGINS {
            dpop.api_nonce_from(&url(&format!("h{i}.example")), &headers("n"));
        }
        assert_eq!(dpop.api_nonces.lock().len(), MAX_ORIGINS);
        assert_eq!(dpop.api_nonce(&url("api.example")), None);
        assert!(dpop.token_nonce_from(&headers("t1")));
        assert!(!dpop.token_nonce_from(&headers("t1")));
        assert_eq!(dpop.token_nonce().as_deref(), Some("t1"));
        assert!(!dpop.token_nonce_from(&HeaderMap::new()));
    }
}
