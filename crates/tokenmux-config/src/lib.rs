//! The tokenmux config file: named sources and the agent's settings, or
//! one source (the older form); YAML, or TOML by its extension. Read as
//! untrusted input: bounded in size, never from a FIFO, nesting limited
//! before any parser runs, duplicate keys refused at their key path, and
//! every problem reported at its key path without a value that may be a
//! secret in the wrong place.
//!
//! ```
//! use tokenmux_config::{ConfigFile, parse};
//!
//! let text = "sources:\n  a:\n    provider: neonpanel\n    credentials: {client_id_env: A_ID, client_secret_env: A_SECRET}\n";
//! let Ok(ConfigFile::Named(file)) = parse(text, false) else { panic!() };
//! assert!(file.sources.contains_key("a"));
//! let twice = "sources:\n  a: {provider: x}\n  a: {provider: y}\n";
//! let problems = parse(twice, false).err().unwrap();
//! assert_eq!(problems[0].to_string(), "sources: duplicate key `a` (line 2)");
//! ```

mod certificate_file;
mod check;
mod credentials;
mod identity;
mod locate;
mod params;
mod parse;
mod policy;
mod private_key;
mod problem;
mod secret_value;
mod sink;
mod source;
mod store;
mod suggest;
mod value_ref;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use certificate_file::{CertificateFileProblem, read_client_certificate};
pub use check::{check_file, check_text};
pub use credentials::CredentialsConfig;
pub use identity::FileIdentity;
pub use locate::{LoadError, load_named, locate};
pub use params::ParamsConfig;
use parse::{parse_toml, parse_yaml, too_deep};
pub use policy::{RefreshConfig, RetryConfig};
pub use private_key::{PrivateKeyProblem, read_private_key};
pub use problem::ConfigProblem;
pub use sink::{SinkConfig, SinkFormat, SinkKind};
pub use source::SourceConfig;
pub use store::{StoreConfig, open_redis};
pub use tokenmux_store_file::{FileStoreConfig, default_cache_dir};
pub use tokenmux_store_redis::{RedisStoreConfig, SentinelConfig};
pub use value_ref::{ValueRef, ValueSource};

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
pub struct SourcesFile {
    /// The sources, by name (letters, digits, `-`, `_`, `.`; at most 64).
    pub sources: BTreeMap<String, SourceConfig>,
    /// `tokenmux serve`'s settings.
    #[serde(default)]
    pub agent: AgentSettings,
}

/// `agent:` of the config file.
///
/// Other users reach the socket only when its file mode admits them, and
/// then only if the uid check lets them: give both, as in
/// `{allowed_uids: [1001], socket_mode: "0660", socket_group: app}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Users (by uid) allowed on the Unix socket besides the agent's own
    /// (the uid check decides; the file mode must admit them first).
    #[serde(default)]
    pub allowed_uids: Vec<u32>,
    /// The socket's file mode, in octal (`"0660"`); default `"0600"`. It
    /// must give its owner read and write, and never write to others
    /// without the group's.
    #[serde(default)]
    pub socket_mode: Option<String>,
    /// The socket's group, by name or gid (the agent's user must be in it).
    #[serde(default)]
    pub socket_group: Option<String>,
    /// How long a source whose credentials the endpoint rejected waits
    /// before it is tried again on the agent's own timer (`1h`, the
    /// default; at least `1m`). A client's request tries at once.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub retry_rejected_after: Option<std::time::Duration>,
    /// How often the agent re-reads this file and every file it names
    /// (`*_file` secrets, keys, certificates), so that a rotated secret
    /// (a mounted Kubernetes Secret) is picked up without SIGHUP; `10s` by
    /// default, `0s` to re-read on SIGHUP only. As with SIGHUP, unchanged
    /// sources keep their tokens and a file with problems is refused.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub watch_interval: Option<std::time::Duration>,
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
pub fn schema() -> String {
    serde_json::to_string_pretty(&schema_value()).unwrap_or_default()
}

/// The schema, for editors: descriptions without rustdoc's code examples,
/// and `provider` as the names compiled in.
pub(crate) fn schema_value() -> serde_json::Value {
    let schema = schemars::schema_for!(TokenmuxConfig);
    let mut value = serde_json::to_value(&schema).unwrap_or_default();
    plain_descriptions(&mut value);
    let names: Vec<serde_json::Value> = tokenmux::Provider::names()
        .into_iter()
        .map(serde_json::Value::from)
        .collect();
    if let Some(provider) = value.pointer_mut("/definitions/SourceConfig/properties/provider") {
        provider["enum"] = serde_json::Value::Array(names);
    }
    value
}

