//! What the workspace knows of the providers, generated from every spec:
//! the registry crate `crates/tokenmux-registry` (the list of endpoints
//! compiled in, one feature each, which the mock uses without the facade),
//! the facade's `src/generated.rs` (the `Provider` constructors), and the
//! provider entries of the root, registry and facade `Cargo.toml`s, between
//! `# BEGIN …` / `# END …` markers.

use std::path::{Path, PathBuf};

use heck::ToSnakeCase as _;
use openapiv3::OpenAPI;

use crate::GenError;
use crate::format::Input;
use crate::spec::SpecFile;

/// The version a published crate names its provider crates at: the
/// workspace's, which xtask shares (`version.workspace = true`).
const WORKSPACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One generated file (or a marked block of one) and its expected text.
pub struct Target {
    /// The file.
    pub path: PathBuf,
    /// Its expected full text.
    pub expected: String,
}

/// The facade's files as they should be for `specs`; empty when `root`
/// has no facade (a scratch root in the generator's own tests).
pub fn targets(root: &Path, specs: &[(SpecFile, OpenAPI)]) -> Result<Vec<Target>, GenError> {
    let facade = root.join("crates/tokenmux");
    if !facade.join("Cargo.toml").is_file() {
        return Ok(Vec::new());
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| GenError::Read {
            spec: path.display().to_string(),
            source,
        })
    };
    let names: Vec<&str> = specs.iter().map(|(spec, _)| spec.name.as_str()).collect();

    let root_manifest = root.join("Cargo.toml");
    let workspace_deps = names
        .iter()
        .map(|name| {
            format!("tokenmux-{name} = {{ path = \"crates/tokenmux-{name}\", version = \"{WORKSPACE_VERSION}\" }}\n")
        })
        .collect::<String>();
    let root_text = replace_block(&read(&root_manifest)?, "provider crates", &workspace_deps)
        .map_err(|missing| internal(&root_manifest, missing.to_string()))?;

    let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
    let dependencies = names
        .iter()
        .map(|name| format!("tokenmux-{name} = {{ workspace = true, optional = true }}\n"))
        .collect::<String>();
    let features = |also: &dyn Fn(&str) -> String| {
        let mut text = format!("providers = [{}]\n", quoted.join(", "));
        for name in &names {
            text.push_str(&format!(
                "{name} = [\"dep:tokenmux-{name}\"{}]\n",
                also(name)
            ));
        }
        text
    };
    let manifest = |path: PathBuf, features: String| -> Result<Target, GenError> {
        let text = replace_block(&read(&path)?, "provider features", &features)
            .and_then(|text| replace_block(&text, "provider dependencies", &dependencies))
            .map_err(|missing| internal(&path, missing.to_string()))?;
        Ok(Target {
            path,
            expected: text,
        })
    };
    let registry_crate = root.join("crates/tokenmux-registry");
    let registry_manifest = manifest(
        registry_crate.join("Cargo.toml"),
        features(&|_| String::new()),
    )?;
    let facade_manifest = manifest(
        facade.join("Cargo.toml"),
        features(&|name| format!(", \"tokenmux-registry/{name}\"")),
    )?;

    let registry_lib = registry_crate.join("src/lib.rs");
    let constructors = facade.join("src/generated.rs");
    let [registry, expected]: [String; 2] = crate::format::rustfmt_all(
        root,
        vec![
            Input {
                label: "crates/tokenmux-registry/src/lib.rs",
                source: registry_source(specs),
            },
            Input {
                label: "crates/tokenmux/src/generated.rs",
                source: constructors_source(specs),
            },
        ],
    )?
    .try_into()
    .map_err(|_| {
        internal(
            &constructors,
            "rustfmt returned another number of files".into(),
        )
    })?;
    Ok(vec![
        Target {
            path: root_manifest,
            expected: root_text,
        },
        registry_manifest,
        Target {
            path: registry_lib,
            expected: registry,
        },
        facade_manifest,
        Target {
            path: constructors,
            expected,
        },
    ])
}

fn internal(path: &Path, message: String) -> GenError {
    GenError::Internal {
        spec: path.display().to_string(),
        message,
    }
}

/// A generated block's markers are not where regen writes (someone
/// removed or moved one).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("no `# BEGIN {name}` line followed by a `# END {name}` line")]
struct MissingMarkers {
    name: String,
}

/// Replaces the lines between `# BEGIN {name}` and `# END {name}`.
fn replace_block(text: &str, name: &str, body: &str) -> Result<String, MissingMarkers> {
    let missing = || MissingMarkers {
        name: name.to_owned(),
    };
    let begin = format!("# BEGIN {name}");
    let end = format!("# END {name}");
    let start = text.find(&begin).ok_or_else(missing)?;
    let after_begin = start + text[start..].find('\n').ok_or_else(missing)? + 1;
    let stop = text[after_begin..]
        .find(&end)
        .map(|at| after_begin + at)
        .ok_or_else(missing)?;
    Ok(format!("{}{body}{}", &text[..after_begin], &text[stop..]))
}

