//! Which config file the CLI and the agent read, and the named sources
//! in it, checked: the same rules for both, so the agent serves exactly
//! the file a client would read.

use std::path::{Path, PathBuf};

use crate::ConfigProblem;

use crate::{ConfigFile, FileIdentity, SourcesFile, problems, read_identified};

/// The config file to read: `explicit` (`--config`), else
/// `TOKENMUX_CONFIG`, else `config.yaml`, `config.yml` or `config.toml`
/// in the user's config directory + `/tokenmux`, when there.
///
/// ```
/// use std::path::Path;
///
/// let given = tokenmux_config::locate(Some(Path::new("/etc/tokenmux.yaml")));
/// assert_eq!(given.as_deref(), Some(Path::new("/etc/tokenmux.yaml")));
/// ```
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
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

/// Why [`load_named`] gave no sources. Messages name the file and keys,
/// never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No file was given and none is in the default places.
    #[error("no config file: give --config or TOKENMUX_CONFIG")]
    NotFound,
    /// The file describes one source, not named `sources:`.
    #[error("{path} describes one source, not named `sources:`")]
    NotNamed {
        /// The file, as shown.
        path: String,
    },
    /// The file has problems (the first is shown; all are kept).
    #[error("{path}: {} ({} problem(s); `tokenmux config check` lists them)", problems[0], problems.len())]
    Problems {
        /// The file, as shown.
        path: String,
        /// Every problem, at its key (never empty).
        problems: Vec<ConfigProblem>,
    },
}

/// The named sources of the located file (see [`locate`]), checked, with
/// the file's path and identity.
pub fn load_named(
    explicit: Option<&Path>,
) -> Result<(PathBuf, SourcesFile, FileIdentity), LoadError> {
    let path = locate(explicit).ok_or(LoadError::NotFound)?;
    let shown = path.display().to_string();
    let found = match read_identified(&path) {
        Ok((ConfigFile::Named(file), identity)) => match problems(&file) {
            found if found.is_empty() => return Ok((path, file, identity)),
            found => found,
        },
        Ok((ConfigFile::Single(_), _)) => return Err(LoadError::NotNamed { path: shown }),
        Err(found) => found,
    };
    // `read_identified` and `problems` never report success with none.
    match found.is_empty() {
        true => Err(LoadError::Problems {
            path: shown,
            problems: vec![ConfigProblem {
                path: String::new(),
                message: "unreadable".into(),
            }],
        }),
        false => Err(LoadError::Problems {
            path: shown,
            problems: found,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let single = dir.path().join("single.yaml");
        std::fs::write(&single, "provider: neonpanel\n").unwrap();
        assert!(matches!(
            load_named(Some(&single)),
            Err(LoadError::NotNamed { .. })
        ));
        let broken = dir.path().join("broken.yaml");
        std::fs::write(
            &broken,
            "sources:\n  a: {provider: nope}\n  b: {provider: nope}\n",
        )
        .unwrap();
        let error = load_named(Some(&broken)).unwrap_err();
        let LoadError::Problems { problems, .. } = &error else {
            panic!("{error}")
        };
        assert!(problems.len() >= 2, "{problems:?}");
        assert!(
            error
                .to_string()
                .contains("`tokenmux config check` lists them")
        );
    }
}
