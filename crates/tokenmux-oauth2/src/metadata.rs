//! Authorization server metadata (RFC 8414 §3; OpenID Connect Discovery
//! 1.0 §4): read from the issuer's well-known URL, bounded, and checked
//! as RFC 8414 §3.3 says: the `issuer` it names must be the one asked for,
//! else the metadata is not used.

use reqwest::Url;
use serde::Deserialize;
use tokenmux_wire::scrub::neutralise_controls;
use tokenmux_wire::{AuthMethod, ClientError, ErrorDetails, ResponseValue};

/// Largest metadata document read.
const MAX_METADATA_BYTES: usize = 256 * 1024;

/// What tokenmux uses of a server's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// The issuer identifier, equal to the one asked for.
    pub issuer: String,
    /// The token endpoint's URL.
    pub token_endpoint: String,
    /// The client authentication methods it lists, those tokenmux knows,
    /// in its order (RFC 8414's default when absent:
    /// `client_secret_basic`).
    pub auth_methods: Vec<AuthMethod>,
    /// The DPoP proof algorithms it lists (RFC 9449 §5.1), if any.
    pub dpop_algorithms: Vec<String>,
}

/// Why no metadata could be used. Texts quote the server only through
/// [`neutralise_controls`], and never a credential (discovery sends none).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not an http(s) URL without query or fragment.
    #[error(
        "the issuer `{0}` is not an RFC 8414 issuer identifier (an https URL, no query or fragment)"
    )]
    Issuer(String),
    /// The request failed (connect, TLS, timeout).
    #[error("cannot read the metadata at {url}: {source}")]
    Transport {
        /// The well-known URL.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// Neither well-known URL answered 200.
    #[error(
        "no authorization server metadata at {url} (HTTP {status}) nor at the OpenID \
         Connect URL: is `{issuer}` the server's issuer?"
    )]
    Status {
        /// The issuer asked.
        issuer: String,
        /// The RFC 8414 URL tried first.
        url: String,
        /// The last status.
        status: reqwest::StatusCode,
    },
    /// The document is not metadata: not JSON, too large, a field missing.
    #[error("the metadata at {url} is unusable: {why}")]
    Unusable {
        /// Where it was read.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The metadata names another issuer (RFC 8414 §3.3): a server that
    /// answers for an issuer it is not.
    #[error("the metadata names issuer `{answered}`, not `{asked}`: refused (RFC 8414 §3.3)")]
    IssuerMismatch {
        /// The issuer asked.
        asked: String,
        /// The one the metadata names (control characters neutralised).
        answered: String,
    },
    /// The token endpoint is not an https URL (http only on loopback, as
    /// the issuer).
    #[error("the metadata's token_endpoint `{0}` is not https (plain http only to loopback)")]
    TokenEndpoint(String),
}

impl DiscoveryError {
    /// Whether asking again later may succeed: a transport failure or a
    /// server error status.
    pub fn is_transient(&self) -> bool {
        match self {
            DiscoveryError::Transport { .. } => true,
            DiscoveryError::Status { status, .. } => {
                status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408
            }
            _ => false,
        }
    }
}

impl DiscoveryError {
    /// The error as a token endpoint reports one, so that the facade
    /// classifies it as it classifies the token request's: a transport
    /// failure or a server error status is transient, the rest is the
    /// configuration's (the issuer, or a server that is not what it
    /// says).
    pub fn into_client_error(self) -> ClientError<ErrorDetails> {
        match self {
            DiscoveryError::Transport { source, .. } => ClientError::CommunicationError(source),
            DiscoveryError::Status { status, .. } if self.is_transient() => {
                ClientError::ErrorResponse(ResponseValue::new(
                    ErrorDetails::default(),
                    status,
                    Default::default(),
                ))
            }
            other => ClientError::InvalidRequest(other.to_string()),
        }
    }
}

