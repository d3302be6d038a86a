//! A compact JWS (RFC 7515 §7.1): `base64url(header).base64url(claims).
//! base64url(signature)`, the header's `alg` and `kid` from the signer.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::{SignError, Signer};

/// A JWT to sign: a header (beyond `alg` and `kid`) and claims.
///
/// ```
/// use secrecy::ExposeSecret as _;
/// use tokenmux_jose::{HmacKey, Jwt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let jwt = Jwt::new(serde_json::json!({"iss": "me"}))
///     .with_header("typ", "JWT")
///     .sign(&HmacKey::new("k"))
///     .await
///     .unwrap();
/// let header = jwt.expose_secret().split('.').next().unwrap();
/// assert_eq!(header, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"); // {"alg":"HS256","typ":"JWT"}
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Jwt {
    header: Map<String, Value>,
    claims: Value,
}

impl Jwt {
    /// A JWT with these claims (a JSON object).
    pub fn new(claims: Value) -> Jwt {
        Jwt {
            header: Map::new(),
            claims,
        }
    }

    /// Adds a header member, e.g. `typ` (`dpop+jwt`) or `jwk`.
    pub fn with_header(mut self, name: &str, value: impl Into<Value>) -> Jwt {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Signs it: the compact serialization, a secret (it authenticates).
    pub async fn sign(&self, signer: &dyn Signer) -> Result<SecretString, SignError> {
        let mut header = Map::new();
        header.insert("alg".into(), signer.algorithm().name().into());
        if let Some(kid) = signer.key_id() {
            header.insert("kid".into(), kid.into());
        }
        header.extend(self.header.clone());
        let header = serde_json::to_vec(&header).map_err(|_| SignError::Claims)?;
        let claims = serde_json::to_vec(&self.claims).map_err(|_| SignError::Claims)?;
        let mut compact = URL_SAFE_NO_PAD.encode(header);
        compact.push('.');
        compact.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let signature = signer.sign(compact.as_bytes()).await?;
        compact.push('.');
        compact.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(compact.into())
    }
}
