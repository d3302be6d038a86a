//! What a provider needs to issue a token: the credentials, and the
//! values of the spec's per-source parameters.

use serde::Deserialize;
use tokenmux_wire::{EndpointSpec, Parameters, Secret};

/// Credentials for a token endpoint, and the values chosen for the spec's
/// parameters (`x-tokenmux-parameter`: a `scope`, an `audience`).
/// `Debug` never shows a secret or a parameter's value.
///
/// ```
/// use tokenmux::Credentials;
///
/// let client = Credentials::client("my-id", "hunter2").with_param("scope", "read");
/// let user = Credentials::password("my-id", "hunter2", "alice", "pa55word");
/// let debug = format!("{client:?} {user:?}");
/// assert!(!debug.contains("hunter2") && !debug.contains("pa55word"));
/// assert!(debug.contains("alice") && debug.contains("scope"));
/// assert_ne!(client, Credentials::client("my-id", "hunter2").with_param("scope", "write"));
/// ```
// Equal when every field is, secrets included (derived: a field added
// later takes part, as the agent's reload relies on).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Fields")]
pub struct Credentials {
    client_id: String,
    client_secret: Secret,
    owner: Option<(String, Secret)>,
    params: Parameters,
}

/// How `Credentials` are written down (config files list the fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    client_id: String,
    client_secret: Secret,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
}

impl TryFrom<Fields> for Credentials {
    type Error = &'static str;

    fn try_from(fields: Fields) -> Result<Self, Self::Error> {
        let client = Credentials::client(fields.client_id, fields.client_secret);
        match (fields.username, fields.password) {
            (Some(username), Some(password)) => Ok(Credentials {
                owner: Some((username, password)),
                ..client
            }),
            (None, None) => Ok(client),
            _ => Err("a username and a password go together"),
        }
    }
}

impl Credentials {
    /// Client credentials.
    pub fn client(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Credentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            owner: None,
            params: Parameters::new(),
        }
    }

    /// Client credentials plus a resource owner's username and password
    /// (the OAuth2 password grant).
    pub fn password(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Credentials {
            owner: Some((username.into(), password.into())),
            ..Credentials::client(client_id, client_secret)
        }
    }

    /// The same credentials with the parameter `name` set to `value`
    /// (replacing an earlier value).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<Secret>) -> Self {
        self.params.insert(name, value);
        self
    }

    /// The same credentials with every value of `params` set (replacing
    /// earlier values of the same names).
    pub fn with_params(mut self, params: &Parameters) -> Self {
        self.params = self.params.merged(params);
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret.
    pub fn client_secret(&self) -> &Secret {
        &self.client_secret
    }

    /// The username, for password credentials.
    pub fn username(&self) -> Option<&str> {
        self.owner.as_ref().map(|(username, _)| username.as_str())
    }

    /// The resource owner's password, for password credentials.
    pub fn user_password(&self) -> Option<&Secret> {
        self.owner.as_ref().map(|(_, password)| password)
    }

    /// The parameter values chosen.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// Every secret these credentials hold, to scrub from error text and
    /// to verify a stored token against: the client secret, the password,
    /// then the values of the parameters `spec` marks secret, by name.
    pub(crate) fn secrets(&self, spec: &EndpointSpec) -> Vec<&str> {
        let secret_params = spec.parameters();
        let mut secrets = vec![self.client_secret.expose_secret()];
        secrets.extend(self.user_password().map(Secret::expose_secret));
        secrets.extend(
            self.params
                .iter()
                .filter(|(name, _)| secret_params.iter().any(|p| p.secret && p.name == *name))
                .map(|(_, value)| value.expose_secret()),
        );
        secrets
    }
}
