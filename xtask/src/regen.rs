//! `cargo xtask regen`: runs the code generator, the crate `xtask-codegen`
//! (`xtask/codegen`), with `cargo run`. It is a crate of its own so that
//! building xtask (every `cargo xtask …`) does not compile progenitor
//! and its tree with features other than the workspace's tests use.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::task_error::TaskError;
use crate::test::cargo_program;

/// `cargo xtask regen [--check] [PROVIDER…]` over `root`. The generator
/// prints what it did, or its error; its exit code is the task's.
pub fn run(root: &Path, providers: &[String], check: bool) -> Result<ExitCode, TaskError> {
    let status = Command::new(cargo_program())
        .current_dir(root)
        .args(["run", "--quiet", "--package", "xtask-codegen", "--"])
        .args(arguments(root, providers, check))
        .status()
        .map_err(|e| TaskError::spawn("cargo run --package xtask-codegen", e))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the generator and returns its binary, for a caller that runs it
/// many times and times each run (the benchmarks).
pub fn build(root: &Path) -> Result<PathBuf, TaskError> {
    let output = Command::new(cargo_program())
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--package",
            "xtask-codegen",
            "--bin",
            "xtask-codegen",
            "--message-format",
            "json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TaskError::spawn("cargo build --package xtask-codegen", e))?;
    TaskError::check_status("cargo build --package xtask-codegen", output.status)?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| TaskError::Check("cargo named no xtask-codegen binary".into()))
}

/// Runs a binary from [`build`] over `root`; fails if it fails.
pub fn run_binary(generator: &Path, root: &Path, check: bool) -> Result<(), TaskError> {
    TaskError::run(
        Command::new(generator)
            .args(arguments(root, &[], check))
            .stdout(Stdio::null()),
        &format!("xtask-codegen over {}", root.display()),
    )
}

fn arguments(root: &Path, providers: &[String], check: bool) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["--root".into(), root.into()];
    if check {
        args.push("--check".into());
    }
    args.extend(providers.iter().map(Into::into));
    args
}
