//! `params:` of a configured source: the values of its spec's parameters
//! (`x-tokenmux-parameter`), each inline or, for a secret one, from an
//! environment variable or a file.

use std::collections::BTreeMap;

use serde::Deserialize;
use tokenmux_wire::Parameters;

use crate::problem::ConfigProblem;
use crate::value_ref::ValueRef;

/// `params:` of a source, by parameter name; each a [`ValueRef`].
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
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Hash, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ParamsConfig(pub BTreeMap<String, ValueRef>);

impl ParamsConfig {
    /// Every value, read now; each problem at its key under `at`
    /// (`sources.NAME.params`). Messages never hold a value.
    pub fn resolve_at(&self, at: &str) -> Result<Parameters, Vec<ConfigProblem>> {
        let mut values = Parameters::new();
        let mut problems = Vec::new();
        for (name, given) in &self.0 {
            match given.read() {
                Ok(read) => values.insert(name, read),
                Err((key, message)) => {
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
