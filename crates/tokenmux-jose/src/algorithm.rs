//! The JWS algorithms tokenmux signs with (RFC 7518 names).

use std::fmt;

/// A JWS `alg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256 (`client_secret_jwt`).
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256, the signature as `r || s`.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// The `alg` header value, e.g. `RS256`.
    ///
    /// ```
    /// assert_eq!(tokenmux_jose::Algorithm::EdDSA.name(), "EdDSA");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm an `alg` names, if tokenmux signs with it.
    ///
    /// ```
    /// use tokenmux_jose::Algorithm;
    /// assert_eq!(Algorithm::from_name("PS256"), Some(Algorithm::PS256));
    /// assert_eq!(Algorithm::from_name("none"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Algorithm> {
        [
            Algorithm::HS256,
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ]
        .into_iter()
        .find(|alg| alg.name() == name)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
