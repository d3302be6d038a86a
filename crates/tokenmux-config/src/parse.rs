//! The parsers, bounded and with messages that show keys, never values.

use crate::{MAX_DEPTH, valid_name};
use tokenmux_wire::scrub::parser_message;

/// The line at which `text` nests deeper than [`MAX_DEPTH`], if it does:
/// flow brackets (`[`, `{`), block sequence dashes and indentation, outside
/// quotes and comments. An estimate that errs on the deep side is fine: a
/// real config nests 5 levels.
pub(crate) fn too_deep(text: &str) -> Option<usize> {
    let mut flow = 0usize;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let mut dashes = 0;
        let mut rest = line.trim_start();
        while let Some(after) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            dashes += 1;
            rest = after.trim_start();
        }
        // Two spaces of indentation a level, as YAML is written.
        let block = dashes + indent / 2;
        let mut quote = None;
        let mut escaped = false;
        // What came before: a quote opens a scalar, and `#` a comment,
        // only where YAML says so (else they are part of a plain scalar,
        // and the brackets after them may still nest).
        let mut previous = ' ';
        for c in rest.chars() {
            match (quote, c) {
                (Some('"'), '\\') if !escaped => escaped = true,
                (Some(q), c) if c == q && !escaped => quote = None,
                (Some(_), _) => escaped = false,
                (None, '"' | '\'') if matches!(previous, ' ' | '\t' | '[' | '{' | ',' | ':') => {
                    quote = Some(c)
                }
                (None, '#') if previous.is_whitespace() => break,
                (None, '[' | '{') => {
                    flow += 1;
                    if flow + block > MAX_DEPTH {
                        return Some(number + 1);
                    }
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
        if flow + block > MAX_DEPTH {
            return Some(number + 1);
        }
    }
    None
}

pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)).map_err(|e| {
        let at = e
            .inner()
            .location()
            .map(|l| format!(" (line {})", l.line()));
        let message = e.inner().to_string();
        // serde_yaml starts its message with its own path, keys unfiltered.
        let message = match message.split_once(": ") {
            Some((path, rest)) if !path.contains([' ', '`', '"']) => rest,
            _ => &message,
        };
        (
            shown_path(e.path()),
            parser_message(message) + &at.unwrap_or_default(),
        )
    })
}

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<T, (String, String)> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| (String::new(), parser_message(e.message())))?;
    serde_path_to_error::deserialize(deserializer)
        .map_err(|e| (shown_path(e.path()), parser_message(e.inner().message())))
}

/// A key as a message shows it: one that is not a name (a secret typed as
/// a key, `{client_secret:hunter2}`) is not shown.
pub(crate) fn shown_key(key: &str) -> &str {
    match valid_name(key) {
        true => key,
        false => "(a key that is not a name)",
    }
}

/// A key path for a message, each key as [`shown_key`] shows it.
pub(crate) fn shown_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<String> = path
        .iter()
        .map(|segment| match segment {
            Segment::Map { key } => shown_key(key).to_owned(),
            Segment::Seq { index } => index.to_string(),
            Segment::Enum { variant } if valid_name(variant) => variant.clone(),
            _ => "?".into(),
        })
        .collect();
    match segments.is_empty() {
        true => String::new(),
        false => segments.join("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourcesFile;

    #[test]
    fn nesting_is_measured_where_a_parser_would_nest() {
        let deep = |unit: &str, count: usize| unit.repeat(count);
        // Opened and closed on one line, hidden behind a quote or a `#`
        // that YAML reads as part of a plain scalar: still too deep.
        for text in [
            format!("{}{}", deep("[", 40), deep("]", 40)),
            format!("a: [b'{}", deep("[", 40)),
            format!("a: [b#{}", deep("[", 40)),
            deep("- ", 40),
            format!("{}a: 1", " ".repeat(80)),
        ] {
            assert!(too_deep(&text).is_some(), "{text}");
        }
        // Quoted and commented brackets are not nesting; real configs pass.
        for text in [
            format!("a: '{}'", deep("[", 40)),
            format!("a: \"{}\\\"{}\"", deep("[", 20), deep("{", 20)),
            format!("a: 1 # {}", deep("[", 40)),
            "sources:\n  a:\n    provider: x\n    credentials: {client_id_env: A, client_secret_env: B}\n".into(),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
    }

    #[test]
    fn parser_messages_lose_quoted_values_and_keep_key_paths() {
        let text = "sources:\n  a:\n    provider: airalo\n    allow_insecure_http: \"hunter2\"\n";
        let (path, message) = parse_yaml::<SourcesFile>(text).unwrap_err();
        assert_eq!(path, "sources.a.allow_insecure_http");
        assert!(message.starts_with("invalid type"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let toml = "[sources.a]\nprovider = \"airalo\"\ntypo = \"hunter2\"\n";
        let (path, message) = parse_toml::<SourcesFile>(toml).unwrap_err();
        assert!(path.starts_with("sources.a"), "{path}");
        assert!(
            message.contains("typo") && !message.contains("hunter2"),
            "{message}"
        );
        // A number where a boolean belongs: serde quotes it with backticks.
        let text = "sources:\n  a:\n    provider: airalo\n    allow_insecure_http: 98765432\n";
        let (path, message) = parse_yaml::<SourcesFile>(text).unwrap_err();
        assert_eq!(path, "sources.a.allow_insecure_http");
        assert!(message.starts_with("invalid type"), "{message}");
        assert!(
            !message.contains("98765432") && message.contains("integer"),
            "{message}"
        );
    }
}
