//! Puts a fresh client assertion on a token request (RFC 7523 §2.2):
//! `client_assertion_type` and `client_assertion` join the body's fields,
//! signed for the request's own URL (or the issuer). An app JWT goes in
//! `Authorization: Bearer` instead. Called by the request hook, once per
//! request, retries included, so no assertion is reused.

use reqwest::Request;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret as _;
use tokenmux_jose::{AppJwt, ClientAssertion, SignError};

use crate::body_fields::{BodyFieldsError, set_fields};

use crate::{AssertionAudience, AssertionSigning, BodyEncoding, ClientConfig, Secret};

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why no assertion could be added.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssertionError {
    /// The audience is the issuer, and none is known.
    #[error(
        "the client assertion's audience is the issuer, and none is set; \
         give the issuer (ClientConfig::with_issuer)"
    )]
    NoIssuer,
    /// The body cannot carry it.
    #[error("a client assertion goes in the request body: {0}")]
    Body(#[from] BodyFieldsError),
    /// The signed JWT cannot be a header value (a signer's bug).
    #[error("the signed app JWT is not a valid header value")]
    NotAHeaderValue,
    /// Signing failed.
    #[error("cannot sign the client assertion: {0}")]
    Sign(#[from] SignError),
}

/// Signs a fresh assertion and adds both fields to the body (or, for an
/// app JWT, the `Authorization` header).
pub(crate) async fn add(
    request: &mut Request,
    body: BodyEncoding,
    signing: &AssertionSigning,
    config: &ClientConfig,
) -> Result<(), AssertionError> {
    if signing.is_app_jwt() {
        return add_app_jwt(request, signing, config).await;
    }
    let audience = audience(request, signing.audience(), config).ok_or(AssertionError::NoIssuer)?;
    let assertion = ClientAssertion::new(signing.client_id(), &audience)
        .sign(signing.signer())
        .await?;
    // Before it is sent: an echo of it in the answer is then scrubbed.
    config
        .sent_secrets()
        .record(Secret::new(assertion.expose_secret()));
    let fields = [
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", assertion.expose_secret()),
    ];
    set_fields(request, body, &fields)?;
    Ok(())
}

/// The `aud` of an assertion on `request`: the token endpoint's URL
/// without its query or fragment, or the issuer (`None` when none is set).
/// Client assertions and JWT bearer grants address theirs alike.
pub(crate) fn audience(
    request: &Request,
    audience: AssertionAudience,
    config: &ClientConfig,
) -> Option<String> {
    match audience {
        AssertionAudience::TokenEndpoint => {
            let mut url = request.url().clone();
            url.set_query(None);
            url.set_fragment(None);
            Some(url.to_string())
        }
        AssertionAudience::Issuer => config.issuer().map(str::to_owned),
    }
}

/// Signs a fresh app JWT and sends it as `Authorization: Bearer`, marked
/// sensitive so HTTP libraries leave it out of their logs.
async fn add_app_jwt(
    request: &mut Request,
    signing: &AssertionSigning,
    config: &ClientConfig,
) -> Result<(), AssertionError> {
    let jwt = AppJwt::new(signing.client_id())
        .sign(signing.signer())
        .await?;
    config
        .sent_secrets()
        .record(Secret::new(jwt.expose_secret()));
    // A JWT is base64url and dots: always a valid header value.
    let mut value = HeaderValue::from_str(&format!("Bearer {}", jwt.expose_secret()))
        .map_err(|_| AssertionError::NotAHeaderValue)?;
    value.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Value;
    use tokenmux_jose::HmacKey;

    use super::*;

    fn request(body: &str) -> Request {
        let mut request = Request::new(
            reqwest::Method::POST,
            "http://127.0.0.1:1/oauth/token?tenant=a#frag"
                .parse()
                .unwrap(),
        );
        if !body.is_empty() {
            *request.body_mut() = Some(body.to_owned().into());
        }
        request
    }

    fn signing(audience: AssertionAudience) -> AssertionSigning {
        AssertionSigning::new(Arc::new(HmacKey::new("k")), "client-1", audience)
    }

    fn claims(assertion: &str) -> Value {
        use base64::Engine as _;
        let payload = assertion.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn body(request: &Request) -> &[u8] {
        request.body().and_then(|b| b.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn a_form_gains_both_fields_after_its_own_with_the_endpoint_as_audience() {
        let mut request = request("grant_type=client_credentials&scope=a+b");
        let signing = signing(AssertionAudience::TokenEndpoint);
        let config = ClientConfig::default();
        add(
            &mut request,
            BodyEncoding::FormUrlencoded,
            &signing,
            &config,
        )
        .await
        .unwrap();
        let fields: Vec<(String, String)> = form_urlencoded::parse(body(&request))
            .into_owned()
            .collect();
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "grant_type",
                "scope",
                "client_assertion_type",
                "client_assertion"
            ]
        );
        assert_eq!(fields[1].1, "a b");
        assert_eq!(fields[2].1, JWT_BEARER_ASSERTION_TYPE);
        let claims = claims(&fields[3].1);
        // The token endpoint's URL, without its query or fragment.
        assert_eq!(claims["aud"], "http://127.0.0.1:1/oauth/token");
        assert_eq!(claims["iss"], "client-1");
        // Recorded for the scrubber, as sent.
        assert_eq!(config.sent_secrets().all()[0].expose_secret(), fields[3].1);
    }

    #[tokio::test]
    async fn a_json_body_gains_members_and_the_issuer_can_be_the_audience() {
        let mut request = request(r#"{"grant_type":"client_credentials"}"#);
        let signing = signing(AssertionAudience::Issuer);
        let error = add(
            &mut request,
            BodyEncoding::Json,
            &signing,
            &Default::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, AssertionError::NoIssuer));
        let config = ClientConfig::default().with_issuer("https://as.example");
        add(&mut request, BodyEncoding::Json, &signing, &config)
            .await
            .unwrap();
        let json: Value = serde_json::from_slice(body(&request)).unwrap();
        assert_eq!(json["grant_type"], "client_credentials");
        assert_eq!(json["client_assertion_type"], JWT_BEARER_ASSERTION_TYPE);
        let claims = claims(json["client_assertion"].as_str().unwrap());
        assert_eq!(claims["aud"], "https://as.example");
    }

    #[tokio::test]
    async fn an_app_jwt_goes_in_the_authorization_header_and_the_body_is_left_alone() {
        let mut request = request("");
        let signing = AssertionSigning::app_jwt(Arc::new(HmacKey::new("k")), "12345");
        let config = ClientConfig::default();
        add(&mut request, BodyEncoding::None, &signing, &config)
            .await
            .unwrap();
        assert!(request.body().is_none());
        let header = &request.headers()[AUTHORIZATION];
        assert!(header.is_sensitive());
        let jwt = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let claims = claims(jwt);
        assert_eq!(claims["iss"], "12345");
        assert!(claims.get("aud").is_none() && claims.get("jti").is_none());
        assert_eq!(config.sent_secrets().all()[0].expose_secret(), jwt);
    }

    #[tokio::test]
    async fn no_body_or_a_body_that_is_no_object_is_an_error() {
        let signing = signing(AssertionAudience::TokenEndpoint);
        let mut empty = request("");
        let error = add(
            &mut empty,
            BodyEncoding::None,
            &signing,
            &Default::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(
            error,
            AssertionError::Body(BodyFieldsError::NoBody)
        ));
        let mut list = request("[1]");
        let error = add(&mut list, BodyEncoding::Json, &signing, &Default::default())
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            AssertionError::Body(BodyFieldsError::NotAnObject)
        ));
    }
}
