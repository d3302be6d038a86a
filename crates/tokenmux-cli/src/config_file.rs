//! The config file: one source (the older form), or named sources and the
//! agent's settings. Found at `--config`, else `TOKENMUX_CONFIG`, else the
//! user's config directory; YAML, or TOML by its extension. Every problem
//! is reported at its key path, never with a value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokenmux::{ConfigProblem, SourceConfig};

use crate::Failure;

/// Named sources, and what the agent needs beyond them.
///
/// ```yaml
/// sources:
///   partner-a:
///     provider: jsonapi
///     base_url: https://api.partner-a.example
///     credentials: {client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}
/// agent:
///   allowed_uids: [1001]
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourcesFile {
    /// The sources, by name (letters, digits, `-`, `_`, `.`; at most 64).
    pub(crate) sources: BTreeMap<String, SourceConfig>,
    /// `tokenmux serve`'s settings.
    #[serde(default)]
    pub(crate) agent: AgentSettings,
}

/// `agent:` of the config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentSettings {
    /// Users (by uid) allowed on the Unix socket besides the agent's own.
    #[serde(default)]
    pub(crate) allowed_uids: Vec<u32>,
}

/// The file's JSON Schema (`tokenmux config schema`): either form.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
enum TokenmuxConfig {
    /// Named sources (`tokenmux token NAME`, `tokenmux serve`).
    Named(SourcesFile),
    /// One source (`tokenmux token` without a name).
    Single(Box<SourceConfig>),
}

/// The schema, as pretty JSON.
pub(crate) fn schema() -> String {
    let schema = schemars::schema_for!(TokenmuxConfig);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// A parsed config file.
pub(crate) enum ConfigFile {
    /// Named sources.
    Named(SourcesFile),
    /// One source.
    Single(Box<SourceConfig>),
}

/// The config file to read: `explicit` (`--config`), else
/// `TOKENMUX_CONFIG`, else `config.yaml` or `config.toml` in the user's
/// config directory + `/tokenmux`, when there.
pub(crate) fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(path) = std::env::var_os("TOKENMUX_CONFIG").filter(|p| !p.is_empty()) {
        return Some(path.into());
    }
    let dir = dirs::config_dir()?.join("tokenmux");
    ["config.yaml", "config.yml", "config.toml"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Reads and parses `path`; a syntax or type error names its key path.
pub(crate) fn read(path: &Path) -> Result<ConfigFile, Vec<ConfigProblem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigProblem {
            path: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }]
    })?;
    let toml = path.extension().is_some_and(|ext| ext == "toml");
    let named = match toml {
        true => toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("sources")),
        false => serde_yaml::from_str::<serde_yaml::Mapping>(&text)
            .is_ok_and(|m| m.contains_key("sources")),
    };
    let problem = |path: String, message: String| vec![ConfigProblem { path, message }];
    match (named, toml) {
        (true, true) => parse_toml(&text).map(ConfigFile::Named),
        (true, false) => parse_yaml(&text).map(ConfigFile::Named),
        (false, true) => parse_toml(&text).map(|c| ConfigFile::Single(Box::new(c))),
        (false, false) => parse_yaml(&text).map(|c| ConfigFile::Single(Box::new(c))),
    }
    .map_err(|(path, message)| problem(path, message))
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| {
        let at = e
            .inner()
            .location()
            .map(|l| format!(" (line {})", l.line()));
        let path = e.path().to_string();
        // serde_yaml starts its message with the path too.
        let message = e.inner().to_string();
        let message = message
            .strip_prefix(&format!("{path}: "))
            .unwrap_or(&message);
        (path, redact(message) + &at.unwrap_or_default())
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (String, String)> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| (String::new(), redact(e.message())))?;
    serde_path_to_error::deserialize(deserializer)
        .map_err(|e| (e.path().to_string(), redact(e.inner().message())))
}

