//! Where a request value goes: the body, the query string, a header or a
//! path segment ([`Place`]), and how the request hook puts the values that
//! are not in the body onto the request progenitor built ([`place_values`]).
//!
//! progenitor would make every query, header and path parameter an
//! argument of the operation's builder, which the shared glue cannot call
//! by name. The generator lowers them away instead (a path parameter
//! becomes the literal segment [`path_placeholder`]); the glue fills
//! them into [`ClientConfig`](crate::ClientConfig) and the hook adds them.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::Request;
use reqwest::header::{HeaderName, HeaderValue};

use crate::Secret;

/// Where one request value goes.
///
/// ```
/// use tokenmux_wire::Place;
///
/// assert_eq!(Place::Body("/data/client_id").name(), "client_id");
/// assert_eq!(Place::Query("api_key").name(), "api_key");
/// assert_eq!(Place::Header("X-Api-Key").to_string(), "the `X-Api-Key` header");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A JSON pointer into the request body, e.g. `/data/attributes/client_id`.
    Body(&'static str),
    /// A query-string parameter, by name.
    Query(&'static str),
    /// A request header, by name.
    Header(&'static str),
    /// A `{name}` segment of the operation's path.
    Path(&'static str),
}

impl Place {
    /// The name a person knows the value by: the last segment of a body
    /// pointer, else the parameter's or header's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Body(pointer) => pointer.rsplit('/').next().unwrap_or_default(),
            Self::Query(name) | Self::Header(name) | Self::Path(name) => name,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Body(pointer) => write!(f, "`{pointer}` of the request body"),
            Self::Query(name) => write!(f, "the `{name}` query parameter"),
            Self::Header(name) => write!(f, "the `{name}` header"),
            Self::Path(name) => write!(f, "the `{{{name}}}` path segment"),
        }
    }
}

/// The literal path segment that stands for the path parameter `name` in
/// the lowered spec progenitor reads; the hook replaces it with the value.
/// `cargo xtask regen` writes the same text (xtask's `lower.rs`).
///
/// ```
/// assert_eq!(tokenmux_wire::path_placeholder("tenant"), "tokenmux-path-tenant");
/// ```
pub fn path_placeholder(name: &str) -> String {
    format!("tokenmux-path-{name}")
}

/// A value outside the body, held as a [`Secret`] whatever it is: the hook
/// cannot tell a credential from a constant, so none is ever printed.
#[derive(Clone, Debug)]
pub struct PlacedValue {
    /// Where it goes (never [`Place::Body`]).
    pub place: Place,
    /// The value.
    pub value: Secret,
}

/// Why a value cannot be placed: named by its place, never by its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlacementError {
    /// A header value with a control character, or a name that is not one.
    #[error("{0} cannot carry the value given: a header value holds no control characters")]
    BadHeader(Place),
    /// An empty path segment, `.` or `..`: each would change the route.
    #[error("{0} cannot be empty, `.` or `..`: it would change the path")]
    BadSegment(Place),
    /// The lowered path has no placeholder for it (a generator mismatch).
    #[error("{0} has no place in the request's path; run `cargo xtask regen`")]
    NoSegment(Place),
}

