//! A problem in a config, at the key path it belongs to.

/// A problem in a config file, at a key path (`sources.airalo.server`).
/// Messages name keys, files and variables, never a value that may be a
/// secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    /// Where in the file, as dotted keys.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigProblem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}
