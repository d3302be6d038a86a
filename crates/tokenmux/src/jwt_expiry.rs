//! The lifetime of last resort: when an endpoint sends no expiry and its
//! access token is a JWT, the token's own `exp` claim (RFC 7519 §4.1.4).
//! Many issuers of JWT access tokens leave `expires_in` out; the default
//! lifetime would then be a guess, where `exp` is the issuer's word.
//!
//! The signature is not checked: the claim only times a refresh, and the
//! lifetime it gives is still capped by the refresh policy. A token that is
//! not a JWT, or a JWT without a numeric `exp`, gives `None`.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// base64url, padded or not (RFC 7515 says unpadded; some issuers pad).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The `exp` of `token` when it is a JWS in compact form.
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims = BASE64URL.decode(payload).ok()?;
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: Option<f64>,
    }
    let exp = serde_json::from_slice::<Claims>(&claims).ok()?.exp?;
    if !exp.is_finite() || exp < 0.0 {
        return None;
    }
    // Beyond any token (year 5138): capped later, never an overflow.
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(exp.min(1e11)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let part = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!("{}.{}.c2ln", part(r#"{"alg":"RS256"}"#), part(claims))
    }

    #[test]
    fn the_exp_claim_of_a_jwt() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"sub":"me","exp":1796376000}"#)),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_376_000))
        );
        let padded = format!(
            "e30.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":10}"#)
        );
        assert_eq!(
            jwt_expiry(&padded),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(10))
        );
    }

    #[test]
    fn anything_else_has_none() {
        for token in [
            "opaque-token".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            "e30.!!!.c2ln".to_owned(),
            jwt(r#"{"sub":"me"}"#),
            jwt(r#"{"exp":"tomorrow"}"#),
            jwt(r#"{"exp":-5}"#),
            jwt("not json"),
            jwt(r#"[1,2]"#),
        ] {
            assert_eq!(jwt_expiry(&token), None, "{token}");
        }
    }
}
