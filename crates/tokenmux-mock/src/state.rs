//! What the mock remembers: requests received, tokens issued, refresh tokens.

use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenmux_wire::EndpointSpec;

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rand::Rng as _;
use rand::distr::Alphanumeric;

use crate::MockConfig;

/// The grant a token was issued through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    /// Client id and secret alone.
    ClientCredentials,
    /// The OAuth2 password grant.
    Password,
    /// The OAuth2 refresh token grant.
    RefreshToken,
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The provider whose endpoint it reached, e.g. `airalo`.
    pub provider: String,
    /// HTTP method.
    pub method: String,
    /// Path and query, including the provider prefix.
    pub path: String,
    /// Headers, names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A deviation from normal behaviour, queued per provider: the next
/// request waits `delay`, then gets `response` instead of the normal answer
/// (or the normal answer, when `response` is `None`).
#[derive(Clone, Debug, Default)]
pub struct Fault {
    /// Wait this long before answering.
    pub delay: Duration,
    /// Answer with this instead of handling the request.
    pub response: Option<FaultResponse>,
}

/// A canned answer.
#[derive(Clone, Debug)]
pub struct FaultResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers, e.g. `Retry-After`.
    pub headers: Vec<(String, String)>,
    /// Content type of the body.
    pub content_type: String,
    /// The body (any bytes: the mock can send invalid UTF-8).
    pub body: Vec<u8>,
    /// Send only the first half of the body, then cut the connection.
    pub truncated: bool,
}

