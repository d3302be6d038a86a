//! `cargo xtask instructions`: instructions per cached read and per cold
//! exchange, counted by valgrind's callgrind, against the figures committed
//! in `crates/tokenmux-bench/instructions.json`.
//!
//! ```text
//! cargo xtask instructions          # count and compare; never fails on the figures
//! cargo xtask instructions --check  # fail when one is more than 5 % above its committed figure (.ci/run)
//! cargo xtask instructions --save   # write the counts as the new committed figures
//! ```
//!
//! Timings swing from run to run on a shared machine; instruction counts
//! do not (the same binary and inputs give the same count within a fraction
//! of a percent, whatever else the machine does), so they can guard CI.
//! valgrind itself emulates one CPU model per class of host, so its counts
//! do not follow the host's model either. No crate runs them: valgrind's
//! own `--toggle-collect` counts exactly the one function the workload
//! binary (`crates/tokenmux-bench/src/bin/instructions.rs`) runs its
//! iterations in, and a harness such as gungraun would add a runner binary
//! to install at its exact version, in CI too, for the same number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::task_error::TaskError;

/// The committed figures, from the workspace root.
pub const FIGURES: &str = "crates/tokenmux-bench/instructions.json";
/// A count more than this much above its committed figure fails `--check`.
pub const TOLERANCE: f64 = 0.05;

const CACHED_READS: u64 = 100_000;
const EXCHANGES: u64 = 200;

/// What `run` does with the counts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print them against the committed figures.
    Print,
    /// Print them; fail if one is above its figure by more than the
    /// tolerance.
    Check,
    /// Print them and write them as the committed figures.
    Save,
}

/// One workload's count per operation, beside its baseline's.
pub struct Count {
    /// `cached-read` or `exchange/PROVIDER`.
    pub name: String,
    /// tokenmux's instructions per operation.
    pub tokenmux: u64,
    /// The baseline's: `ArcSwap::load_full` or bare reqwest.
    pub baseline: u64,
    /// What the baseline is.
    pub baseline_name: &'static str,
    /// The committed figure, if there is one.
    pub committed: Option<u64>,
}

impl Count {
    /// `Some(true)` when within the tolerance of the committed figure.
    pub fn within_tolerance(&self) -> Option<bool> {
        self.committed
            .map(|committed| self.tokenmux as f64 <= committed as f64 * (1.0 + TOLERANCE))
    }

    fn line(&self) -> String {
        let against = match self.committed {
            Some(committed) => format!(
                "committed {committed} ({:+.1} %)",
                (self.tokenmux as f64 / committed as f64 - 1.0) * 100.0
            ),
            None => "no committed figure".to_owned(),
        };
        format!(
            "{:<24} {:>9} instructions/op  {against}; {} {} ({:.2}×)",
            self.name,
            self.tokenmux,
            self.baseline_name,
            self.baseline,
            self.tokenmux as f64 / self.baseline.max(1) as f64
        )
    }
}

pub fn run(root: &Path, mode: Mode) -> Result<ExitCode, TaskError> {
    let cargo = crate::test::cargo_program();
    let counts = measure(root, &cargo.to_string_lossy())?;
    for count in &counts {
        println!("{}", count.line());
    }
    match mode {
        Mode::Print => Ok(ExitCode::SUCCESS),
        Mode::Save => {
            save(root, &counts)?;
            println!("instructions: wrote {FIGURES}");
            Ok(ExitCode::SUCCESS)
        }
        Mode::Check => {
            let over: Vec<String> = counts
                .iter()
                .filter(|c| c.within_tolerance() == Some(false))
                .map(|c| c.name.clone())
                .collect();
            if over.is_empty() {
                println!(
                    "instructions: every count is within {:.0} % of {FIGURES}",
                    TOLERANCE * 100.0
                );
                return Ok(ExitCode::SUCCESS);
            }
            Err(TaskError::Check(format!(
                "instructions: {} more than {:.0} % above the figures committed in {FIGURES}. \
                 To see where they go: callgrind_annotate {}/NAME.out (the files of this run). \
                 If the cost is intended, run `cargo xtask instructions --save` and commit the file.",
                over.join(", "),
                TOLERANCE * 100.0,
                out_dir(root).display(),
            )))
        }
    }
}

