//! What a provider needs to issue a token.

use serde::Deserialize;
use tokenmux_wire::Secret;

/// Credentials for a token endpoint. `Debug` never shows the secrets.
///
/// ```
/// use tokenmux::Credentials;
///
/// let client = Credentials::client("my-id", "hunter2");
/// let user = Credentials::password("my-id", "hunter2", "alice", "pa55word");
/// let debug = format!("{client:?} {user:?}");
/// assert!(!debug.contains("hunter2") && !debug.contains("pa55word"));
/// assert!(debug.contains("alice"));
/// assert_ne!(client, Credentials::client("my-id", "hunter3"));
/// ```
// Equal when every field is, secrets included (derived: a field added
// later takes part, as the agent's reload relies on).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
// Untagged, so config files just list the fields; `Password` comes first
// because serde tries variants in order and `Client` matches its subset.
#[serde(untagged)]
pub enum Credentials {
    /// Client id and secret (sent as HTTP Basic) plus a resource owner's
    /// username and password (the OAuth2 password grant).
    Password {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
        /// The resource owner's username.
        username: String,
        /// The resource owner's password.
        password: Secret,
    },
    /// Client id and secret (NeonPanel, Airalo, JSON:API).
    Client {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
}

impl Credentials {
    /// Client credentials.
    pub fn client(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Credentials::Client {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// Client credentials plus a resource owner's username and password.
    pub fn password(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Credentials::Password {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            username: username.into(),
            password: password.into(),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            Credentials::Client { client_id, .. } | Credentials::Password { client_id, .. } => {
                client_id
            }
        }
    }

    /// The client secret.
    pub fn client_secret(&self) -> &Secret {
        match self {
            Credentials::Client { client_secret, .. }
            | Credentials::Password { client_secret, .. } => client_secret,
        }
    }

    /// The username, for password credentials.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Password { username, .. } => Some(username),
            Credentials::Client { .. } => None,
        }
    }

    /// The resource owner's password, for password credentials.
    pub fn user_password(&self) -> Option<&Secret> {
        match self {
            Credentials::Password { password, .. } => Some(password),
            Credentials::Client { .. } => None,
        }
    }

    /// Every secret these credentials hold, to scrub from error text.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Client { client_secret, .. } => vec![client_secret.expose_secret()],
            Credentials::Password {
                client_secret,
                password,
                ..
            } => vec![client_secret.expose_secret(), password.expose_secret()],
        }
    }
}
