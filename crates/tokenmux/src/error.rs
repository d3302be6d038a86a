//! The one error type of the facade: a variant per thing a caller can act on.

use std::time::Duration;

use reqwest::StatusCode;

/// What a caller can do about an [`Error`]: the CLI's exit codes, the
/// agent's HTTP statuses and the agent's clients all decide from it.
///
/// ```
/// use tokenmux::{Error, ErrorKind};
///
/// assert_eq!(Error::Timeout.kind(), ErrorKind::Transient);
/// assert_eq!(Error::from(tokenmux::ConfigError::new("base_url", "missing")).kind(), ErrorKind::Config);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration cannot work: change it.
    Config,
    /// The endpoint refused the credentials or the grant: change them.
    Rejected,
    /// Asking again later may succeed: a rate limit, a server error, a
    /// timeout, a transport failure, a refresh that ended without outcome.
    Transient,
    /// The endpoint, or the way to it, answers what no retry mends: a
    /// redirect, an unexpected status, an unusable body, a failed TLS
    /// handshake. Check the base URL and the server.
    Endpoint,
    /// The token store failed.
    Store,
}

/// Why no token could be had.
///
/// Provider error codes and messages are kept; secrets never are (they are
/// scrubbed from messages and body excerpts).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint refused the credentials or the grant (400/401/403/422,
    /// e.g. `no_active_account`, `invalid_client`, `invalid_grant`). Not
    /// retried: fix the credentials.
    #[error(
        "credentials rejected by the token endpoint (HTTP {status}{}){}",
        at(endpoint),
        describe(code, message)
    )]
    CredentialsRejected {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,
        /// HTTP status.
        status: StatusCode,
        /// The provider's error code, e.g. `invalid_grant`.
        code: Option<String>,
        /// The provider's message.
        message: Option<String>,
    },
    /// The endpoint refused the request itself, not the credentials
    /// (RFC 6749 §5.2 `invalid_request`, `unsupported_grant_type`,
    /// `invalid_scope`): a parameter's value, the source's config or the
    /// spec does not fit the endpoint. Not retried: fix the config.
    #[error(
        "the token endpoint refused the request (HTTP {status}{}){}; check the source's \
         params and the provider's spec",
        at(endpoint),
        describe(code, message)
    )]
    RequestRefused {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,
        /// HTTP status.
        status: StatusCode,
        /// The provider's error code, e.g. `invalid_scope`.
        code: Option<String>,
        /// The provider's message.
        message: Option<String>,
    },
    /// HTTP 429 after every retry, or at once when its `Retry-After` is
    /// beyond the retry deadline.
    #[error(
        "rate limited by the token endpoint{}{}",
        at_paren(endpoint),
        retry_hint(retry_after)
    )]
    RateLimited {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,

        /// The last `Retry-After`, if the endpoint sent one.
        retry_after: Option<Duration>,
    },
    /// A 5xx (or 408) after every retry.
    #[error("token endpoint server error (HTTP {status}{}){}{}", at(endpoint), describe(&None, message), retry_hint(retry_after))]
    Server {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,

        /// HTTP status.
        status: StatusCode,
        /// The provider's message, if any.
        message: Option<String>,
        /// The `Retry-After` of a 503, if the endpoint sent one.
        retry_after: Option<Duration>,
    },
    /// The token endpoint answered with a redirect. Redirects are never
    /// followed: the request carries credentials, and a redirect could
    /// send them to another origin (or over plain http). Point the base URL
    /// at the final endpoint.
    #[error("the token endpoint redirects (HTTP {status}{}){}; redirects are not followed: use the final URL as the base URL", at(endpoint), location.as_ref().map(|host| format!(" to host `{host}`")).unwrap_or_default())]
    Redirect {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,

        /// HTTP status (301, 302, 303, 307, 308, …).
        status: StatusCode,
        /// The host the `Location` header names (never its path or query).
        location: Option<String>,
    },
    /// A status the endpoint does not document and that is not retried.
    /// A 404 or 405 means no token endpoint at that URL: a configuration
    /// error (the spec's path is appended to the base URL).
    #[error("{}", unexpected(status, endpoint, message))]
    UnexpectedStatus {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,

        /// HTTP status.
        status: StatusCode,
        /// The provider's message, if any.
        message: Option<String>,
    },
    /// The request did not complete in time (after every retry).
    #[error("token request timed out")]
    Timeout,
    /// Connecting, sending or reading failed (after every retry).
    #[error("cannot reach the token endpoint{}: {message}", at_paren(endpoint))]
    Transport {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,

        /// What failed, without URLs' secrets (there are none in token URLs).
        message: String,
    },
    /// The TLS connection failed: an untrusted or invalid certificate, a
    /// host name mismatch, or a server that does not speak TLS. Not
    /// retried: check the base URL and the server's certificate.
    #[error("TLS with the token endpoint{} failed: {message}", at_paren(endpoint))]
    Tls {
        /// The request tried, `METHOD URL` (no query, userinfo or secret),
        /// when one was sent.
        endpoint: Option<String>,

        /// What failed.
        message: String,
    },
    /// A success status with a body that is not a usable token response.
    #[error("invalid token response: {reason}{}", excerpt.as_ref().map(|e| format!(" (body: {e})")).unwrap_or_default())]
    InvalidResponse {
        /// What is wrong with it.
        reason: String,
        /// A bounded excerpt of the body with secrets redacted.
        excerpt: Option<String>,
    },
    /// The configuration cannot work (missing base URL, wrong credentials
    /// kind for the provider, provider not compiled in, …).
    #[error("configuration error: {0}")]
    Config(crate::ConfigError),
    /// The token store failed while a token had to be read or written.
    #[error("token store error: {0}")]
    Store(#[from] tokenmux_store::StoreError),
    /// The refresh ended without an outcome (its task panicked, or the
    /// runtime is shutting down). A later call starts a new one.
    #[error("the token refresh ended without an outcome")]
    RefreshAborted,
    /// An earlier refresh failed (in this process, or in another sharing
    /// its store) and its cool-down has not passed: no request was sent.
    /// [`kind`](Self::kind) is that failure's kind, [`retry_after`](Self::retry_after)
    /// what is left of the cool-down. `tokenmux token --refresh` (or
    /// [`TokenSource::refresh`](crate::TokenSource::refresh)) asks at once.
    #[error("not asking the token endpoint again for {}s: an earlier request failed: {message}", retry_after.as_secs().max(1))]
    BackingOff {
        /// The kind of the earlier failure.
        kind: ErrorKind,
        /// The earlier failure's [`code`](Self::code) (`server_error`, …).
        cause: String,
        /// The earlier failure's message (no secret).
        message: String,
        /// What is left of the cool-down.
        retry_after: Duration,
    },
}

