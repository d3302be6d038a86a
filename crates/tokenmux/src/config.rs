//! Choosing the provider and credentials in a config file.

use serde::Deserialize;

use crate::{Credentials, Error, Provider, ProviderKind, TokenSource, TokenSourceBuilder};

/// A token source described in configuration (YAML, TOML, JSON, … through
/// serde), for applications that pick the provider at run time.
///
/// ```
/// use tokenmux::SourceConfig;
///
/// let config: SourceConfig = serde_json::from_str(r#"{
///     "provider": "airalo",
///     "sandbox": true,
///     "credentials": {"client_id": "my-id", "client_secret": "my-secret"}
/// }"#).unwrap();
/// let tokens = config.into_builder().unwrap().build().unwrap();
/// assert_eq!(tokens.provider().base_url(), "https://sandbox-partners-api.airalo.com");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `neonpanel`, `airalo`, `jsonapi` or `password`.
    pub provider: ProviderKind,
    /// The provider's base URL; required for `jsonapi` and `password`,
    /// defaults to the documented host for the others.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Airalo only: use the sandbox host.
    #[serde(default)]
    pub sandbox: bool,
    /// Client id and secret, plus `username` and `password` for the
    /// password provider. May be left out here and given to the builder
    /// (from the environment, say).
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

impl SourceConfig {
    /// The provider this config names.
    pub fn provider(&self) -> Result<Provider, Error> {
        if let Some(base_url) = &self.base_url {
            return Ok(Provider::new(self.provider, base_url.as_str()));
        }
        match (self.provider, self.sandbox) {
            (ProviderKind::Airalo, true) => Ok(Provider::airalo_sandbox()),
            (ProviderKind::Airalo, false) => Ok(Provider::airalo()),
            (ProviderKind::NeonPanel, false) => Ok(Provider::neonpanel()),
            (kind, true) => Err(Error::Config(format!(
                "`sandbox` is only for airalo, not {}",
                kind.name()
            ))),
            (kind, false) => Err(Error::Config(format!(
                "provider {} needs a `base_url`",
                kind.name()
            ))),
        }
    }

    /// A builder with the provider and credentials set; add a store,
    /// policies or a clock, then `build()`.
    pub fn into_builder(self) -> Result<TokenSourceBuilder, Error> {
        let provider = self.provider()?;
        let builder = TokenSource::builder(provider);
        Ok(match self.credentials {
            Some(credentials) => builder.credentials(credentials),
            None => builder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_credentials_are_recognised_and_base_urls_required() {
        let config: SourceConfig = serde_json::from_str(
            r#"{"provider": "password", "base_url": "https://auth.example.com",
                "credentials": {"client_id": "c", "client_secret": "s", "username": "u", "password": "p"}}"#,
        )
        .unwrap();
        assert_eq!(
            config.credentials.as_ref().and_then(|c| c.username()),
            Some("u")
        );
        assert!(config.into_builder().unwrap().build().is_ok());

        let missing: SourceConfig = serde_json::from_str(
            r#"{"provider": "jsonapi", "credentials": {"client_id": "c", "client_secret": "s"}}"#,
        )
        .unwrap();
        assert!(
            missing
                .provider()
                .unwrap_err()
                .to_string()
                .contains("needs a `base_url`")
        );
        assert!(
            serde_json::from_str::<SourceConfig>(r#"{"provider": "nope", "credentials": {}}"#)
                .is_err()
        );
    }
}
