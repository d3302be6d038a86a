//! Which client authentication an operation's security requirement asks
//! for: an HTTP Basic scheme is `client_secret_basic`; any scheme may name
//! its RFC 8414 method with `x-tokenmux-client-auth`, and a JWT method its
//! assertion's audience with `x-tokenmux-assertion-audience`.

use openapiv3::{Components, ReferenceOr, SecurityRequirement, SecurityScheme};
use serde_json::Value;

use crate::{SpecProblem, problem};

/// The extension naming a scheme's method.
pub const CLIENT_AUTH: &str = "x-tokenmux-client-auth";
/// The extension choosing a JWT method's `aud`.
pub const ASSERTION_AUDIENCE: &str = "x-tokenmux-assertion-audience";

/// A client assertion's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The token endpoint's URL.
    TokenEndpoint,
    /// The issuer identifier.
    Issuer,
}

/// `tokenmux_wire::ClientAuth`, as regen records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthRecord {
    /// The request's own fields (`client_secret_post`, `none`).
    None,
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_jwt`.
    ClientSecretJwt(Audience),
    /// `private_key_jwt`.
    PrivateKeyJwt(Audience),
    /// `tls_client_auth`.
    TlsClientAuth,
    /// `self_signed_tls_client_auth`.
    SelfSignedTlsClientAuth,
    /// `app_jwt`: a JWT the app signs, in `Authorization: Bearer`.
    AppJwt,
}

/// The method the effective security requirement asks for. Several
/// schemes must agree: a token request authenticates the client one way
/// (RFC 6749 §2.3).
pub(super) fn client_auth(
    security: Option<&Vec<SecurityRequirement>>,
    components: &Components,
) -> Result<ClientAuthRecord, SpecProblem> {
    let mut chosen: Option<(String, ClientAuthRecord)> = None;
    for name in security.into_iter().flatten().flat_map(|req| req.keys()) {
        let scheme = match components.security_schemes.get(name) {
            Some(ReferenceOr::Item(scheme)) => scheme,
            Some(ReferenceOr::Reference { .. }) => {
                return Err(problem!(
                    "security scheme `{name}` given by $ref is not supported"
                ));
            }
            None => return Err(problem!("security scheme `{name}` is not defined")),
        };
        let method = of_scheme(name, scheme)?;
        match &chosen {
            Some((first, earlier)) if *earlier != method => {
                return Err(problem!(
                    "security schemes `{first}` and `{name}` ask for two client \
                     authentication methods; a token request uses one"
                ));
            }
            _ => chosen = Some((name.clone(), method)),
        }
    }
    Ok(chosen.map_or(ClientAuthRecord::None, |(_, method)| method))
}

fn of_scheme(name: &str, scheme: &SecurityScheme) -> Result<ClientAuthRecord, SpecProblem> {
    let extensions = match scheme {
        SecurityScheme::APIKey { extensions, .. }
        | SecurityScheme::HTTP { extensions, .. }
        | SecurityScheme::OAuth2 { extensions, .. }
        | SecurityScheme::OpenIDConnect { extensions, .. } => extensions,
    };
    let audience = match extensions.get(ASSERTION_AUDIENCE).map(Value::as_str) {
        None | Some(Some("token_endpoint")) => Audience::TokenEndpoint,
        Some(Some("issuer")) => Audience::Issuer,
        Some(_) => {
            return Err(problem!(
                "{ASSERTION_AUDIENCE} on `{name}` must be `token_endpoint` or `issuer`"
            ));
        }
    };
    let is_http = |name: &str| matches!(scheme, SecurityScheme::HTTP { scheme, .. } if scheme.eq_ignore_ascii_case(name));
    let is_basic = is_http("basic");
    let method = match extensions.get(CLIENT_AUTH) {
        None if is_basic => return Ok(ClientAuthRecord::Basic),
        None => {
            return Err(problem!(
                "security scheme `{name}` is not HTTP Basic; say how it authenticates the \
                 client with {CLIENT_AUTH}: client_secret_basic, client_secret_post, \
                 client_secret_jwt, private_key_jwt, tls_client_auth, \
                 self_signed_tls_client_auth, app_jwt or none"
            ));
        }
        Some(value) => value.as_str().unwrap_or_default(),
    };
    Ok(match method {
        "client_secret_basic" if is_basic => ClientAuthRecord::Basic,
        "client_secret_basic" => {
            return Err(problem!(
                "{CLIENT_AUTH}: client_secret_basic on `{name}` needs `type: http, scheme: basic`"
            ));
        }
        "client_secret_post" | "none" => ClientAuthRecord::None,
        "client_secret_jwt" => ClientAuthRecord::ClientSecretJwt(audience),
        "private_key_jwt" => ClientAuthRecord::PrivateKeyJwt(audience),
        "tls_client_auth" => ClientAuthRecord::TlsClientAuth,
        "self_signed_tls_client_auth" => ClientAuthRecord::SelfSignedTlsClientAuth,
        "app_jwt" if is_http("bearer") => ClientAuthRecord::AppJwt,
        "app_jwt" => {
            return Err(problem!(
                "{CLIENT_AUTH}: app_jwt on `{name}` needs `type: http, scheme: bearer`: \
                 the app JWT is sent as `Authorization: Bearer`"
            ));
        }
        other => {
            return Err(problem!(
                "{CLIENT_AUTH} on `{name}`: `{other}` is not client_secret_basic, \
                 client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, \
                 self_signed_tls_client_auth, app_jwt or none"
            ));
        }
    })
}
