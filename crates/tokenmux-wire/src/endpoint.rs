//! The contract between a provider crate and the tokenmux facade: the
//! [`TokenEndpoint`] trait, and the [`EndpointSpec`] that `cargo xtask regen`
//! reads out of a spec's `x-tokenmux-…` extensions.
//!
//! Every generated provider crate has an `ENDPOINT` static implementing
//! [`TokenEndpoint`]; the facade, its CLI, the mock server and the fuzz
//! targets only ever talk to providers through it.

use std::future::Future;
use std::pin::Pin;

use progenitor_client::{Error as ClientError, ResponseValue};

use crate::{
    AssertionAudience, BasicEncoding, ClientConfig, Expires, Expiry, OperationWire, Parameters,
    Place, Presentation, Secret, Server, SigningKey,
};

/// A boxed future, so that [`TokenEndpoint`] can be used as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one token request returns: the token in one shape, or the
/// provider's error in one shape.
pub type EndpointResult = Result<ResponseValue<Issued>, ClientError<ErrorDetails>>;

/// A token endpoint, as the facade sees it. Implemented by the code
/// `cargo xtask regen` generates in each provider crate (`ENDPOINT`), and by
/// hand for an endpoint that has no spec.
pub trait TokenEndpoint: Send + Sync + 'static {
    /// What the spec says about the endpoint.
    fn spec(&self) -> &'static EndpointSpec;

    /// Sends one token request (no retries) for `request.grant`.
    fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult>;

    /// Decodes a success body, as [`request`](Self::request) would have.
    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error>;
}

/// One token request: where, with which client, for which grant.
pub struct TokenRequest<'a> {
    /// The HTTP client (its redirect policy and timeouts apply).
    pub http: &'a reqwest::Client,
    /// The base URL; the endpoint's path goes after it.
    pub base_url: &'a str,
    /// Response cap and the like; Basic credentials are added as the spec says.
    pub config: ClientConfig,
    /// The credentials to fill the request with.
    pub credentials: GrantCredentials<'a>,
    /// The values of the spec's parameters chosen for this source.
    pub parameters: &'a Parameters,
    /// The grant.
    pub grant: Grant<'a>,
}

/// The credentials a request may carry, each in the role a spec gives it;
/// any may be absent (a public client has no secret, a username-only
/// endpoint no client id).
#[derive(Clone, Copy, Debug, Default)]
pub struct GrantCredentials<'a> {
    /// The client id.
    pub client_id: Option<&'a str>,
    /// The client secret.
    pub client_secret: Option<&'a Secret>,
    /// A resource owner's username.
    pub username: Option<&'a str>,
    /// A resource owner's password.
    pub password: Option<&'a Secret>,
    /// A refresh token the user obtained out of band, for a primary grant
    /// that is a refresh token grant (the one a [`Grant::Refresh`]
    /// presents takes its place).
    pub refresh_token: Option<&'a Secret>,
    /// The client's signing key (`private_key_jwt`).
    pub private_key: Option<&'a SigningKey>,
    /// Whether the HTTP client presents a client certificate in the TLS
    /// handshake (`tls_client_auth`): the connection carries it, not the
    /// request.
    pub client_certificate: bool,
}

impl<'a> GrantCredentials<'a> {
    /// The value of `role`, if these credentials have one, for `grant`:
    /// the refresh token a [`Grant::Refresh`] presents wins over a
    /// configured one. A private key or a client certificate has no text value: `None` (see
    /// [`has`](Self::has)).
    pub fn value(&self, role: CredentialRole, grant: Grant<'a>) -> Option<&'a str> {
        match role {
            CredentialRole::ClientId => self.client_id,
            CredentialRole::ClientSecret => self.client_secret.map(Secret::expose_secret),
            CredentialRole::Username => self.username,
            CredentialRole::Password => self.password.map(Secret::expose_secret),
            CredentialRole::RefreshToken => match grant {
                Grant::Refresh(token) => Some(token.expose_secret()),
                Grant::Primary => self.refresh_token.map(Secret::expose_secret),
            },
            CredentialRole::PrivateKey | CredentialRole::ClientCertificate => None,
        }
    }

    /// Whether these credentials hold `role` (for a primary grant).
    pub fn has(&self, role: CredentialRole) -> bool {
        match role {
            CredentialRole::PrivateKey => self.private_key.is_some(),
            CredentialRole::ClientCertificate => self.client_certificate,
            role => self.value(role, Grant::Primary).is_some(),
        }
    }
}

/// Which grant to ask for.
#[derive(Clone, Copy, Debug)]
pub enum Grant<'a> {
    /// The endpoint's primary grant (client credentials, or password).
    Primary,
    /// The refresh token grant, with the refresh token to present.
    Refresh(&'a Secret),
}

impl Grant<'_> {
    /// The kind of grant.
    pub fn kind(&self) -> GrantKind {
        match self {
            Grant::Primary => GrantKind::Primary,
            Grant::Refresh(_) => GrantKind::Refresh,
        }
    }
}

