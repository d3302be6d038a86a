//! [`Authorization`]: what one API request carries to present a token:
//! its header, and with a DPoP token the request's proof.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The headers that authorize one API request: `Authorization: Bearer …`
/// (or the spec's own header), and for a DPoP token `Authorization:
/// DPoP …` with a `DPoP` proof signed for this request's method and URL.
/// Both values are marked sensitive; `Debug` shows neither.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mock = tokenmux_mock::MockServer::start(Default::default()).await?;
/// use tokenmux::{Credentials, Provider, TokenSource};
///
/// let tokens = TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
///     .credentials(Credentials::client("mock-client", "mock-client-secret"))
///     .build()?;
/// let url = reqwest::Url::parse("https://api.example.com/v1/things?page=2")?;
/// let auth = tokens.authorize(&http::Method::GET, &url).await?;
/// assert_eq!(auth.header_name(), http::header::AUTHORIZATION);
/// assert!(auth.dpop().is_none()); // a bearer token needs no proof
/// let mut headers = http::HeaderMap::new();
/// auth.apply(&mut headers);
/// assert!(headers["authorization"].to_str()?.starts_with("Bearer "));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Authorization {
    name: HeaderName,
    value: HeaderValue,
    dpop: Option<HeaderValue>,
}

impl Authorization {
    pub(crate) fn new(name: HeaderName, value: HeaderValue, dpop: Option<HeaderValue>) -> Self {
        Self { name, value, dpop }
    }

    /// The header the token goes in.
    pub fn header_name(&self) -> HeaderName {
        self.name.clone()
    }

    /// Its value: `Bearer <token>`, `DPoP <token>`, or the spec's form.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }

    /// The `DPoP` header's value (a proof for this request), for a DPoP
    /// token.
    pub fn dpop(&self) -> Option<&HeaderValue> {
        self.dpop.as_ref()
    }

    /// Sets both headers in `headers`, replacing earlier values.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(self.name.clone(), self.value.clone());
        if let Some(proof) = &self.dpop {
            headers.insert(tokenmux_wire::DPOP, proof.clone());
        }
    }
}
