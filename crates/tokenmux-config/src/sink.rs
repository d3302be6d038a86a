//! `sinks:` of a named source: files the agent writes the token to, for
//! applications that read a token from a file (as Vault Agent's file sink).

use std::path::PathBuf;

use serde::Deserialize;

use crate::problem::ConfigProblem;

/// One sink: `{kind: file, path: /run/app/token, mode: "0640", format: raw}`.
/// The agent writes it atomically (a new file renamed over the old one, so
/// a reader sees the old token or the new one, never part of either) at
/// start and whenever the token changes.
///
/// ```
/// use tokenmux_config::{SinkConfig, SinkFormat};
///
/// let sink: SinkConfig = serde_json::from_str(
///     r#"{"kind": "file", "path": "/run/app/token", "format": "header"}"#,
/// ).unwrap();
/// assert_eq!(sink.format, SinkFormat::Header);
/// assert_eq!(sink.mode_bits().unwrap(), 0o600);
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// The sink's kind: `file`.
    pub kind: SinkKind,
    /// The file's absolute path. Its directory must exist; the agent's
    /// user writes a temporary file beside it and renames it over.
    pub path: PathBuf,
    /// The file's mode, in octal (`"0640"`); default `"0600"`.
    #[serde(default)]
    pub mode: Option<String>,
    /// What the file holds: `raw` (the token alone, the default), `header`
    /// (the header's value, `Bearer …`) or `json` (the agent's token JSON).
    #[serde(default)]
    pub format: SinkFormat,
}

/// Where a sink writes.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// A file.
    File,
}

/// What a sink's file holds.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SinkFormat {
    /// The token alone, no newline.
    #[default]
    Raw,
    /// The header's value (`Bearer …`, or the spec's presentation), no
    /// newline.
    Header,
    /// `{"access_token", "token_type", "expires_in", "expires_at",
    /// "header", "header_value"}`, as the agent's token endpoint.
    Json,
}

impl SinkConfig {
    /// The mode as bits: octal, at most 0777, giving the owner read and
    /// write, and nothing to others that the group may not have.
    pub fn mode_bits(&self) -> Result<u32, String> {
        let Some(text) = &self.mode else {
            return Ok(0o600);
        };
        let digits = text.trim().trim_start_matches("0o");
        u32::from_str_radix(digits, 8)
            .ok()
            .filter(|mode| *mode <= 0o777 && mode & 0o600 == 0o600 && mode & 0o002 == 0)
            .ok_or_else(|| {
                "is not an octal mode such as \"0600\" or \"0640\" (the owner reads and \
                 writes; others never write)"
                    .to_owned()
            })
    }

    /// Its problems, at `at` (`sources.NAME.sinks.0`).
    pub(crate) fn problems(&self, at: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !self.path.is_absolute() {
            problems.push(ConfigProblem::new(
                format!("{at}.path"),
                "must be an absolute path (the agent's working directory is not yours)",
            ));
        }
        if self.path.file_name().is_none() {
            problems.push(ConfigProblem::new(format!("{at}.path"), "must name a file"));
        }
        if let Err(message) = self.mode_bits() {
            problems.push(ConfigProblem::new(format!("{at}.mode"), message));
        }
        problems
    }
}