/// A token as the endpoint issued it, before the facade checks it.
#[derive(Clone, Debug, PartialEq)]
pub struct Issued {
    /// The access token.
    pub access_token: Secret,
    /// The token type, if sent.
    pub token_type: Option<String>,
    /// When it expires, if sent: a lifetime or an absolute time.
    pub expires: Option<Expires>,
    /// A refresh token, if sent.
    pub refresh_token: Option<Secret>,
}

/// What an error body says, in one shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// A machine-readable code (`invalid_grant`).
    pub code: Option<String>,
    /// A human-readable message.
    pub message: Option<String>,
}

/// The role a request field plays (`x-tokenmux-credential`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialRole {
    /// `client_id`.
    ClientId,
    /// `client_secret`.
    ClientSecret,
    /// `username`.
    Username,
    /// `password`.
    Password,
    /// `refresh_token`.
    RefreshToken,
    /// `private_key`: the key that signs the client's assertions; never a
    /// request field of its own.
    PrivateKey,
    /// `client_certificate`: the certificate (and its key) the client
    /// presents in the TLS handshake (RFC 8705); never a request field.
    ClientCertificate,
}

impl CredentialRole {
    /// The name used in specs and messages, e.g. `client_secret`.
    pub fn name(self) -> &'static str {
        match self {
            CredentialRole::ClientId => "client_id",
            CredentialRole::ClientSecret => "client_secret",
            CredentialRole::Username => "username",
            CredentialRole::Password => "password",
            CredentialRole::RefreshToken => "refresh_token",
            CredentialRole::PrivateKey => "private_key",
            CredentialRole::ClientCertificate => "client_certificate",
        }
    }

    /// Every role.
    pub const ALL: [CredentialRole; 7] = [
        CredentialRole::ClientId,
        CredentialRole::ClientSecret,
        CredentialRole::Username,
        CredentialRole::Password,
        CredentialRole::RefreshToken,
        CredentialRole::PrivateKey,
        CredentialRole::ClientCertificate,
    ];
}

/// Which grant an operation or a `oneOf` branch is (`x-tokenmux-grant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantKind {
    /// Client credentials or password: needs no earlier token.
    Primary,
    /// The refresh token grant.
    Refresh,
}

/// What fills one request field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// A credential the request needs (the property is `required`).
    Credential(CredentialRole),
    /// A credential sent when the user gives one, left out otherwise (the
    /// property is not `required`: a public client's optional secret).
    OptionalCredential(CredentialRole),
    /// A constant: the one value of a single-value `enum` (`grant_type`).
    Constant(&'static str),
    /// A value chosen per source (`x-tokenmux-parameter`).
    Parameter(ParameterSpec),
    /// A JWT the client signs with its private key for each request
    /// (`x-tokenmux-assertion`: the JWT bearer grant's `assertion`).
    Assertion(&'static GrantAssertion),
}

impl FieldValue {
    /// The credential it holds, required or not.
    pub fn credential(self) -> Option<CredentialRole> {
        match self {
            FieldValue::Credential(role) | FieldValue::OptionalCredential(role) => Some(role),
            FieldValue::Constant(_) | FieldValue::Parameter(_) | FieldValue::Assertion(_) => None,
        }
    }
}

/// A body field that holds a JWT bearer grant's assertion, as the spec
/// describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantAssertion {
    /// Its `aud`.
    pub audience: AssertionAudience,
    /// The claims filled from parameters, beyond `iss`, `sub`, `aud`,
    /// `jti`, `iat` and `exp`.
    pub claims: &'static [AssertionClaim],
}

