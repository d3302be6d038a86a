//! A token as the agent hands it out: the header it goes in and that
//! header's value, and the token JSON (the token endpoint's answer, and a
//! sink's `json` format).

use std::time::SystemTime;

use tokenmux::AccessToken;
use tokenmux::endpoint::Presentation;

use crate::protocol::TokenBody;

/// The header `token` goes in and its value: the spec's presentation, or
/// `Authorization: DPoP …` for a DPoP token (whose requests also need a
/// proof: `POST …/proof`).
pub fn presented(token: &AccessToken, presentation: &Presentation) -> (&'static str, String) {
    match token.dpop_key() {
        Some(_) => (
            "Authorization",
            format!("DPoP {}", token.secret().expose_secret()),
        ),
        None => (
            presentation.header,
            presentation.value(token.secret().expose_secret()),
        ),
    }
}

/// `{"access_token", "token_type", "expires_in", "expires_at", "header",
/// "header_value"}`.
pub fn body(token: &AccessToken, presentation: &Presentation) -> TokenBody {
    let expires_in = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    let (header, header_value) = presented(token, presentation);
    TokenBody {
        access_token: token.secret().expose_secret().to_owned(),
        token_type: token.token_type().to_owned(),
        expires_in,
        expires_at: Some(humantime::format_rfc3339_seconds(token.expires_at()).to_string()),
        header: Some(header.to_owned()),
        header_value: Some(header_value),
    }
}
