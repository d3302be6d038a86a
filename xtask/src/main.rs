//! Project automation for tokenmux, in the style of rust-analyzer's xtask:
//! this file only parses the command line and dispatches; each task is a
//! module, and the code generator is the crate `xtask-codegen`
//! (`xtask/codegen`), which `regen` runs.
//!
//! ```text
//! cargo xtask regen            # regenerate every provider crate from specs/
//! cargo xtask regen airalo     # only crates/tokenmux-airalo
//! cargo xtask regen --check    # write nothing; fail with a diff when stale
//! cargo xtask test             # install redis-server if missing, run every test, then `package` in the dev profile
//! cargo xtask package          # package the published crates; install (release) and run the CLI from them; a .deb
//! cargo xtask package --debug  # the same in the dev profile, as `cargo xtask test` runs it
//! cargo xtask fuzz --seconds 60 # each cargo fuzz target for a minute
//! cargo xtask bench            # every benchmark; writes docs/benchmarks.md
//! cargo xtask instructions --check # callgrind counts within 5 % of the committed figures
//! cargo xtask new-provider-check # a fifth spec, regen, no hand edit: it works
//! cargo xtask cycles           # no cycle between modules (needs cargo-modules)
//! ```

mod bench;
mod cycles;
mod fuzz;
mod instructions;
mod mock_process;
mod new_provider;
mod package;
mod regen;
mod task_error;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use task_error::TaskError;

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
    /// Count instructions per cached read and per exchange under
    /// valgrind's callgrind; compare them with the figures committed in
    /// crates/tokenmux-bench/instructions.json.
    Instructions {
        /// Fail when a count is more than 5 % above its committed figure.
        #[arg(long, conflicts_with = "save")]
        check: bool,
        /// Write the counts as the committed figures.
        #[arg(long)]
        save: bool,
    },
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
    /// Package every published crate (`cargo publish --dry-run`), install
    /// the CLI (release) from the packaged crates in a scratch directory
    /// and from its path, run both, and build and read back the Debian
    /// package (target/debian/tokenmux.deb).
    Package {
        /// Build in the dev profile, as `cargo xtask test` runs these
        /// steps: faster after the tests, and the .deb stays in a scratch
        /// directory.
        #[arg(long)]
        debug: bool,
    },
    /// Install what the tests need (redis-server), then `cargo test
    /// --workspace`; without arguments, then `package`'s steps too, in the
    /// dev profile (the .deb in a scratch directory).
    Test {
        /// Passed on to `cargo test`, e.g. `-- redis` (and `package` is
        /// not run).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let root = workspace_root();
    let outcome = match Cli::parse().command {
        Command::Regen { check, providers } => regen::run(&root, &providers, check),
        Command::Bench => bench::run(&root),
        Command::Instructions { check, save } => instructions::run(
            &root,
            match (check, save) {
                (true, _) => instructions::Mode::Check,
                (_, true) => instructions::Mode::Save,
                _ => instructions::Mode::Print,
            },
        ),
        Command::Fuzz { seconds, targets } => fuzz::run(&root, seconds, &targets),
        Command::NewProviderCheck { target_dir } => {
            new_provider::run(&root, &root.join(target_dir))
        }
        Command::Cycles => cycles::run(&root).map_err(TaskError::from),
        Command::Test { args } => test::run(&root, &args),
        Command::Package { debug } => package::run(
            &root,
            if debug {
                package::Build::Dev
            } else {
                package::Build::Release
            },
        ),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of the xtask crate. Read at run time
/// (`cargo run` sets `CARGO_MANIFEST_DIR`), so a binary built for one
/// checkout never works on another.
fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}
