//! An app JWT: the short-lived token an app signs with its private key to
//! authenticate as itself, sent as `Authorization: Bearer` to an endpoint
//! that issues installation tokens (GitHub Apps document this shape). Its
//! claims are few: `iss` (the app's id), `iat` and `exp`.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::assertion::now_secs;
use crate::{Jwt, SignError, Signer};

/// How far `iat` is set in the past, for a server whose clock is behind.
const BACKDATE: Duration = Duration::from_secs(60);

/// How long after `iat` it expires: under the ten minutes such servers
/// allow, measured from the back-dated `iat`.
const LIFETIME: Duration = Duration::from_secs(9 * 60);

/// The claims of one app JWT, made fresh at each signing.
///
/// ```
/// use tokenmux_jose::AppJwt;
///
/// let claims = AppJwt::new("12345").claims();
/// assert_eq!(claims["iss"], "12345");
/// let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
/// assert_eq!(exp - iat, 540);
/// assert!(claims.get("aud").is_none());
/// ```
#[derive(Clone, Debug)]
pub struct AppJwt {
    issuer: String,
}

impl AppJwt {
    /// An app JWT for the app `app_id` (its `iss`).
    pub fn new(app_id: &str) -> AppJwt {
        AppJwt {
            issuer: app_id.to_owned(),
        }
    }

    /// The claims: `iat` a minute ago, `exp` nine minutes after it.
    pub fn claims(&self) -> Value {
        let iat = now_secs().saturating_sub(BACKDATE.as_secs());
        json!({
            "iat": iat,
            "exp": iat + LIFETIME.as_secs(),
            "iss": self.issuer,
        })
    }

    /// Signs a fresh one.
    pub async fn sign(&self, signer: &dyn Signer) -> Result<SecretString, SignError> {
        Jwt::new(self.claims()).sign(signer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_backdated_a_minute_and_lives_under_ten() {
        let before = now_secs();
        let claims = AppJwt::new("app").claims();
        let iat = claims["iat"].as_u64().unwrap();
        assert!(iat + 60 >= before && iat + 60 <= now_secs());
        assert!(claims["exp"].as_u64().unwrap() - now_secs() <= 600);
    }
}
