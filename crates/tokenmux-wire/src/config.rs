//! Per-client settings that generated clients carry as their `inner` value.

use base64::Engine as _;
use reqwest::header::HeaderValue;

use std::sync::Arc;

use tokenmux_jose::Signer;

use crate::{
    AssertionAudience, AuthMethod, DpopSigning, PlacedValue, Secret, SentRequest, SentSecrets,
};

/// The default cap on a response body: token responses are small, and a
/// hostile or broken server must not make the client buffer megabytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Settings a generated client needs beyond what progenitor models.
///
/// ```
/// use tokenmux_wire::{BasicAuth, ClientConfig};
///
/// let config = ClientConfig::default()
///     .with_basic_auth(BasicAuth::new("my-client", "my-secret"))
///     .with_max_response_bytes(16 * 1024);
/// assert_eq!(config.max_response_bytes(), 16 * 1024);
/// assert!(!format!("{config:?}").contains("my-secret"));
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    basic_auth: Option<BasicAuth>,
    max_response_bytes: usize,
    placed: Vec<PlacedValue>,
    assertion: Option<AssertionSigning>,
    grant_assertion: Option<GrantAssertionSigning>,
    issuer: Option<String>,
    auth_method: Option<AuthMethod>,
    sent: SentSecrets,
    request: SentRequest,
    dpop: Option<DpopSigning>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            basic_auth: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            placed: Vec::new(),
            assertion: None,
            grant_assertion: None,
            issuer: None,
            auth_method: None,
            sent: SentSecrets::default(),
            request: SentRequest::default(),
            dpop: None,
        }
    }
}

impl ClientConfig {
    /// Sets the client credentials for operations that require HTTP Basic
    /// client authentication.
    pub fn with_basic_auth(mut self, basic_auth: BasicAuth) -> Self {
        self.basic_auth = Some(basic_auth);
        self
    }

    /// Caps the bytes read of any response body; a larger body is an error.
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Adds the values that go in the query string, a header or the path
    /// (the request hook places them; see [`place_values`](crate::place_values)).
    pub fn with_placed_values(mut self, values: Vec<PlacedValue>) -> Self {
        self.placed.extend(values);
        self
    }

    /// The values outside the body, in the spec's order.
    pub fn placed_values(&self) -> &[PlacedValue] {
        &self.placed
    }

    /// Authenticates the client with a fresh signed assertion on every
    /// request (`client_secret_jwt`, `private_key_jwt`).
    pub fn with_assertion(mut self, assertion: AssertionSigning) -> Self {
        self.assertion = Some(assertion);
        self
    }

    /// Signs a fresh JWT bearer grant assertion (RFC 7523 §2.1) into the
    /// body on every request.
    pub fn with_grant_assertion(mut self, assertion: GrantAssertionSigning) -> Self {
        self.grant_assertion = Some(assertion);
        self
    }

    /// The grant assertion to sign for each request, if any.
    pub fn grant_assertion(&self) -> Option<&GrantAssertionSigning> {
        self.grant_assertion.as_ref()
    }

    /// The assertion to sign for each request, if any.
    pub fn assertion(&self) -> Option<&AssertionSigning> {
        self.assertion.as_ref()
    }

    /// The authorization server's issuer identifier: the audience of
    /// assertions whose spec asks for [`AssertionAudience::Issuer`].
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The issuer identifier, if set.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The client authentication method the user chose, for an endpoint
    /// that picks one from the server's metadata (else it picks by the
    /// credentials given).
    pub fn with_auth_method(mut self, method: AuthMethod) -> Self {
        self.auth_method = Some(method);
        self
    }

    /// The method the user chose, if any.
    pub fn auth_method(&self) -> Option<AuthMethod> {
        self.auth_method
    }

    /// Where the request hook records the secrets it makes (a signed
    /// assertion), for the caller's scrubber.
    pub fn with_sent_secrets(mut self, sent: SentSecrets) -> Self {
        self.sent = sent;
        self
    }

    /// The secrets made for this client's requests.
    pub fn sent_secrets(&self) -> &SentSecrets {
        &self.sent
    }

    /// Where the request hook records the method and URL it prepared, for
    /// the caller's errors.
    pub fn with_sent_request(mut self, request: SentRequest) -> Self {
        self.request = request;
        self
    }

    /// Where this client's request lines are recorded.
    pub fn sent_request(&self) -> &SentRequest {
        &self.request
    }

    /// Sends a fresh DPoP proof (RFC 9449) with every request.
    pub fn with_dpop(mut self, dpop: DpopSigning) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// How requests prove possession of a DPoP key, if they do.
    pub fn dpop(&self) -> Option<&DpopSigning> {
        self.dpop.as_ref()
    }

    /// The Basic credentials, if set.
    pub fn basic_auth(&self) -> Option<&BasicAuth> {
        self.basic_auth.as_ref()
    }

    /// The response body cap in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }
}

