//! Property tests over every provider's response decoding and the
//! normalisation into one token (`decode_token_response`), the code the
//! fuzz targets in `fuzz/` run too.

use crate::support::{providers, token_part_required};
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tokenmux::endpoint::ExpiryForm;
use tokenmux::{Error, RefreshPolicy, decode_token_response};

const TEN_YEARS: Duration = Duration::from_secs(315_360_000);

fn kinds() -> impl Strategy<Value = &'static str> {
    prop::sample::select(providers())
}

/// The providers whose token is in a JSON body with its lifetime, if any,
/// in `expires_in` seconds: the shape the envelope property writes. The other
/// forms (milliseconds, absolute times, a header token) have their own
/// tests (`tokenmux_wire::expiry`, `exchange`, the mock's).
fn seconds_kinds() -> impl Strategy<Value = &'static str> {
    let kinds: Vec<_> = providers()
        .into_iter()
        .filter(|name| {
            let token = &crate::support::named(name).spec().token;
            let json = crate::support::named(name).spec().grants[0].wire.response
                == tokenmux::endpoint::BodyEncoding::Json;
            json && token.access_token_header.is_none()
                && token
                    .expiry
                    .is_none_or(|expiry| expiry.form == ExpiryForm::InSeconds)
        })
        .collect();
    prop::sample::select(kinds)
}

/// The provider's documented success body around OAuth2-named fields.
fn envelope(kind: &'static str, fields: Map<String, Value>) -> Value {
    let text = Value::Object(fields).to_string();
    serde_json::from_str(&crate::support::success_body_raw(kind, &text).1).unwrap()
}

#[derive(Clone, Debug)]
enum ExpiresIn {
    Missing,
    Null,
    Seconds(i64),
    Fraction(f64),
    Text(String),
}

fn expires_in() -> impl Strategy<Value = ExpiresIn> {
    prop_oneof![
        Just(ExpiresIn::Missing),
        Just(ExpiresIn::Null),
        any::<i64>().prop_map(ExpiresIn::Seconds),
        (-1e12f64..1e40).prop_map(ExpiresIn::Fraction),
        (-2.0f64..2.0).prop_map(ExpiresIn::Fraction),
        "[0-9]{1,6}".prop_map(ExpiresIn::Text),
        "-?[a-z0-9 ]{0,6}".prop_map(ExpiresIn::Text),
    ]
}

fn token_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("Bearer".to_owned())),
        Just(Some("bearer".to_owned())),
        Just(Some("BEARER".to_owned())),
        "[A-Za-z]{0,8}".prop_map(Some),
    ]
}

