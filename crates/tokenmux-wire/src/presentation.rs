//! How an access token is sent on API requests, as a spec declares it
//! (`x-tokenmux-presentation`): `Authorization: Bearer <token>` unless the
//! vendor documents another scheme (`Authorization: Zoho-oauthtoken …`)
//! or a header of its own (`X-Auth-Token: <token>`).

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::Secret;

/// The header an access token goes in, and the scheme before it.
///
/// ```
/// use tokenmux_wire::{Presentation, Secret};
///
/// let token = Secret::new("abc");
/// assert_eq!(Presentation::BEARER.header_value(&token).to_str().unwrap(), "Bearer abc");
/// let own = Presentation { header: "X-Auth-Token", scheme: None };
/// assert_eq!(own.header_name().as_str(), "x-auth-token");
/// assert_eq!(own.header_value(&token).to_str().unwrap(), "abc");
/// assert!(own.header_value(&token).is_sensitive());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presentation {
    /// The header's name, e.g. `Authorization`.
    pub header: &'static str,
    /// The scheme before the token (`Bearer`), or `None`: the token alone.
    pub scheme: Option<&'static str>,
}

impl Presentation {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1), the default.
    pub const BEARER: Presentation = Presentation {
        header: "Authorization",
        scheme: Some("Bearer"),
    };

    /// The header's name. Regen checks it is a valid name; a hand-written
    /// spec with an invalid one gets `Authorization`.
    pub fn header_name(&self) -> HeaderName {
        HeaderName::from_bytes(self.header.as_bytes()).unwrap_or(AUTHORIZATION)
    }

    /// The header's value for `token`, marked sensitive so that HTTP
    /// libraries leave it out of their logs. Tokens are checked to be
    /// header-safe when received; the scheme when the spec is read.
    pub fn header_value(&self, token: &Secret) -> HeaderValue {
        let text = self.value(token.expose_secret());
        let mut value =
            HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    }

    /// The header's value as text: the scheme, a space and the token, or
    /// the token alone.
    pub fn value(&self, token: &str) -> String {
        match self.scheme {
            Some(scheme) => format!("{scheme} {token}"),
            None => token.to_owned(),
        }
    }
}

/// Headers that frame an HTTP message: a token never goes there.
const FRAMING: [&str; 8] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
];

/// Whether `text` is an RFC 9110 §5.6.2 token (a header name, a scheme).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Checks a presentation that came from elsewhere (an agent's answer):
/// `header` a token that frames nothing, and `value` either `token` alone
/// or a token scheme, one space and `token`. Returns the scheme.
///
/// ```
/// use tokenmux_wire::presentation_scheme;
///
/// assert_eq!(presentation_scheme("Authorization", "Bearer abc", "abc"), Ok(Some("Bearer")));
/// assert_eq!(presentation_scheme("X-Auth-Token", "abc", "abc"), Ok(None));
/// assert!(presentation_scheme("Content-Length", "abc", "abc").is_err());
/// assert!(presentation_scheme("Authorization", "Bearer abc\r\nX: 1", "abc").is_err());
/// ```
pub fn presentation_scheme<'v>(
    header: &str,
    value: &'v str,
    token: &str,
) -> Result<Option<&'v str>, &'static str> {
    if !is_token(header) || FRAMING.contains(&header.to_ascii_lowercase().as_str()) {
        return Err("a header name that cannot carry a token");
    }
    if value == token {
        return Ok(None);
    }
    match value.strip_suffix(token).and_then(|s| s.strip_suffix(' ')) {
        Some(scheme) if is_token(scheme) => Ok(Some(scheme)),
        _ => Err("a header value that is not the token, or a scheme and the token"),
    }
}

impl Default for Presentation {
    fn default() -> Self {
        Self::BEARER
    }
}
