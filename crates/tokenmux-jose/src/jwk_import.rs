//! A private JSON Web Key (RFC 7517/7518/8037) read into a key pair.

use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::Deserialize;

use crate::private_key::KeyPair;
use crate::{Algorithm, KeyError};

pub(crate) struct Imported {
    pub(crate) key: KeyPair,
    pub(crate) kid: Option<String>,
    pub(crate) alg: Option<Algorithm>,
}

/// The members read; private ones are never printed (no `Debug`).
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

pub(crate) fn import(bytes: &[u8]) -> Result<Imported, KeyError> {
    // serde's message could quote a member's value: it is not kept.
    let jwk: Jwk = serde_json::from_slice(bytes).map_err(|_| KeyError::NotAKey)?;
    let member =
        |name: &'static str, value: &Option<String>| -> Result<SecretSlice<u8>, KeyError> {
            value
                .as_deref()
                .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
                .map(SecretSlice::from)
                .ok_or(KeyError::JwkMember(name))
        };
    let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let components = KeyPairComponents {
                public_key: PublicKeyComponents {
                    n: member("n", &jwk.n)?,
                    e: member("e", &jwk.e)?,
                },
                d: member("d", &jwk.d)?,
                p: member("p", &jwk.p)?,
                q: member("q", &jwk.q)?,
                dP: member("dp", &jwk.dp)?,
                dQ: member("dq", &jwk.dq)?,
                qInv: member("qi", &jwk.qi)?,
            };
            let components = KeyPairComponents {
                public_key: PublicKeyComponents {
                    n: components.public_key.n.expose_secret(),
                    e: components.public_key.e.expose_secret(),
                },
                d: components.d.expose_secret(),
                p: components.p.expose_secret(),
                q: components.q.expose_secret(),
                dP: components.dP.expose_secret(),
                dQ: components.dQ.expose_secret(),
                qInv: components.qInv.expose_secret(),
            };
            KeyPair::Rsa(
                RsaKeyPair::from_components(&components).map_err(|_| KeyError::Rejected("RSA"))?,
            )
        }
        ("EC", Some("P-256")) => {
            let (x, y) = (member("x", &jwk.x)?, member("y", &jwk.y)?);
            let mut point = vec![4u8];
            point.extend_from_slice(x.expose_secret());
            point.extend_from_slice(y.expose_secret());
            KeyPair::Ec(
                EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    member("d", &jwk.d)?.expose_secret(),
                    &point,
                )
                .map_err(|_| KeyError::Rejected("EC P-256"))?,
            )
        }
        ("OKP", Some("Ed25519")) => KeyPair::Ed(
            Ed25519KeyPair::from_seed_and_public_key(
                member("d", &jwk.d)?.expose_secret(),
                member("x", &jwk.x)?.expose_secret(),
            )
            .map_err(|_| KeyError::Rejected("Ed25519"))?,
        ),
        // Neither member is quoted: a wrong file's values are not ours to print.
        _ => {
            return Err(KeyError::Unsupported(
                "a JWK that is not kty RSA, EC with crv P-256, or OKP with crv Ed25519".into(),
            ));
        }
    };
    let alg = match jwk.alg.as_deref() {
        None => None,
        Some(name) => Some(Algorithm::from_name(name).ok_or_else(|| {
            KeyError::Unsupported("a JWK whose alg is not RS256, PS256, ES256 or EdDSA".into())
        })?),
    };
    Ok(Imported {
        key,
        kid: jwk.kid,
        alg,
    })
}
