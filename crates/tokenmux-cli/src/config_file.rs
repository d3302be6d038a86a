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
///
/// Other users reach the socket only when its file mode admits them, and
/// then only if the uid check lets them: give both, as in
/// `{allowed_uids: [1001], socket_mode: "0660", socket_group: app}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentSettings {
    /// Users (by uid) allowed on the Unix socket besides the agent's own
    /// (the uid check decides; the file mode must admit them first).
    #[serde(default)]
    pub(crate) allowed_uids: Vec<u32>,
    /// The socket's file mode, in octal (`"0660"`); default `"0600"`. It
    /// must give its owner read and write, and never write to others
    /// without the group's.
    #[serde(default)]
    pub(crate) socket_mode: Option<String>,
    /// The socket's group, by name or gid (the agent's user must be in it).
    #[serde(default)]
    pub(crate) socket_group: Option<String>,
    /// How long a source whose credentials the endpoint rejected waits
    /// before it is tried again on the agent's own timer (`1h`, the
    /// default; at least `1m`). A client's request tries at once.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub(crate) retry_rejected_after: Option<std::time::Duration>,
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

/// The largest config file read: thousands of sources, not a dump.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// The deepest nesting a config file may have: a real one needs 5.
/// Parsers slow down sharply with depth; the scan refuses it first.
const MAX_DEPTH: usize = 32;

/// Which file a config is: device and inode, so that a client and an agent
/// can tell whether they read the same file whatever path each was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    /// The identity of the file `path` names now, if any.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|meta| Self::from(&meta))
    }
}

impl From<&std::fs::Metadata> for FileIdentity {
    fn from(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }
}

impl std::fmt::Display for FileIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.device, self.inode)
    }
}

impl std::str::FromStr for FileIdentity {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let (device, inode) = text.split_once('.').ok_or(())?;
        Ok(Self {
            device: device.parse().map_err(|_| ())?,
            inode: inode.parse().map_err(|_| ())?,
        })
    }
}

/// Reads and parses `path`; a syntax or type error names its key path.
pub(crate) fn read(path: &Path) -> Result<ConfigFile, Vec<ConfigProblem>> {
    read_identified(path).map(|(file, _)| file)
}

/// [`read`], with the identity of the file that was read.
pub(crate) fn read_identified(
    path: &Path,
) -> Result<(ConfigFile, FileIdentity), Vec<ConfigProblem>> {
    let problem = |path: String, message: String| vec![ConfigProblem { path, message }];
    // Bounded and non-blocking: a FIFO or a huge file here is an error,
    // not a hang.
    let (bytes, meta) = tokenmux::read_bounded(path, MAX_CONFIG_BYTES)
        .map_err(|e| problem(String::new(), e.to_string()))?;
    let identity = FileIdentity::from(&meta);
    let text = String::from_utf8(bytes)
        .map_err(|_| problem(String::new(), "the file is not UTF-8 text".into()))?;
    if let Some(line) = too_deep(&text) {
        return Err(problem(
            String::new(),
            format!("nested deeper than {MAX_DEPTH} levels (line {line})"),
        ));
    }
    let toml = path.extension().is_some_and(|ext| ext == "toml");
    // Parsed once untyped: duplicate keys are found here, at their path
    // (a typed parse would keep the last of two sources silently).
    let named = match toml {
        true => parse_toml::<toml::Table>(&text).map(|t| t.contains_key("sources")),
        false => parse_yaml::<serde_yaml::Value>(&text)
            .map(|v| v.as_mapping().is_some_and(|m| m.contains_key("sources"))),
    }
    .map_err(|(path, message)| problem(path, message))?;
    match (named, toml) {
        (true, true) => parse_toml(&text).map(ConfigFile::Named),
        (true, false) => parse_yaml(&text).map(ConfigFile::Named),
        (false, true) => parse_toml(&text).map(|c| ConfigFile::Single(Box::new(c))),
        (false, false) => parse_yaml(&text).map(|c| ConfigFile::Single(Box::new(c))),
    }
    .map(|file| (file, identity))
    .map_err(|(path, message)| problem(path, message))
}

