//! Keeps secrets out of anything shown to a caller: error messages, body
//! excerpts, logs. A server may echo what it was sent in any encoding, so
//! each secret is looked for raw, JSON-escaped, URL-encoded, in base64 at
//! every alignment (the Basic header among them), and by its prefixes.
//! Values of token-bearing fields are removed even from bodies that are
//! not JSON, and control characters are neutralised so a message stays
//! one line and cannot drive a terminal.

use std::sync::{LazyLock, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;

use crate::{Grant, Secret};

/// What replaces a secret.
const REDACTED: &str = "[redacted]";
/// A run of this many characters of a secret, recoverable from a text,
/// withholds the text.
const FRAGMENT: usize = 6;
/// What replaces a text a secret could still be decoded from.
const WITHHELD: &str = "[withheld: it echoes what was sent]";
/// A run of this many leading characters of a secret is redacted too
/// (a body cut short, an echo truncated by the server).
const MIN_PREFIX: usize = 8;
/// The longest excerpt of a body, in characters.
pub const EXCERPT_CHARS: usize = 200;

/// Field names whose values are tokens or secrets: `access_token`,
/// `refresh_token`, `id_token`, `access`, `token`, `client_secret`, …
///
/// The patterns are ASCII (`(?-u)`, whitespace spelled out): field names
/// and JSON's whitespace are ASCII, and regex is built without its Unicode
/// tables. A non-ASCII space inside a value does not end it, so more is
/// redacted, never less.
const TOKEN_FIELD: &str =
    r"(?:[A-Za-z0-9_\-]*[_\-])?(?i-u:token|access|refresh|secret|password|assertion|code_verifier)";
/// ASCII whitespace, as `\s` is in ASCII mode.
const SPACE: &str = r"[\t\n\x0B\x0C\r ]";

/// `"<token field>": "<value>` in JSON, closed or not (a truncated body).
static QUOTED_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#""({TOKEN_FIELD})"{SPACE}*:{SPACE}*"((?:\\.|[^"\\])*)"#
    ))
    .expect("valid regex")
});
/// `<token field>=<value>` in forms, query strings, headers and prose.
static PLAIN_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?-u:\b)({TOKEN_FIELD}){SPACE}*[=:]{SPACE}*([^\t\n\x0B\x0C\r &"',;}}\]]+)"#
    ))
    .expect("valid regex")
});
/// Quoted or backticked values in a decoder's message.
static DECODER_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""(?:\\.|[^"\\])*"|`[^`]*`"#).expect("valid regex"));

/// Removes the secrets of one exchange from text shown to a caller.
pub struct Scrubber {
    /// The client id and the secrets sent with it.
    id: String,
    secrets: Vec<Secret>,
    /// Made at first use: most exchanges succeed and show nothing.
    prepared: OnceLock<Prepared>,
}

/// What a scrubber looks for.
struct Prepared {
    /// Every encoding of every secret, longest first.
    needles: Vec<String>,
    /// Every run of FRAGMENT characters of each secret, to find one
    /// still recoverable once the needles are out (a nesting no needle
    /// covers, a tail the prefix rule left).
    fragments: Vec<String>,
}

impl Scrubber {
    /// A scrubber for what client `client_id` sends with `secrets` and
    /// `grant` (a refresh grant's token is a secret too).
    ///
    /// ```
    /// use tokenmux_wire::{Grant, scrub::Scrubber};
    ///
    /// let scrub = Scrubber::new("id", ["s3cr3t-value"], Grant::Primary);
    /// assert_eq!(scrub.text("echo: s3cr3t-value"), "echo: [redacted]");
    /// ```
    pub fn new<'s>(
        client_id: &str,
        secrets: impl IntoIterator<Item = &'s str>,
        grant: Grant<'_>,
    ) -> Self {
        let mut secrets: Vec<Secret> = secrets.into_iter().map(Secret::new).collect();
        if let Grant::Refresh(token) = grant {
            secrets.push(token.clone());
        }
        Self {
            id: client_id.to_owned(),
            secrets,
            prepared: OnceLock::new(),
        }
    }

    /// A scrubber that knows no secrets (token fields are still redacted).
    pub fn without_secrets() -> Self {
        Self {
            id: String::new(),
            secrets: Vec::new(),
            prepared: OnceLock::new(),
        }
    }

    fn prepared(&self) -> &Prepared {
        self.prepared.get_or_init(|| {
            let id = self.id.as_str();
            let mut needles = Vec::new();
            let mut fragments = Vec::new();
            for secret in self.secrets.iter().map(Secret::expose_secret) {
                if secret.is_empty() {
                    continue;
                }
                needles.extend(crate::echo::encodings(secret));
                // Shorter ones would match ordinary text; they are no secret.
                let chars: Vec<char> = secret.chars().collect();
                if chars.len() >= 4 {
                    fragments.extend(
                        chars
                            .windows(FRAGMENT.min(chars.len()))
                            .map(|window| window.iter().collect::<String>()),
                    );
                }
                // The Basic header, both ways it is encoded.
                for joined in [
                    format!("{id}:{secret}"),
                    format!(
                        "{}:{}",
                        crate::echo::form_encode(id),
                        crate::echo::form_encode(secret)
                    ),
                ] {
                    needles.push(STANDARD.encode(&joined));
                }
            }
            needles.retain(|n| !n.is_empty());
            needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
            needles.dedup();
            fragments.sort();
            fragments.dedup();
            Prepared { needles, fragments }
        })
    }

    /// `text` without secrets, token values or control characters. Text
    /// from which a secret can still be decoded (JSON escapes and
    /// percent-encoding undone up to four times) is withheld whole.
    pub fn text(&self, text: &str) -> String {
        let text = QUOTED_FIELD.replace_all(text, format!(r#""$1": "{REDACTED}"#).as_str());
        let text = PLAIN_FIELD.replace_all(&text, format!("$1={REDACTED}").as_str());
        let text = self.remove_needles(&text);
        if !self.prepared().fragments.is_empty() {
            let views = crate::echo::decoded_views(&text);
            if views.iter().any(|view| {
                self.prepared()
                    .fragments
                    .iter()
                    .any(|fragment| view.contains(fragment.as_str()))
            }) {
                return WITHHELD.to_owned();
            }
        }
        neutralise_controls(&text)
    }

    /// A decoder's message (serde's quote the values they choke on) made safe.
    pub fn decoder_message(&self, message: &str) -> String {
        let kept = message.starts_with("missing field") || message.starts_with("duplicate field");
        let text = match kept {
            true => message.into(),
            false => DECODER_VALUE.replace_all(message, REDACTED),
        };
        self.text(&text)
    }

    /// A bounded excerpt of a body: token values and known secrets
    /// redacted, controls neutralised, at most 200 characters.
    pub fn excerpt(&self, body: &[u8]) -> String {
        let text = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut json) => {
                redact_json(&mut json);
                json.to_string()
            }
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        };
        // Only the start is shown: scrub no more than it, plus room for a
        // secret that straddles the cut (and a secret cut there is still
        // found by its prefix).
        let room = self.prepared().needles.first().map_or(0, String::len);
        let text: String = text.chars().take(EXCERPT_CHARS * 2 + room).collect();
        let text = self.text(&text);
        let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        if text.chars().count() > EXCERPT_CHARS {
            excerpt.push('…');
        }
        excerpt
    }

    /// Replaces every needle, and every run of at least [`MIN_PREFIX`]
    /// leading characters of one.
    fn remove_needles(&self, text: &str) -> String {
        let needles = &self.prepared().needles;
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            // The longest match wins: two needles may share a long prefix
            // (the Basic header of `id:secret`, raw and form-encoded).
            let matched = needles
                .iter()
                .filter(|needle| needle.as_bytes().first() == rest.as_bytes().first())
                .map(|needle| (common_prefix(rest, needle), needle.len()))
                .filter(|(matched, len)| matched == len || *matched >= MIN_PREFIX)
                .map(|(matched, _)| matched)
                .max();
            if let Some(matched) = matched.filter(|m| *m > 0) {
                out.push_str(REDACTED);
                rest = &rest[matched..];
                continue;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// How many leading bytes `text` and `needle` share, on a char boundary.
fn common_prefix(text: &str, needle: &str) -> usize {
    text.char_indices()
        .zip(needle.chars())
        .take_while(|((_, a), b)| a == b)
        .last()
        .map_or(0, |((at, c), _)| at + c.len_utf8())
}

/// Control and bidirectional-override characters as escapes: `\u{1b}`,
/// so that text from a server, a store or an agent stays one line and
/// cannot drive a terminal.
///
/// ```
/// assert_eq!(tokenmux_wire::scrub::neutralise_controls("a\x1b[2Jb\r\n"), r"a\u{1b}[2Jb\u{d}\u{a}");
/// ```
pub fn neutralise_controls(text: &str) -> String {
    let dangerous = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(dangerous) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match dangerous(c) {
            true => c.escape_unicode().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// Replaces the values of token-bearing keys in a JSON document.
fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if [
                    "token",
                    "secret",
                    "password",
                    "access",
                    "refresh",
                    "assertion",
                ]
                .iter()
                .any(|k| key.contains(k))
                    && !key.contains("type")
                    && !key.contains("expires")
                {
                    *value = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// A config parser's message (YAML, TOML, serde) without the text it
/// quotes, which may be a secret in
/// the wrong place, and without its own position suffix. Quoted and
/// backticked text is kept only where it is a key name (a plain identifier,
/// as `unknown field `clent_id`, expected one of `client_id`, …`), so a
/// typo is still named; values never are: `invalid type: integer `123``
/// keeps only `integer`.
///
/// ```
/// use tokenmux_wire::scrub::parser_message;
///
/// let shown = parser_message("invalid type: string \"s3cr3t\", expected u32 at line 2 column 5");
/// assert_eq!(shown, "invalid type: string, expected u32");
/// assert_eq!(parser_message("unknown field `clent_id`"), "unknown field `clent_id`");
/// ```
pub fn parser_message(message: &str) -> String {
    let mut message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(start) = message.find(prefix).map(|at| at + prefix.len()) {
            let end = message[start..]
                .find(", expected")
                .map_or(message.len(), |at| start + at);
            let kind = message[start..end]
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            message.replace_range(start..end, &kind);
        }
    }
    // serde_yaml says `duplicate entry with key "a"`.
    let message = message.replace("duplicate entry with key", "duplicate key");
    let mut out = String::new();
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            out.push_str(&format!("{quote}…{quote}"));
            rest = "";
            break;
        };
        let quoted = &after[..close];
        match is_key_name(quoted) {
            true => out.push_str(&format!("`{quoted}`")),
            false => out.push_str(&format!("{quote}…{quote}")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    neutralise_controls(out.trim())
}

/// A key as config files name them: `client_secret_env`, `ahead_max`.
fn is_key_name(text: &str) -> bool {
    (1..=40).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    fn scrubber() -> Scrubber {
        Scrubber::new("id", ["very-secret/+&\"value"], Grant::Primary)
    }

    #[test]
    fn secrets_are_removed_in_every_encoding() {
        let scrub = scrubber();
        let secret = "very-secret/+&\"value";
        let echoes = [
            secret.to_owned(),
            serde_json::to_string(secret).unwrap(),
            crate::echo::form_encode(secret),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            format!("Basic {}", STANDARD.encode(format!("id:{secret}"))),
            STANDARD.encode(format!("{{\"client_secret\":\"{secret}\"}}")),
            STANDARD.encode(format!("x{secret}")),
            STANDARD.encode(format!("xy{secret}")),
            secret[..10].to_owned(),
        ];
        for echo in echoes {
            let shown = scrub.text(&format!("server said: {echo}."));
            assert!(
                !shown.contains("secret/") && !shown.contains(&echo),
                "{echo} → {shown}"
            );
            assert!(shown.contains(REDACTED), "{shown}");
        }
    }

    #[test]
    fn token_fields_are_redacted_in_broken_json_and_forms() {
        let scrub = Scrubber::without_secrets();
        let body = br#"{"access_token":"at-123","refresh_token":"rt-456","id_token":"it-7","token_type":"Bearer",}"#;
        let excerpt = scrub.excerpt(body);
        for value in ["at-123", "rt-456", "it-7"] {
            assert!(!excerpt.contains(value), "{excerpt}");
        }
        assert!(excerpt.contains("Bearer"), "{excerpt}");
        let cut = scrub.excerpt(br#"{"data":{"attributes":{"access":"half-a-tok"#);
        assert!(!cut.contains("half-a-tok"), "{cut}");
        let form = scrub.text("access_token=abc123&refresh_token=def456&expires_in=60");
        assert!(
            !form.contains("abc123") && !form.contains("def456") && form.contains("expires_in=60"),
            "{form}"
        );
    }

    #[test]
    fn non_ascii_text_around_a_token_field_never_shortens_what_is_redacted() {
        let scrub = Scrubber::without_secrets();
        // A no-break space inside a value does not end it: all of it goes.
        let shown = scrub.text("token=abc\u{a0}tail-7 and more");
        assert!(
            !shown.contains("tail-7") && !shown.contains("abc"),
            "{shown}"
        );
        // A non-ASCII letter before a field name still starts a field.
        let shown = scrub.text("éaccess_token=xyz-9; été refresh_token: uvw-8");
        assert!(
            !shown.contains("xyz-9") && !shown.contains("uvw-8"),
            "{shown}"
        );
        // JSON with a non-ASCII neighbour, and each pattern compiles.
        let shown = scrub.text("{\"ü\":1,\"Access_Token\" :\t\"q-77\"}");
        assert!(!shown.contains("q-77"), "{shown}");
        assert!(!scrub.decoder_message("got `ß-66`").contains("ß-66"));
    }

    #[test]
    fn controls_are_neutralised_and_decoder_values_hidden() {
        let shown = Scrubber::without_secrets().text("a\x1b[2Jb\r\nc\u{202e}d");
        assert_eq!(shown, r"a\u{1b}[2Jb\u{d}\u{a}c\u{202e}d");
        let scrub = Scrubber::without_secrets();
        let message =
            scrub.decoder_message("invalid type: string \"tok-99\", expected u64 at line 1");
        assert!(!message.contains("tok-99"), "{message}");
        assert_eq!(
            scrub.decoder_message("missing field `access_token`"),
            "missing field `access_token`"
        );
    }
}