impl Fault {
    /// Answer with `status` and a small JSON body.
    pub fn status(status: u16) -> Self {
        Self {
            delay: Duration::ZERO,
            response: Some(FaultResponse {
                status,
                headers: Vec::new(),
                content_type: "application/json".to_owned(),
                body: format!(r#"{{"message":"injected {status}"}}"#).into_bytes(),
                truncated: false,
            }),
        }
    }

    /// Never answers in time: waits an hour, then answers normally.
    pub fn hang() -> Self {
        Self::delay(Duration::from_secs(3600))
    }

    /// An HTML page (what a proxy or a login wall sends) with `status`.
    pub fn html(status: u16) -> Self {
        Self::status(status).body(
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><body><h1>Service Unavailable</h1></body></html>",
        )
    }

    /// Broken JSON with status 200.
    pub fn malformed() -> Self {
        Self::status(200).body("application/json", r#"{"access_token": "abc", "expires_in"#)
    }

    /// A token response whose body stops half-way: the connection is cut.
    pub fn truncated() -> Self {
        let mut fault = Self::status(200).body(
            "application/json",
            r#"{"token_type":"Bearer","expires_in":3600,"access_token":"truncated-token-value"}"#,
        );
        if let Some(response) = &mut fault.response {
            response.truncated = true;
        }
        fault
    }

    /// Handle the request normally, after `delay`.
    pub fn delay(delay: Duration) -> Self {
        Self {
            delay,
            response: None,
        }
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, value: &str) -> Self {
        if let Some(response) = &mut self.response {
            response
                .headers
                .push(("retry-after".to_owned(), value.to_owned()));
        }
        self
    }

    /// Adds a response header, e.g. `Location` for a redirect.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Some(response) = &mut self.response {
            response.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Replaces the body and its content type.
    pub fn body(self, content_type: &str, body: &str) -> Self {
        self.body_bytes(content_type, body.as_bytes().to_vec())
    }

    /// Replaces the body with any bytes, and its content type.
    pub fn body_bytes(mut self, content_type: &str, body: Vec<u8>) -> Self {
        if let Some(response) = &mut self.response {
            response.content_type = content_type.to_owned();
            response.body = body;
        }
        self
    }
}

#[derive(Default)]
struct Inner {
    faults: HashMap<String, VecDeque<Fault>>,
    requests: Vec<RecordedRequest>,
    issued: BTreeMap<(String, Grant), usize>,
    /// Refresh token → whether it may still be used, and its family (the
    /// password grant that began its chain of rotations).
    refresh_tokens: HashMap<String, (RefreshState, u64)>,
    /// Access token → its family.
    access_tokens: HashMap<String, u64>,
    /// Families revoked because one of their refresh tokens was reused.
    revoked_families: HashSet<u64>,
    next_family: u64,
    /// Used-up refresh tokens presented again.
    refresh_tokens_reused: usize,
}

/// Where an issued refresh token stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Valid,
    Used,
    Revoked,
}

pub(crate) struct State {
    pub(crate) config: MockConfig,
    /// The endpoints served, one per spec compiled into tokenmux.
    pub(crate) providers: Vec<&'static dyn tokenmux_wire::TokenEndpoint>,
    /// The client assertions' `jti`s seen, each accepted once.
    pub(crate) jtis: crate::assertion::SeenJtis,
    inner: Mutex<Inner>,
}

/// How a refresh token presented to the server stands.
pub(crate) enum RefreshOutcome {
    /// It was valid; it is now used up, and these are the new tokens.
    Rotated { access: String, refresh: String },
    /// Unknown, or already used.
    Invalid,
}

impl State {
    pub(crate) fn new(config: MockConfig) -> Self {
        Self {
            config,
            providers: tokenmux_registry::builtin(),
            jtis: Default::default(),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    pub(crate) fn record(
        &self,
        provider: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.lock().requests.push(RecordedRequest {
            provider: provider.to_owned(),
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            headers,
            body: body.clone(),
        });
    }

    pub(crate) fn push_fault(&self, provider: &str, fault: Fault) {
        self.lock()
            .faults
            .entry(provider.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// Applies the next queued fault of `provider`, if any: waits, and
    /// returns the canned answer when the fault has one.
    pub(crate) async fn apply_fault(&self, provider: &str) -> Option<Response> {
        let fault = self.lock().faults.get_mut(provider)?.pop_front()?;
        tokio::time::sleep(fault.delay).await;
        let canned = fault.response?;
        let status =
            StatusCode::from_u16(canned.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = if canned.truncated {
            // Half the body, then an error: hyper aborts the connection
            // mid-message, as a crashed or cut-off server would.
            use futures_util::StreamExt as _;
            let half = Bytes::from(canned.body[..canned.body.len() / 2].to_owned());
            // The pause lets the head and the first half reach the client
            // before the cut.
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err::<Bytes, _>(std::io::Error::other("connection cut by the mock"))
            });
            let body = futures_util::stream::once(async move { Ok(half) }).chain(cut);
            (status, axum::body::Body::from_stream(body)).into_response()
        } else {
            (status, canned.body).into_response()
        };
        let headers = response.headers_mut();
        for (name, value) in
            std::iter::once(("content-type".to_owned(), canned.content_type)).chain(canned.headers)
        {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(name),
                axum::http::HeaderValue::try_from(value),
            ) {
                headers.insert(name, value);
            }
        }
        Some(response)
    }

    pub(crate) fn revoke_refresh_tokens(&self) {
        for (state, _) in self.lock().refresh_tokens.values_mut() {
            *state = RefreshState::Revoked;
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub(crate) fn requests_received(&self, provider: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.provider == provider)
            .count()
    }

    pub(crate) fn tokens_issued(&self, provider: &str, grant: Grant) -> usize {
        self.lock()
            .issued
            .get(&(provider.to_owned(), grant))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn refresh_tokens_reused(&self) -> usize {
        self.lock().refresh_tokens_reused
    }

    /// Whether `token` was issued here and is not revoked.
    pub(crate) fn access_token_valid(&self, token: &str) -> bool {
        let inner = self.lock();
        inner
            .access_tokens
            .get(token)
            .is_some_and(|family| !inner.revoked_families.contains(family))
    }

    pub(crate) fn reset(&self) {
        let mut inner = self.lock();
        inner.refresh_tokens_reused = 0;
        inner.requests.clear();
        inner.issued.clear();
        inner.faults.clear();
    }

    /// Issues an access token (and, when the spec issues them, a refresh token).
    pub(crate) fn issue(
        &self,
        spec: &EndpointSpec,
        grant: Grant,
        with_refresh: bool,
    ) -> (String, Option<String>) {
        let provider = spec.name;
        let access = self.access_token(spec);
        let refresh = with_refresh.then(|| random_token(provider, "refresh"));
        let mut inner = self.lock();
        *inner
            .issued
            .entry((provider.to_owned(), grant))
            .or_default() += 1;
        inner.next_family += 1;
        let family = inner.next_family;
        inner.access_tokens.insert(access.clone(), family);
        if let Some(refresh) = &refresh {
            inner
                .refresh_tokens
                .insert(refresh.clone(), (RefreshState::Valid, family));
        }
        (access, refresh)
    }

    /// Uses up a refresh token and issues new tokens, atomically: two
    /// concurrent uses of one token cannot both succeed.
    pub(crate) fn rotate(&self, spec: &EndpointSpec, presented: &str) -> RefreshOutcome {
        let provider = spec.name;
        let access = self.access_token(spec);
        let refresh = random_token(provider, "refresh");
        let mut inner = self.lock();
        let revoke_family = self.config.revoke_family_on_reuse;
        let family = match inner.refresh_tokens.get(presented).copied() {
            Some((RefreshState::Valid, family)) if !inner.revoked_families.contains(&family) => {
                inner
                    .refresh_tokens
                    .insert(presented.to_owned(), (RefreshState::Used, family));
                family
            }
            Some((RefreshState::Used, family)) => {
                inner.refresh_tokens_reused += 1;
                // OAuth 2.1 (draft, §4.3.1): a reused refresh token may be
                // stolen; revoke every token of its family.
                if revoke_family {
                    inner.revoked_families.insert(family);
                }
                return RefreshOutcome::Invalid;
            }
            _ => return RefreshOutcome::Invalid,
        };
        inner
            .refresh_tokens
            .insert(refresh.clone(), (RefreshState::Valid, family));
        inner.access_tokens.insert(access.clone(), family);
        *inner
            .issued
            .entry((provider.to_owned(), Grant::RefreshToken))
            .or_default() += 1;
        RefreshOutcome::Rotated { access, refresh }
    }

    pub(crate) fn expires_in(&self) -> u64 {
        self.config.token_lifetime.as_secs()
    }

    /// The mock's time, which absolute expiries count from.
    pub(crate) fn now(&self) -> SystemTime {
        self.config.clock.now()
    }

    /// A new access token. Where the spec's answer carries no expiry, it
    /// is a JWT whose `exp` says when it expires, as issuers that leave
    /// `expires_in` out do (unsigned: `alg: none`, for clients to time
    /// their refresh, not to trust).
    fn access_token(&self, spec: &EndpointSpec) -> String {
        let token = random_token(spec.name, "access");
        if spec.token.expiry.is_some() {
            return token;
        }
        let exp = self
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + self.expires_in();
        let part = |json: serde_json::Value| URL_SAFE_NO_PAD.encode(json.to_string());
        format!(
            "{}.{}.",
            part(serde_json::json!({"alg": "none", "typ": "JWT"})),
            part(serde_json::json!({"exp": exp, "jti": token})),
        )
    }
}

/// A random token, recognisable by its prefix in logs and scans.
fn random_token(provider: &str, kind: &str) -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("mock-{provider}-{kind}-{random}")
}

/// A JSON response with the exact content type the document uses.
pub(crate) fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: serde_json::Value,
) -> Response {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let text = match (essence, &body) {
        // A spec that documents a form answer gets one: each member as text.
        ("application/x-www-form-urlencoded", serde_json::Value::Object(members)) => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in members {
                match value {
                    serde_json::Value::String(text) => form.append_pair(name, text),
                    other => form.append_pair(name, &other.to_string()),
                };
            }
            form.finish()
        }
        _ => body.to_string(),
    };
    (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// The media type of a request without parameters, lowercased.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

/// Whether the request's `Accept` allows `media` (absent means anything).
pub(crate) fn accepts(headers: &HeaderMap, media: &str) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    accept.split(',').any(|range| {
        let range = range.split(';').next().unwrap_or_default().trim();
        range == "*/*" || range == media || range == format!("{kind}/*")
    })
}
