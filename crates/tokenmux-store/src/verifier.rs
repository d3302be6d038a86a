//! Which credentials obtained a stored token. A store is shared (files,
//! Redis) and outlives a process: after a secret is rotated or mistyped,
//! the token obtained with the old one must not be served to the new one.
//! The record carries a verifier of the secrets: PBKDF2-HMAC-SHA256, salted
//! with the store key, deliberately slow, so that whoever reads the store
//! cannot recover a low-entropy password from it faster than by guessing
//! against the endpoint. It is never the secret, never a fast digest in a
//! store another process can read, and never in a store key, a file name,
//! a log or `Debug`. A store whose records never leave the process (the
//! memory store: [`TokenStore::in_process`](crate::TokenStore::in_process))
//! takes [`Verifier::in_process`], one HMAC: it has no reader to slow down,
//! and a cold token exchange would otherwise spend most of its time here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;

/// PBKDF2 rounds: about a millisecond here, once per source and process.
const ROUNDS: u32 = 8_192;

/// The verifier of one set of credentials for one store key.
///
/// ```
/// use tokenmux_store::Verifier;
///
/// let verifier = Verifier::of(["s3cret"], "neonpanel|https://example.com|id");
/// assert_eq!(format!("{verifier:?}"), "Verifier(…)");
/// assert_eq!(Verifier::from_text(&verifier.to_text()), Some(verifier));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier([u8; 32]);

impl Verifier {
    /// The verifier of a source's `secrets` (client secret, and the
    /// password of a password grant, in that order), salted with the
    /// store key `key`.
    pub fn of<'s>(secrets: impl IntoIterator<Item = &'s str>, key: &str) -> Self {
        Self::derive(secrets, &format!("tokenmux-credentials/1|{key}"), ROUNDS)
    }

    /// The verifier of the same `secrets` for a store whose records never
    /// leave this process: one round, under a salt of its own, so it never
    /// equals (or stands in for) [`of`](Self::of)'s.
    ///
    /// ```
    /// use tokenmux_store::Verifier;
    ///
    /// let key = "neonpanel|https://example.com|id";
    /// assert_eq!(Verifier::in_process(["s3cret"], key), Verifier::in_process(["s3cret"], key));
    /// assert_ne!(Verifier::in_process(["s3cret"], key), Verifier::of(["s3cret"], key));
    /// ```
    pub fn in_process<'s>(secrets: impl IntoIterator<Item = &'s str>, key: &str) -> Self {
        Self::derive(
            secrets,
            &format!("tokenmux-credentials/in-process|{key}"),
            1,
        )
    }

    fn derive<'s>(secrets: impl IntoIterator<Item = &'s str>, salt: &str, rounds: u32) -> Self {
        let mut input = Vec::new();
        for secret in secrets {
            // Length-prefixed: ("ab", "c") and ("a", "bc") differ.
            input.extend_from_slice(&(secret.len() as u64).to_be_bytes());
            input.extend_from_slice(secret.as_bytes());
        }
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&input, salt.as_bytes(), rounds, &mut out);
        Self(out)
    }

    /// As written in a record.
    pub fn to_text(&self) -> String {
        BASE64.encode(self.0)
    }

    /// From a record; `None` if it is not one.
    pub fn from_text(text: &str) -> Option<Self> {
        let bytes = BASE64.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_verifier_per_secret_and_key_and_none_shows_the_secret() {
        let key = |id: &str| format!("neonpanel|https://example.com|{id}");
        let a = Verifier::of(["s3cret"], &key("id"));
        assert_eq!(a, Verifier::of(["s3cret"], &key("id")));
        assert_ne!(a, Verifier::of(["s3cre7"], &key("id")));
        assert_ne!(a, Verifier::of(["s3cret"], &key("id2")));
        assert_ne!(
            Verifier::of(["s", "pw-1"], &key("id")),
            Verifier::of(["s", "pw-2"], &key("id"))
        );
        // Length-prefixed: the split between secrets counts.
        assert_ne!(
            Verifier::of(["ab", "c"], &key("id")),
            Verifier::of(["a", "bc"], &key("id"))
        );
        assert_eq!(Verifier::from_text(&a.to_text()), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "Verifier(…)");
        assert!(!a.to_text().contains("s3cret"));
        assert_eq!(Verifier::from_text("not base64!"), None);
    }
}
