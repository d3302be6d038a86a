//! `client_secret_basic` (RFC 6749 §2.3.1): the client id and secret in
//! `Authorization: Basic …`, encoded as the spec says.

use base64::Engine as _;
use reqwest::header::HeaderValue;

use super::{ClientAuthError, ClientAuthentication};
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};
use crate::{ClientConfig, Secret};

/// `client_secret_basic`: the request hook adds the header from
/// [`ClientConfig::basic_auth`].
pub(crate) struct ClientSecretBasic;

impl ClientAuthentication for ClientSecretBasic {
    fn name(&self) -> &'static str {
        "client_secret_basic"
    }

    fn roles(&self) -> &'static [CredentialRole] {
        &[CredentialRole::ClientId, CredentialRole::ClientSecret]
    }

    fn authenticate(
        &self,
        spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        let missing = |role| ClientAuthError::Missing {
            method: self.name(),
            role,
        };
        let id = credentials
            .client_id
            .ok_or(missing(CredentialRole::ClientId))?;
        let secret = credentials
            .client_secret
            .ok_or(missing(CredentialRole::ClientSecret))?;
        Ok(config
            .with_basic_auth(BasicAuth::new(id, secret.clone()).with_encoding(spec.basic_encoding)))
    }
}

/// How the client id and secret are turned into a Basic credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BasicEncoding {
    /// `base64(client_id ":" client_secret)`, exactly as the token endpoint's
    /// document says. The default.
    #[default]
    AsDocumented,
    /// RFC 6749 §2.3.1: form-urlencode the id and the secret, then join and
    /// base64 them. Identical to [`AsDocumented`](Self::AsDocumented) unless
    /// either contains characters outside `A-Z a-z 0-9 - . _ *`; some
    /// servers expect it, others reject it.
    Rfc6749FormUrlencoded,
}

/// HTTP Basic client credentials.
#[derive(Clone, Debug)]
pub struct BasicAuth {
    client_id: String,
    client_secret: Secret,
    encoding: BasicEncoding,
}

impl BasicAuth {
    /// Credentials encoded [as documented](BasicEncoding::AsDocumented).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            encoding: BasicEncoding::default(),
        }
    }

    /// Chooses how the credential is encoded.
    pub fn with_encoding(mut self, encoding: BasicEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `Authorization` header value, marked sensitive so that HTTP
    /// libraries leave it out of their logs.
    ///
    /// ```
    /// use tokenmux_wire::{BasicAuth, BasicEncoding};
    ///
    /// let plain = BasicAuth::new("id", "a b").header_value();
    /// assert_eq!(plain.to_str().unwrap(), "Basic aWQ6YSBi"); // base64("id:a b")
    /// assert!(plain.is_sensitive());
    ///
    /// let rfc = BasicAuth::new("id", "a b")
    ///     .with_encoding(BasicEncoding::Rfc6749FormUrlencoded)
    ///     .header_value();
    /// assert_eq!(rfc.to_str().unwrap(), "Basic aWQ6YSti"); // base64("id:a+b")
    /// ```
    pub fn header_value(&self) -> HeaderValue {
        let joined = match self.encoding {
            BasicEncoding::AsDocumented => {
                format!("{}:{}", self.client_id, self.client_secret.expose_secret())
            }
            BasicEncoding::Rfc6749FormUrlencoded => format!(
                "{}:{}",
                form_urlencode(&self.client_id),
                form_urlencode(self.client_secret.expose_secret())
            ),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(joined);
        // Base64 output is always a valid header value.
        let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

fn form_urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_is_named_and_a_present_one_becomes_the_header() {
        let secret = Secret::new("hunter2");
        let spec = crate::test_spec::spec();
        let none = GrantCredentials {
            client_id: Some("me"),
            ..Default::default()
        };
        let error = ClientSecretBasic
            .authenticate(spec, &none, ClientConfig::default())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "client_secret_basic needs a client_secret; the credentials have none"
        );
        let both = GrantCredentials {
            client_secret: Some(&secret),
            ..none
        };
        let config = ClientSecretBasic
            .authenticate(spec, &both, ClientConfig::default())
            .unwrap();
        let header = config.basic_auth().unwrap().header_value();
        assert_eq!(header.to_str().unwrap(), "Basic bWU6aHVudGVyMg==");
    }
}
