//! Credentials in a config file: each value a [`ValueRef`], from an
//! environment variable, from a file (a mounted secret), or, for a quick
//! try, inline.

use std::path::PathBuf;

use serde::Deserialize;
use tokenmux_wire::Secret;

use tokenmux::{ConfigError, Credentials, Error};

use crate::problem::ConfigProblem;
use crate::secret_value::value;
use crate::value_ref::ValueRef;

/// `credentials:` of a configured source. Each value is one reference, as
/// a parameter's is: `client_secret: {env: NAME}` (an environment
/// variable), `client_secret: {file: PATH}` (its content, one trailing
/// newline dropped), or `client_secret: VALUE` inline (prefer the other
/// two, which keep secrets out of config files). Older files' spellings,
/// `client_secret_env: NAME` and `client_secret_file: PATH`, still work;
/// a value given two ways is a problem.
///
/// ```
/// use tokenmux_config::CredentialsConfig;
///
/// let config: CredentialsConfig = serde_json::from_str(
///     r#"{"client_id": "my-id", "client_secret": {"env": "PARTNER_SECRET"}}"#,
/// ).unwrap();
/// // SAFETY of the example: nothing else in this process reads it.
/// # unsafe { std::env::set_var("PARTNER_SECRET", "hunter2") };
/// let credentials = config.resolve(false).unwrap();
/// assert_eq!(credentials.client_secret().expose_secret(), "hunter2");
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    /// The client id: inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub client_id: Option<ValueRef>,
    /// Environment variable holding the client id.
    #[serde(default)]
    pub client_id_env: Option<String>,
    /// File holding the client id.
    #[serde(default)]
    pub client_id_file: Option<PathBuf>,
    /// The client secret: inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub client_secret: Option<ValueRef>,
    /// Environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (`/run/secrets/…`).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The resource owner's username (password provider): inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub username: Option<ValueRef>,
    /// Environment variable holding the username.
    #[serde(default)]
    pub username_env: Option<String>,
    /// File holding the username.
    #[serde(default)]
    pub username_file: Option<PathBuf>,
    /// The resource owner's password: inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub password: Option<ValueRef>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl From<Credentials> for CredentialsConfig {
    fn from(credentials: Credentials) -> Self {
        let mut config = CredentialsConfig {
            client_id: Some(credentials.client_id().into()),
            client_secret: Some(credentials.client_secret().clone().into()),
            ..Self::default()
        };
        config.username = credentials.username().map(ValueRef::from);
        config.password = credentials.user_password().cloned().map(ValueRef::from);
        config
    }
}

impl CredentialsConfig {
    /// The credentials, read from the environment and files now;
    /// `needs_owner` for a provider that also needs a username and
    /// password. Errors name the key and never hold a value.
    pub fn resolve(&self, needs_owner: bool) -> Result<Credentials, Error> {
        self.resolve_at("credentials")
            .map_err(|problems| {
                let error = match problems.as_slice() {
                    [one] => ConfigError::new(&one.path, &one.message),
                    several => ConfigError::new(
                        "credentials",
                        several
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                };
                Error::from(error)
            })
            .and_then(|resolved| resolved.into_credentials(needs_owner))
    }

    /// Every value, with each problem under `at` (its path in the file).
    pub(crate) fn resolve_at(&self, at: &str) -> Result<Resolved, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut take = |name: &str,
                        given: &Option<ValueRef>,
                        env: &Option<String>,
                        file: &Option<PathBuf>| {
            let read = match (given, env.is_some() || file.is_some()) {
                (Some(_), true) => Err((
                    String::new(),
                    format!("give one of `{name}`, `{name}_env` and `{name}_file`, not several"),
                )),
                (Some(given), false) => given
                    .read()
                    .map(Some)
                    .map_err(|(key, why)| (key_suffix(key), why)),
                (None, _) => value(None, env, file).map_err(|(key, why)| (key.to_owned(), why)),
            };
            match read {
                Ok(value) => value,
                Err((key, message)) => {
                    problems.push(ConfigProblem::new(format!("{at}.{name}{key}"), message));
                    None
                }
            }
        };
        let resolved = Resolved {
            client_id: take(
                "client_id",
                &self.client_id,
                &self.client_id_env,
                &self.client_id_file,
            ),
            client_secret: take(
                "client_secret",
                &self.client_secret,
                &self.client_secret_env,
                &self.client_secret_file,
            ),
            username: take(
                "username",
                &self.username,
                &self.username_env,
                &self.username_file,
            ),
            password: take(
                "password",
                &self.password,
                &self.password_env,
                &self.password_file,
            ),
        };
        match problems.is_empty() {
            true => Ok(resolved),
            false => Err(problems),
        }
    }
}

