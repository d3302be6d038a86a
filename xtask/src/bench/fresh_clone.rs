//! Row 11 of `docs/benchmarks.md`: the README's two commands as a newcomer
//! runs them, on a fresh clone of this repository's HEAD with an empty
//! target directory (the crates already downloaded: cargo's registry cache
//! is the user's own).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{Row, row};
use crate::task_error::TaskError;

/// The README's commands and their goals in seconds (issue 27).
const COMMANDS: [(&str, &[&str], f64); 2] = [
    (
        "main command (`cargo run --example quickstart`)",
        &["run", "--quiet", "--example", "quickstart"],
        180.0,
    ),
    (
        "test command (`cargo xtask test`)",
        &["xtask", "test"],
        600.0,
    ),
];

/// Times each command in its own fresh clone; one row each.
pub fn rows(root: &Path, cargo: &str) -> Result<Vec<Row>, TaskError> {
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root)
        .output()
        .map_err(|e| TaskError::spawn("git status", e))?;
    if !dirty.stdout.is_empty() {
        eprintln!("xtask: uncommitted changes are not in the fresh clones (HEAD is measured)");
    }
    let mut rows = Vec::new();
    for (what, args, goal) in COMMANDS {
        let scratch = tempfile::tempdir().map_err(|e| TaskError::io("a scratch directory", e))?;
        let clone = scratch.path().join("tokenmux");
        TaskError::run(
            Command::new("git")
                .args(["clone", "--quiet", "--no-hardlinks"])
                .arg(root)
                .arg(&clone),
            "git clone of the repository",
        )?;
        eprintln!("xtask: README {what} on a fresh clone");
        let started = Instant::now();
        TaskError::run(
            Command::new(cargo)
                .args(args)
                .current_dir(&clone)
                // The clone's own target directory, empty.
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET_DIR")
                .stdout(Stdio::null()),
            &format!("the README's {what} on a fresh clone"),
        )?;
        let seconds = started.elapsed().as_secs_f64();
        rows.push(row(
            format!("11. README {what}, fresh clone, empty target dir"),
            format!("{seconds:.0} s"),
            "–",
            None,
            format!("≤ {goal:.0} s"),
            Some(seconds <= goal),
        ));
    }
    Ok(rows)
}