/// A parser's message without the text it quotes (which may be a secret
/// in the wrong place) and without its own position suffix: serde's
/// `invalid type: integer `123456`, expected …` keeps only `integer`, and
/// anything in double quotes is dropped.
fn redact(message: &str) -> String {
    let mut message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(start) = message.find(prefix).map(|at| at + prefix.len()) {
            let end = message[start..]
                .find(", expected")
                .map_or(message.len(), |at| start + at);
            let kind = message[start..end]
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            message.replace_range(start..end, &kind);
        }
    }
    let mut out = String::new();
    for (i, part) in message.split('"').enumerate() {
        match i % 2 {
            0 => out.push_str(part),
            _ => out.push_str("\"…\""),
        }
    }
    out.trim().to_owned()
}

/// Every problem of a file of named sources.
pub(crate) fn problems(file: &SourcesFile) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if file.sources.is_empty() {
        problems.push(ConfigProblem {
            path: "sources".into(),
            message: "no source is named".into(),
        });
    }
    for (name, source) in &file.sources {
        let at = format!("sources.{name}");
        if !valid_name(name) {
            problems.push(ConfigProblem {
                path: at.clone(),
                message: "a source's name is letters, digits, `-`, `_` and `.` (at most 64)".into(),
            });
        }
        problems.extend(source.problems(&at));
    }
    problems
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `tokenmux config check`: every problem, one a line; exit 2 if any.
pub(crate) fn check(explicit: Option<&Path>) -> Result<(), Failure> {
    let path = locate(explicit)
        .ok_or_else(|| Failure::usage("no config file: give --config or TOKENMUX_CONFIG"))?;
    let problems = match read(&path) {
        Ok(ConfigFile::Named(file)) => problems(&file),
        Ok(ConfigFile::Single(source)) => source.problems("(top)"),
        Err(problems) => problems,
    };
    if problems.is_empty() {
        return crate::print_line(&format!("{}: ok", path.display()));
    }
    for problem in &problems {
        let at = match problem.path.as_str() {
            "" => String::new(),
            key => format!("{key}: "),
        };
        eprintln!("{}: {at}{}", path.display(), problem.message);
    }
    Err(Failure::usage(format!(
        "{} has {} problem(s)",
        path.display(),
        problems.len()
    )))
}

/// The named sources of the located file, checked; for `token NAME` and
/// `serve`.
pub(crate) fn load_named(explicit: Option<&Path>) -> Result<(PathBuf, SourcesFile), Failure> {
    let path = locate(explicit)
        .ok_or_else(|| Failure::usage("no config file: give --config or TOKENMUX_CONFIG"))?;
    let shown = path.display().to_string();
    let found = match read(&path) {
        Ok(ConfigFile::Named(file)) => match problems(&file) {
            found if found.is_empty() => return Ok((path, file)),
            found => found,
        },
        Ok(ConfigFile::Single(_)) => {
            return Err(Failure::usage(format!(
                "{shown} describes one source, not named `sources:`"
            )));
        }
        Err(found) => found,
    };
    let first = &found[0];
    Err(Failure::usage(format!(
        "{shown}: {first} ({} problem(s); `tokenmux config check` lists them)",
        found.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_quoted_values_and_keep_key_paths() {
        let text = "sources:\n  a:\n    provider: airalo\n    allow_insecure_http: \"hunter2\"\n";
        let (path, message) = parse_yaml::<SourcesFile>(text).unwrap_err();
        assert_eq!(path, "sources.a.allow_insecure_http");
        assert!(message.starts_with("invalid type"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let toml = "[sources.a]\nprovider = \"airalo\"\ntypo = \"hunter2\"\n";
        let (path, message) = parse_toml::<SourcesFile>(toml).unwrap_err();
        assert!(path.starts_with("sources.a"), "{path}");
        assert!(
            message.contains("typo") && !message.contains("hunter2"),
            "{message}"
        );
        // A number where a boolean belongs: serde quotes it with backticks.
        let text = "sources:\n  a:\n    provider: airalo\n    allow_insecure_http: 98765432\n";
        let (path, message) = parse_yaml::<SourcesFile>(text).unwrap_err();
        assert_eq!(path, "sources.a.allow_insecure_http");
        assert!(message.starts_with("invalid type"), "{message}");
        assert!(
            !message.contains("98765432") && message.contains("integer"),
            "{message}"
        );
    }
}