/// `crates/tokenmux-registry/src/lib.rs`: every endpoint compiled in.
fn registry_source(specs: &[(SpecFile, OpenAPI)]) -> String {
    let mut pushes = String::new();
    for (spec, _) in specs {
        let krate = spec.crate_name().replace('-', "_");
        pushes.push_str(&format!(
            "    #[cfg(feature = \"{name}\")]\n    all.push(&{krate}::ENDPOINT);\n",
            name = spec.name
        ));
    }
    format!(
        "// @generated by `cargo xtask regen` from specs/. Do not edit: add, change or\n\
         // remove a spec and run `cargo xtask regen`; `--check` fails when stale.\n\n\
         //! The token endpoints of `specs/`, one cargo feature each: what the\n\
         //! facade's `Provider::all` and the mock serve.\n\n\
         /// Every endpoint compiled in, in the order of their spec names.\n\
         // One `push` per cargo feature: a `vec![]` cannot leave some out.\n\
         #[allow(clippy::vec_init_then_push)]\n\
         pub fn builtin() -> Vec<&'static dyn tokenmux_wire::TokenEndpoint> {{\n    \
         #[allow(unused_mut)]\n    \
         let mut all: Vec<&'static dyn tokenmux_wire::TokenEndpoint> = Vec::new();\n\
         {pushes}    all\n}}\n"
    )
}

/// `crates/tokenmux/src/generated.rs`: a `Provider` constructor per server.
fn constructors_source(specs: &[(SpecFile, OpenAPI)]) -> String {
    let mut constructors = String::new();
    for (spec, api) in specs {
        let name = &spec.name;
        let krate = spec.crate_name().replace('-', "_");
        let feature = format!("#[cfg(feature = \"{name}\")]");
        let method = name.to_snake_case();
        let title = api.info.title.replace('`', "'");
        for (index, server) in api.servers.iter().enumerate() {
            let server_name = crate::describe::server_name(server);
            let templated = server.url.contains('{');
            let function = match (index, server_name) {
                (0, _) => method.clone(),
                (_, Some(server_name)) => format!("{method}_{}", server_name.to_snake_case()),
                (_, None) => continue,
            };
            let at = server_name.map_or(String::new(), |n| format!(", {n}"));
            if templated {
                constructors.push_str(&format!(
                    "    /// {title} (`{path}`) at `base_url` (`{url}` in the spec{at}).\n    \
                     {feature}\n    pub fn {function}(base_url: impl Into<String>) -> Self {{\n        \
                     Self::from_endpoint(&{krate}::ENDPOINT, base_url)\n    }}\n\n",
                    path = spec.display_path,
                    url = server.url,
                ));
            } else {
                constructors.push_str(&format!(
                    "    /// {title} (`{path}`) at `{url}`{at}.\n    {feature}\n    \
                     pub fn {function}() -> Self {{\n        \
                     Self::from_endpoint(&{krate}::ENDPOINT, {krate}::SERVERS[{index}].url)\n    }}\n\n",
                    path = spec.display_path,
                    url = server.url,
                    at = server_name.map_or(String::new(), |n| format!(" ({n})")),
                ));
            }
        }
    }
    format!(
        "// @generated by `cargo xtask regen` from specs/. Do not edit: add, change or\n\
         // remove a spec and run `cargo xtask regen`; `--check` fails when stale.\n\n\
         //! The `Provider` constructors of `specs/`, one cargo feature each.\n\n\
         use crate::Provider;\n\n\
         impl Provider {{\n{constructors}}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_marked_block_is_replaced() {
        let text = "a\n# BEGIN x\nold\n# END x\nb\n";
        assert_eq!(
            replace_block(text, "x", "new\n").unwrap(),
            "a\n# BEGIN x\nnew\n# END x\nb\n"
        );
        assert_eq!(
            replace_block("a\n", "x", "").unwrap_err().to_string(),
            "no `# BEGIN x` line followed by a `# END x` line"
        );
    }

    #[test]
    fn the_registry_names_every_spec_and_its_servers() {
        let root = crate::regen::workspace_root();
        let specs: Vec<_> = crate::spec::discover(&root.join("specs"), &[])
            .unwrap()
            .into_iter()
            .map(|spec| {
                let api = spec.load().unwrap();
                (spec, api)
            })
            .collect();
        let source = registry_source(&specs) + &constructors_source(&specs);
        for expected in [
            "all.push(&tokenmux_airalo::ENDPOINT);",
            "pub fn airalo_sandbox() -> Self",
            "pub fn jsonapi(base_url: impl Into<String>) -> Self",
            "#[cfg(feature = \"password\")]",
        ] {
            assert!(source.contains(expected), "{expected}");
        }
    }
}
