//! Puts a fresh client assertion on a token request (RFC 7523 §2.2):
//! `client_assertion_type` and `client_assertion` join the body's fields,
//! signed for the request's own URL (or the issuer). Called by the request
//! hook, once per request, retries included, so no assertion is reused.

use reqwest::Request;
use reqwest::header::CONTENT_LENGTH;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokenmux_jose::{ClientAssertion, SignError};

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
    /// The request has nowhere to carry it.
    #[error("a client assertion goes in the request body, and this operation sends none")]
    NoBody,
    /// The JSON body is not an object.
    #[error("the request body is not a JSON object")]
    NotAnObject,
    /// Signing failed.
    #[error("cannot sign the client assertion: {0}")]
    Sign(#[from] SignError),
}

/// Signs a fresh assertion and adds both fields to the body.
pub(crate) async fn add(
    request: &mut Request,
    body: BodyEncoding,
    signing: &AssertionSigning,
    config: &ClientConfig,
) -> Result<(), AssertionError> {
    let issuer = config.issuer();
    let audience = match signing.audience() {
        AssertionAudience::TokenEndpoint => {
            let mut url = request.url().clone();
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        AssertionAudience::Issuer => issuer.ok_or(AssertionError::NoIssuer)?.to_owned(),
    };
    let assertion = ClientAssertion::new(signing.client_id(), &audience)
        .sign(signing.signer())
        .await?;
    // Before it is sent: an echo of it in the answer is then scrubbed.
    config
        .sent_secrets()
        .record(Secret::new(assertion.expose_secret()));
    let current = request
        .body()
        .and_then(|body| body.as_bytes())
        .unwrap_or_default();
    let fields = [
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", assertion.expose_secret()),
    ];
    let new_body = match body {
        BodyEncoding::None => return Err(AssertionError::NoBody),
        // A multipart body is still a form here: the hook converts it after.
        BodyEncoding::FormUrlencoded | BodyEncoding::Multipart => {
            let mut form =
                form_urlencoded::Serializer::new(String::from_utf8_lossy(current).into_owned());
            form.extend_pairs(fields);
            form.finish().into_bytes()
        }
        BodyEncoding::Json => {
            let mut json: Value = match current {
                [] => Value::Object(Default::default()),
                bytes => serde_json::from_slice(bytes).map_err(|_| AssertionError::NotAnObject)?,
            };
            let object = json.as_object_mut().ok_or(AssertionError::NotAnObject)?;
            for (name, value) in fields {
                object.insert(name.to_owned(), value.into());
            }
            serde_json::to_vec(&json).map_err(|_| AssertionError::NotAnObject)?
        }
    };
    request.headers_mut().remove(CONTENT_LENGTH);
    *request.body_mut() = Some(new_body.into());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
        assert!(matches!(error, AssertionError::NoBody));
        let mut list = request("[1]");
        let error = add(&mut list, BodyEncoding::Json, &signing, &Default::default())
            .await
            .unwrap_err();
        assert!(matches!(error, AssertionError::NotAnObject));
    }
}