/// `.key` for a key under a value, nothing for the value itself.
fn key_suffix(key: &str) -> String {
    match key.is_empty() {
        true => String::new(),
        false => format!(".{key}"),
    }
}

/// The values read, before they are checked against the provider.
#[derive(Debug)]
pub(crate) struct Resolved {
    client_id: Option<Secret>,
    client_secret: Option<Secret>,
    username: Option<Secret>,
    password: Option<Secret>,
}

impl Resolved {
    /// The credentials a provider needs; a problem names what is missing.
    pub(crate) fn into_credentials(self, needs_owner: bool) -> Result<Credentials, Error> {
        let missing = |name: &str| {
            Error::from(ConfigError::new(
                format!("credentials.{name}"),
                format!("give `{name}: {{env: NAME}}` or `{name}: {{file: PATH}}` (or the value)"),
            ))
        };
        let id = self.client_id.ok_or_else(|| missing("client_id"))?;
        let secret = self.client_secret.ok_or_else(|| missing("client_secret"))?;
        let id = id.expose_secret().to_owned();
        if !needs_owner {
            return Ok(Credentials::client(id, secret));
        }
        let username = self.username.ok_or_else(|| missing("username"))?;
        let password = self.password.ok_or_else(|| missing("password"))?;
        Ok(Credentials::password(
            id,
            secret,
            username.expose_secret(),
            password,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_files_and_problems_name_keys_not_values() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret-from-file\n").unwrap();
        let config = CredentialsConfig {
            client_id: Some("id".into()),
            client_secret_file: Some(secret),
            ..Default::default()
        };
        let credentials = config.resolve(false).unwrap();
        assert_eq!(
            credentials.client_secret().expose_secret(),
            "s3cret-from-file"
        );

        let both = CredentialsConfig {
            client_id: Some("id".into()),
            client_secret: Some("inline-s3cret".into()),
            client_secret_env: Some("X".into()),
            ..Default::default()
        };
        let problems = both.resolve_at("sources.a.credentials").unwrap_err();
        assert_eq!(problems[0].path, "sources.a.credentials.client_secret");
        assert!(!format!("{problems:?}").contains("inline-s3cret"));

        let unset = CredentialsConfig {
            client_id_env: Some("TOKENMUX_TEST_SURELY_UNSET".into()),
            client_secret_file: Some(dir.path().join("missing")),
            ..Default::default()
        };
        let problems = unset.resolve_at("c").unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["c.client_id_env", "c.client_secret_file"]);

        // One reference per value, as a parameter's: `{env}` and `{file}`.
        let referenced: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "client_id": "id",
            "client_secret": {"file": dir.path().join("secret")},
        }))
        .unwrap();
        let credentials = referenced.resolve(false).unwrap();
        assert_eq!(
            credentials.client_secret().expose_secret(),
            "s3cret-from-file"
        );
        let unset: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "client_id": {"env": "TOKENMUX_TEST_SURELY_UNSET"},
            "client_secret": {"env": "X", "file": "/nope"},
            "password": "inline-s3cret",
            "password_env": "PASSWORD",
        }))
        .unwrap();
        let problems = unset.resolve_at("c").unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["c.client_id.env", "c.client_secret", "c.password"]);
        assert!(!format!("{problems:?} {unset:?}").contains("inline-s3cret"));

        let owner = CredentialsConfig {
            client_id: Some("id".into()),
            client_secret: Some("s".into()),
            ..Default::default()
        };
        let error = owner.resolve(true).unwrap_err().to_string();
        assert!(error.contains("username"), "{error}");
    }
}
