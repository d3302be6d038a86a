//! What a provider needs to issue a token: the credentials, each in the
//! role a spec gives it, and the values of the spec's per-source
//! parameters.

use serde::Deserialize;
use tokenmux_wire::{
    CredentialRole, EndpointSpec, GrantCredentials, Needs, Parameters, Secret, SigningKey,
};

use crate::{ClientCertificate, ConfigError};

/// Credentials for a token endpoint, and the values chosen for the spec's
/// parameters (`x-tokenmux-parameter`: a `scope`, an `audience`). Each
/// credential is optional here; which ones an endpoint needs is its
/// spec's to say ([`Needs::of`](tokenmux_wire::Needs::of)), and the builder checks them.
/// `Debug` never shows a secret or a parameter's value.
///
/// ```
/// use tokenmux::Credentials;
///
/// let client = Credentials::client("my-id", "hunter2").with_param("scope", "read");
/// let user = Credentials::password("my-id", "hunter2", "alice", "pa55word");
/// // A public client, and a refresh token obtained out of band.
/// let public = Credentials::new().with_client_id("my-id").with_refresh_token("1000.r3fresh");
/// let debug = format!("{client:?} {user:?} {public:?}");
/// assert!(!debug.contains("hunter2") && !debug.contains("pa55word") && !debug.contains("r3fresh"));
/// assert!(debug.contains("alice") && debug.contains("scope"));
/// assert_ne!(client, Credentials::client("my-id", "hunter2").with_param("scope", "write"));
/// ```
// Equal when every field is, secrets included (derived: a field added
// later takes part, as the agent's reload relies on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[serde(default)]
    // Box<str>, not String: 8 bytes less each, on every source.
    client_id: Option<Box<str>>,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    username: Option<Box<str>>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    refresh_token: Option<Secret>,
    // Boxed, as the certificate: rare, and 88 bytes together that every
    // source would hold.
    #[serde(skip)]
    private_key: Option<Box<SigningKey>>,
    #[serde(skip)]
    client_certificate: Option<Box<ClientCertificate>>,
    #[serde(skip)]
    params: Parameters,
}

impl Credentials {
    /// No credentials yet: add those the endpoint needs with the `with_…`
    /// methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Client credentials.
    pub fn client(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Credentials::new()
            .with_client_id(client_id)
            .with_client_secret(client_secret)
    }

    /// Client credentials plus a resource owner's username and password
    /// (the OAuth2 password grant).
    pub fn password(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Credentials::client(client_id, client_secret)
            .with_username(username)
            .with_password(password)
    }

