//! JWT bearer grants (RFC 7523 §2.1, §3), checked as an authorization
//! server checks them (the JWT itself by `jws.rs`): signed by the client's key,
//! `iss` the client id, a `sub`, `aud` the token endpoint's URL (or the
//! issuer), an `exp` to come, a `jti` never seen before, and each claim the
//! spec requires. A claim whose value starts with `invalid` is refused as
//! `invalid_scope`, as a refused parameter is.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use tokenmux_wire::{ErrorCondition, GrantAssertion};

use crate::MockConfig;
use crate::assertion::{Audiences, SeenJtis};
use crate::jws::{self, Expected, Key};

#[derive(Deserialize)]
struct Claims {
    jti: String,
    #[serde(flatten)]
    rest: HashMap<String, Value>,
}

/// Checks the assertion sent for `spec`'s field; the error condition and
/// why not, if it fails.
pub(crate) fn check(
    spec: &GrantAssertion,
    sent: Option<&str>,
    config: &MockConfig,
    audiences: &Audiences,
    seen: &SeenJtis,
) -> Result<(), (ErrorCondition, String)> {
    let grant = |why: String| (ErrorCondition::InvalidGrant, why);
    let jwt = sent.ok_or_else(|| grant("the assertion is missing".into()))?;
    let public = config
        .client_public_key
        .as_deref()
        .ok_or_else(|| grant("no client public key is configured".into()))?;
    let expected = Expected {
        issuer: &config.client.client_id,
        subject: None,
        audience: Some(audiences.of(spec.audience)),
        required: &["exp", "aud", "iss", "sub"],
    };
    let claims: Claims = jws::verify(jwt, Key::Public(public), &expected)
        .map_err(|refused| grant(format!("the assertion: {refused}")))?;
    for claim in spec.claims {
        let value = claims.rest.get(claim.claim).and_then(Value::as_str);
        match value {
            None if claim.parameter.required => {
                return Err((
                    ErrorCondition::InvalidRequest,
                    format!("the assertion has no `{}` claim", claim.claim),
                ));
            }
            Some(value) if value.starts_with("invalid") => {
                return Err((
                    ErrorCondition::InvalidScope,
                    format!("the requested {} is invalid", claim.parameter.name),
                ));
            }
            _ => {}
        }
    }
    match seen.first_time(&claims.jti) {
        true => Ok(()),
        false => Err(grant("the assertion's jti was used before".into())),
    }
}

#[cfg(test)]
#[cfg(feature = "jwt")]
mod tests {
    use secrecy::ExposeSecret as _;
    use tokenmux_jose::{ClientAssertion, PrivateKey};
    use tokenmux_wire::{AssertionAudience, AssertionClaim, ParameterSpec};

    use super::*;

    const URL: &str = "http://127.0.0.1:9/sa/token";

    static SPEC: GrantAssertion = GrantAssertion {
        audience: AssertionAudience::TokenEndpoint,
        claims: &[AssertionClaim {
            claim: "scope",
            parameter: ParameterSpec {
                name: "scope",
                required: true,
                default: None,
                secret: false,
            },
        }],
    };

    fn audiences() -> Audiences {
        Audiences {
            token_endpoint: URL.into(),
            issuer: "http://127.0.0.1:9/sa".into(),
        }
    }

    async fn signed(key: &str, assertion: ClientAssertion) -> String {
        let key = PrivateKey::from_pem(key.as_bytes()).unwrap();
        assertion
            .sign(&key)
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    #[tokio::test]
    async fn a_fresh_assertion_with_its_claims_passes_once_and_a_wrong_one_is_refused() {
        let config = MockConfig::default();
        let seen = SeenJtis::default();
        let key = crate::DEFAULT_CLIENT_PRIVATE_KEY;
        let id = &config.client.client_id;
        let check = |jwt: &str| check(&SPEC, Some(jwt), &config, &audiences(), &seen);
        let right = signed(
            key,
            ClientAssertion::new(id, URL).with_claim("scope", "a b"),
        )
        .await;
        check(&right).unwrap();
        let (condition, why) = check(&right).unwrap_err();
        assert_eq!(condition, ErrorCondition::InvalidGrant);
        assert!(why.contains("jti"), "{why}");
        let other_key = include_str!("../../tokenmux-jose/tests/keys/ec-pkcs8.pem");
        for (jwt, expected) in [
            (
                signed(key, ClientAssertion::new(id, URL)).await,
                ErrorCondition::InvalidRequest,
            ),
            (
                signed(
                    key,
                    ClientAssertion::new(id, URL).with_claim("scope", "invalid-x"),
                )
                .await,
                ErrorCondition::InvalidScope,
            ),
            (
                signed(
                    other_key,
                    ClientAssertion::new(id, URL).with_claim("scope", "a"),
                )
                .await,
                ErrorCondition::InvalidGrant,
            ),
            (
                signed(
                    key,
                    ClientAssertion::new("other", URL).with_claim("scope", "a"),
                )
                .await,
                ErrorCondition::InvalidGrant,
            ),
            (
                signed(
                    key,
                    ClientAssertion::new(id, "http://elsewhere/").with_claim("scope", "a"),
                )
                .await,
                ErrorCondition::InvalidGrant,
            ),
        ] {
            assert_eq!(check(&jwt).unwrap_err().0, expected, "{jwt}");
        }
        let missing = super::check(&SPEC, None, &config, &audiences(), &seen);
        assert_eq!(missing.unwrap_err().0, ErrorCondition::InvalidGrant);
    }
}
