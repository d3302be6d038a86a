//! `params:` of a configured source: the values of its spec's parameters
//! (`x-tokenmux-parameter`), each inline or, for a secret one, from an
//! environment variable or a file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use tokenmux_wire::{Parameters, Secret};

use crate::problem::ConfigProblem;
use crate::secret_value::value;

/// `params:` of a source, by parameter name.
///
/// ```
/// use tokenmux_config::ParamsConfig;
///
/// let params: ParamsConfig = serde_json::from_str(
///     r#"{"scope": "read write", "tenant_key": {"env": "TENANT_KEY"}}"#,
/// ).unwrap();
/// // SAFETY of the example: nothing else in this process reads it.
/// # unsafe { std::env::set_var("TENANT_KEY", "k3y") };
/// let values = params.resolve_at("params").unwrap();
/// assert_eq!(values.get("scope").unwrap().expose_secret(), "read write");
/// assert_eq!(values.get("tenant_key").unwrap().expose_secret(), "k3y");
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ParamsConfig(pub BTreeMap<String, ParamValue>);

/// One parameter's value: the value itself, or where to read it.
#[derive(Clone, Debug, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    /// The value, inline (`scope: "read write"`).
    Inline(String),
    /// From an environment variable (`{env: NAME}`) or a file
    /// (`{file: PATH}`, one trailing newline dropped), for a secret one.
    From(ParamSource),
}

/// Where a parameter's value is read.
#[derive(Clone, Debug, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSource {
    /// The environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
    /// The file holding it.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl ParamsConfig {
    /// Every value, read now; each problem at its key under `at`
    /// (`sources.NAME.params`). Messages never hold a value.
    pub fn resolve_at(&self, at: &str) -> Result<Parameters, Vec<ConfigProblem>> {
        let mut values = Parameters::new();
        let mut problems = Vec::new();
        for (name, given) in &self.0 {
            let read = match given {
                ParamValue::Inline(text) => value(Some(Secret::from(text.as_str())), &None, &None),
                ParamValue::From(ParamSource { env, file }) => match (env, file) {
                    (Some(_), Some(_)) | (None, None) => {
                        Err(("", "give one of `env` and `file`".to_owned()))
                    }
                    _ => value(None, env, file),
                },
            };
            match read {
                Ok(Some(read)) => values.insert(name, read),
                Ok(None) => {}
                Err((key, message)) => {
                    let key = key.trim_start_matches('_');
                    let path = match key.is_empty() {
                        true => format!("{at}.{name}"),
                        false => format!("{at}.{name}.{key}"),
                    };
                    problems.push(ConfigProblem::new(path, message));
                }
            }
        }
        match problems.is_empty() {
            true => Ok(values),
            false => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_files_and_problems_name_keys_not_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audience");
        std::fs::write(&file, "https://api.example.com\n").unwrap();
        let config: ParamsConfig = serde_json::from_value(serde_json::json!({
            "scope": "read",
            "audience": {"file": file},
        }))
        .unwrap();
        let values = config.resolve_at("sources.a.params").unwrap();
        assert_eq!(
            values.get("audience").unwrap().expose_secret(),
            "https://api.example.com"
        );

        let config: ParamsConfig = serde_json::from_value(serde_json::json!({
            "key": {"env": "TOKENMUX_TEST_SURELY_UNSET"},
            "none": {},
            "both": {"env": "X", "file": "/nope"},
        }))
        .unwrap();
        let problems = config.resolve_at("p").unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["p.both", "p.key.env", "p.none"]);
        assert!(
            serde_json::from_value::<ParamsConfig>(serde_json::json!({"scope": {"value": "x"}}))
                .is_err()
        );
    }
}
