//! Who may ask the agent: on the Unix socket, processes of allowed users
//! (the kernel's `SO_PEERCRED`); on loopback TCP, holders of the bearer the
//! agent wrote to a 0600 file at start-up.

use std::collections::BTreeSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use crate::protocol::ErrorBody;
use crate::state::{answer, refusal};

/// The peer of a Unix-socket connection, as the kernel saw it at connect.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    uid: Option<u32>,
}

impl Peer {
    /// The peer of `stream`, from `SO_PEERCRED`.
    pub fn of(stream: &tokio::net::UnixStream) -> Self {
        Self {
            uid: stream.peer_cred().ok().map(|cred| cred.uid()),
        }
    }

    /// A peer running as `uid`.
    #[cfg(test)]
    pub(crate) fn with_uid(uid: u32) -> Self {
        Self { uid: Some(uid) }
    }
}

/// The uids allowed on the socket: the agent's own and the configured
/// (swapped when the config is reloaded).
#[derive(Clone, Debug, Default)]
pub struct AllowedUids(Arc<ArcSwap<BTreeSet<u32>>>);

impl AllowedUids {
    /// Allows the agent's own uid and `configured`, from now on.
    pub fn set(&self, configured: &[u32]) {
        let mut allowed: BTreeSet<u32> = configured.iter().copied().collect();
        allowed.insert(rustix::process::geteuid().as_raw());
        self.0.store(Arc::new(allowed));
    }
}

impl AllowedUids {
    /// Whether `peer` may ask.
    fn admits(&self, peer: Peer) -> bool {
        peer.uid.is_some_and(|uid| self.0.load().contains(&uid))
    }
}

/// Who may ask on one listener: the question its middleware asks, for
/// whoever answers without the router.
#[derive(Clone, Debug)]
pub enum Gate {
    /// The Unix socket: peers whose uid is allowed.
    Peers(AllowedUids),
    /// Loopback TCP: requests that carry the bearer.
    Bearer(Bearer),
}

impl Gate {
    /// Whether a request with `headers`, from `peer` (on the Unix
    /// socket), may ask.
    pub fn admits(&self, peer: Option<Peer>, headers: &http::HeaderMap) -> bool {
        match self {
            Gate::Peers(allowed) => peer.is_some_and(|peer| allowed.admits(peer)),
            Gate::Bearer(bearer) => bearer.matches(headers.get(http::header::AUTHORIZATION)),
        }
    }
}

/// Middleware of the Unix socket: refuses a peer whose uid is not allowed.
pub async fn check_peer(
    State(allowed): State<AllowedUids>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    match peer.uid {
        _ if allowed.admits(peer) => next.run(request).await,
        uid => {
            tracing::warn!(
                ?uid,
                "refused a client on the agent's socket: its uid is not allowed"
            );
            // The agent's config decides who may use it: a config matter.
            answer(
                http::StatusCode::FORBIDDEN,
                ErrorBody::new(
                    "peer_not_allowed",
                    Some(tokenmux::ErrorKind::Config),
                    "this user may not use the agent (see agent.allowed_uids and agent.socket_mode)",
                ),
            )
        }
    }
}

/// The bearer of the TCP listener: 32 random bytes, base64url.
#[derive(Clone)]
pub struct Bearer(Arc<str>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(…)")
    }
}

impl Bearer {
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(bytes)
                .into(),
        )
    }

    /// Writes it to `path`, a new file of mode 0600 (an old one is replaced).
    pub fn write_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(self.0.as_bytes())?;
        file.write_all(b"\n")
    }

    /// What a client sends.
    #[cfg(test)]
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, header: Option<&http::HeaderValue>) -> bool {
        let presented = header
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        presented.len() == self.0.len() && bool::from(presented.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// Middleware of the TCP listener: refuses a request without the bearer.
pub async fn check_bearer(State(bearer): State<Bearer>, request: Request, next: Next) -> Response {
    if bearer.matches(request.headers().get(http::header::AUTHORIZATION)) {
        return next.run(request).await;
    }
    let mut response = refusal(
        http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send `Authorization: Bearer` with the content of the agent's bearer file",
    )
    .into_response();
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_matches_only_itself_and_never_shows() {
        let bearer = Bearer::random();
        let header = |text: String| http::HeaderValue::from_str(&text).ok();
        assert!(bearer.matches(header(format!("Bearer {}", bearer.0)).as_ref()));
        assert!(!bearer.matches(header(format!("Bearer {}x", bearer.0)).as_ref()));
        assert!(!bearer.matches(header(bearer.0.to_string()).as_ref()));
        assert!(!bearer.matches(None));
        assert!(!format!("{bearer:?}").contains(&*bearer.0));
    }
}
