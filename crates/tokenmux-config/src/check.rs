//! `tokenmux config check`: every problem of a file in one run. The file
//! is parsed untyped first; each key the schema does not know is a problem
//! of its own (with the key it most likely meant) and is set aside; then
//! each source, and `agent:`, is parsed on its own, so that one source's
//! mistake does not hide another's; then the sources that parsed are
//! checked as the agent checks them (providers, credentials, files).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Schema;
use serde_yaml::Value;

use crate::parse::{parse_toml, parse_yaml, shown_key, shown_path, too_deep};
use crate::problem::ConfigProblem;
use crate::{AgentSettings, MAX_CONFIG_BYTES, MAX_DEPTH, SourceConfig, SourcesFile};

/// Every problem of the file at `path`.
pub fn check_file(path: &Path) -> Vec<ConfigProblem> {
    let bytes = match tokenmux::read_bounded(path, MAX_CONFIG_BYTES) {
        Ok((bytes, _)) => bytes,
        Err(error) => return vec![ConfigProblem::new("", error.to_string())],
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return vec![ConfigProblem::new("", "the file is not UTF-8 text")];
    };
    check_text(&text, path.extension().is_some_and(|ext| ext == "toml"))
}

/// Every problem of `text` (TOML when `toml`, else YAML).
///
/// ```
/// let problems = tokenmux_config::check_text(
///     "sources:\n  a: {provider: neonpanel, base_url: https://x.example, retry: {max_atempts: 2}}\n  b: {provider: airalo, sandbx: true}\n",
///     false,
/// );
/// let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
/// assert!(shown.contains(&"sources.a.retry.max_atempts: unknown key; did you mean `max_attempts`?".to_owned()));
/// assert!(shown.contains(&"sources.b.sandbx: unknown key; did you mean `sandbox`?".to_owned()));
/// ```
pub fn check_text(text: &str, toml: bool) -> Vec<ConfigProblem> {
    if let Some(line) = too_deep(text) {
        let message = format!("nested deeper than {MAX_DEPTH} levels (line {line})");
        return vec![ConfigProblem::new("", message)];
    }
    let parsed = match toml {
        true => parse_toml::<toml::Value>(text)
            .and_then(|v| serde_yaml::to_value(v).map_err(|e| (String::new(), e.to_string()))),
        false => parse_yaml::<Value>(text),
    };
    let mut value = match parsed {
        Ok(value) => value,
        Err((path, message)) => return vec![ConfigProblem::new(path, message)],
    };
    let schema = crate::schema_value();
    let definitions = &schema["definitions"];
    let mut problems = Vec::new();
    let named = value
        .as_mapping()
        .is_some_and(|m| m.contains_key("sources"));
    if !named {
        unknown_keys(
            &mut value,
            &definitions["SourceConfig"],
            definitions,
            "",
            &mut problems,
        );
        if let Some(source) = typed::<SourceConfig>(value, "", &mut problems) {
            let checked = source.problems("(top)");
            add_new(&mut problems, checked);
        }
        return problems;
    }
    unknown_keys(
        &mut value,
        &definitions["SourcesFile"],
        definitions,
        "",
        &mut problems,
    );
    let Value::Mapping(mut top) = value else {
        return problems;
    };
    let agent = top
        .remove("agent")
        .and_then(|agent| typed::<AgentSettings>(agent, "agent", &mut problems))
        .unwrap_or_default();
    let mut sources = BTreeMap::new();
    match top.remove("sources") {
        Some(Value::Mapping(entries)) => {
            for (name, source) in entries {
                let Some(name) = name.as_str().map(str::to_owned) else {
                    problems.push(ConfigProblem::new("sources", "a source's name is text"));
                    continue;
                };
                // A source's name is shown as written, as the agent's
                // own check shows it (`sources.bad name: a source's name…`).
                let at = format!("sources.{name}");
                if let Some(source) = typed::<SourceConfig>(source, &at, &mut problems) {
                    sources.insert(name, source);
                }
            }
        }
        _ => problems.push(ConfigProblem::new(
            "sources",
            "a mapping of names to sources (`sources: {partner-a: {provider: …}}`)",
        )),
    }
    let checked = crate::problems(&SourcesFile { sources, agent });
    add_new(&mut problems, checked);
    // Grouped by where they are: a source's problems together.
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    problems
}

/// Adds the problems of the checks after parsing, but none about a key
/// already reported (a value set aside is missing now; it was mistyped).
fn add_new(problems: &mut Vec<ConfigProblem>, checked: Vec<ConfigProblem>) {
    let overlaps = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}.")) || b.starts_with(&format!("{a}."))
    };
    for problem in checked {
        if !problems.iter().any(|p| overlaps(&p.path, &problem.path)) {
            problems.push(problem);
        }
    }
}

