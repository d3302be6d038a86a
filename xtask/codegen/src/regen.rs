//! `cargo xtask regen [--check] [PROVIDER…]`.

use std::path::{Path, PathBuf};

use crate::GenError;
use crate::format::{Input, rustfmt_all};
use crate::generate::draft;
use crate::registry;
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
    /// A generated crate whose spec is gone was removed.
    Removed,
}

/// The workspace root: two levels above this crate (`xtask/codegen`).
/// Read at run time (`cargo run` and `cargo test` set
/// `CARGO_MANIFEST_DIR`), so a binary built for one checkout never
/// regenerates another.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of the generated file of `spec` under `root`.
pub fn generated_path(root: &Path, spec: &SpecFile) -> PathBuf {
    root.join("crates")
        .join(spec.crate_name())
        .join("src/generated.rs")
}

/// `cargo xtask regen`: [`regen`], then one line per crate saying what
/// happened to it.
pub fn run(root: &Path, only: &[String], check: bool) -> Result<(), GenError> {
    for (name, outcome) in regen(root, only, check)? {
        let what = match outcome {
            Outcome::Fresh => "up to date",
            Outcome::Written { scaffolded: true } => "new crate scaffolded and generated",
            Outcome::Written { scaffolded: false } => "regenerated",
            Outcome::Removed => "removed (its spec is gone)",
        };
        println!("{name}: {what}");
    }
    Ok(())
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
    let mut drafts = Vec::new();
    for spec in &specs {
        let api = spec.load()?;
        drafts.push((draft(spec, api.clone())?, api));
    }
    // One rustfmt process for every spec: see `format`.
    let inputs = specs
        .iter()
        .zip(&mut drafts)
        .map(|(spec, (draft, _))| Input {
            label: &spec.display_path,
            source: draft.take_unformatted(),
        })
        .collect();
    let formatted = rustfmt_all(root, inputs)?;
    let mut outcomes = Vec::new();
    let mut stale = Vec::new();
    for ((spec, (draft, api)), body) in specs.iter().zip(drafts).zip(formatted) {
        let name = spec.crate_name();
        let generated = draft.finish(body);
        let crate_dir = root.join("crates").join(spec.crate_name());
        // The generated code, and the manifest that names what it needs.
        let files = [
            (generated_path(root, spec), generated.code),
            (
                crate_dir.join("Cargo.toml"),
                scaffold::manifest(spec, &api, generated.crates),
            ),
        ];
        let out_of_date: Vec<_> = files
            .iter()
            .filter_map(|(path, expected)| {
                let current = std::fs::read_to_string(path).ok();
                (current.as_deref() != Some(expected.as_str())).then_some((path, expected, current))
            })
            .collect();
        if out_of_date.is_empty() {
            outcomes.push((name, Outcome::Fresh));
            continue;
        }
        if check {
            for (path, expected, current) in out_of_date {
                let shown = path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .display()
                    .to_string();
                stale.push(diff_report(
                    &shown,
                    &spec.display_path,
                    current.as_deref(),
                    expected,
                ));
            }
            continue;
        }
        let write_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| GenError::Write { path, source }
        };
        let scaffolded =
            scaffold::ensure(&crate_dir, spec, &api).map_err(write_error(&crate_dir))?;
        for (path, expected, _) in out_of_date {
            std::fs::write(path, expected).map_err(write_error(path))?;
        }
        outcomes.push((name, Outcome::Written { scaffolded }));
    }
    // The facade's registry and manifests follow every spec, always.
    let all: Vec<_> = spec::discover(&root.join("specs"), &[])?
        .into_iter()
        .map(|spec| spec.load().map(|api| (spec, api)))
        .collect::<Result<_, _>>()?;
    for target in registry::targets(root, &all)? {
        let current = std::fs::read_to_string(&target.path).ok();
        let shown = target
            .path
            .strip_prefix(root)
            .unwrap_or(&target.path)
            .display()
            .to_string();
        if current.as_deref() == Some(target.expected.as_str()) {
            continue;
        }
        if check {
            stale.push(diff_report(
                &shown,
                "specs/",
                current.as_deref(),
                &target.expected,
            ));
            continue;
        }
        std::fs::write(&target.path, &target.expected).map_err(|source| GenError::Write {
            path: target.path.display().to_string(),
            source,
        })?;
        outcomes.push((shown, Outcome::Written { scaffolded: false }));
    }
    for orphan in orphans(root, &all) {
        let shown = format!(
            "crates/{}",
            orphan.file_name().unwrap_or_default().to_string_lossy()
        );
        if check {
            stale.push(format!("{shown} was generated from a spec that is gone\n"));
            continue;
        }
        std::fs::remove_dir_all(&orphan).map_err(|source| GenError::Write {
            path: orphan.display().to_string(),
            source,
        })?;
        outcomes.push((shown, Outcome::Removed));
    }
    if stale.is_empty() {
        Ok(outcomes)
    } else {
        Err(GenError::Stale {
            report: stale.join("\n"),
        })
    }
}

