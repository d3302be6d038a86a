//! A spec file on disk: where it is, what crate it becomes, and its parsed form.

use std::path::{Path, PathBuf};

use openapiv3::OpenAPI;

use crate::GenError;

/// One `specs/<name>.yaml` and the crate generated from it.
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// The provider name: the file stem, e.g. `airalo`.
    pub name: String,
    /// Path of the spec file.
    pub path: PathBuf,
    /// The path shown in messages and headers, e.g. `specs/airalo.yaml`.
    pub display_path: String,
}

impl SpecFile {
    /// The spec `name` under `specs_dir`.
    pub fn new(specs_dir: &Path, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            path: specs_dir.join(format!("{name}.yaml")),
            display_path: format!("specs/{name}.yaml"),
        }
    }

    /// The generated crate's package name.
    pub fn crate_name(&self) -> String {
        format!("tokenmux-{}", self.name)
    }

    /// Reads and parses the spec (YAML through serde_yaml into openapiv3).
    pub fn load(&self) -> Result<OpenAPI, GenError> {
        let text = std::fs::read_to_string(&self.path).map_err(|source| GenError::Read {
            spec: self.display_path.clone(),
            source,
        })?;
        parse(&self.display_path, &text)
    }
}

/// Parses spec text; `spec` names it in errors.
pub fn parse(spec: &str, text: &str) -> Result<OpenAPI, GenError> {
    let api: OpenAPI = serde_yaml::from_str(text).map_err(|e| GenError::Parse {
        spec: spec.to_owned(),
        message: e.to_string(),
    })?;
    if !api.openapi.starts_with("3.0.") {
        return Err(GenError::Parse {
            spec: spec.to_owned(),
            message: format!(
                "OpenAPI version {} is not supported; progenitor reads 3.0.x",
                api.openapi
            ),
        });
    }
    Ok(api)
}

/// Every `specs/*.yaml`, sorted by name, or only those named in `only`.
pub fn discover(specs_dir: &Path, only: &[String]) -> Result<Vec<SpecFile>, GenError> {
    let entries = std::fs::read_dir(specs_dir).map_err(|source| GenError::Read {
        spec: specs_dir.display().to_string(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter_map(|path| path.file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    if let Some(unknown) = only.iter().find(|name| !names.contains(name)) {
        return Err(GenError::UnknownProvider {
            name: unknown.clone(),
            known: names.join(", "),
        });
    }
    Ok(names
        .iter()
        .filter(|name| only.is_empty() || only.contains(name))
        .map(|name| SpecFile::new(specs_dir, name))
        .collect())
}
