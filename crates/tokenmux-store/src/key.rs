//! The name of one token in a store.

/// Identifies one token: provider, base URL, client id and (for the
/// password grant) username. Never derived from a secret.
///
/// The facade's `Provider::store_key` makes the key of a source's token.
///
/// ```
/// use tokenmux_store::StoreKey;
///
/// let key = StoreKey::from_parts("airalo", "https://me:pw@partners-api.airalo.com", "id-1", None);
/// assert_eq!(key.as_str(), "airalo|https://partners-api.airalo.com/|id-1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
// Box<str>, not String: no spare capacity, and 8 bytes less, in every
// source.
pub struct StoreKey(Box<str>);

impl StoreKey {
    /// The key of the token that client `client_id` (and, for a password
    /// grant, `username`) gets from `provider` at `base_url`. A
    /// `user:password@` in the URL is left out.
    pub fn from_parts(
        provider: &str,
        base_url: &str,
        client_id: &str,
        username: Option<&str>,
    ) -> Self {
        let mut key = format!(
            "{provider}|{}|{client_id}",
            tokenmux_wire::net::without_userinfo(base_url)
        );
        if let Some(username) = username {
            key.push('|');
            key.push_str(username);
        }
        Self(key.into())
    }

    /// This key, partitioned by a parameter's value (`|name=value`), so
    /// that one source asked for two scope sets holds two tokens. Only for
    /// values that are not secret: `|` and `%` in the value are
    /// percent-encoded, so two parts never run together.
    ///
    /// ```
    /// use tokenmux_store::StoreKey;
    ///
    /// let key = StoreKey::from_parts("acme", "https://acme.test", "id-1", None)
    ///     .with_parameter("scope", "read|write");
    /// assert_eq!(key.as_str(), "acme|https://acme.test|id-1|scope=read%7Cwrite");
    /// ```
    pub fn with_parameter(self, name: &str, value: &str) -> Self {
        let escape = |text: &str| {
            text.replace('%', "%25")
                .replace('|', "%7C")
                .replace('=', "%3D")
        };
        let key = format!("{}|{}={}", self.0, escape(name), escape(value));
        Self(key.into())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
