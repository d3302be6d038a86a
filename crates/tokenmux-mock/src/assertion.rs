//! Client assertions (RFC 7523 §2.2: `client_secret_jwt` and
//! `private_key_jwt`), checked as an authorization server checks them
//! (the JWT itself by `jws.rs`, independently of the client's JOSE code):
//! the assertion type, the signature (HS256 keyed by the client secret, or
//! the client's public key), `iss` = `sub` = the client id, `aud` the
//! token endpoint's URL (or, for `x-tokenmux-assertion-audience: issuer`,
//! the mock's issuer for the provider, its base URL), an `exp` to come,
//! and a `jti` never seen before.

use std::collections::HashSet;

use parking_lot::Mutex;
use serde::Deserialize;
use tokenmux_wire::{AssertionAudience, ClientAuth};

use crate::MockConfig;
use crate::jws::{self, Expected, Key};

/// RFC 7523 §2.2's `client_assertion_type`.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How many `jti`s are remembered before the oldest are forgotten: a
/// test's worth, bounded.
const MAX_JTIS: usize = 100_000;

/// The `jti`s seen, to refuse a replayed assertion.
#[derive(Default)]
pub(crate) struct SeenJtis(Mutex<HashSet<String>>);

impl SeenJtis {
    /// Whether `jti` is new (and now seen).
    pub(crate) fn first_time(&self, jti: &str) -> bool {
        let mut seen = self.0.lock();
        if seen.len() >= MAX_JTIS {
            seen.clear();
        }
        seen.insert(jti.to_owned())
    }
}

/// The claims checked beyond what [`jws::verify`] checks.
#[derive(Deserialize)]
struct Claims {
    jti: String,
    #[allow(dead_code)] // required to be there; its value is not checked
    iat: u64,
}

/// Where the assertion is checked against: the token endpoint's URL and
/// the provider's issuer (both `http://HOST/...` as the client saw them).
pub(crate) struct Audiences {
    /// `http://HOST/{provider}{path}`.
    pub(crate) token_endpoint: String,
    /// `http://HOST/{provider}`.
    pub(crate) issuer: String,
}

impl Audiences {
    /// The `aud` a spec's `audience` asks an assertion to carry. Client
    /// assertions and JWT bearer grants address theirs alike.
    pub(crate) fn of(&self, audience: AssertionAudience) -> &str {
        match audience {
            AssertionAudience::TokenEndpoint => &self.token_endpoint,
            AssertionAudience::Issuer => &self.issuer,
        }
    }
}

/// What a request carries for a client assertion: its
/// `client_assertion_type` and `client_assertion`.
pub(crate) struct Carried<'a> {
    /// `client_assertion_type`.
    pub(crate) kind: Option<&'a str>,
    /// `client_assertion`.
    pub(crate) assertion: Option<&'a str>,
}

/// Checks the assertion `sent` carries for `auth`; why not, if it fails.
/// `Ok` for a method that has no assertion.
pub(crate) fn check(
    auth: ClientAuth,
    sent: Carried<'_>,
    config: &MockConfig,
    audiences: &Audiences,
    seen: &SeenJtis,
) -> Result<(), String> {
    let (audience, key) = match auth {
        ClientAuth::ClientSecretJwt(audience) => {
            (audience, Key::Secret(&config.client.client_secret))
        }
        ClientAuth::PrivateKeyJwt(audience) => {
            let public = config
                .client_public_key
                .as_deref()
                .ok_or("no client public key is configured (MockConfig::client_public_key)")?;
            (audience, Key::Public(public))
        }
        ClientAuth::None | ClientAuth::Basic => return Ok(()),
        // The mock serves plain HTTP: a certificate is never presented to
        // it (node-oidc-provider checks these in tests/it/mtls.rs).
        ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth => return Ok(()),
        // Chosen from metadata the mock does not serve.
        ClientAuth::FromMetadata => return Ok(()),
        // In the Authorization header: the endpoint checks it (app_jwt.rs).
        ClientAuth::AppJwt => return Ok(()),
    };
    if sent.kind != Some(ASSERTION_TYPE) {
        return Err(format!("client_assertion_type is not {ASSERTION_TYPE}"));
    }
    let assertion = sent.assertion.ok_or("client_assertion is missing")?;
    let client_id = &config.client.client_id;
    let expected = Expected {
        issuer: client_id,
        subject: Some(client_id),
        audience: Some(audiences.of(audience)),
        required: &["exp", "aud", "iss", "sub"],
    };
    let claims: Claims = jws::verify(assertion, key, &expected)
        .map_err(|refused| format!("the assertion: {refused}"))?;
    match seen.first_time(&claims.jti) {
        true => Ok(()),
        false => Err("the assertion's jti was used before".into()),
    }
}