/// Each `description` without fenced code blocks (rustdoc's examples
/// read as noise in an editor's hover).
fn plain_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(text)) = map.get_mut("description") {
                let mut kept = Vec::new();
                let mut in_code = false;
                for part in text.split("```") {
                    if !in_code {
                        kept.push(part.trim());
                    }
                    in_code = !in_code;
                }
                *text = kept
                    .into_iter()
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            map.values_mut().for_each(plain_descriptions);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(plain_descriptions),
        _ => {}
    }
}

/// A parsed config file.
pub enum ConfigFile {
    /// Named sources.
    Named(SourcesFile),
    /// One source.
    Single(Box<SourceConfig>),
}

/// The largest config file read: thousands of sources, not a dump.
pub(crate) const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// The deepest nesting a config file may have: a real one needs 5.
/// Parsers slow down sharply with depth; the scan refuses it first.
pub(crate) const MAX_DEPTH: usize = 32;

/// Reads and parses `path`; a syntax or type error names its key path.
pub fn read(path: &Path) -> Result<ConfigFile, Vec<ConfigProblem>> {
    read_identified(path).map(|(file, _)| file)
}

/// [`read`], with the identity of the file that was read.
pub fn read_identified(path: &Path) -> Result<(ConfigFile, FileIdentity), Vec<ConfigProblem>> {
    let problem = |path: String, message: String| vec![ConfigProblem { path, message }];
    // Bounded and non-blocking: a FIFO or a huge file here is an error,
    // not a hang.
    let (bytes, meta) = tokenmux::read_bounded(path, MAX_CONFIG_BYTES)
        .map_err(|e| problem(String::new(), e.to_string()))?;
    let identity = FileIdentity::from(&meta);
    let text = String::from_utf8(bytes)
        .map_err(|_| problem(String::new(), "the file is not UTF-8 text".into()))?;
    let toml = path.extension().is_some_and(|ext| ext == "toml");
    parse(&text, toml).map(|file| (file, identity))
}

/// Parses `text` (TOML when `toml`, else YAML): depth first, then an
/// untyped parse (duplicate keys), then the typed one.
pub fn parse(text: &str, toml: bool) -> Result<ConfigFile, Vec<ConfigProblem>> {
    let problem = |path: String, message: String| vec![ConfigProblem { path, message }];
    if let Some(line) = too_deep(text) {
        return Err(problem(
            String::new(),
            format!("nested deeper than {MAX_DEPTH} levels (line {line})"),
        ));
    }
    // Parsed once untyped: duplicate keys are found here, at their path
    // (a typed parse would keep the last of two sources silently).
    let named = match toml {
        true => parse_toml::<toml::Table>(text).map(|t| t.contains_key("sources")),
        false => parse_yaml::<serde_yaml::Value>(text)
            .map(|v| v.as_mapping().is_some_and(|m| m.contains_key("sources"))),
    }
    .map_err(|(path, message)| problem(path, message))?;
    match (named, toml) {
        (true, true) => parse_toml(text).map(ConfigFile::Named),
        (true, false) => parse_yaml(text).map(ConfigFile::Named),
        (false, true) => parse_toml(text).map(|c| ConfigFile::Single(Box::new(c))),
        (false, false) => parse_yaml(text).map(|c| ConfigFile::Single(Box::new(c))),
    }
    .map_err(|(path, message)| problem(path, message))
}

/// Every problem of a file of named sources.
pub fn problems(file: &SourcesFile) -> Vec<ConfigProblem> {
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
    // Two sinks on one file would overwrite each other at every refresh.
    let mut sinks = BTreeMap::new();
    for (name, source) in &file.sources {
        for (index, sink) in source.sinks.iter().enumerate() {
            let at = format!("sources.{name}.sinks.{index}.path");
            if let Some(first) = sinks.insert(&sink.path, at.clone()) {
                problems.push(ConfigProblem {
                    path: at,
                    message: format!("the same file as {first}"),
                });
            }
        }
    }
    problems
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
