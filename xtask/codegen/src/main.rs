//! The binary `cargo xtask regen` runs (`cargo run -p xtask-codegen --
//! ARGS`):
//!
//! ```text
//! xtask-codegen [--check] [--root DIR] [PROVIDER…]
//! ```
//!
//! `--check` writes nothing and fails with a diff when a generated file is
//! stale; `--root` regenerates another tree laid out like this workspace
//! (`specs/`, `crates/`; the benchmarks' synthetic specs); providers are
//! spec file stems (all when none is named).

use std::path::PathBuf;
use std::process::ExitCode;

use xtask_codegen::regen;

fn main() -> ExitCode {
    let mut check = false;
    let mut root = None;
    let mut providers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--root" => match args.next() {
                Some(dir) => root = Some(PathBuf::from(dir)),
                None => return usage("--root needs a directory"),
            },
            "-h" | "--help" => {
                println!("usage: xtask-codegen [--check] [--root DIR] [PROVIDER…]");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => return usage(&format!("unknown option {flag}")),
            provider => providers.push(provider.to_owned()),
        }
    }
    let root = root.unwrap_or_else(regen::workspace_root);
    match regen::run(&root, &providers, check) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\nusage: xtask-codegen [--check] [--root DIR] [PROVIDER…]");
    ExitCode::FAILURE
}
