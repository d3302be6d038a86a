//! `cargo xtask fuzz --seconds N`: a short, bounded run of every cargo fuzz
//! target in `fuzz/` (response decoding of every provider in the
//! spec registry and the normalisation into one token; stored token records, file and Redis
//! formats, plain and encrypted; config files), with a table of executions and crashes.
//!
//! cargo fuzz passes nightly-only flags to rustc (sanitizers); on the
//! stable toolchain `RUSTC_BOOTSTRAP=1` lets rustc accept them.

use crate::task_error::TaskError;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

/// The targets, in `fuzz/Cargo.toml` order.
const TARGETS: [&str; 4] = [
    "decode_success",
    "decode_any_status",
    "decode_stored_record",
    "parse_config_file",
];

/// Runs each target (or only `only`) for `seconds`; fails if one crashed.
pub fn run(root: &Path, seconds: u64, only: &[String]) -> Result<ExitCode, TaskError> {
    crate::test::ensure_cargo_subcommand("fuzz", "cargo-fuzz")?;
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<&str> = TARGETS
        .into_iter()
        .filter(|t| only.is_empty() || only.iter().any(|o| o == t))
        .collect();
    if targets.is_empty() {
        return Err(TaskError::Check(format!(
            "no such target; known: {}",
            TARGETS.join(", ")
        )));
    }
    let mut rows = Vec::new();
    let mut crashed = false;
    for target in targets {
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| TaskError::io(&corpus, e))?;
        let output = cargo_fuzz(&fuzz_dir)
            .args(["run", target])
            .arg(&corpus)
            .arg(fuzz_dir.join("seeds").join(target))
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                // A hang or a memory blow-up is a failure, as a crash is.
                "-timeout=10",
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
            ])
            .stdout(Stdio::inherit())
            .output()
            .map_err(|e| TaskError::spawn("cargo fuzz", e))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let runs = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| "?".into());
        let artifact = log
            .lines()
            .find_map(|l| l.split("Test unit written to ").nth(1))
            .map(str::to_owned);
        if !output.status.success() || artifact.is_some() {
            crashed = true;
            eprintln!(
                "{}",
                log.lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        rows.push(format!(
            "| {target} | {runs} | {seconds} | {} |",
            match artifact {
                Some(path) => format!("1 ({path})"),
                None if output.status.success() => "0".into(),
                None => format!("failed ({})", output.status),
            }
        ));
    }
    println!("| target | executions | seconds | crashes |");
    println!("|---|---:|---:|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(if crashed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn cargo_fuzz(dir: &Path) -> Command {
    let cargo = crate::test::cargo_program();
    let mut command = Command::new(cargo);
    command
        .arg("fuzz")
        .current_dir(dir)
        .env("RUSTC_BOOTSTRAP", "1");
    command
}
