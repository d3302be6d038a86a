//! Every key format signs a JWT that an independent JWS implementation
//! (the `jsonwebtoken` crate) verifies with the matching public key.

// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use jsonwebtoken::{Algorithm as JwtAlg, DecodingKey, Validation, decode, decode_header};
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokenmux_jose::{Algorithm, ClientAssertion, HmacKey, KeyError, PrivateKey, Signer};

fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn decoding_key(alg: Algorithm, public: &str) -> (DecodingKey, JwtAlg) {
    let pem = key_file(public);
    match alg {
        Algorithm::RS256 => (DecodingKey::from_rsa_pem(&pem).unwrap(), JwtAlg::RS256),
        Algorithm::PS256 => (DecodingKey::from_rsa_pem(&pem).unwrap(), JwtAlg::PS256),
        Algorithm::ES256 => (DecodingKey::from_ec_pem(&pem).unwrap(), JwtAlg::ES256),
        Algorithm::EdDSA => (DecodingKey::from_ed_pem(&pem).unwrap(), JwtAlg::EdDSA),
        Algorithm::HS256 => unreachable!("no public key"),
    }
}

async fn verified(signer: &dyn Signer, key: DecodingKey, alg: JwtAlg) -> Value {
    let audience = "https://as.example/token";
    let jwt = ClientAssertion::new("client-1", audience)
        .sign(signer)
        .await
        .unwrap();
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["client-1"]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let header = decode_header(jwt.expose_secret()).unwrap();
    assert_eq!(header.alg, alg);
    assert_eq!(header.kid.as_deref(), signer.key_id());
    decode::<Value>(jwt.expose_secret(), &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn every_key_format_and_algorithm_verifies_elsewhere() {
    let cases = [
        ("rsa-pkcs8.pem", Algorithm::RS256, "rsa-public.pem"),
        ("rsa-pkcs1.pem", Algorithm::RS256, "rsa-public.pem"),
        ("rsa-pkcs8.pem", Algorithm::PS256, "rsa-public.pem"),
        ("rsa.jwk", Algorithm::PS256, "rsa-public.pem"),
        ("rsa.jwk", Algorithm::RS256, "rsa-public.pem"),
        ("ec-pkcs8.pem", Algorithm::ES256, "ec-public.pem"),
        ("ec-sec1.pem", Algorithm::ES256, "ec-public.pem"),
        ("ec.jwk", Algorithm::ES256, "ec-public.pem"),
        ("ed25519-pkcs8.pem", Algorithm::EdDSA, "ed25519-public.pem"),
        ("ed25519.jwk", Algorithm::EdDSA, "ed25519-public.pem"),
    ];
    for (file, alg, public) in cases {
        let key = PrivateKey::from_bytes(&key_file(file))
            .unwrap()
            .with_algorithm(alg)
            .unwrap();
        let (decoding, jwt_alg) = decoding_key(alg, public);
        let claims = verified(&key, decoding, jwt_alg).await;
        assert_eq!(claims["sub"], "client-1", "{file} {alg}");
    }
}

#[tokio::test]
async fn a_jwk_keeps_its_kid_and_a_pem_key_takes_one() {
    let jwk = PrivateKey::from_bytes(&key_file("rsa.jwk")).unwrap();
    assert_eq!(jwk.key_id(), Some("rsa-1"));
    let pem = PrivateKey::from_pem(&key_file("ec-sec1.pem"))
        .unwrap()
        .with_key_id("ec-7");
    let (decoding, alg) = decoding_key(Algorithm::ES256, "ec-public.pem");
    verified(&pem, decoding, alg).await;
}

#[tokio::test]
async fn client_secret_jwt_is_hs256_over_the_secret() {
    let secret = "a-shared-client-secret-0123456789abcdef";
    let claims = verified(
        &HmacKey::new(secret),
        DecodingKey::from_secret(secret.as_bytes()),
        JwtAlg::HS256,
    )
    .await;
    assert_eq!(claims["iss"], "client-1");
}

#[tokio::test]
async fn a_signature_by_another_key_does_not_verify() {
    // The check above can fail: another key's signature is refused.
    let key = PrivateKey::from_pem(&key_file("ec-pkcs8.pem")).unwrap();
    let jwt = ClientAssertion::new("c", "a").sign(&key).await.unwrap();
    let (decoding, alg) = decoding_key(Algorithm::RS256, "rsa-public.pem");
    assert!(decode::<Value>(jwt.expose_secret(), &decoding, &Validation::new(alg)).is_err());
}

#[test]
fn bad_keys_are_typed_errors_that_quote_nothing() {
    let secretish = "hunter2-not-a-key";
    assert_eq!(
        PrivateKey::from_bytes(secretish.as_bytes()).unwrap_err(),
        KeyError::NotAKey
    );
    let bad_jwk = format!(r#"{{"kty":"EC","crv":"P-256","x":"{secretish}","y":"AA","d":"AA"}}"#);
    let error = PrivateKey::from_bytes(bad_jwk.as_bytes()).unwrap_err();
    assert!(!error.to_string().contains(secretish), "{error}");
    let odd = format!(r#"{{"kty":"{secretish}","d":"AA"}}"#);
    let error = PrivateKey::from_bytes(odd.as_bytes()).unwrap_err();
    assert!(matches!(error, KeyError::Unsupported(_)));
    assert!(!error.to_string().contains(secretish), "{error}");
    let encrypted =
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_eq!(
        PrivateKey::from_bytes(encrypted).unwrap_err(),
        KeyError::Encrypted
    );
    // A public key where a private one belongs.
    assert_eq!(
        PrivateKey::from_bytes(&key_file("rsa-public.pem")).unwrap_err(),
        KeyError::NotAKey
    );
}

#[test]
fn debug_shows_no_key_material() {
    let key = PrivateKey::from_bytes(&key_file("ed25519.jwk")).unwrap();
    let jwk: Value = serde_json::from_slice(&key_file("ed25519.jwk")).unwrap();
    let d = jwk["d"].as_str().unwrap();
    assert!(!format!("{key:?}").contains(d));
    assert_eq!(format!("{key:?}"), "PrivateKey { alg: EdDSA, kid: None }");
}

#[test]
fn the_public_jwk_is_the_key_files_public_half_and_its_thumbprint_matches() {
    for file in ["rsa.jwk", "ec.jwk", "ed25519.jwk"] {
        let private: Value = serde_json::from_slice(&key_file(file)).unwrap();
        let key = PrivateKey::from_bytes(&key_file(file)).unwrap();
        let public = key.public_jwk().unwrap();
        for (name, value) in public.as_object().unwrap() {
            assert_eq!(&private[name], value, "{file}: {name}");
        }
        assert!(public.get("d").is_none(), "{file}");
        let thumbprint = tokenmux_jose::thumbprint(&public).unwrap();
        assert_eq!(
            Some(thumbprint),
            tokenmux_jose::thumbprint(&private),
            "{file}"
        );
    }
    // The same key from its PEM form has the same public JWK.
    let pem = PrivateKey::from_pem(&key_file("ec-sec1.pem")).unwrap();
    let jwk = PrivateKey::from_jwk(&key_file("ec.jwk")).unwrap();
    assert_eq!(pem.public_jwk(), jwk.public_jwk());
}

/// A DPoP proof verifies with the public key its own header carries, as a
/// server checks it (RFC 9449 §4.3), and has the claims of §4.2.
#[tokio::test]
async fn a_dpop_proof_verifies_with_the_jwk_in_its_header() {
    use tokenmux_jose::{DpopKey, DpopProof};
    let key = DpopKey::generate().unwrap();
    let proof = DpopProof::new("POST", "https://as.example/token")
        .with_nonce("server-nonce")
        .sign(&key)
        .await
        .unwrap();
    let header = decode_header(proof.expose_secret()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
    assert_eq!(header.alg, JwtAlg::ES256);
    let jwk = header.jwk.expect("a jwk header");
    let public = serde_json::to_value(&jwk).unwrap();
    assert!(public.get("d").is_none(), "only the public half: {public}");
    assert_eq!(
        tokenmux_jose::thumbprint(&public).as_deref(),
        Some(key.thumbprint())
    );
    let mut validation = Validation::new(JwtAlg::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = decode::<Value>(
        proof.expose_secret(),
        &DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], "https://as.example/token");
    assert_eq!(claims["nonce"], "server-nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 22));
    assert!(claims.get("ath").is_none());
}
