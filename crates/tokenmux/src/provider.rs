//! Which token endpoint to ask, and where it is.

use serde::Deserialize;

/// The kinds of token endpoint tokenmux speaks, one per spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// NeonPanel (`specs/neonpanel.yaml`).
    NeonPanel,
    /// Airalo Partners (`specs/airalo.yaml`).
    Airalo,
    /// A JSON:API token endpoint (`specs/jsonapi.yaml`).
    JsonApi,
    /// An OAuth2 password and refresh token grant (`specs/password.yaml`).
    Password,
}

impl ProviderKind {
    /// The name used in config files, store keys and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::NeonPanel => "neonpanel",
            ProviderKind::Airalo => "airalo",
            ProviderKind::JsonApi => "jsonapi",
            ProviderKind::Password => "password",
        }
    }

    /// Every kind, in spec order.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::NeonPanel,
        ProviderKind::Airalo,
        ProviderKind::JsonApi,
        ProviderKind::Password,
    ];

    /// The kind named `name` (as [`name`](Self::name) spells it).
    ///
    /// ```
    /// use tokenmux::ProviderKind;
    ///
    /// assert_eq!(ProviderKind::from_name("jsonapi"), Some(ProviderKind::JsonApi));
    /// assert_eq!(ProviderKind::from_name("JSONAPI"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// A token endpoint: its kind and base URL (the spec's server URL; the
/// endpoint path is appended to it).
///
/// ```
/// use tokenmux::Provider;
///
/// assert_eq!(Provider::airalo_sandbox().base_url(), "https://sandbox-partners-api.airalo.com");
/// let own = Provider::jsonapi("https://api.example.com/v1");
/// assert_eq!(own.base_url(), "https://api.example.com/v1");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Provider {
    kind: ProviderKind,
    base_url: String,
}

/// The base URL without a `user:password@` part (which a builder refuses,
/// but a `Provider` may still hold).
impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("kind", &self.kind)
            .field("base_url", &crate::store::without_userinfo(&self.base_url))
            .finish()
    }
}

impl Provider {
    /// NeonPanel at its documented host.
    pub fn neonpanel() -> Self {
        Self::new(ProviderKind::NeonPanel, "https://my.neonpanel.com")
    }

    /// Airalo Partners, production.
    pub fn airalo() -> Self {
        Self::new(ProviderKind::Airalo, "https://partners-api.airalo.com")
    }

    /// Airalo Partners, sandbox.
    pub fn airalo_sandbox() -> Self {
        Self::new(
            ProviderKind::Airalo,
            "https://sandbox-partners-api.airalo.com",
        )
    }

    /// A JSON:API token endpoint at `base_url` (`[base]` in its document).
    pub fn jsonapi(base_url: impl Into<String>) -> Self {
        Self::new(ProviderKind::JsonApi, base_url)
    }

    /// An OAuth2 password-grant endpoint at `base_url` (`{{url}}` in its document).
    pub fn password(base_url: impl Into<String>) -> Self {
        Self::new(ProviderKind::Password, base_url)
    }

    /// Any kind at any base URL (a mock, a proxy, a regional host).
    pub fn new(kind: ProviderKind, base_url: impl Into<String>) -> Self {
        let base_url: String = base_url.into();
        Self {
            kind,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The same provider at another base URL.
    pub fn with_base_url(self, base_url: impl Into<String>) -> Self {
        Self::new(self.kind, base_url)
    }

    /// The kind.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}
