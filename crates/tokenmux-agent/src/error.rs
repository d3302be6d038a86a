//! Why the agent could not start or serve, or why its client got no
//! token: a message that says what was tried and what to do, and the
//! library's [`ErrorKind`] when there is one, so that the CLI's exit code
//! is the same whether the error happened in the agent or in the command.

use tokenmux::ErrorKind;

/// An agent or agent-client failure.
///
/// ```
/// use tokenmux::ErrorKind;
/// use tokenmux_agent::AgentError;
///
/// let error = AgentError::config("--listen 10.0.0.1:7878 is not a loopback address");
/// assert_eq!(error.kind(), Some(ErrorKind::Config));
/// assert_eq!(AgentError::other("unreadable answer").kind(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AgentError {
    kind: Option<ErrorKind>,
    message: String,
}

impl AgentError {
    /// A failure of `kind` (`None`: not one of the library's kinds, such
    /// as an agent that answered what no agent sends).
    pub fn new(kind: Option<ErrorKind>, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Something to change in the config, the flags or the host (a socket
    /// path, a mode, an untrusted agent).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Some(ErrorKind::Config), message)
    }

    /// Anything else: the agent answered what it should not have.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(None, message)
    }

    /// The library's kind, if any: the CLI maps it to its exit code.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.kind
    }

    /// What happened and what to do, one line, without a secret.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<tokenmux::Error> for AgentError {
    fn from(error: tokenmux::Error) -> Self {
        Self::new(Some(error.kind()), error.to_string())
    }
}
