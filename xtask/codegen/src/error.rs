//! Why generation failed: each variant names the spec (and, where known,
//! the operation), so the message says where to look.

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A file could not be read.
    #[error("{spec}: cannot read: {source}")]
    Read {
        /// The spec (or directory).
        spec: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The spec is not valid YAML / OpenAPI 3.0.
    #[error("{spec}: not a valid OpenAPI 3.0 document: {message}")]
    Parse {
        /// The spec.
        spec: String,
        /// The parser's message.
        message: String,
    },
    /// A provider name on the command line has no spec.
    #[error("no spec named `{name}` in specs/ (known: {known})")]
    UnknownProvider {
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The spec uses something the generator cannot turn into a client.
    #[error("{spec}: operation `{operation}`: {message}")]
    Unsupported {
        /// The spec.
        spec: String,
        /// The operation (its operationId, or method and path).
        operation: String,
        /// What is unsupported.
        message: String,
    },
    /// progenitor refused the spec (or panicked on it).
    #[error("{spec}: {}progenitor cannot generate a client: {message}",
        operation.as_ref().map(|op| format!("operation `{op}`: ")).unwrap_or_default())]
    Progenitor {
        /// The spec.
        spec: String,
        /// The first operation that fails on its own, if one does.
        operation: Option<String>,
        /// progenitor's message.
        message: String,
    },
    /// rustfmt failed on the generated code.
    #[error("{spec}: formatting the generated code failed: {message}")]
    Format {
        /// The spec.
        spec: String,
        /// rustfmt's message.
        message: String,
    },
    /// A bug in the generator.
    #[error("{spec}: internal error: {message}")]
    Internal {
        /// The spec.
        spec: String,
        /// What went wrong.
        message: String,
    },
    /// A generated file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `--check` found generated files that differ from the specs.
    #[error("{report}\ngenerated code is stale: run `cargo xtask regen` and commit the result")]
    Stale {
        /// The stale files, with diffs.
        report: String,
    },
}

/// What a spec lacks or uses that the generator cannot turn into a
/// provider, found while reading it (`describe`) or lowering it (`lower`);
/// the caller adds the spec and the operation ([`GenError::Unsupported`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecProblem(pub String);

impl From<String> for SpecProblem {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for SpecProblem {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

/// A [`SpecProblem`] from a format string.
macro_rules! problem {
    ($($arg:tt)*) => {
        $crate::SpecProblem(format!($($arg)*))
    };
}
pub(crate) use problem;
