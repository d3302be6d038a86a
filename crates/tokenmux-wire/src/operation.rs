//! The documented wire format of one operation, as recorded by `cargo xtask regen`.

/// How an operation's request body is encoded on the wire.
///
/// progenitor only emits JSON and `application/x-www-form-urlencoded`
/// bodies; the generator lowers the other documented encodings to one of
/// those and records the real one here, so the request can be rewritten
/// before it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEncoding {
    /// No request body.
    None,
    /// A JSON body, sent with [`OperationWire::content_type`] (which may be
    /// a vendor type such as `application/vnd.api+json`).
    Json,
    /// A `application/x-www-form-urlencoded` body.
    FormUrlencoded,
    /// A `multipart/form-data` body with one text part per field.
    Multipart,
}

/// The client authentication an operation's security requirement asks for
/// (RFC 8414's `token_endpoint_auth_methods_supported` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Nothing beside the request's own fields: `client_secret_post`
    /// (the body carries the secret) or `none` (a public client).
    None,
    /// `client_secret_basic`: `Authorization: Basic …` from
    /// [`crate::ClientConfig::basic_auth`].
    Basic,
    /// `client_secret_jwt` (RFC 7523 §2.2): an HS256 assertion keyed by
    /// the client secret, in `client_assertion`.
    ClientSecretJwt(AssertionAudience),
    /// `private_key_jwt` (RFC 7523 §2.2): an assertion signed by the
    /// client's private key, in `client_assertion`.
    PrivateKeyJwt(AssertionAudience),
    /// `tls_client_auth` (RFC 8705 §2.1): the client presents a
    /// certificate a CA issued in the TLS handshake; the body carries its
    /// `client_id`.
    TlsClientAuth,
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): the same with a
    /// self-signed certificate the client registered.
    SelfSignedTlsClientAuth,
    /// An app JWT (iss = the client id, iat back-dated a minute, exp nine
    /// minutes on) signed by the client's private key, sent as
    /// `Authorization: Bearer` (`x-tokenmux-client-auth: app_jwt`): how
    /// app-installation token endpoints authenticate the app.
    AppJwt,
    /// Chosen per source from the authorization server's metadata (RFC
    /// 8414) and the credentials: the endpoint substitutes the chosen
    /// method's operation before the request is built.
    FromMetadata,
}

/// The `aud` of a client assertion, as the server wants it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AssertionAudience {
    /// The token endpoint's URL (RFC 7523 §3, and what every server takes).
    #[default]
    TokenEndpoint,
    /// The authorization server's issuer identifier
    /// ([`ClientConfig::with_issuer`](crate::ClientConfig::with_issuer)).
    Issuer,
}

/// The documented wire format of one operation.
///
/// Generated clients carry a table of these (`OPERATIONS`), built from the
/// spec, and their request hook applies the entry whose `method` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationWire {
    /// The spec's `operationId`, e.g. `v2TokenPost`.
    pub operation_id: &'static str,
    /// The name progenitor gives the operation: the client method, and the
    /// `OperationInfo::operation_id` its hooks receive, e.g. `v2_token_post`.
    pub method: &'static str,
    /// The HTTP method, upper case: `POST`, or `GET` for an endpoint that
    /// takes its values in the query string.
    pub http_method: &'static str,
    /// How the request body is encoded.
    pub body: BodyEncoding,
    /// The documented request media type, e.g. `application/vnd.api+json`.
    /// For multipart bodies the boundary parameter is added when sending.
    pub content_type: Option<&'static str>,
    /// The value of the `Accept` header: the documented response media type.
    pub accept: Option<&'static str>,
    /// How the success body is encoded: [`Json`](BodyEncoding::Json), or
    /// [`FormUrlencoded`](BodyEncoding::FormUrlencoded), which the response
    /// hook turns into a flat JSON object of strings for the generated
    /// types (lowered to strings) to read.
    pub response: BodyEncoding,
    /// The client authentication the operation requires.
    pub auth: ClientAuth,
}

/// One server of a spec's `servers` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Server {
    /// The server URL; a `{name}` part is a variable the user must fill in.
    pub url: &'static str,
    /// The spec's description of the server, if any.
    pub description: Option<&'static str>,
    /// Its name (`x-tokenmux-server`), e.g. `production` or `sandbox`.
    pub name: Option<&'static str>,
}
