//! One value in a config file, given one way: inline, `{env: NAME}` or
//! `{file: PATH}`. Credentials and parameters both use it, so a secret is
//! written the same way wherever it appears.

use std::path::PathBuf;

use serde::Deserialize;
use tokenmux_wire::Secret;

use crate::secret_value::value;

/// A value, or where to read it.
///
/// ```
/// use tokenmux_config::ValueRef;
///
/// let inline: ValueRef = serde_json::from_str(r#""read write""#).unwrap();
/// assert_eq!(inline.read().unwrap().expose_secret(), "read write");
/// let from_env: ValueRef = serde_json::from_str(r#"{"env": "PARTNER_SECRET"}"#).unwrap();
/// // SAFETY of the example: nothing else in this process reads it.
/// # unsafe { std::env::set_var("PARTNER_SECRET", "hunter2") };
/// assert_eq!(from_env.read().unwrap().expose_secret(), "hunter2");
/// // A value is never shown, not even in Debug.
/// assert!(!format!("{inline:?}").contains("read write"));
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Hash, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "expected the value as text (in quotes if it looks like a number), \
                 or {env: NAME}, or {file: PATH}"
)]
pub enum ValueRef {
    /// The value itself (`client_secret: "…"`): for a quick try; a secret
    /// is better kept out of config files with `env` or `file`.
    Inline(#[schemars(with = "String")] Secret),
    /// From an environment variable (`{env: NAME}`) or a file
    /// (`{file: PATH}`, one trailing newline dropped; a mounted secret).
    From(ValueSource),
}

/// Where a [`ValueRef`] is read.
#[derive(Clone, Debug, Deserialize, PartialEq, Hash, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueSource {
    /// The environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
    /// The file holding it.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl From<&str> for ValueRef {
    fn from(value: &str) -> Self {
        ValueRef::Inline(value.into())
    }
}

impl From<Secret> for ValueRef {
    fn from(value: Secret) -> Self {
        ValueRef::Inline(value)
    }
}

impl ValueRef {
    /// The value, read now. `Err((key, why))`: the key under this value
    /// that is wrong (`""`, `"env"` or `"file"`) and why, never the value.
    pub fn read(&self) -> Result<Secret, (&'static str, String)> {
        let read = match self {
            ValueRef::Inline(secret) => value(Some(secret.clone()), &None, &None),
            ValueRef::From(ValueSource { env, file }) => match (env, file) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(("", "give one of `env` and `file`".to_owned()));
                }
                _ => value(None, env, file),
            },
        };
        match read {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(("", "no value given".to_owned())),
            Err((key, why)) => Err((key.trim_start_matches('_'), why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_reads_and_problems_name_the_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        let parse = |json: serde_json::Value| serde_json::from_value::<ValueRef>(json).unwrap();
        let read = parse(serde_json::json!({"file": file})).read().unwrap();
        assert_eq!(read.expose_secret(), "from-file");
        let unset = parse(serde_json::json!({"env": "TOKENMUX_TEST_SURELY_UNSET"}));
        let (key, why) = unset.read().unwrap_err();
        assert_eq!(key, "env");
        assert!(
            why.contains("TOKENMUX_TEST_SURELY_UNSET` is not set"),
            "{why}"
        );
        let both = parse(serde_json::json!({"env": "X", "file": "/nope"}));
        assert_eq!(both.read().unwrap_err().0, "");
        for wrong in [serde_json::json!({"value": "x"}), serde_json::json!(12345)] {
            let error = serde_json::from_value::<ValueRef>(wrong)
                .unwrap_err()
                .to_string();
            assert!(error.contains("or {env: NAME}, or {file: PATH}"), "{error}");
        }
    }
}