/// The most problems one part of a file reports (each a parse).
const MAX_PROBLEMS_A_PART: usize = 32;

/// `value` as a `T`; else its problems (at `at`) in `problems`: each value
/// the parser refuses is reported and set aside, and the rest parsed
/// again, so that every such value is named.
fn typed<T: serde::de::DeserializeOwned>(
    mut value: Value,
    at: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    for _ in 0..MAX_PROBLEMS_A_PART {
        let error = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(typed) => return Some(typed),
            Err(error) => error,
        };
        let segments: Vec<String> = error
            .path()
            .iter()
            .map(|segment| segment.to_string())
            .collect();
        let inner = shown_path(error.path());
        let path = match (at, inner.as_str()) {
            ("", inner) => inner.to_owned(),
            (at, "" | ".") => at.to_owned(),
            (at, inner) => format!("{at}.{inner}"),
        };
        let message = plain_words(&tokenmux_wire::scrub::parser_message(
            &error.into_inner().to_string(),
        ));
        problems.push(ConfigProblem::new(path, message));
        if !remove_at(&mut value, &segments) {
            return None;
        }
    }
    None
}

/// Removes the value at `segments` (mapping keys); whether there was one.
fn remove_at(value: &mut Value, segments: &[String]) -> bool {
    match segments {
        [] => false,
        [last] => value
            .as_mapping_mut()
            .is_some_and(|m| m.remove(last.as_str()).is_some()),
        [first, rest @ ..] => value
            .as_mapping_mut()
            .and_then(|m| m.get_mut(first.as_str()))
            .is_some_and(|inner| remove_at(inner, rest)),
    }
}

/// A deserializer's words for types, in the words of a config file.
fn plain_words(message: &str) -> String {
    let mut message = message.to_owned();
    for (rust, plain) in [
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u16", "expected a whole number"),
        ("expected u8", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("a boolean", "true or false"),
    ] {
        message = message.replace(rust, plain);
    }
    message
}

/// Walks `value` beside its schema `node`: a key an object's schema does
/// not list is a problem (with the listed key it most likely meant), and is
/// removed so that the typed parse reports what else is wrong.
fn unknown_keys(
    value: &mut Value,
    node: &Schema,
    definitions: &Schema,
    at: &str,
    problems: &mut Vec<ConfigProblem>,
) {
    let node = resolve(node, definitions);
    let (Some(properties), Value::Mapping(mapping)) =
        (node.get("properties").and_then(Schema::as_object), value)
    else {
        return;
    };
    if node.get("additionalProperties") != Some(&Schema::Bool(false)) {
        return;
    }
    let keys: Vec<Value> = mapping.keys().cloned().collect();
    for key in keys {
        let name = key.as_str().unwrap_or_default().to_owned();
        let path = match at {
            "" => shown_key(&name).to_owned(),
            at => format!("{at}.{}", shown_key(&name)),
        };
        match properties.get(&name) {
            Some(child) => {
                if let Some(inner) = mapping.get_mut(&key) {
                    match inner {
                        // The sources' map: each entry is a source.
                        Value::Mapping(_) if path == "sources" => {
                            let source = &definitions["SourceConfig"];
                            if let Value::Mapping(entries) = inner {
                                for (name, entry) in entries.iter_mut() {
                                    let name = name.as_str().unwrap_or_default();
                                    let at = format!("sources.{name}");
                                    unknown_keys(entry, source, definitions, &at, problems);
                                }
                            }
                        }
                        _ => unknown_keys(inner, child, definitions, &path, problems),
                    }
                }
            }
            None => {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                let message = match crate::suggest::closest(&name, &known) {
                    Some(meant) => format!("unknown key; did you mean `{meant}`?"),
                    None => format!("unknown key; the keys here are: {}", known.join(", ")),
                };
                problems.push(ConfigProblem::new(path, message));
                mapping.remove(&key);
            }
        }
    }
}

/// The object schema `node` stands for: through a `$ref`, or the one
/// non-null choice of an optional field.
fn resolve<'a>(node: &'a Schema, definitions: &'a Schema) -> &'a Schema {
    if let Some(name) = node
        .get("$ref")
        .and_then(Schema::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
    {
        return resolve(&definitions[name], definitions);
    }
    for combinator in ["allOf", "anyOf"] {
        if let Some(choices) = node.get(combinator).and_then(Schema::as_array) {
            let real: Vec<&Schema> = choices
                .iter()
                .filter(|c| c.get("type") != Some(&Schema::String("null".into())))
                .collect();
            if let [only] = real[..] {
                return resolve(only, definitions);
            }
        }
    }
    node
}
