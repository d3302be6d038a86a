//! The JWT bearer grant (RFC 7523 §2.1, the service-account shape): the
//! body's `assertion` is a JWT the client signs with its private key for
//! each request: `iss` its client id, `sub` its client id unless the spec
//! fills `sub` from a parameter, `aud` the token endpoint (or the issuer),
//! a fresh `jti`, `iat` and `exp`, and the claims the spec names
//! (`x-tokenmux-assertion`), such as `scope`. The glue puts a placeholder
//! in the body; the request hook signs and replaces it, so a retry sends a
//! new assertion.

use reqwest::Request;
use secrecy::ExposeSecret as _;
use tokenmux_jose::{ClientAssertion, SignError};

use crate::body_fields::{BodyFieldsError, set_fields};
use crate::config::GrantAssertionSigning;
use crate::{BodyEncoding, ClientConfig, Secret};

/// What the glue writes where the assertion goes, until the hook signs.
pub(crate) const PLACEHOLDER: &str = "tokenmux-assertion";

/// Why no grant assertion could be added.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GrantAssertionError {
    /// The audience is the issuer, and none is known.
    #[error(
        "the grant assertion's audience is the issuer, and none is set; \
         give the issuer (ClientConfig::with_issuer)"
    )]
    NoIssuer,
    /// The body cannot carry it.
    #[error("the grant assertion goes in the request body: {0}")]
    Body(#[from] BodyFieldsError),
    /// Signing failed.
    #[error("cannot sign the grant assertion: {0}")]
    Sign(#[from] SignError),
}

/// Signs a fresh assertion and puts it in its field.
pub(crate) async fn add(
    request: &mut Request,
    body: BodyEncoding,
    signing: &GrantAssertionSigning,
    config: &ClientConfig,
) -> Result<(), GrantAssertionError> {
    let audience = crate::client_assertion::audience(request, signing.audience(), config)
        .ok_or(GrantAssertionError::NoIssuer)?;
    let mut assertion = ClientAssertion::new(signing.client_id(), &audience);
    for (claim, value) in signing.claims() {
        assertion = match *claim {
            "sub" => assertion.with_subject(value.expose_secret()),
            claim => assertion.with_claim(claim, value.expose_secret()),
        };
    }
    let jwt = assertion.sign(signing.signer()).await?;
    // Before it is sent: an echo of it in the answer is then scrubbed.
    config
        .sent_secrets()
        .record(Secret::new(jwt.expose_secret()));
    set_fields(request, body, &[(signing.field(), jwt.expose_secret())])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::Engine as _;
    use serde_json::Value;
    use tokenmux_jose::HmacKey;

    use crate::AssertionAudience;

    use super::*;

    fn claims(jwt: &str) -> Value {
        let payload = jwt.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn signing(
        audience: AssertionAudience,
        claims: Vec<(&'static str, Secret)>,
    ) -> GrantAssertionSigning {
        GrantAssertionSigning::new(
            Arc::new(HmacKey::new("k")),
            "sa@example",
            audience,
            "assertion",
            claims,
        )
    }

    #[tokio::test]
    async fn the_placeholder_becomes_a_fresh_assertion_with_the_specs_claims() {
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={PLACEHOLDER}"
        );
        let mut request = Request::new(
            reqwest::Method::POST,
            "http://127.0.0.1:1/token?x=1".parse().unwrap(),
        );
        *request.body_mut() = Some(body.into());
        let signing = signing(
            AssertionAudience::TokenEndpoint,
            vec![
                ("scope", Secret::new("a b")),
                ("sub", Secret::new("user@example")),
            ],
        );
        let config = ClientConfig::default();
        add(
            &mut request,
            BodyEncoding::FormUrlencoded,
            &signing,
            &config,
        )
        .await
        .unwrap();
        let fields: Vec<(String, String)> =
            form_urlencoded::parse(request.body().unwrap().as_bytes().unwrap())
                .into_owned()
                .collect();
        assert_eq!(fields[0].0, "grant_type");
        assert_eq!(fields[1].0, "assertion");
        let claims = claims(&fields[1].1);
        assert_eq!(claims["iss"], "sa@example");
        assert_eq!(claims["sub"], "user@example");
        assert_eq!(claims["scope"], "a b");
        assert_eq!(claims["aud"], "http://127.0.0.1:1/token");
        assert_eq!(config.sent_secrets().all()[0].expose_secret(), fields[1].1);
    }

    #[tokio::test]
    async fn the_issuer_audience_needs_an_issuer() {
        let mut request = Request::new(
            reqwest::Method::POST,
            "http://127.0.0.1:1/t".parse().unwrap(),
        );
        *request.body_mut() = Some(format!(r#"{{"assertion":"{PLACEHOLDER}"}}"#).into());
        let signing = signing(AssertionAudience::Issuer, Vec::new());
        let error = add(
            &mut request,
            BodyEncoding::Json,
            &signing,
            &ClientConfig::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, GrantAssertionError::NoIssuer));
        let config = ClientConfig::default().with_issuer("https://as.example");
        add(&mut request, BodyEncoding::Json, &signing, &config)
            .await
            .unwrap();
        let json: Value =
            serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
        let claims = claims(json["assertion"].as_str().unwrap());
        assert_eq!(claims["aud"], "https://as.example");
        // With no `sub` claim from a parameter, `sub` is the client id (RFC 7523 §3).
        assert_eq!(claims["sub"], "sa@example");
    }
}