    /// The same credentials with this client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into().into());
        self
    }

    /// The same credentials with this client secret.
    pub fn with_client_secret(mut self, client_secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// The same credentials with this resource owner's username.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into().into());
        self
    }

    /// The same credentials with this resource owner's password.
    pub fn with_password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The same credentials with a refresh token obtained out of band (a
    /// one-time consent), for an endpoint whose primary grant presents
    /// one. When the endpoint rotates it, the rotated one is kept in the
    /// store and presented next; this one is not presented again while
    /// the store holds a token it obtained.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<Secret>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// The same credentials with the client's signing key, for an endpoint
    /// that authenticates clients with `private_key_jwt`: a
    /// [`PrivateKey`](tokenmux_jose::PrivateKey) read from a PEM or JWK
    /// file, or any [`Signer`](tokenmux_jose::Signer) (a KMS) through
    /// [`SigningKey::new`]. `Debug` shows its algorithm, `kid` and public
    /// thumbprint only.
    ///
    /// ```
    /// use tokenmux::Credentials;
    /// use tokenmux::jose::PrivateKey;
    ///
    /// let pem = std::fs::read("../tokenmux-jose/tests/keys/rsa-pkcs8.pem").unwrap();
    /// let key = PrivateKey::from_pem(&pem).unwrap().with_key_id("key-1");
    /// let credentials = Credentials::new().with_client_id("my-client").with_private_key(key);
    /// assert!(format!("{credentials:?}").contains("kid: Some(\"key-1\")"));
    /// ```
    pub fn with_private_key(mut self, key: impl Into<SigningKey>) -> Self {
        self.private_key = Some(Box::new(key.into()));
        self
    }

    /// The same credentials with a client certificate, presented in the
    /// TLS handshake with the token endpoint: what `tls_client_auth` and
    /// `self_signed_tls_client_auth` authenticate the client with, and what
    /// a server binds a certificate-bound token to (RFC 8705), whatever
    /// the method. Kept whether or not the spec's method needs it.
    ///
    /// ```
    /// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    /// use tokenmux::{ClientCertificate, Credentials};
    ///
    /// let chain = std::fs::read(format!("{dir}/client.pem")).unwrap();
    /// let key = std::fs::read(format!("{dir}/client.key")).unwrap();
    /// let credentials = Credentials::new()
    ///     .with_client_id("my-client")
    ///     .with_client_certificate(ClientCertificate::from_pem(&chain, &key).unwrap());
    /// assert!(credentials.client_certificate().is_some());
    /// ```
    pub fn with_client_certificate(mut self, certificate: ClientCertificate) -> Self {
        self.client_certificate = Some(Box::new(certificate));
        self
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

    /// The client id, if given.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The client secret, if given.
    pub fn client_secret(&self) -> Option<&Secret> {
        self.client_secret.as_ref()
    }

    /// The resource owner's username, if given.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The resource owner's password, if given.
    pub fn user_password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// The refresh token obtained out of band, if given.
    pub fn refresh_token(&self) -> Option<&Secret> {
        self.refresh_token.as_ref()
    }

    /// The client's signing key, if given.
    pub fn private_key(&self) -> Option<&SigningKey> {
        self.private_key.as_deref()
    }

    /// The client certificate, if given.
    pub fn client_certificate(&self) -> Option<&ClientCertificate> {
        self.client_certificate.as_deref()
    }

    /// The parameter values chosen.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// Whether a value for `role` is given.
    pub fn has(&self, role: CredentialRole) -> bool {
        self.for_request().has(role)
    }

    /// The configured refresh token the primary grant of `spec` presents,
    /// when that endpoint may rotate it (its success body has a refresh
    /// token): then it may be presented once, like any refresh token. An
    /// endpoint that never issues one keeps it as a long-lived credential.
    pub(crate) fn single_use_refresh_token(&self, spec: &EndpointSpec) -> Option<&Secret> {
        self.presented_refresh_token(spec)
            .filter(|_| spec.token.refresh_token.is_some())
    }

    /// The refresh token the primary grant of `spec` presents, if any.
    pub(crate) fn presented_refresh_token(&self, spec: &EndpointSpec) -> Option<&Secret> {
        spec.grant(tokenmux_wire::GrantKind::Primary)
            .filter(|primary| primary.presents_refresh_token())
            .and(self.refresh_token())
    }

    /// The value given for `role`, secret or not.
    pub(crate) fn value(&self, role: CredentialRole) -> Option<&str> {
        self.for_request()
            .value(role, tokenmux_wire::Grant::Primary)
    }

    /// The credentials as a token request carries them.
    pub(crate) fn for_request(&self) -> GrantCredentials<'_> {
        GrantCredentials {
            client_id: self.client_id(),
            client_secret: self.client_secret(),
            username: self.username(),
            password: self.user_password(),
            refresh_token: self.refresh_token(),
            private_key: self.private_key(),
            client_certificate: self.client_certificate.is_some(),
        }
    }

    /// These credentials without the roles `spec` does not use (a
    /// username given to a client-credentials endpoint): what is never
    /// sent is not part of the store key or the verifier either.
    pub(crate) fn used_by(mut self, spec: &EndpointSpec) -> Self {
        let needs = Needs::of(spec);
        let keep = |role| needs.uses(role);
        if !keep(CredentialRole::ClientId) {
            self.client_id = None;
        }
        if !keep(CredentialRole::ClientSecret) {
            self.client_secret = None;
        }
        if !keep(CredentialRole::Username) {
            self.username = None;
        }
        if !keep(CredentialRole::Password) {
            self.password = None;
        }
        if !keep(CredentialRole::RefreshToken) {
            self.refresh_token = None;
        }
        if !keep(CredentialRole::PrivateKey) {
            self.private_key = None;
        }
        self
    }

    /// Refuses credentials that `spec` cannot use: a value it needs is
    /// missing, or one given is empty (it would be sent and refused
    /// upstream, a failed login counted against the account). The error
    /// is at the first such key and names every missing role.
    pub(crate) fn check(&self, spec: &EndpointSpec) -> Result<(), ConfigError> {
        for role in CredentialRole::ALL {
            if self.value(role).is_some_and(str::is_empty) {
                return Err(ConfigError::new(
                    format!("credentials.{}", role.name()),
                    format!("the {} is empty", role.name().replace('_', " ")),
                ));
            }
        }
        let missing = Needs::of(spec).missing(|role| self.has(role));
        match missing.first() {
            None => Ok(()),
            Some(first) => Err(ConfigError::new(
                format!("credentials.{}", first.name()),
                format!(
                    "the {} provider needs {}: give {} (Credentials::with_{})",
                    spec.name,
                    Needs::list(Needs::of(spec).required()),
                    Needs::list(&missing),
                    first.name(),
                ),
            )),
        }
    }

    /// Every secret these credentials hold, to scrub from error text and
    /// to verify a stored token against: the client secret, the password,
    /// the refresh token, then the values of the parameters `spec` marks
    /// secret, by name; last the signing key's and the client
    /// certificate's public thumbprints (not secrets, but a token obtained
    /// with another key, or bound to another certificate, is not ours).
    pub(crate) fn secrets(&self, spec: &EndpointSpec) -> Vec<&str> {
        let secret_params = spec.parameters();
        let mut secrets: Vec<&str> = [&self.client_secret, &self.password, &self.refresh_token]
            .into_iter()
            .flatten()
            .map(Secret::expose_secret)
            .collect();
        secrets.extend(
            self.params
                .iter()
                .filter(|(name, _)| secret_params.iter().any(|p| p.secret && p.name == *name))
                .map(|(_, value)| value.expose_secret()),
        );
        secrets.extend(self.private_key().map(SigningKey::identity));
        secrets.extend(self.client_certificate().map(ClientCertificate::thumbprint));
        secrets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;

    #[test]
    fn check_names_what_the_spec_needs_and_what_is_missing_or_empty() {
        let password = Provider::password("https://auth.test");
        let spec = password.spec();
        let error = Credentials::client("id", "secret").check(spec).unwrap_err();
        assert_eq!(error.at(), Some("credentials.username"));
        assert_eq!(
            error.reason(),
            "the password provider needs client_id, client_secret, username and password: \
             give username and password (Credentials::with_username)"
        );
        let full = Credentials::password("id", "secret", "alice", "pw");
        assert!(full.check(spec).is_ok());
        let empty = Credentials::client("id", "").check(Provider::neonpanel().spec());
        assert_eq!(empty.unwrap_err().at(), Some("credentials.client_secret"));
        let public = Credentials::new().with_client_id("id");
        let error = public.check(Provider::neonpanel().spec()).unwrap_err();
        assert_eq!(error.at(), Some("credentials.client_secret"));
    }

    #[test]
    fn roles_the_spec_does_not_use_are_dropped() {
        let all = Credentials::password("id", "secret", "alice", "pw").with_refresh_token("r");
        let client = all.clone().used_by(Provider::neonpanel().spec());
        assert_eq!(client, Credentials::client("id", "secret"));
        let owner = all.used_by(Provider::password("https://auth.test").spec());
        assert_eq!(owner, Credentials::password("id", "secret", "alice", "pw"));
    }

    #[test]
    fn a_configured_refresh_token_is_a_secret_like_the_others() {
        let credentials = Credentials::new().with_refresh_token("r3fresh");
        assert!(!format!("{credentials:?}").contains("r3fresh"));
        assert_eq!(
            credentials.secrets(Provider::neonpanel().spec()),
            ["r3fresh"]
        );
    }
}