/// Provider crates generated from a spec that no longer exists.
fn orphans(root: &Path, specs: &[(SpecFile, openapiv3::OpenAPI)]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join("crates")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|dir| {
            let Ok(text) = std::fs::read_to_string(dir.join("src/generated.rs")) else {
                return false;
            };
            let Some(rest) = text.strip_prefix("// @generated by `cargo xtask regen` from specs/")
            else {
                return false;
            };
            // Only a provider crate's header: `from specs/<stem>.yaml. Do not edit`.
            let Some((stem, _)) = rest.split_once(".yaml. Do not edit") else {
                return false;
            };
            let is_stem = !stem.is_empty()
                && stem
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            is_stem
                && dir.file_name().and_then(|n| n.to_str()) == Some(&format!("tokenmux-{stem}"))
                && !specs.iter().any(|(spec, _)| spec.name == stem)
        })
        .collect();
    found.sort();
    found
}

fn diff_report(target: &str, from: &str, current: Option<&str>, expected: &str) -> String {
    match current {
        None => format!("{target} is missing (from {from})\n"),
        Some(current) => {
            let diff = similar::TextDiff::from_lines(current, expected);
            format!(
                "{target} is stale (from {from}):\n{}",
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
    fn only_crates_generated_from_a_missing_spec_are_orphans() {
        let root = tempfile::tempdir().unwrap();
        let write = |dir: &str, header: &str| {
            let src = root.path().join("crates").join(dir).join("src");
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(src.join("generated.rs"), header).unwrap();
        };
        write(
            "tokenmux",
            "// @generated by `cargo xtask regen` from specs/. Do not edit: add, change",
        );
        write(
            "tokenmux-gone",
            "// @generated by `cargo xtask regen` from specs/gone.yaml. Do not edit: change",
        );
        write(
            "tokenmux-kept",
            "// @generated by `cargo xtask regen` from specs/kept.yaml. Do not edit: change",
        );
        write(
            "elsewhere",
            "// @generated by `cargo xtask regen` from specs/other.yaml. Do not edit: change",
        );
        let kept = SpecFile::new(&root.path().join("specs"), "kept");
        let api = spec::parse(
            "t",
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n",
        )
        .unwrap();
        assert_eq!(
            orphans(root.path(), &[(kept, api)]),
            [root.path().join("crates/tokenmux-gone")]
        );
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
            vec![(
                "tokenmux-acme".to_owned(),
                Outcome::Written { scaffolded: true }
            )]
        );
        let krate = root.path().join("crates/tokenmux-acme");
        for file in ["Cargo.toml", "src/lib.rs", "src/generated.rs"] {
            assert!(krate.join(file).is_file(), "{file} scaffolded");
        }
        assert_eq!(
            regen(root.path(), &[], true).unwrap(),
            vec![("tokenmux-acme".to_owned(), Outcome::Fresh)]
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

    /// A `format: date-time` field makes the manifest depend on chrono
    /// (the generated code names `::chrono`), and `--check` notices a
    /// manifest that lost it.
    #[test]
    fn a_date_time_field_gets_chrono_into_the_manifest() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("specs")).unwrap();
        let spec =
            std::fs::read_to_string(workspace_root().join("xtask/fixtures/scoped.yaml")).unwrap();
        assert!(spec.contains("format: date-time"));
        std::fs::write(root.path().join("specs/scoped.yaml"), &spec).unwrap();
        regen(root.path(), &[], false).unwrap();
        let krate = root.path().join("crates/tokenmux-scoped");
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
        let generated = std::fs::read_to_string(krate.join("src/generated.rs")).unwrap();
        assert!(generated.contains("::chrono::DateTime"));
        assert!(
            manifest.contains("\nchrono = { version = \"0.4\""),
            "{manifest}"
        );
        assert!(!manifest.contains("uuid"), "{manifest}");

        std::fs::write(
            krate.join("Cargo.toml"),
            manifest.replace("chrono = ", "# chrono = "),
        )
        .unwrap();
        let error = regen(root.path(), &[], true).unwrap_err().to_string();
        assert!(
            error.contains("crates/tokenmux-scoped/Cargo.toml is stale"),
            "{error}"
        );
        regen(root.path(), &[], false).unwrap();
        assert_eq!(
            std::fs::read_to_string(krate.join("Cargo.toml")).unwrap(),
            manifest
        );
        // The hand-owned lib.rs is written once and then left alone.
        std::fs::write(krate.join("src/lib.rs"), "// mine\n").unwrap();
        regen(root.path(), &[], false).unwrap();
        assert_eq!(
            std::fs::read_to_string(krate.join("src/lib.rs")).unwrap(),
            "// mine\n"
        );
    }
}