/// One claim of a grant assertion, filled from a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssertionClaim {
    /// The claim, e.g. `scope` or `sub`.
    pub claim: &'static str,
    /// The parameter that fills it.
    pub parameter: ParameterSpec,
}

/// A request value the user chooses per source (`x-tokenmux-parameter`),
/// such as a `scope` or an `audience`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParameterSpec {
    /// Its name in config files (`params:`), `--param` and `.param()`.
    pub name: &'static str,
    /// Whether a request needs a value (the property is `required`, and
    /// has no `default`).
    pub required: bool,
    /// The spec's `default`, sent when no value is chosen.
    pub default: Option<&'static str>,
    /// Whether it is a secret (`format: password`): kept out of store
    /// keys, logs and errors like any credential.
    pub secret: bool,
}

/// One value of a grant's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestField {
    /// Where it goes: the body (at a JSON pointer), the query string, a
    /// header or a path segment.
    pub place: Place,
    /// What it holds.
    pub value: FieldValue,
}

/// One grant of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantSpec {
    /// Which grant.
    pub kind: GrantKind,
    /// The endpoint path, after the base URL, e.g. `/v2/token`.
    pub path: &'static str,
    /// The documented wire format of the operation.
    pub wire: OperationWire,
    /// The fields of the body.
    pub fields: &'static [RequestField],
}

impl GrantSpec {
    /// The credential roles the body needs (client authentication aside).
    pub fn body_roles(&self) -> impl Iterator<Item = CredentialRole> + '_ {
        self.fields.iter().flat_map(|field| {
            let (own, signs) = match field.value {
                FieldValue::Credential(role) => (Some(role), false),
                // The assertion is signed by the client's key, for its id.
                FieldValue::Assertion(_) => (None, true),
                FieldValue::OptionalCredential(_)
                | FieldValue::Constant(_)
                | FieldValue::Parameter(_) => (None, false),
            };
            let signer = signs
                .then_some([CredentialRole::ClientId, CredentialRole::PrivateKey])
                .into_iter()
                .flatten();
            own.into_iter().chain(signer)
        })
    }

    /// Whether the body presents a refresh token (a refresh token grant).
    pub fn presents_refresh_token(&self) -> bool {
        self.fields
            .iter()
            .any(|field| field.value.credential() == Some(CredentialRole::RefreshToken))
    }

    /// The credential roles the body may carry when given.
    pub fn optional_roles(&self) -> impl Iterator<Item = CredentialRole> + '_ {
        self.fields.iter().filter_map(|field| match field.value {
            FieldValue::OptionalCredential(role) => Some(role),
            _ => None,
        })
    }
}

/// Where the parts of a token are in a success body (`x-tokenmux-token`),
/// as JSON pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenFields {
    /// The access token, in the body.
    pub access_token: &'static str,
    /// The response header that carries the access token instead of the
    /// body (`X-Subject-Token`); then [`access_token`](Self::access_token)
    /// is not read.
    pub access_token_header: Option<&'static str>,
    /// The token type.
    pub token_type: Option<&'static str>,
    /// Where the expiry is, and how it is written.
    pub expiry: Option<Expiry>,
    /// The refresh token.
    pub refresh_token: Option<&'static str>,
    /// `token_type` values the spec maps to the scheme they mean
    /// (`x-tokenmux-token-types`), e.g. `("Application Access Token",
    /// "Bearer")`.
    pub token_types: &'static [(&'static str, &'static str)],
}

/// Where an error body's code and message are (`x-tokenmux-error`), as
/// JSON pointers, the first present winning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorFields {
    /// The code.
    pub code: &'static [&'static str],
    /// The message.
    pub message: &'static [&'static str],
}

/// An error condition of RFC 6749 §5.2 (`x-tokenmux-errors` on a response).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCondition {
    /// The request is malformed: a field missing, a wrong media type.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (user credentials, refresh token) is invalid.
    InvalidGrant,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown or beyond what was granted.
    InvalidScope,
    /// The client may not use this grant type.
    UnauthorizedClient,
}

