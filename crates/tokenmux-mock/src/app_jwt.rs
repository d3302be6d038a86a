//! App JWTs (`x-tokenmux-client-auth: app_jwt`), checked as app-installation
//! endpoints document them: `Authorization: Bearer` holding a JWT signed
//! by the app's registered key, `iss` the app's id, an `iat` not in the
//! future, and an `exp` to come at most ten minutes after `iat`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::MockConfig;
use crate::jws::{self, Expected, Key};

/// The longest an app JWT may live, counted from its `iat`.
const MAX_LIFETIME_SECS: u64 = 600;

/// Allowed clock skew for `iat`.
const SKEW_SECS: u64 = 60;

#[derive(Deserialize)]
struct Claims {
    iat: u64,
    exp: u64,
}

/// Checks the app JWT in `authorization` (the header's value); why not,
/// if it fails.
pub(crate) fn check(authorization: Option<&str>, config: &MockConfig) -> Result<(), String> {
    let jwt = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or("no app JWT in Authorization: Bearer")?;
    let public = config
        .client_public_key
        .as_deref()
        .ok_or("no app public key is configured (MockConfig::client_public_key)")?;
    let expected = Expected {
        issuer: &config.client.client_id,
        subject: None,
        audience: None,
        required: &["exp", "iss"],
    };
    let claims: Claims = jws::verify(jwt, Key::Public(public), &expected)
        .map_err(|refused| format!("the app JWT: {refused}"))?;
    let now = now();
    if claims.iat > now + SKEW_SECS {
        return Err("the app JWT's iat is in the future".into());
    }
    if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME_SECS {
        return Err("the app JWT's exp is more than ten minutes after its iat".into());
    }
    Ok(())
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
#[cfg(feature = "jwt")]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;
    use tokenmux_jose::{AppJwt, Jwt, PrivateKey};

    use super::*;
    use crate::ClientCredentials;

    fn config() -> MockConfig {
        MockConfig {
            client: ClientCredentials::new("12345", "unused"),
            ..MockConfig::default()
        }
    }

    fn key() -> PrivateKey {
        PrivateKey::from_pem(crate::DEFAULT_CLIENT_PRIVATE_KEY.as_bytes()).unwrap()
    }

    async fn bearer(claims: serde_json::Value) -> String {
        let jwt = Jwt::new(claims).sign(&key()).await.unwrap();
        format!("Bearer {}", jwt.expose_secret())
    }

    #[tokio::test]
    async fn the_apps_fresh_jwt_passes_and_every_wrong_one_is_refused() {
        let config = config();
        let right = AppJwt::new("12345").sign(&key()).await.unwrap();
        check(Some(&format!("Bearer {}", right.expose_secret())), &config).unwrap();
        let now = now();
        let other_key = PrivateKey::from_pem(
            include_str!("../../tokenmux-jose/tests/keys/ec-pkcs8.pem").as_bytes(),
        )
        .unwrap();
        let other = AppJwt::new("12345").sign(&other_key).await.unwrap();
        let wrong = [
            (None, "no app JWT"),
            (Some(right.expose_secret().to_owned()), "no app JWT"),
            (
                Some(format!("Bearer {}", other.expose_secret())),
                "not valid",
            ),
            (
                Some(bearer(json!({"iss": "999", "iat": now, "exp": now + 60})).await),
                "not valid",
            ),
            (
                Some(bearer(json!({"iss": "12345", "iat": now, "exp": now + 3600})).await),
                "ten minutes",
            ),
            (
                Some(bearer(json!({"iss": "12345", "iat": now + 600, "exp": now + 900})).await),
                "future",
            ),
            (
                Some(bearer(json!({"iss": "12345", "iat": now - 700, "exp": now - 100})).await),
                "not valid",
            ),
        ];
        for (sent, why) in wrong {
            let error = check(sent.as_deref(), &config).unwrap_err();
            assert!(error.contains(why), "{sent:?}: {error}");
        }
    }
}
