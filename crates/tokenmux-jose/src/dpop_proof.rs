//! A DPoP proof (RFC 9449 §4.2): a JWT of type `dpop+jwt` carrying the
//! public key, signed for one request (`htm`, `htu`), fresh every time
//! (`jti`, `iat`), with the server's nonce and the access token's hash
//! when there are.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::{Jwt, SignError, Signer};

/// The claims of one proof.
///
/// ```
/// use tokenmux_jose::DpopProof;
///
/// let claims = DpopProof::new("post", "https://as.example/token?x=1#f")
///     .with_nonce("n-1")
///     .with_access_token("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
///     .claims();
/// assert_eq!(claims["htm"], "POST");
/// assert_eq!(claims["htu"], "https://as.example/token");
/// assert_eq!(claims["nonce"], "n-1");
/// // RFC 9449 §7.1's example token and its hash.
/// assert_eq!(claims["ath"], "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
/// assert_ne!(claims["jti"], DpopProof::new("POST", "https://as.example/token").claims()["jti"]);
/// ```
#[derive(Clone, Debug)]
pub struct DpopProof {
    htm: String,
    htu: String,
    nonce: Option<String>,
    ath: Option<String>,
}

impl DpopProof {
    /// A proof for a request with method `htm` to `htu` (its query and
    /// fragment are dropped, as RFC 9449 §4.2 asks).
    pub fn new(htm: &str, htu: &str) -> DpopProof {
        let end = htu.find(['?', '#']).unwrap_or(htu.len());
        DpopProof {
            htm: htm.to_ascii_uppercase(),
            htu: htu[..end].to_owned(),
            nonce: None,
            ath: None,
        }
    }

    /// Carries the server's `DPoP-Nonce`.
    pub fn with_nonce(mut self, nonce: &str) -> DpopProof {
        self.nonce = Some(nonce.to_owned());
        self
    }

    /// Binds the proof to the access token it accompanies (`ath`: its
    /// SHA-256, base64url), for a request to a resource server.
    pub fn with_access_token(mut self, token: &str) -> DpopProof {
        let hash = digest::digest(&digest::SHA256, token.as_bytes());
        self.ath = Some(URL_SAFE_NO_PAD.encode(hash));
        self
    }

    /// The claims, with a fresh `jti` and `iat`.
    pub fn claims(&self) -> Value {
        let now = crate::assertion::now_secs();
        let mut claims = json!({
            "jti": crate::assertion::fresh_id(),
            "htm": self.htm,
            "htu": self.htu,
            "iat": now,
        });
        if let Value::Object(map) = &mut claims {
            if let Some(nonce) = &self.nonce {
                map.insert("nonce".into(), nonce.clone().into());
            }
            if let Some(ath) = &self.ath {
                map.insert("ath".into(), ath.clone().into());
            }
        }
        claims
    }

    /// Signs a fresh proof with `key`, whose public JWK goes in the header
    /// (a signer without one, a shared secret, cannot make proofs).
    pub async fn sign(&self, key: &dyn Signer) -> Result<SecretString, SignError> {
        let jwk = key.public_jwk().ok_or(SignError::Claims)?;
        Jwt::new(self.claims())
            .with_header("typ", "dpop+jwt")
            .with_header("jwk", jwk)
            .sign(key)
            .await
    }
}