/// RFC 3986's path-segment set: everything but unreserved characters and
/// sub-delims is escaped, and so are `/`, `?`, `#` and `%`.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// Adds each value to `request`: a query pair, a header (marked sensitive,
/// so HTTP libraries leave it out of their logs), or the path segment that
/// [`path_placeholder`] stands for.
///
/// ```
/// use tokenmux_wire::{Place, PlacedValue, Secret, place_values};
///
/// let url = "http://127.0.0.1/tenants/tokenmux-path-tenant/token".parse().unwrap();
/// let mut request = reqwest::Request::new(reqwest::Method::GET, url);
/// place_values(&mut request, &[
///     PlacedValue { place: Place::Path("tenant"), value: Secret::new("a b/c") },
///     PlacedValue { place: Place::Query("key"), value: Secret::new("x&y") },
///     PlacedValue { place: Place::Header("X-Api-Key"), value: Secret::new("k") },
/// ]).unwrap();
/// assert_eq!(request.url().as_str(), "http://127.0.0.1/tenants/a%20b%2Fc/token?key=x%26y");
/// assert_eq!(request.headers()["x-api-key"], "k");
/// ```
pub fn place_values(request: &mut Request, values: &[PlacedValue]) -> Result<(), PlacementError> {
    for placed in values {
        let value = placed.value.expose_secret();
        match placed.place {
            Place::Body(_) => {}
            Place::Query(name) => {
                request.url_mut().query_pairs_mut().append_pair(name, value);
            }
            Place::Header(name) => {
                let bad = || PlacementError::BadHeader(placed.place);
                let name = HeaderName::try_from(name).map_err(|_| bad())?;
                let mut value = HeaderValue::try_from(value).map_err(|_| bad())?;
                value.set_sensitive(true);
                request.headers_mut().insert(name, value);
            }
            Place::Path(name) => {
                if matches!(value, "" | "." | "..") {
                    return Err(PlacementError::BadSegment(placed.place));
                }
                let placeholder = path_placeholder(name);
                let path = request.url().path();
                let segments: Vec<&str> = path.split('/').collect();
                if !segments.contains(&placeholder.as_str()) {
                    return Err(PlacementError::NoSegment(placed.place));
                }
                let encoded = utf8_percent_encode(value, SEGMENT).to_string();
                let path = segments
                    .iter()
                    .map(|segment| match *segment == placeholder {
                        true => encoded.as_str(),
                        false => segment,
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                request.url_mut().set_path(&path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> Request {
        let url = format!("http://127.0.0.1:1{path}").parse().unwrap();
        Request::new(reqwest::Method::POST, url)
    }

    fn placed(place: Place, value: &str) -> PlacedValue {
        PlacedValue {
            place,
            value: Secret::new(value),
        }
    }

    #[test]
    fn a_path_value_is_one_segment_whatever_it_holds() {
        for (value, expected) in [
            ("123", "/app/installations/123/access_tokens"),
            ("a/b", "/app/installations/a%2Fb/access_tokens"),
            ("?x#y%", "/app/installations/%3Fx%23y%25/access_tokens"),
            ("é", "/app/installations/%C3%A9/access_tokens"),
            ("...", "/app/installations/.../access_tokens"),
        ] {
            let mut request = request("/app/installations/tokenmux-path-id/access_tokens");
            place_values(&mut request, &[placed(Place::Path("id"), value)]).unwrap();
            assert_eq!(request.url().path(), expected, "{value}");
        }
    }

    #[test]
    fn a_value_that_would_change_the_route_or_the_headers_is_refused_by_its_place() {
        for value in ["", ".", ".."] {
            let mut request = request("/t/tokenmux-path-id");
            let error = place_values(&mut request, &[placed(Place::Path("id"), value)]);
            assert_eq!(error, Err(PlacementError::BadSegment(Place::Path("id"))));
        }
        let mut request = request("/t");
        let error = place_values(&mut request, &[placed(Place::Path("id"), "1")]);
        assert_eq!(error, Err(PlacementError::NoSegment(Place::Path("id"))));
        let error = place_values(
            &mut request,
            &[placed(Place::Header("X-Key"), "hunter2\r\nX-Evil: 1")],
        )
        .unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(request.headers().is_empty());
    }

    #[test]
    fn query_values_are_appended_encoded_and_headers_marked_sensitive() {
        let mut request = request("/t?fixed=1");
        place_values(
            &mut request,
            &[
                placed(Place::Query("client_id"), "me"),
                placed(Place::Query("client_secret"), "a+b c"),
                placed(Place::Header("X-Api-Key"), "k"),
            ],
        )
        .unwrap();
        assert_eq!(
            request.url().query(),
            Some("fixed=1&client_id=me&client_secret=a%2Bb+c")
        );
        assert!(request.headers()["x-api-key"].is_sensitive());
    }
}
