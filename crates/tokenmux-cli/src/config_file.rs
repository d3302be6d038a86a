//! The config file: one source (the older form), or named sources and the
//! agent's settings. Found at `--config`, else `TOKENMUX_CONFIG`, else the
//! user's config directory; YAML, or TOML by its extension. Every problem
//! is reported at its key path, never with a value.

use std::path::{Path, PathBuf};

pub(crate) use tokenmux_config_file::{
    AgentSettings, ConfigFile, FileIdentity, SourcesFile, problems, read, read_identified, schema,
};

use crate::Failure;

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