/// The documented rules: a non-empty token a header can carry, a bearer
/// type (any case) or none where the spec lets it be absent, a
/// non-negative lifetime (number, or a string of digits) or none where the
/// spec lets it be absent.
fn acceptable(
    kind: &'static str,
    token: &str,
    token_type: &Option<String>,
    expires_in: &ExpiresIn,
) -> bool {
    let token_ok = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
    let spec = crate::support::named(kind).spec();
    // A member the spec does not name is not read.
    let type_ok = match token_type {
        _ if spec.token.token_type.is_none() => true,
        Some(t) => t.eq_ignore_ascii_case("bearer"),
        None => !token_part_required(kind, "token_type"),
    };
    let expiry_ok = match expires_in {
        _ if spec.token.expiry.is_none() => true,
        ExpiresIn::Missing | ExpiresIn::Null => !token_part_required(kind, "expires_in"),
        ExpiresIn::Seconds(s) => *s >= 0,
        // JSON:API's field is a number; the others' are integers, which a
        // fraction is truncated to.
        ExpiresIn::Fraction(f) if kind == "jsonapi" => *f >= 0.0,
        ExpiresIn::Fraction(f) => f.trunc() >= 0.0,
        ExpiresIn::Text(t) => t.trim().parse::<f64>().is_ok_and(|f| f >= 0.0),
    };
    token_ok && type_ok && expiry_ok
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes, any status: a token or a typed error, never a panic; a
    /// token is always one a header can carry, with a sane lifetime.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(
        kind in kinds(),
        status in prop_oneof![Just(200u16), 100u16..=999],
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        if let Ok(token) = decode_token_response(&crate::support::named(kind), status, &body, now, &RefreshPolicy::default()) {
            prop_assert_eq!(status, 200);
            prop_assert!(token.secret().expose_secret().bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(token.lifetime() <= TEN_YEARS);
            prop_assert_eq!(token.token_type(), "Bearer");
        }
    }

    /// Well-formed envelopes with arbitrary field values: accepted exactly
    /// when the documented rules allow, with the lifetime the body gave.
    #[test]
    fn envelopes_follow_the_documented_rules(
        kind in seconds_kinds(),
        token in prop_oneof!["[!-~]{1,40}", ".{0,12}"],
        token_type in token_type(),
        expires in expires_in(),
    ) {
        let mut fields = Map::new();
        fields.insert("access_token".into(), json!(token));
        if let Some(t) = &token_type {
            fields.insert("token_type".into(), json!(t));
        }
        match &expires {
            ExpiresIn::Missing => {}
            ExpiresIn::Null => { fields.insert("expires_in".into(), Value::Null); }
            ExpiresIn::Seconds(s) => { fields.insert("expires_in".into(), json!(s)); }
            ExpiresIn::Fraction(f) => { fields.insert("expires_in".into(), json!(f)); }
            ExpiresIn::Text(t) => { fields.insert("expires_in".into(), json!(t)); }
        }
        let body = envelope(kind, fields).to_string();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let policy = RefreshPolicy::default();
        let decoded = decode_token_response(&crate::support::named(kind), 200, body.as_bytes(), now, &policy);
        let expected = acceptable(kind, &token, &token_type, &expires);
        match decoded {
            Ok(decoded) => {
                prop_assert!(expected, "accepted {}", body);
                prop_assert_eq!(decoded.secret().expose_secret(), token.as_str());
                prop_assert_eq!(decoded.obtained_at(), now);
                let read = crate::support::named(kind).spec().token.expiry.is_some();
                let lifetime = match &expires {
                    _ if !read => None,
                    ExpiresIn::Seconds(s) => Some(*s as f64),
                    ExpiresIn::Fraction(f) => Some(*f),
                    ExpiresIn::Text(t) => t.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match lifetime {
                    // Fractions are truncated for integer fields, kept for JSON:API's number.
                    Some(seconds) => prop_assert!(
                        (decoded.lifetime().as_secs_f64() - seconds.min(TEN_YEARS.as_secs_f64())).abs() < 1.0,
                        "{:?} for {}", decoded.lifetime(), body
                    ),
                    None => prop_assert_eq!(decoded.lifetime(), policy.default_lifetime),
                }
            }
            Err(error) => {
                prop_assert!(!expected, "refused {}: {}", body, error);
                let is_invalid = matches!(error, Error::InvalidResponse { .. });
                prop_assert!(is_invalid, "{:?}", error);
            }
        }
    }

    /// Error statuses become the documented error kinds, whatever the body.
    #[test]
    fn error_statuses_are_classified(
        kind in kinds(),
        status in prop::sample::select(vec![400u16, 401, 403, 404, 408, 422, 429, 500, 502, 503]),
        body in prop_oneof![
            Just(br#"{"error":"invalid_grant","error_description":"no"}"#.to_vec()),
            Just(br#"{"errors":[{"code":"x","detail":"y"}]}"#.to_vec()),
            prop::collection::vec(any::<u8>(), 0..64),
        ],
    ) {
        let error = decode_token_response(&crate::support::named(kind), status, &body, SystemTime::now(), &RefreshPolicy::default()).unwrap_err();
        let expected = match status {
            429 => matches!(error, Error::RateLimited { .. }),
            408 | 500..=599 => matches!(error, Error::Server { .. }),
            400 | 401 | 403 | 422 => matches!(error, Error::CredentialsRejected { .. }),
            _ => matches!(error, Error::UnexpectedStatus { .. }),
        };
        prop_assert!(expected, "{} → {:?}", status, error);
        prop_assert_eq!(error.is_transient(), matches!(status, 408 | 429 | 500..=599));
    }
}