/// Builds the workload binary (release), then counts every workload under
/// callgrind.
pub fn measure(root: &Path, cargo: &str) -> Result<Vec<Count>, TaskError> {
    crate::test::ensure_program("valgrind", "valgrind")?;
    eprintln!("xtask: building tokenmux-instructions (release)");
    TaskError::run(
        Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "tokenmux-bench",
                "--bin",
                "tokenmux-instructions",
            ])
            .current_dir(root),
        "cargo build of tokenmux-instructions",
    )?;
    let binary = crate::bench::target_dir(root).join("release/tokenmux-instructions");
    let out = out_dir(root);
    std::fs::create_dir_all(&out).map_err(|e| TaskError::io(&out, e))?;
    let committed = committed(root)?;
    let count = |name: &str, args: &[&str], iterations: u64| {
        per_operation(&binary, &out.join(format!("{name}.out")), args, iterations)
    };
    let mut counts = vec![Count {
        name: "cached-read".into(),
        tokenmux: count("cached-read", &["cached-read"], CACHED_READS)?,
        baseline: count("floor", &["floor"], CACHED_READS)?,
        baseline_name: "ArcSwap::load_full",
        committed: committed.get("cached-read").copied(),
    }];
    for provider in providers(&binary)? {
        let name = format!("exchange/{provider}");
        let file = format!("exchange-{provider}");
        let by_hand = format!("by-hand-{provider}");
        counts.push(Count {
            tokenmux: count(&file, &["exchange", "--provider", &provider], EXCHANGES)?,
            baseline: count(&by_hand, &["by-hand", "--provider", &provider], EXCHANGES)?,
            baseline_name: "bare reqwest",
            committed: committed.get(&name).copied(),
            name,
        });
    }
    Ok(counts)
}

fn out_dir(root: &Path) -> PathBuf {
    crate::bench::target_dir(root).join("instructions")
}

/// The providers the workload binary can run both sides for.
fn providers(binary: &Path) -> Result<Vec<String>, TaskError> {
    let output = Command::new(binary)
        .arg("--list-providers")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TaskError::spawn("tokenmux-instructions --list-providers", e))?;
    TaskError::check_status("tokenmux-instructions --list-providers", output.status)?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Runs one workload under callgrind; its instructions per iteration.
fn per_operation(
    binary: &Path,
    out_file: &Path,
    args: &[&str],
    iterations: u64,
) -> Result<u64, TaskError> {
    let what = format!(
        "valgrind --tool=callgrind tokenmux-instructions {}",
        args.join(" ")
    );
    eprintln!("xtask: {what} --iterations {iterations}");
    let mut command = Command::new("valgrind");
    command
        .args([
            "--tool=callgrind",
            "--quiet",
            "--collect-atstart=no",
            "--toggle-collect=*counted_region*",
        ])
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary)
        .args(args)
        .args(["--iterations", &iterations.to_string()]);
    TaskError::run(&mut command, &what)?;
    let text = std::fs::read_to_string(out_file).map_err(|e| TaskError::io(out_file, e))?;
    let total = total(&text).ok_or_else(|| {
        TaskError::Check(format!(
            "{}: no `totals:` line; is it a callgrind output?",
            out_file.display()
        ))
    })?;
    if total == 0 {
        return Err(TaskError::Check(format!(
            "{what}: callgrind counted nothing: the toggle found no `counted_region`"
        )));
    }
    Ok(total.div_ceil(iterations))
}

/// The instructions a callgrind output file counts.
fn total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|ir| ir.parse().ok())
}

/// The committed figures file, as written by `--save`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Figures {
    about: String,
    instructions_per_operation: BTreeMap<String, u64>,
}

fn committed(root: &Path) -> Result<BTreeMap<String, u64>, TaskError> {
    let path = root.join(FIGURES);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(TaskError::io(&path, e)),
    };
    let figures: Figures = serde_json::from_str(&text)
        .map_err(|e| TaskError::Check(format!("{}: {e}", path.display())))?;
    Ok(figures.instructions_per_operation)
}

fn save(root: &Path, counts: &[Count]) -> Result<(), TaskError> {
    let figures = Figures {
        about: format!(
            "Instructions per operation under valgrind's callgrind, written by \
             `cargo xtask instructions --save`; `cargo xtask instructions --check` (in .ci/run) \
             fails when a count is more than {:.0} % above its figure here.",
            TOLERANCE * 100.0
        ),
        instructions_per_operation: counts
            .iter()
            .map(|c| (c.name.clone(), c.tokenmux))
            .collect(),
    };
    let path = root.join(FIGURES);
    let text = serde_json::to_string_pretty(&figures)
        .map_err(|e| TaskError::Check(format!("cannot write {}: {e}", path.display())))?;
    std::fs::write(&path, text + "\n").map_err(|e| TaskError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_read_from_a_callgrind_file() {
        let file = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n\
                    events: Ir\nfn=(1) main\n3 4\nsummary: 38031649\n\n\ntotals: 38031649\n";
        assert_eq!(total(file), Some(38_031_649));
        assert_eq!(total("events: Ir\n"), None);
    }

    #[test]
    fn more_than_five_percent_above_the_figure_is_out_of_tolerance() {
        let count = |tokenmux, committed| Count {
            name: "cached-read".into(),
            tokenmux,
            baseline: 67,
            baseline_name: "floor",
            committed,
        };
        assert_eq!(count(105, Some(100)).within_tolerance(), Some(true));
        assert_eq!(count(106, Some(100)).within_tolerance(), Some(false));
        assert_eq!(count(50, Some(100)).within_tolerance(), Some(true));
        assert_eq!(count(106, None).within_tolerance(), None);
    }
}
