//! Errors some endpoints send with a 2xx status (`200 {"error":
//! "invalid_client"}`): recognised by the spec's error shape, so they are
//! reported as the refusal they are rather than as a malformed token.

use serde_json::Value;

use crate::endpoint::{EndpointSpec, ErrorDetails};

/// The error in a 2xx body that carries no access token but has an error
/// code where the spec's error shape puts one (`x-tokenmux-error: code`,
/// else `error`, `code` or JSON:API's `errors[0].code`). A body with a
/// token, without a code, or naming a key twice is not one.
///
/// ```
/// # use tokenmux_wire::*;
/// # static SPEC: EndpointSpec = EndpointSpec { name: "t", title: "t", servers: &[], grants: &[],
/// #     basic_encoding: BasicEncoding::AsDocumented,
/// #     token: TokenFields { access_token: "/access_token", access_token_header: None, token_type: None, expiry: None, refresh_token: None, token_types: &[] },
/// #     error: ErrorFields { code: &[], message: &[] }, errors: &[], max_lifetime_secs: None,
/// #     success_example: None, presentation: Presentation::BEARER, success_status: 200 };
/// let refused = br#"{"error": "invalid_client", "error_description": "unknown client"}"#;
/// let details = error_in_success(refused, &SPEC).unwrap();
/// assert_eq!(details.code.as_deref(), Some("invalid_client"));
/// assert!(error_in_success(br#"{"access_token": "t", "error": "none"}"#, &SPEC).is_none());
/// assert!(error_in_success(br#"{"message": "no code"}"#, &SPEC).is_none());
/// ```
pub fn error_in_success(body: &[u8], spec: &EndpointSpec) -> Option<ErrorDetails> {
    if crate::has_duplicate_keys(body) {
        return None;
    }
    let json: Value = serde_json::from_slice(body).ok()?;
    if json
        .pointer(spec.token.access_token)
        .is_some_and(|token| !token.is_null())
    {
        return None;
    }
    let details = ErrorDetails::read(&json, &spec.error);
    details.code.is_some().then_some(details)
}
