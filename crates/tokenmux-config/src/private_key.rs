//! A client's private key, as a config file and the command line give it:
//! the key's text (a PEM block or a JWK, usually `{file: PATH}`), an
//! optional `kid` for the JWT header, and an optional algorithm (`PS256`
//! instead of an RSA key's default `RS256`). The CLI and config files
//! read keys here, so both accept the same keys and say the same things.

use tokenmux::jose::{Algorithm, KeyError, PrivateKey};
use tokenmux_wire::Secret;

/// Why a private key cannot be used. It never quotes the key, nor the
/// algorithm given (it may be a pasted secret).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrivateKeyProblem {
    /// The text is not a key tokenmux can sign with.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The algorithm is not one tokenmux signs with.
    #[error("the algorithm is not one of RS256, PS256, ES256 and EdDSA")]
    UnknownAlgorithm,
}

/// The key in `text`, with `key_id` as its `kid` (over a JWK's own) and
/// `algorithm` chosen (checked against the key).
///
/// ```
/// use tokenmux::jose::{Algorithm, Signer as _};
/// use tokenmux_config::read_private_key;
///
/// let pem = std::fs::read_to_string("../tokenmux-jose/tests/keys/rsa-pkcs8.pem").unwrap();
/// let key = read_private_key(&pem.into(), Some("key-1"), Some("PS256")).unwrap();
/// assert_eq!((key.algorithm(), key.key_id()), (Algorithm::PS256, Some("key-1")));
/// let error = read_private_key(&"hunter2".into(), None, None).unwrap_err();
/// assert!(!error.to_string().contains("hunter2"));
/// ```
pub fn read_private_key(
    text: &Secret,
    key_id: Option<&str>,
    algorithm: Option<&str>,
) -> Result<PrivateKey, PrivateKeyProblem> {
    let mut key = PrivateKey::from_bytes(text.expose_secret().as_bytes())?;
    if let Some(kid) = key_id {
        key = key.with_key_id(kid);
    }
    if let Some(name) = algorithm {
        let alg = Algorithm::from_name(name).ok_or(PrivateKeyProblem::UnknownAlgorithm)?;
        key = key.with_algorithm(alg)?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmux::jose::Signer as _;

    fn key_file(name: &str) -> Secret {
        let path = format!(
            "{}/../tokenmux-jose/tests/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap().into()
    }

    #[test]
    fn pem_and_jwk_keys_take_a_kid_and_an_algorithm_that_fits() {
        let ec = read_private_key(&key_file("ec-sec1.pem"), None, None).unwrap();
        assert_eq!((ec.algorithm(), ec.key_id()), (Algorithm::ES256, None));
        // A JWK's own kid, unless one is given.
        let jwk = read_private_key(&key_file("rsa.jwk"), None, None).unwrap();
        assert_eq!(jwk.key_id(), Some("rsa-1"));
        let renamed = read_private_key(&key_file("rsa.jwk"), Some("other"), None).unwrap();
        assert_eq!(renamed.key_id(), Some("other"));
        let ed = read_private_key(&key_file("ed25519-pkcs8.pem"), None, Some("EdDSA")).unwrap();
        assert_eq!(ed.algorithm(), Algorithm::EdDSA);
    }

    #[test]
    fn a_wrong_key_or_algorithm_is_named_without_quoting_either() {
        let problem = read_private_key(&key_file("ec-pkcs8.pem"), None, Some("RS256"));
        assert!(matches!(
            problem,
            Err(PrivateKeyProblem::Key(KeyError::Algorithm { .. }))
        ));
        let pasted = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ";
        let problem = read_private_key(&key_file("rsa-pkcs1.pem"), None, Some(pasted));
        assert_eq!(problem.unwrap_err(), PrivateKeyProblem::UnknownAlgorithm);
        let public = read_private_key(&key_file("rsa-public.pem"), None, None).unwrap_err();
        assert!(!public.to_string().contains("MII"), "{public}");
        // HS256 is a shared secret's algorithm, not a private key's.
        let hs = read_private_key(&key_file("rsa-pkcs8.pem"), None, Some("HS256"));
        assert!(matches!(
            hs,
            Err(PrivateKeyProblem::Key(KeyError::Algorithm { .. }))
        ));
    }
}