impl ErrorCondition {
    /// The RFC 6749 error code, e.g. `invalid_grant`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorCondition::InvalidRequest => "invalid_request",
            ErrorCondition::InvalidClient => "invalid_client",
            ErrorCondition::InvalidGrant => "invalid_grant",
            ErrorCondition::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCondition::InvalidScope => "invalid_scope",
            ErrorCondition::UnauthorizedClient => "unauthorized_client",
        }
    }

    /// The status RFC 6749 §5.2 gives it when a spec documents none.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorCondition::InvalidClient => 401,
            _ => 400,
        }
    }
}

/// A documented error response and the conditions it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The status.
    pub status: u16,
    /// The conditions it is sent for.
    pub conditions: &'static [ErrorCondition],
    /// Its media type.
    pub media_type: Option<&'static str>,
}

/// Everything a spec says about its token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The provider name: the spec's file stem, e.g. `airalo`.
    pub name: &'static str,
    /// The spec's title.
    pub title: &'static str,
    /// The servers, the default first.
    pub servers: &'static [Server],
    /// The grants, primary first.
    pub grants: &'static [GrantSpec],
    /// How Basic client credentials are encoded, where a grant uses Basic.
    pub basic_encoding: BasicEncoding,
    /// Where the token is in a success body.
    pub token: TokenFields,
    /// Where the code and message are in an error body.
    pub error: ErrorFields,
    /// The documented error responses.
    pub errors: &'static [ErrorResponse],
    /// The longest a token should be used, if the document advises one
    /// (`x-tokenmux-max-lifetime`, seconds).
    pub max_lifetime_secs: Option<u64>,
    /// The success response's documented example, as JSON text.
    pub success_example: Option<&'static str>,
    /// The status of the documented success response (`200`, or `201`
    /// where a token is created as a resource).
    pub success_status: u16,
    /// How the access token is sent on API requests
    /// (`x-tokenmux-presentation`); [`Presentation::BEARER`] by default.
    pub presentation: Presentation,
}

impl EndpointSpec {
    /// The grant of that kind, if the endpoint has one.
    pub fn grant(&self, kind: GrantKind) -> Option<&'static GrantSpec> {
        self.grants.iter().find(|grant| grant.kind == kind)
    }

    /// The grant that serves `kind`: a refresh goes to the refresh grant,
    /// else to a primary grant that is itself a refresh token grant (a
    /// vendor whose only request presents a refresh token obtained out of
    /// band, and that may rotate it).
    pub fn grant_for(&self, kind: GrantKind) -> Option<&'static GrantSpec> {
        self.grant(kind).or_else(|| match kind {
            GrantKind::Primary => None,
            GrantKind::Refresh => self
                .grant(GrantKind::Primary)
                .filter(|primary| primary.presents_refresh_token()),
        })
    }

    /// The parameters any grant takes, each once (as the first grant
    /// naming it describes it), in spec order.
    pub fn parameters(&self) -> Vec<ParameterSpec> {
        let mut found: Vec<ParameterSpec> = Vec::new();
        let claims = |field: &RequestField| match field.value {
            FieldValue::Assertion(assertion) => assertion.claims,
            _ => &[],
        };
        for field in self.grants.iter().flat_map(|grant| grant.fields) {
            let own = match field.value {
                FieldValue::Parameter(parameter) => Some(parameter),
                _ => None,
            };
            let from_claims = claims(field).iter().map(|claim| claim.parameter);
            for parameter in own.into_iter().chain(from_claims) {
                if !found.iter().any(|seen| seen.name == parameter.name) {
                    found.push(parameter);
                }
            }
        }
        found
    }

    /// The server the spec lists first.
    pub fn default_server(&self) -> Option<&'static Server> {
        self.servers.first()
    }

    /// The server named `name` (`x-tokenmux-server`).
    pub fn server(&self, name: &str) -> Option<&'static Server> {
        self.servers.iter().find(|server| server.name == Some(name))
    }

    /// The status and media type the spec documents for `condition`, else
    /// RFC 6749's status.
    pub fn error_response(&self, condition: ErrorCondition) -> (u16, Option<&'static str>) {
        self.errors
            .iter()
            .find(|response| response.conditions.contains(&condition))
            .map_or((condition.default_status(), None), |response| {
                (response.status, response.media_type)
            })
    }
}
