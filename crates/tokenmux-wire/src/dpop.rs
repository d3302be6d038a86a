//! DPoP on token requests (RFC 9449 §5): the request hook signs a fresh
//! proof for the request's method and URL, with the server's nonce when
//! one is known, and records it for the scrubber. What a server's answer
//! says about nonces is read here too.

use std::sync::Arc;

use reqwest::Request;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret as _;
use tokenmux_jose::{DpopKey, DpopProof, SignError};

use crate::{Secret, SentSecrets};

/// The request header that carries a proof.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The response header that carries a server's nonce (RFC 9449 §8).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The error code of a server that wants a nonce in the proof (§8).
pub const USE_DPOP_NONCE: &str = "use_dpop_nonce";

/// The longest nonce kept: a server's nonce is short; a longer one is
/// not echoed into every later proof.
const MAX_NONCE: usize = 512;

/// How each token request proves possession of a DPoP key: the key, and
/// the nonce the server last gave.
#[derive(Clone, Debug)]
pub struct DpopSigning {
    key: Arc<DpopKey>,
    nonce: Option<String>,
}

impl DpopSigning {
    /// Proofs by `key`, carrying `nonce` when there is one.
    pub fn new(key: Arc<DpopKey>, nonce: Option<String>) -> Self {
        Self { key, nonce }
    }

    /// The key.
    pub fn key(&self) -> &Arc<DpopKey> {
        &self.key
    }
}

/// Signs a fresh proof for `request` as it will be sent and adds it as the
/// `DPoP` header; the proof is recorded in `sent` for the scrubber.
pub(crate) async fn add_proof(
    request: &mut Request,
    signing: &DpopSigning,
    sent: &SentSecrets,
) -> Result<(), SignError> {
    let mut proof = DpopProof::new(request.method().as_str(), request.url().as_str());
    if let Some(nonce) = &signing.nonce {
        proof = proof.with_nonce(nonce);
    }
    let proof = proof.sign(signing.key.as_ref()).await?;
    sent.record(Secret::new(proof.expose_secret().to_owned()));
    let mut value = HeaderValue::try_from(proof.expose_secret()).map_err(|_| SignError::Claims)?;
    value.set_sensitive(true);
    request.headers_mut().insert(DPOP, value);
    Ok(())
}

/// The nonce a server sent in `headers` (`DPoP-Nonce`), if it is one:
/// RFC 9449 §8.1's characters (printable ASCII but space, `"` and `\`),
/// at most 512 of them.
///
/// ```
/// use reqwest::header::{HeaderMap, HeaderValue};
/// use tokenmux_wire::dpop_nonce;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(dpop_nonce(&headers), None);
/// headers.insert("dpop-nonce", HeaderValue::from_static("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
/// assert_eq!(dpop_nonce(&headers).as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
/// headers.insert("dpop-nonce", HeaderValue::from_static("a \"b\""));
/// assert_eq!(dpop_nonce(&headers), None);
/// ```
pub fn dpop_nonce(headers: &HeaderMap) -> Option<String> {
    let nonce = headers.get(DPOP_NONCE)?.to_str().ok()?;
    is_dpop_nonce(nonce).then(|| nonce.to_owned())
}

/// Whether `text` is a DPoP nonce [`dpop_nonce`] would keep (a nonce a
/// client passes back by hand: the agent's `nonce`, `--dpop-nonce`).
///
/// ```
/// assert!(tokenmux_wire::is_dpop_nonce("eyJ7S_zG.eyJH0-Z"));
/// assert!(!tokenmux_wire::is_dpop_nonce("a b"));
/// assert!(!tokenmux_wire::is_dpop_nonce(""));
/// ```
pub fn is_dpop_nonce(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NONCE
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}
