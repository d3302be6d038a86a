//! Why a task (`test`, `bench`, `fuzz`, `new-provider-check`, `cycles`)
//! failed: a command that could not start or that failed, a file, a tool
//! that is missing, or a check that does not hold.

/// A task's failure; `main` prints it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A command could not be started.
    #[error("cannot run {what}: {source}")]
    Spawn {
        /// The command.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{what} failed ({status})")]
    Failed {
        /// The command.
        what: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A tool the task needs is missing and could not be installed.
    #[error("{tool} is needed: {why}")]
    Missing {
        /// The tool.
        tool: String,
        /// What was tried.
        why: String,
    },
    /// What the task checks does not hold, or its input is not what it
    /// expects (a hand edit, no token, a cycle, a malformed report).
    #[error("{0}")]
    Check(String),
    /// The module-cycle check could not run.
    #[error(transparent)]
    Cycles(#[from] crate::cycles::CyclesError),
}

impl TaskError {
    /// A command that could not be started.
    pub fn spawn(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Spawn {
            what: what.into(),
            source,
        }
    }

    /// A file that could not be read or written.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// Runs `command`; an error names `what` when it cannot start or fails.
    pub fn run(command: &mut std::process::Command, what: &str) -> Result<(), Self> {
        let status = command.status().map_err(|e| Self::spawn(what, e))?;
        Self::check_status(what, status)
    }

    /// `Ok` when `status` is a success, else [`Failed`](Self::Failed).
    pub fn check_status(
        what: impl Into<String>,
        status: std::process::ExitStatus,
    ) -> Result<(), Self> {
        match status.success() {
            true => Ok(()),
            false => Err(Self::Failed {
                what: what.into(),
                status,
            }),
        }
    }
}
