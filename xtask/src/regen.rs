//! `cargo xtask regen [--check] [PROVIDER…]`.

use std::path::{Path, PathBuf};

use crate::GenError;
use crate::generate::generate;
use crate::scaffold;
use crate::spec::{self, SpecFile};

/// What one regen run did for one spec.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The generated file was already up to date.
    Fresh,
    /// The generated file was (re)written.
    Written {
        /// Whether a new crate was scaffolded for it.
        scaffolded: bool,
    },
}

/// The workspace root: the parent of the xtask crate. Read at run time
/// (`cargo run` and `cargo test` set `CARGO_MANIFEST_DIR`), so a binary
/// built for one checkout never regenerates another.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of the generated file of `spec` under `root`.
pub fn generated_path(root: &Path, spec: &SpecFile) -> PathBuf {
    root.join("crates")
        .join(spec.crate_name())
        .join("src/generated.rs")
}

/// Regenerates the crates of the specs named in `only` (all when empty).
/// With `check`, writes nothing and fails on the first stale file, with a
/// diff of every stale one.
pub fn regen(
    root: &Path,
    only: &[String],
    check: bool,
) -> Result<Vec<(String, Outcome)>, GenError> {
    let specs = spec::discover(&root.join("specs"), only)?;
    let mut outcomes = Vec::new();
    let mut stale = Vec::new();
    for spec in &specs {
        let api = spec.load()?;
        let expected = generate(spec, api.clone())?;
        let path = generated_path(root, spec);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(expected.as_str()) {
            outcomes.push((spec.name.clone(), Outcome::Fresh));
            continue;
        }
        if check {
            stale.push(stale_report(spec, current.as_deref(), &expected));
            continue;
        }
        let crate_dir = root.join("crates").join(spec.crate_name());
        let write_error = |source| GenError::Write {
            path: path.display().to_string(),
            source,
        };
        let scaffolded = scaffold::ensure(&crate_dir, spec, &api).map_err(write_error)?;
        std::fs::write(&path, &expected).map_err(write_error)?;
        outcomes.push((spec.name.clone(), Outcome::Written { scaffolded }));
    }
    if stale.is_empty() {
        Ok(outcomes)
    } else {
        Err(GenError::Stale {
            report: stale.join("\n"),
        })
    }
}

fn stale_report(spec: &SpecFile, current: Option<&str>, expected: &str) -> String {
    let target = format!("crates/{}/src/generated.rs", spec.crate_name());
    match current {
        None => format!("{target} is missing (from {})\n", spec.display_path),
        Some(current) => {
            let diff = similar::TextDiff::from_lines(current, expected);
            format!(
                "{target} is stale (from {}):\n{}",
                spec.display_path,
                diff.unified_diff().context_radius(2).header(
                    &format!("{target} (checked in)"),
                    &format!("{target} (expected)")
                )
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in generated code matches the specs: fails like
    /// `cargo xtask regen --check`, with the diff and the command to run.
    #[test]
    fn generated_code_is_fresh() {
        if let Err(error) = regen(&workspace_root(), &[], true) {
            panic!("{error}");
        }
    }

    #[test]
    fn a_new_spec_is_scaffolded_and_check_catches_an_edit() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("specs")).unwrap();
        let spec = std::fs::read_to_string(workspace_root().join("specs/neonpanel.yaml")).unwrap();
        std::fs::write(root.path().join("specs/acme.yaml"), &spec).unwrap();

        let outcomes = regen(root.path(), &[], false).unwrap();
        assert_eq!(
            outcomes,
            vec![("acme".to_owned(), Outcome::Written { scaffolded: true })]
        );
        let krate = root.path().join("crates/tokenmux-acme");
        for file in ["Cargo.toml", "src/lib.rs", "src/generated.rs"] {
            assert!(krate.join(file).is_file(), "{file} scaffolded");
        }
        assert_eq!(
            regen(root.path(), &[], true).unwrap(),
            vec![("acme".to_owned(), Outcome::Fresh)]
        );

        let generated = std::fs::read_to_string(krate.join("src/generated.rs")).unwrap();
        std::fs::write(
            root.path().join("specs/acme.yaml"),
            spec.replace("operationId: login", "operationId: signIn"),
        )
        .unwrap();
        let error = regen(root.path(), &[], true).unwrap_err().to_string();
        assert!(
            error.contains("crates/tokenmux-acme/src/generated.rs is stale"),
            "{error}"
        );
        assert!(
            error.contains("+pub const OPERATIONS") || error.contains("sign_in"),
            "{error}"
        );
        assert!(
            error.ends_with("run `cargo xtask regen` and commit the result"),
            "{error}"
        );
        // --check wrote nothing.
        assert_eq!(
            std::fs::read_to_string(krate.join("src/generated.rs")).unwrap(),
            generated
        );

        assert!(matches!(
            regen(root.path(), &["nope".to_owned()], true),
            Err(GenError::UnknownProvider { .. })
        ));
    }
}