#[cfg(test)]
#[cfg(feature = "jwt")]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;
    use tokenmux_jose::{ClientAssertion, HmacKey, Jwt, PrivateKey, Signer};

    use super::*;
    use crate::ClientCredentials;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenmux-jose/tests/keys");
    const TOKEN_URL: &str = "http://127.0.0.1:9/acme/oauth/token";
    const ISSUER: &str = "http://127.0.0.1:9/acme";

    fn key(file: &str) -> PrivateKey {
        PrivateKey::from_bytes(&std::fs::read(format!("{KEYS}/{file}")).unwrap()).unwrap()
    }

    fn config(public: &str) -> MockConfig {
        MockConfig {
            client: ClientCredentials::new("client-1", "a-client-secret-for-hs256-of-32-bytes"),
            client_public_key: Some(std::fs::read_to_string(format!("{KEYS}/{public}")).unwrap()),
            ..MockConfig::default()
        }
    }

    fn sent<'a>(assertion: &'a str, kind: &'a str) -> Carried<'a> {
        Carried {
            kind: Some(kind),
            assertion: Some(assertion),
        }
    }

    fn audiences() -> Audiences {
        Audiences {
            token_endpoint: TOKEN_URL.into(),
            issuer: ISSUER.into(),
        }
    }

    async fn signed(signer: &dyn Signer, client: &str, aud: &str) -> String {
        let assertion = ClientAssertion::new(client, aud)
            .sign(signer)
            .await
            .unwrap();
        assertion.expose_secret().to_owned()
    }

    fn checked(
        auth: ClientAuth,
        config: &MockConfig,
        assertion: &str,
        seen: &SeenJtis,
    ) -> Result<(), String> {
        check(
            auth,
            sent(assertion, ASSERTION_TYPE),
            config,
            &audiences(),
            seen,
        )
    }

    const PK: ClientAuth = ClientAuth::PrivateKeyJwt(AssertionAudience::TokenEndpoint);

    #[tokio::test]
    async fn a_fresh_assertion_signed_by_the_clients_key_passes_once() {
        let seen = SeenJtis::default();
        for (private, public) in [
            ("ec-sec1.pem", "ec-public.pem"),
            ("rsa-pkcs1.pem", "rsa-public.pem"),
            ("ed25519-pkcs8.pem", "ed25519-public.pem"),
            ("ec.jwk", "ec.jwk"),
        ] {
            let config = config(public);
            let assertion = signed(&key(private), "client-1", TOKEN_URL).await;
            checked(PK, &config, &assertion, &seen).unwrap();
            let replayed = checked(PK, &config, &assertion, &seen).unwrap_err();
            assert!(replayed.contains("jti"), "{replayed}");
        }
        // client_secret_jwt: HS256 keyed by the secret; the issuer audience.
        let config = config("ec-public.pem");
        let hmac = HmacKey::new(&config.client.client_secret);
        let assertion = signed(&hmac, "client-1", ISSUER).await;
        let auth = ClientAuth::ClientSecretJwt(AssertionAudience::Issuer);
        checked(auth, &config, &assertion, &seen).unwrap();
    }

    #[tokio::test]
    async fn every_wrong_assertion_is_refused() {
        let seen = SeenJtis::default();
        let config = config("ec-public.pem");
        let ec = key("ec-pkcs8.pem");
        let wrong = [
            // Another key, another client, another audience.
            signed(&key("ed25519.jwk"), "client-1", TOKEN_URL).await,
            signed(&ec, "client-2", TOKEN_URL).await,
            signed(&ec, "client-1", ISSUER).await,
            // Expired an hour ago.
            Jwt::new(
                json!({"iss": "client-1", "sub": "client-1", "aud": TOKEN_URL,
                            "jti": "j1", "iat": 1, "exp": 2}),
            )
            .sign(&ec)
            .await
            .unwrap()
            .expose_secret()
            .to_owned(),
            // No jti.
            Jwt::new(
                json!({"iss": "client-1", "sub": "client-1", "aud": TOKEN_URL,
                            "iat": 1, "exp": 4_000_000_000u64}),
            )
            .sign(&ec)
            .await
            .unwrap()
            .expose_secret()
            .to_owned(),
            "not.a.jwt".to_owned(),
        ];
        for assertion in &wrong {
            assert!(
                checked(PK, &config, assertion, &seen).is_err(),
                "{assertion}"
            );
        }
        // The right assertion with the wrong type, or none at all.
        let right = signed(&ec, "client-1", TOKEN_URL).await;
        let typed = check(PK, sent(&right, "jwt"), &config, &audiences(), &seen);
        assert!(typed.unwrap_err().contains("client_assertion_type"));
        // An HS256 assertion keyed by the secret is not a private key's.
        let hmac = signed(
            &HmacKey::new(&config.client.client_secret),
            "client-1",
            TOKEN_URL,
        )
        .await;
        assert!(checked(PK, &config, &hmac, &seen).is_err());
        // No public key configured: every private_key_jwt assertion fails.
        let keyless = MockConfig {
            client_public_key: None,
            ..config.clone()
        };
        let error = checked(PK, &keyless, &right, &seen).unwrap_err();
        assert!(error.contains("client_public_key"), "{error}");
        // Basic and body secrets have nothing to check here.
        checked(ClientAuth::Basic, &config, "", &seen).unwrap();
    }
}