impl From<tokenmux_store::InvalidKey> for Error {
    fn from(error: tokenmux_store::InvalidKey) -> Self {
        Error::Config(crate::ConfigError::general(error.to_string()))
    }
}

/// `$body` with `$slot` bound to the `endpoint` of the variants that say
/// what was tried; `$otherwise` for the others. One list of them.
macro_rules! with_endpoint {
    ($error:expr, $slot:ident => $body:expr, $otherwise:expr) => {
        match $error {
            Error::CredentialsRejected {
                endpoint: $slot, ..
            }
            | Error::RequestRefused {
                endpoint: $slot, ..
            }
            | Error::RateLimited {
                endpoint: $slot, ..
            }
            | Error::Server {
                endpoint: $slot, ..
            }
            | Error::Redirect {
                endpoint: $slot, ..
            }
            | Error::UnexpectedStatus {
                endpoint: $slot, ..
            }
            | Error::Transport {
                endpoint: $slot, ..
            }
            | Error::Tls {
                endpoint: $slot, ..
            } => $body,
            _ => $otherwise,
        }
    };
}

impl Error {
    /// What a caller can do about it; see [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::RequestRefused { .. } => ErrorKind::Config,
            Error::UnexpectedStatus { status, .. } if is_not_found(*status) => ErrorKind::Config,
            Error::CredentialsRejected { .. } => ErrorKind::Rejected,
            Error::RateLimited { .. }
            | Error::Server { .. }
            | Error::Timeout
            | Error::Transport { .. }
            | Error::RefreshAborted => ErrorKind::Transient,
            Error::Redirect { .. }
            | Error::UnexpectedStatus { .. }
            | Error::Tls { .. }
            | Error::InvalidResponse { .. } => ErrorKind::Endpoint,
            Error::Store(_) => ErrorKind::Store,
            Error::BackingOff { kind, .. } => *kind,
        }
    }

    /// Whether retrying later may succeed (rate limits, server errors,
    /// timeouts, transport failures, an aborted refresh); rejected
    /// credentials and bad config never will. Same as
    /// `kind() == ErrorKind::Transient`.
    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    /// A stable, machine-readable name of the variant (`credentials_rejected`,
    /// `rate_limited`, …): the `outcome` label of the fetch metrics and the
    /// `code` of the agent's JSON errors.
    ///
    /// ```
    /// assert_eq!(tokenmux::Error::Timeout.code(), "timeout");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::CredentialsRejected { .. } => "credentials_rejected",
            Error::RequestRefused { .. } => "request_refused",
            Error::RateLimited { .. } => "rate_limited",
            Error::Server { .. } => "server_error",
            Error::Redirect { .. } => "redirect",
            Error::UnexpectedStatus { .. } => "unexpected_status",
            Error::Timeout => "timeout",
            Error::Transport { .. } => "transport",
            Error::Tls { .. } => "tls",
            Error::InvalidResponse { .. } => "invalid_response",
            Error::Config(_) => "config",
            Error::Store(_) => "store",
            Error::RefreshAborted => "refresh_aborted",
            Error::BackingOff { .. } => "backing_off",
        }
    }

    /// How long to wait: the `Retry-After` of a 429 or 503, or what is left
    /// of a cool-down ([`Error::BackingOff`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenmux::Error;
    ///
    /// let error = Error::RateLimited { endpoint: None, retry_after: Some(Duration::from_secs(120)) };
    /// assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    /// assert_eq!(error.to_string(), "rate limited by the token endpoint; retry after 120s");
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } | Error::Server { retry_after, .. } => {
                *retry_after
            }
            Error::BackingOff { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The request that was tried, `METHOD URL` (no query, userinfo or
    /// secret), for the errors of an answer or of the way to it.
    pub fn endpoint(&self) -> Option<&str> {
        with_endpoint!(self, endpoint => endpoint.as_deref(), None)
    }

    /// The same error, saying that `line` was tried.
    pub(crate) fn tried(mut self, line: Option<String>) -> Self {
        with_endpoint!(&mut self, endpoint => *endpoint = line, ());
        self
    }

    /// The same error, saying how many attempts failed (a transport
    /// failure's message; one attempt says nothing).
    pub(crate) fn after_attempts(mut self, attempts: u32) -> Self {
        if let Error::Transport { message, .. } = &mut self
            && attempts > 1
        {
            message.push_str(&format!(" ({attempts} attempts)"));
        }
        self
    }

    /// The provider's error code, when it sent one.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            Error::CredentialsRejected { code, .. } | Error::RequestRefused { code, .. } => {
                code.as_deref()
            }
            _ => None,
        }
    }
}

