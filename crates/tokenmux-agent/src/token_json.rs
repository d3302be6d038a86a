//! A token as the agent hands it out: the header it goes in and that
//! header's value, and the token JSON (the token endpoint's answer, and a
//! sink's `json` format).

use std::io::Write as _;
use std::time::SystemTime;

use tokenmux::AccessToken;
use tokenmux::endpoint::Presentation;

/// The header `token` goes in and its value: the spec's presentation, or
/// `Authorization: DPoP …` for a DPoP token (whose requests also need a
/// proof: `POST …/proof`).
pub fn presented(token: &AccessToken, presentation: &Presentation) -> (&'static str, String) {
    let presentation = effective(token, presentation);
    let value = presentation.value(token.secret().expose_secret());
    (presentation.header, value)
}

/// How `token` is presented: as the spec says, or as a DPoP token.
fn effective(token: &AccessToken, presentation: &Presentation) -> Presentation {
    match token.dpop_key() {
        Some(_) => Presentation {
            header: "Authorization",
            scheme: Some("DPoP"),
        },
        None => *presentation,
    }
}

/// `{"access_token", "token_type", "expires_in", "expires_at", "header",
/// "header_value"}`: a [`TokenBody`](crate::protocol::TokenBody) as
/// `serde_json` writes one, byte for byte.
///
/// Written straight from the token, without a `TokenBody` of owned copies:
/// it is every token request's answer, and a token (a JWT is kilobytes)
/// is in it twice. A string with nothing to escape, as tokens are, is
/// copied as it is; any other goes through `serde_json`'s escaping.
pub fn body(token: &AccessToken, presentation: &Presentation) -> Vec<u8> {
    let secret = token.secret().expose_secret();
    let expires_in = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    let presentation = effective(token, presentation);
    let mut out = Vec::with_capacity(2 * secret.len() + 192);
    out.extend_from_slice(b"{\"access_token\":");
    string(&mut out, secret);
    out.extend_from_slice(b",\"token_type\":");
    string(&mut out, token.token_type());
    // Writing to a `Vec` cannot fail.
    let _ = write!(
        out,
        ",\"expires_in\":{expires_in},\"expires_at\":\"{}\",\"header\":",
        humantime::format_rfc3339_seconds(token.expires_at())
    );
    string(&mut out, presentation.header);
    out.extend_from_slice(b",\"header_value\":");
    match presentation.scheme {
        // `Presentation::value` without its copy of the token (the test
        // holds the two to the same bytes).
        Some(scheme) if plain(scheme) && plain(secret) => {
            out.push(b'"');
            out.extend_from_slice(scheme.as_bytes());
            out.push(b' ');
            out.extend_from_slice(secret.as_bytes());
            out.push(b'"');
        }
        _ => string(&mut out, &presentation.value(secret)),
    }
    out.push(b'}');
    out
}

/// Whether JSON writes `text` as it is: no quote, backslash or control
/// character (the only characters `serde_json` escapes).
fn plain(text: &str) -> bool {
    // A fold without an early exit: the compiler makes it SIMD, and a
    // token that needs escaping is the exception.
    text.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    })
}

/// `text` as a JSON string.
fn string(out: &mut Vec<u8>, text: &str) {
    if plain(text) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::TokenBody;

    /// The body as a `TokenBody` serialized by `serde_json`: what the
    /// answer always was.
    fn reference(token: &AccessToken, presentation: &Presentation) -> Vec<u8> {
        let (header, header_value) = presented(token, presentation);
        let expires_in = token
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs();
        serde_json::to_vec(&TokenBody {
            access_token: token.secret().expose_secret().to_owned(),
            token_type: token.token_type().to_owned(),
            expires_in,
            expires_at: Some(humantime::format_rfc3339_seconds(token.expires_at()).to_string()),
            header: Some(header.to_owned()),
            header_value: Some(header_value),
        })
        .unwrap()
    }

    #[test]
    fn the_body_is_what_serde_json_writes_for_any_token() {
        let presentations = [
            Presentation::BEARER,
            Presentation {
                header: "X-Auth-Token",
                scheme: None,
            },
        ];
        let tokens = [
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "with \"quotes\"",
            "a back\\slash",
            "control\u{1}\n\t\u{1f}chars",
            "ünïcödé ✓ and \u{7f}",
            "",
            "/+=~!@#$%^&*()",
        ];
        // Whole seconds left, so that both sides see the same `expires_in`.
        let lifetime = Duration::from_secs(3600);
        let dpop = std::sync::Arc::new(tokenmux_jose::DpopKey::generate().unwrap());
        for text in tokens {
            for (presentation, key) in presentations
                .iter()
                .flat_map(|p| [(p, None), (p, Some(dpop.clone()))])
            {
                let token = AccessToken::new(text, SystemTime::now(), lifetime).with_dpop_key(key);
                assert_eq!(
                    String::from_utf8(body(&token, presentation)).unwrap(),
                    String::from_utf8(reference(&token, presentation)).unwrap(),
                    "{text:?}"
                );
            }
        }
    }
}