/// The line at which `text` nests deeper than [`MAX_DEPTH`], if it does:
/// flow brackets (`[`, `{`), block sequence dashes and indentation, outside
/// quotes and comments. An estimate that errs on the deep side is fine: a
/// real config nests 5 levels.
fn too_deep(text: &str) -> Option<usize> {
    let mut flow = 0usize;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let mut dashes = 0;
        let mut rest = line.trim_start();
        while let Some(after) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            dashes += 1;
            rest = after.trim_start();
        }
        let mut quote = None;
        for c in rest.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => flow += 1,
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
        // Two spaces of indentation a level, as YAML is written.
        if flow + dashes + indent / 2 > MAX_DEPTH {
            return Some(number + 1);
        }
    }
    None
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| {
        let at = e
            .inner()
            .location()
            .map(|l| format!(" (line {})", l.line()));
        let message = e.inner().to_string();
        // serde_yaml starts its message with its own path, keys unfiltered.
        let message = match message.split_once(": ") {
            Some((path, rest)) if !path.contains([' ', '`', '"']) => rest,
            _ => &message,
        };
        (
            shown_path(e.path()),
            redact(message) + &at.unwrap_or_default(),
        )
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (String, String)> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| (String::new(), redact(e.message())))?;
    serde_path_to_error::deserialize(deserializer)
        .map_err(|e| (shown_path(e.path()), redact(e.inner().message())))
}

/// A key path for a message: keys that are not names (a secret typed as a
/// key, `{client_secret:hunter2}`) are not shown.
fn shown_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<String> = path
        .iter()
        .map(|segment| match segment {
            Segment::Map { key } if valid_name(key) => key.clone(),
            Segment::Map { .. } => "(a key that is not a name)".into(),
            Segment::Seq { index } => index.to_string(),
            Segment::Enum { variant } if valid_name(variant) => variant.clone(),
            _ => "?".into(),
        })
        .collect();
    match segments.is_empty() {
        true => String::new(),
        false => segments.join("."),
    }
}

/// A parser's message without the text it quotes, which may be a secret in
/// the wrong place, and without its own position suffix. Quoted and
/// backticked text is kept only where it is a key name (a plain identifier,
/// as `unknown field `clent_id`, expected one of `client_id`, …`), so a
/// typo is still named; values never are: `invalid type: integer `123``
/// keeps only `integer`.
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
    // serde_yaml says `duplicate entry with key "a"`.
    let message = message.replace("duplicate entry with key", "duplicate key");
    let mut out = String::new();
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            out.push_str(&format!("{quote}…{quote}"));
            rest = "";
            break;
        };
        let quoted = &after[..close];
        match is_key_name(quoted) {
            true => out.push_str(&format!("`{quoted}`")),
            false => out.push_str(&format!("{quote}…{quote}")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    tokenmux::neutralise_controls(out.trim())
}

/// A key as config files name them: `client_secret_env`, `ahead_max`.
fn is_key_name(text: &str) -> bool {
    (1..=40).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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

/// The named sources of the located file, checked, with the file's
/// identity; for `token NAME` and `serve`.
pub(crate) fn load_named(
    explicit: Option<&Path>,
) -> Result<(PathBuf, SourcesFile, FileIdentity), Failure> {
    let path = locate(explicit)
        .ok_or_else(|| Failure::usage("no config file: give --config or TOKENMUX_CONFIG"))?;
    let shown = path.display().to_string();
    let found = match read_identified(&path) {
        Ok((ConfigFile::Named(file), identity)) => match problems(&file) {
            found if found.is_empty() => return Ok((path, file, identity)),
            found => found,
        },
        Ok((ConfigFile::Single(_), _)) => {
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
