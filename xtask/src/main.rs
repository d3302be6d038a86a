//! Project automation for tokenmux, in the style of rust-analyzer's xtask.
//!
//! ```text
//! cargo xtask regen            # regenerate every provider crate from specs/
//! cargo xtask regen airalo     # only crates/tokenmux-airalo
//! cargo xtask regen --check    # write nothing; fail with a diff when stale
//! cargo xtask test             # install redis-server if missing, run every test
//! cargo xtask fuzz --seconds 60 # each cargo fuzz target for a minute
//! cargo xtask bench            # every benchmark; writes docs/benchmarks.md
//! cargo xtask new-provider-check # a fifth spec, regen, no hand edit: it works
//! cargo xtask cycles           # no cycle between modules (needs cargo-modules)
//! ```

mod bench;
mod cycles;
mod describe;
mod fuzz;
mod generate;
mod lower;
mod new_provider;
mod regen;
mod registry;
mod scaffold;
mod spec;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Why generation failed. Each variant names the spec (and, where known,
/// the operation) so the message says where to look.
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

#[derive(Parser)]
#[command(name = "cargo xtask", about = "tokenmux project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the provider client crates from specs/*.yaml.
    Regen {
        /// Write nothing; fail with a diff if any generated file is stale.
        #[arg(long)]
        check: bool,
        /// Only these providers (spec file stems), e.g. `airalo`.
        providers: Vec<String>,
    },
    /// Run every benchmark against its baseline; print the table and write
    /// docs/benchmarks.md.
    Bench,
    /// Run every cargo fuzz target in fuzz/ for a bounded time; print
    /// executions and crashes.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Only these targets.
        targets: Vec<String>,
    },
    /// In a scratch copy, add a fifth spec (xtask/fixtures/acme.yaml), run
    /// regen, and show with no other edit that the CLI, a config file, the
    /// mock and the lifecycle tests work with it; then remove it again.
    NewProviderCheck {
        /// The cargo target directory to build the copy in.
        #[arg(long, default_value = "target/new-provider")]
        target_dir: std::path::PathBuf,
    },
    /// Fail when modules of a crate depend on each other in a cycle (the
    /// graph from crates.io's `cargo-modules`, folded into modules).
    Cycles,
    /// Install what the tests need (redis-server), then `cargo test --workspace`.
    Test {
        /// Passed on to `cargo test`, e.g. `-- redis`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bench => match bench::run(&regen::workspace_root()) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Fuzz { seconds, targets } => {
            match fuzz::run(&regen::workspace_root(), seconds, &targets) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::NewProviderCheck { target_dir } => {
            let root = regen::workspace_root();
            match new_provider::run(&root, &root.join(target_dir)) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Cycles => match cycles::run(&regen::workspace_root()) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Test { args } => match test::run(&regen::workspace_root(), &args) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Regen { check, providers } => {
            match regen::regen(&regen::workspace_root(), &providers, check) {
                Ok(outcomes) => {
                    for (name, outcome) in outcomes {
                        let what = match outcome {
                            regen::Outcome::Fresh => "up to date",
                            regen::Outcome::Written { scaffolded: true } => {
                                "new crate scaffolded and generated"
                            }
                            regen::Outcome::Written { scaffolded: false } => "regenerated",
                            regen::Outcome::Removed => "removed (its spec is gone)",
                        };
                        println!("{name}: {what}");
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