/// ` at POST https://…`, inside a parenthesis that says the status.
fn at(endpoint: &Option<String>) -> String {
    endpoint
        .as_ref()
        .map(|line| format!(" at {line}"))
        .unwrap_or_default()
}

/// ` (POST https://…)`.
fn at_paren(endpoint: &Option<String>) -> String {
    endpoint
        .as_ref()
        .map(|line| format!(" ({line})"))
        .unwrap_or_default()
}

/// No token endpoint at that URL.
fn is_not_found(status: StatusCode) -> bool {
    matches!(status.as_u16(), 404 | 405)
}

fn unexpected(status: &StatusCode, endpoint: &Option<String>, message: &Option<String>) -> String {
    match is_not_found(*status) {
        true => format!(
            "no token endpoint there (HTTP {status}{}){}: the spec's path is appended to the \
             base URL; check --base-url (`base_url:`) or --server",
            at(endpoint),
            describe(&None, message)
        ),
        false => format!(
            "unexpected HTTP {status} from the token endpoint{}{}",
            at_paren(endpoint),
            describe(&None, message)
        ),
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!("; retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

fn describe(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(": {code}: {message}"),
        (Some(text), None) | (None, Some(text)) => format!(": {text}"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_the_kind_a_caller_acts_on() {
        let status = StatusCode::BAD_GATEWAY;
        for (error, kind) in [
            (crate::ConfigError::general("x").into(), ErrorKind::Config),
            (
                Error::CredentialsRejected {
                    endpoint: None,
                    status: StatusCode::UNAUTHORIZED,
                    code: None,
                    message: None,
                },
                ErrorKind::Rejected,
            ),
            (
                Error::RateLimited {
                    endpoint: None,
                    retry_after: None,
                },
                ErrorKind::Transient,
            ),
            (
                Error::Server {
                    endpoint: None,
                    status,
                    message: None,
                    retry_after: None,
                },
                ErrorKind::Transient,
            ),
            (Error::Timeout, ErrorKind::Transient),
            (
                Error::Transport {
                    endpoint: None,
                    message: "x".into(),
                },
                ErrorKind::Transient,
            ),
            // A later call starts a new refresh: try again.
            (Error::RefreshAborted, ErrorKind::Transient),
            (
                Error::Redirect {
                    endpoint: None,
                    status: StatusCode::FOUND,
                    location: None,
                },
                ErrorKind::Endpoint,
            ),
            (
                Error::UnexpectedStatus {
                    endpoint: None,
                    status,
                    message: None,
                },
                ErrorKind::Endpoint,
            ),
            (
                Error::Tls {
                    endpoint: None,
                    message: "x".into(),
                },
                ErrorKind::Endpoint,
            ),
            (
                Error::InvalidResponse {
                    reason: "x".into(),
                    excerpt: None,
                },
                ErrorKind::Endpoint,
            ),
            (
                Error::Store(crate::StoreError::unavailable("x")),
                ErrorKind::Store,
            ),
        ] {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(
                error.is_transient(),
                kind == ErrorKind::Transient,
                "{error}"
            );
        }
    }
}
