//! Formatting the generated code with the toolchain's stable rustfmt, so
//! `cargo fmt --check` agrees with the checked-in files.
//!
//! One rustfmt process formats every file of a run: starting rustfmt
//! (loading the compiler's libraries) took about 27 ms of the 33 ms it
//! spent on one generated file, so one process per spec made rustfmt
//! more than half of `regen` over 100 specs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::GenError;

/// One file to format: what it is (a spec or an output path, for errors)
/// and its unformatted text.
#[derive(Debug)]
pub struct Input<'a> {
    /// Names the file in an error.
    pub label: &'a str,
    /// The text to format.
    pub source: String,
}

/// Formats one text; see [`rustfmt_all`].
pub fn rustfmt(config_from: &Path, label: &str, source: String) -> Result<String, GenError> {
    let mut formatted = rustfmt_all(config_from, vec![Input { label, source }])?;
    formatted.pop().ok_or_else(|| GenError::Internal {
        spec: label.to_owned(),
        message: "rustfmt returned no file".into(),
    })
}

/// Formats every input with one rustfmt process (`$RUSTFMT`, else
/// `rustfmt`), edition 2024, and returns the texts in the inputs' order.
///
/// The texts go through files in a scratch directory, because rustfmt
/// formats one text from stdin but many files at once. A `rustfmt.toml`
/// (or `.rustfmt.toml`) in `config_from` or above applies, as it does to
/// `cargo fmt` in the workspace; without one, rustfmt's own defaults.
pub fn rustfmt_all(config_from: &Path, inputs: Vec<Input<'_>>) -> Result<Vec<String>, GenError> {
    let labels: Vec<&str> = inputs.iter().map(|input| input.label).collect();
    let all = match labels.as_slice() {
        [] => return Ok(Vec::new()),
        [one] => (*one).to_owned(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    };
    let fail = |message: String| GenError::Format {
        spec: all.clone(),
        message,
    };
    let scratch =
        tempfile::tempdir().map_err(|e| fail(format!("cannot make a scratch directory: {e}")))?;
    // Named by position: a label is a path or a spec, not a file name.
    let paths: Vec<PathBuf> = (0..inputs.len())
        .map(|i| scratch.path().join(format!("{i}.rs")))
        .collect();
    for (path, input) in paths.iter().zip(&inputs) {
        std::fs::write(path, &input.source)
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    }
    let rustfmt = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".to_owned());
    let mut command = Command::new(&rustfmt);
    command.args(["--edition", "2024", "--quiet"]);
    if let Some(config) = config_file(config_from) {
        command.arg("--config-path").arg(config);
    }
    let output = command
        .args(&paths)
        .output()
        .map_err(|e| fail(format!("cannot run `{rustfmt}`: {e}")))?;
    if !output.status.success() {
        let message = name_inputs(&String::from_utf8_lossy(&output.stderr), &paths, &labels);
        // Only the inputs rustfmt complained about, when it named them.
        let named: Vec<&str> = labels
            .iter()
            .copied()
            .filter(|label| message.contains(label))
            .collect();
        return Err(GenError::Format {
            spec: if named.is_empty() {
                all
            } else {
                named.join(", ")
            },
            message,
        });
    }
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|e| fail(format!("cannot read back {}: {e}", path.display())))
        })
        .collect()
}

/// The configuration rustfmt would find for a file in `dir`: the first
/// `rustfmt.toml` or `.rustfmt.toml` in it or a directory above.
fn config_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .flat_map(|dir| ["rustfmt.toml", ".rustfmt.toml"].map(|name| dir.join(name)))
        .find(|path| path.is_file())
}

/// rustfmt's message with each scratch file's path replaced by its label
/// (a whole path, directory included, is never part of another one).
fn name_inputs(message: &str, paths: &[PathBuf], labels: &[&str]) -> String {
    paths
        .iter()
        .zip(labels)
        .fold(message.to_owned(), |message, (path, label)| {
            message.replace(&path.display().to_string(), label)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_is_formatted_in_its_order() {
        let scratch = tempfile::tempdir().unwrap();
        let formatted = rustfmt_all(
            scratch.path(),
            vec![
                Input {
                    label: "a",
                    source: "fn a(){let x=1;}".into(),
                },
                Input {
                    label: "b",
                    source: "struct B{x:u8}".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            formatted,
            [
                "fn a() {\n    let x = 1;\n}\n",
                "struct B {\n    x: u8,\n}\n"
            ]
        );
    }

    #[test]
    fn a_failure_names_the_input_not_the_scratch_file() {
        let inputs = (0..12)
            .map(|i| Input {
                label: if i == 10 {
                    "specs/broken.yaml"
                } else {
                    "specs/fine.yaml"
                },
                source: if i == 10 {
                    "fn (".into()
                } else {
                    "fn f() {}".into()
                },
            })
            .collect();
        let scratch = tempfile::tempdir().unwrap();
        let error = rustfmt_all(scratch.path(), inputs).unwrap_err().to_string();
        assert!(error.starts_with("specs/broken.yaml: "), "{error}");
        assert!(!error.contains(".rs"), "{error}");
    }

    #[test]
    fn a_configuration_above_the_workspace_applies() {
        let workspace = tempfile::tempdir().unwrap();
        let nested = workspace.path().join("specs");
        std::fs::create_dir(&nested).unwrap();
        std::fs::write(workspace.path().join("rustfmt.toml"), "tab_spaces = 2\n").unwrap();
        let formatted = rustfmt(&nested, "t", "fn a(){let x=1;}".into()).unwrap();
        assert_eq!(formatted, "fn a() {\n  let x = 1;\n}\n");
    }
}