/// The raw document, only the fields read.
#[derive(Deserialize)]
struct Document {
    issuer: Option<String>,
    token_endpoint: Option<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// The metadata of `issuer`, read with `http` (its redirect policy, TLS
/// roots and timeouts apply): RFC 8414's URL first, then OpenID Connect's.
pub async fn discover(issuer: &str, http: &reqwest::Client) -> Result<Metadata, DiscoveryError> {
    let urls = well_known(issuer)?;
    let mut last = None;
    for url in &urls {
        let response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|source| DiscoveryError::Transport {
                url: url.to_string(),
                source,
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            let body = read_bounded(response, url).await?;
            return checked(issuer, url, &body);
        }
        // A server error is worth a retry, not the other URL.
        if status.is_server_error() || status.as_u16() == 429 {
            last = Some(status);
            break;
        }
        last = Some(status);
    }
    Err(DiscoveryError::Status {
        issuer: issuer.to_owned(),
        url: urls[0].to_string(),
        status: last.unwrap_or(reqwest::StatusCode::NOT_FOUND),
    })
}

/// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` goes between
/// the host and the issuer's path; OpenID Connect appends
/// `/.well-known/openid-configuration` to the issuer.
pub(crate) fn well_known(issuer: &str) -> Result<[Url; 2], DiscoveryError> {
    let refused = || DiscoveryError::Issuer(neutralise_controls(issuer));
    let url = Url::parse(issuer).map_err(|_| refused())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
        || tokenmux_wire::net::has_userinfo(&url)
    {
        return Err(refused());
    }
    let path = url.path().trim_end_matches('/');
    let mut rfc8414 = url.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut oidc = url.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    Ok([rfc8414, oidc])
}

async fn read_bounded(
    mut response: reqwest::Response,
    url: &Url,
) -> Result<Vec<u8>, DiscoveryError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| DiscoveryError::Transport {
            url: url.to_string(),
            source,
        })?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(DiscoveryError::Unusable {
                url: url.to_string(),
                why: format!("it is larger than {MAX_METADATA_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The document at `url`, checked against the `issuer` asked for.
fn checked(issuer: &str, url: &Url, body: &[u8]) -> Result<Metadata, DiscoveryError> {
    let unusable = |why: &str| DiscoveryError::Unusable {
        url: url.to_string(),
        why: why.to_owned(),
    };
    let document: Document = serde_json::from_slice(body)
        .map_err(|_| unusable("it is not a JSON object of metadata"))?;
    let answered = document
        .issuer
        .ok_or_else(|| unusable("it names no issuer"))?;
    if answered != issuer {
        let shown: String = answered.chars().take(200).collect();
        return Err(DiscoveryError::IssuerMismatch {
            asked: issuer.to_owned(),
            answered: neutralise_controls(&shown),
        });
    }
    let token_endpoint = document
        .token_endpoint
        .ok_or_else(|| unusable("it names no token_endpoint"))?;
    let endpoint =
        Url::parse(&token_endpoint).map_err(|_| unusable("its token_endpoint is not a URL"))?;
    let secure = endpoint.scheme() == "https"
        || (endpoint.scheme() == "http"
            && endpoint
                .host_str()
                .is_some_and(tokenmux_wire::net::is_loopback_host));
    if !secure || tokenmux_wire::net::has_userinfo(&endpoint) {
        let shown: String = token_endpoint.chars().take(200).collect();
        return Err(DiscoveryError::TokenEndpoint(neutralise_controls(&shown)));
    }
    let auth_methods = match document.token_endpoint_auth_methods_supported {
        None => vec![AuthMethod::ClientSecretBasic],
        Some(names) => names.iter().filter_map(|name| name.parse().ok()).collect(),
    };
    Ok(Metadata {
        issuer: answered,
        token_endpoint,
        auth_methods,
        dpop_algorithms: document
            .dpop_signing_alg_values_supported
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_urls_follow_rfc8414_and_openid_connect() {
        let [rfc, oidc] = well_known("https://auth.example.com/tenant-1").unwrap();
        assert_eq!(
            rfc.as_str(),
            "https://auth.example.com/.well-known/oauth-authorization-server/tenant-1"
        );
        assert_eq!(
            oidc.as_str(),
            "https://auth.example.com/tenant-1/.well-known/openid-configuration"
        );
        let [rfc, _] = well_known("https://auth.example.com").unwrap();
        assert_eq!(
            rfc.as_str(),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
        for bad in [
            "auth.example.com",
            "https://a.example/?x=1",
            "ftp://a.example",
        ] {
            assert!(
                matches!(well_known(bad), Err(DiscoveryError::Issuer(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn metadata_is_used_only_for_the_issuer_asked_with_a_safe_token_endpoint() {
        let url = Url::parse("https://auth.example.com/.well-known/x").unwrap();
        let document = |issuer: &str, endpoint: &str, methods: &str| {
            format!(r#"{{"issuer": "{issuer}", "token_endpoint": "{endpoint}"{methods}}}"#)
        };
        let good = document(
            "https://auth.example.com",
            "https://auth.example.com/token",
            r#", "token_endpoint_auth_methods_supported": ["private_key_jwt", "magic", "none"]"#,
        );
        let metadata = checked("https://auth.example.com", &url, good.as_bytes()).unwrap();
        assert_eq!(
            metadata.auth_methods,
            [AuthMethod::PrivateKeyJwt, AuthMethod::None]
        );
        let defaulted = document("https://auth.example.com", "https://auth.example.com/t", "");
        let metadata = checked("https://auth.example.com", &url, defaulted.as_bytes()).unwrap();
        assert_eq!(metadata.auth_methods, [AuthMethod::ClientSecretBasic]);
        let other = document(
            r"https://evil.example.com\u001b[2J",
            "https://evil.example.com/t",
            "",
        );
        let error = checked("https://auth.example.com", &url, other.as_bytes()).unwrap_err();
        assert!(
            matches!(error, DiscoveryError::IssuerMismatch { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains('\u{1b}'), "{error}");
        let plain = document("https://auth.example.com", "http://auth.example.com/t", "");
        let error = checked("https://auth.example.com", &url, plain.as_bytes()).unwrap_err();
        assert!(matches!(error, DiscoveryError::TokenEndpoint(_)), "{error}");
        let loopback = document("http://127.0.0.1:9", "http://127.0.0.1:9/token", "");
        assert!(checked("http://127.0.0.1:9", &url, loopback.as_bytes()).is_ok());
        let error = checked("https://auth.example.com", &url, b"<html>").unwrap_err();
        assert!(matches!(error, DiscoveryError::Unusable { .. }), "{error}");
    }
}