/// How the client id and secret are turned into a Basic credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BasicEncoding {
    /// `base64(client_id ":" client_secret)`, exactly as the token endpoint's
    /// document says. The default.
    #[default]
    AsDocumented,
    /// RFC 6749 §2.3.1: form-urlencode the id and the secret, then join and
    /// base64 them. Identical to [`AsDocumented`](Self::AsDocumented) unless
    /// either contains characters outside `A-Z a-z 0-9 - . _ *`; some
    /// servers expect it, others reject it.
    Rfc6749FormUrlencoded,
}

/// HTTP Basic client credentials.
#[derive(Clone, Debug)]
pub struct BasicAuth {
    client_id: String,
    client_secret: Secret,
    encoding: BasicEncoding,
}

impl BasicAuth {
    /// Credentials encoded [as documented](BasicEncoding::AsDocumented).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            encoding: BasicEncoding::default(),
        }
    }

    /// Chooses how the credential is encoded.
    pub fn with_encoding(mut self, encoding: BasicEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `Authorization` header value, marked sensitive so that HTTP
    /// libraries leave it out of their logs.
    ///
    /// ```
    /// use tokenmux_wire::{BasicAuth, BasicEncoding};
    ///
    /// let plain = BasicAuth::new("id", "a b").header_value();
    /// assert_eq!(plain.to_str().unwrap(), "Basic aWQ6YSBi"); // base64("id:a b")
    /// assert!(plain.is_sensitive());
    ///
    /// let rfc = BasicAuth::new("id", "a b")
    ///     .with_encoding(BasicEncoding::Rfc6749FormUrlencoded)
    ///     .header_value();
    /// assert_eq!(rfc.to_str().unwrap(), "Basic aWQ6YSti"); // base64("id:a+b")
    /// ```
    pub fn header_value(&self) -> HeaderValue {
        let joined = match self.encoding {
            BasicEncoding::AsDocumented => {
                format!("{}:{}", self.client_id, self.client_secret.expose_secret())
            }
            BasicEncoding::Rfc6749FormUrlencoded => format!(
                "{}:{}",
                form_urlencode(&self.client_id),
                form_urlencode(self.client_secret.expose_secret())
            ),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(joined);
        // Base64 output is always a valid header value.
        let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

fn form_urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// How each request's client assertion is made (RFC 7523 §2.2): who the
/// client is, what signs, and which audience. The request hook signs a
/// fresh one per request, so no assertion is ever sent twice.
#[derive(Clone, Debug)]
pub struct AssertionSigning {
    signer: Arc<dyn Signer>,
    client_id: String,
    audience: AssertionAudience,
    app_jwt: bool,
}

impl AssertionSigning {
    /// Assertions for `client_id` (its `iss` and `sub`), signed by `signer`.
    pub fn new(
        signer: Arc<dyn Signer>,
        client_id: impl Into<String>,
        audience: AssertionAudience,
    ) -> Self {
        Self {
            signer,
            client_id: client_id.into(),
            audience,
            app_jwt: false,
        }
    }

    /// App JWTs for the app `client_id` (their `iss`), signed by `signer`
    /// and sent as `Authorization: Bearer` instead of in the body.
    pub fn app_jwt(signer: Arc<dyn Signer>, client_id: impl Into<String>) -> Self {
        Self {
            app_jwt: true,
            ..Self::new(signer, client_id, AssertionAudience::TokenEndpoint)
        }
    }

    /// Whether it is an app JWT for the `Authorization` header, rather
    /// than a `client_assertion` in the body.
    pub fn is_app_jwt(&self) -> bool {
        self.app_jwt
    }

    /// What signs.
    pub fn signer(&self) -> &dyn Signer {
        self.signer.as_ref()
    }

    /// The client id: `iss` and `sub`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The audience the spec asks for.
    pub fn audience(&self) -> AssertionAudience {
        self.audience
    }
}

/// How one request's grant assertion is signed: chosen by the glue from
/// the spec, the credentials and the parameters.
#[derive(Clone, Debug)]
pub struct GrantAssertionSigning {
    signer: Arc<dyn Signer>,
    client_id: String,
    audience: AssertionAudience,
    field: &'static str,
    claims: Vec<(&'static str, Secret)>,
}

impl GrantAssertionSigning {
    /// Assertions for `client_id`, signed by `signer`, in the body field
    /// `field`, with `claims` (name, value) beside the registered ones.
    pub fn new(
        signer: Arc<dyn Signer>,
        client_id: impl Into<String>,
        audience: AssertionAudience,
        field: &'static str,
        claims: Vec<(&'static str, Secret)>,
    ) -> Self {
        Self {
            signer,
            client_id: client_id.into(),
            audience,
            field,
            claims,
        }
    }

    /// What signs.
    pub fn signer(&self) -> &dyn Signer {
        self.signer.as_ref()
    }

    /// The client id: `iss`, and `sub` unless a claim fills it.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The audience the spec asks for.
    pub fn audience(&self) -> AssertionAudience {
        self.audience
    }

    /// The body field it goes in.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The claims filled from parameters: (claim, value).
    pub fn claims(&self) -> &[(&'static str, Secret)] {
        &self.claims
    }
}
