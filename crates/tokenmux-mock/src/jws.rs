//! The one place the mock verifies a JWT: the key and the algorithms it
//! allows, the signature, and the registered claims. It uses
//! `jsonwebtoken`, a JOSE implementation independent of the client's own
//! (`tokenmux-jose`), behind the `jwt` feature (on by default).
//!
//! Without that feature (the quickstart's build, which uses no
//! assertion), every JWT is refused with a message that names the
//! feature: a JWT is never accepted unchecked.

use std::fmt;

use serde::de::DeserializeOwned;

/// The key a JWT must be signed with.
#[derive(Clone, Copy)]
// Without the feature, nothing reads a key or a claim.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) enum Key<'a> {
    /// HS256 keyed by the client secret (`client_secret_jwt`).
    Secret(&'a str),
    /// The client's public key: a PEM `PUBLIC KEY` block or a public JWK
    /// (RS256 or PS256 for RSA, ES256 for P-256, EdDSA for Ed25519).
    Public(&'a str),
}

/// The registered claims a JWT must carry, and the values they must have.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) struct Expected<'a> {
    /// `iss`.
    pub(crate) issuer: &'a str,
    /// `sub`, when it is checked.
    pub(crate) subject: Option<&'a str>,
    /// `aud`, when it is checked.
    pub(crate) audience: Option<&'a str>,
    /// The registered claims that must be there (`exp` is always checked).
    pub(crate) required: &'a [&'a str],
}

/// Why a JWT was refused.
#[derive(Debug)]
// Without the feature, only `Unsupported` is made.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) enum Refused {
    /// The configured key could not be read.
    Key(String),
    /// The JWT's header could not be read.
    Header(String),
    /// The header's `alg` does not fit the key.
    Algorithm(String),
    /// The signature or a claim is wrong, or the JWT is expired.
    Invalid(String),
    /// Built without the `jwt` feature: no JWT can be checked.
    #[cfg(not(feature = "jwt"))]
    Unsupported,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(why) => write!(f, "the client public key: {why}"),
            Self::Header(why) => write!(f, "the JWT's header: {why}"),
            Self::Algorithm(alg) => write!(f, "the JWT's alg {alg} does not fit the client's key"),
            Self::Invalid(why) => write!(f, "the JWT is not valid: {why}"),
            #[cfg(not(feature = "jwt"))]
            Self::Unsupported => f.write_str(
                "this mock was built without its `jwt` feature, so it checks no JWT \
                 (build tokenmux-mock with its default features)",
            ),
        }
    }
}

/// `jwt`'s claims, once its signature, `alg`, `exp` and `expected` are
/// checked.
#[cfg(feature = "jwt")]
pub(crate) fn verify<C: DeserializeOwned>(
    jwt: &str,
    key: Key<'_>,
    expected: &Expected<'_>,
) -> Result<C, Refused> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    let (key, algorithms) = match key {
        Key::Secret(secret) => (
            DecodingKey::from_secret(secret.as_bytes()),
            vec![Algorithm::HS256],
        ),
        Key::Public(text) => public_key(text)?,
    };
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| Refused::Header(e.to_string()))?;
    if !algorithms.contains(&header.alg) {
        return Err(Refused::Algorithm(format!("{:?}", header.alg)));
    }
    let mut validation = Validation::new(header.alg);
    match expected.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation.set_issuer(&[expected.issuer]);
    validation.sub = expected.subject.map(str::to_owned);
    validation.set_required_spec_claims(expected.required);
    jsonwebtoken::decode::<C>(jwt, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| Refused::Invalid(e.to_string()))
}

/// Without the `jwt` feature: every JWT is refused.
#[cfg(not(feature = "jwt"))]
pub(crate) fn verify<C: DeserializeOwned>(
    _jwt: &str,
    _key: Key<'_>,
    _expected: &Expected<'_>,
) -> Result<C, Refused> {
    Err(Refused::Unsupported)
}

/// The client's public key (a PEM `PUBLIC KEY` block or a public JWK) and
/// the algorithms it verifies.
#[cfg(feature = "jwt")]
fn public_key(
    text: &str,
) -> Result<(jsonwebtoken::DecodingKey, Vec<jsonwebtoken::Algorithm>), Refused> {
    use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
    use jsonwebtoken::{Algorithm, DecodingKey};

    let refused = |e: jsonwebtoken::errors::Error| Refused::Key(e.to_string());
    if text.trim_start().starts_with('{') {
        let jwk: Jwk =
            serde_json::from_str(text).map_err(|e| Refused::Key(format!("the JWK: {e}")))?;
        let algorithms = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => vec![Algorithm::RS256, Algorithm::PS256],
            AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256],
            AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
            _ => return Err(Refused::Key("the JWK is not RSA, EC or OKP".into())),
        };
        return Ok((DecodingKey::from_jwk(&jwk).map_err(refused)?, algorithms));
    }
    let pem = text.as_bytes();
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, vec![Algorithm::RS256, Algorithm::PS256]));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((key, vec![Algorithm::ES256]));
    }
    DecodingKey::from_ed_pem(pem)
        .map(|key| (key, vec![Algorithm::EdDSA]))
        .map_err(refused)
}

#[cfg(test)]
#[cfg(not(feature = "jwt"))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_every_jwt_is_refused_and_the_feature_is_named() {
        let expected = Expected {
            issuer: "client-1",
            subject: None,
            audience: None,
            required: &["exp"],
        };
        // Even a well-formed HS256 JWT: it is not checked, so not accepted.
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJjbGllbnQtMSJ9.c2ln";
        for key in [Key::Secret("s"), Key::Public("{}")] {
            let refused = verify::<serde_json::Value>(jwt, key, &expected).unwrap_err();
            assert!(matches!(refused, Refused::Unsupported));
            assert!(refused.to_string().contains("`jwt` feature"), "{refused}");
        }
    }
}
