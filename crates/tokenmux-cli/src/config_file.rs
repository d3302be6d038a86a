//! The config file: one source (the older form), or named sources and the
//! agent's settings. Found at `--config`, else `TOKENMUX_CONFIG`, else the
//! user's config directory; YAML, or TOML by its extension. Every problem
//! is reported at its key path, never with a value.

use std::path::{Path, PathBuf};

pub(crate) use tokenmux_config::{ConfigFile, FileIdentity, SourcesFile, locate, read, schema};

use crate::Failure;

/// `tokenmux config check`: every problem, one a line; exit 2 if any.
pub(crate) fn check(explicit: Option<&Path>) -> Result<(), Failure> {
    let path = locate(explicit)
        .ok_or_else(|| Failure::usage("no config file: give --config or TOKENMUX_CONFIG"))?;
    let problems = tokenmux_config::check_file(&path);
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
    tokenmux_config::load_named(explicit).map_err(|e| Failure::usage(e.to_string()))
}
