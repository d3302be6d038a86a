//! The ways a server may echo a secret it was sent: raw, JSON-escaped
//! (with `\/` and `\uXXXX` variants, as PHP and Python write them),
//! form- and percent-encoded, base64, and any two of these nested (a
//! request echoed as a JSON string inside a JSON body escapes it twice).
//! The scrubber removes each; [`decoded_views`] is its safety net, for
//! nestings no list covers.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// One layer of encoding.
type Layer = fn(&str) -> String;

/// The layers a server applies when it echoes text.
const LAYERS: [Layer; 6] = [
    |s| s.to_owned(),
    json,
    json_ascii,
    |s| json(s).replace('/', "\\/"),
    form_encode,
    |s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string(),
];

/// Every encoding of `secret` up to two layers deep (three for JSON), and
/// base64 of each one-layer encoding at every alignment.
pub(crate) fn encodings(secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for outer in LAYERS {
        for inner in LAYERS {
            found.push(outer(&inner(secret)));
        }
    }
    found.push(json(&json(&json(secret))));
    for layer in LAYERS {
        let once = layer(secret);
        found.push(URL_SAFE_NO_PAD.encode(&once));
        found.extend(base64_at_every_alignment(&once));
    }
    found.retain(|n| !n.is_empty());
    found.sort();
    found.dedup();
    found
}

/// Base64 of a longer text holding `text`: at each of the three
/// alignments, the characters that depend on `text` alone.
fn base64_at_every_alignment(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for offset in 0..3 {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(text.as_bytes());
        let encoded = STANDARD.encode(&bytes);
        let start = if offset == 0 { 0 } else { 4 };
        let end = (bytes.len() / 3) * 4;
        if end > start {
            found.push(encoded[start..end].to_owned());
        }
    }
    found
}

/// `text` JSON-escaped, without the quotes.
fn json(text: &str) -> String {
    serde_json::to_string(text)
        .map(|s| s[1..s.len() - 1].to_owned())
        .unwrap_or_default()
}

/// `text` JSON-escaped with every non-ASCII character as `\uXXXX`
/// (Python's `json.dumps` default).
fn json_ascii(text: &str) -> String {
    let mut out = String::new();
    for c in json(text).chars() {
        match c.is_ascii() {
            true => out.push(c),
            false => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// `application/x-www-form-urlencoded`, as a form body carries it.
pub(crate) fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `text` with JSON escapes and percent-encoding undone, up to four times: what a reader could recover from it. A secret found in any
/// of them is still there, in an encoding no needle matched.
pub(crate) fn decoded_views(text: &str) -> Vec<String> {
    let mut views = vec![text.to_owned()];
    let mut current = text.to_owned();
    for _ in 0..4 {
        let unescaped = json_unescape(&current);
        let decoded = percent_decode(&unescaped);
        // A form decodes `+` as a space; the chain goes on without it.
        views.push(percent_decode(&unescaped.replace('+', " ")));
        views.push(unescaped);
        if decoded == current {
            break;
        }
        views.push(decoded.clone());
        current = decoded;
    }
    views
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// JSON string escapes undone wherever they appear (a loose reading: the
/// text need not be a JSON document).
fn json_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let Ok(unit) = u16::from_str_radix(&hex, 16) else {
                    out.push_str("\\u");
                    out.push_str(&hex);
                    continue;
                };
                match (pending_high.take(), unit) {
                    (Some(high), 0xdc00..=0xdfff) => {
                        out.extend(char::decode_utf16([high, unit]).flatten());
                    }
                    (_, 0xd800..=0xdbff) => pending_high = Some(unit),
                    (_, unit) => out.extend(char::from_u32(unit.into())),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_echoes_are_among_the_encodings_or_decoded_back() {
        let secret = "qu\"ote\\back%pl+us/é€😀";
        let needles = encodings(secret);
        let twice = json(&json(secret));
        assert!(needles.contains(&twice), "{twice}");
        assert!(needles.contains(&json(&form_encode(secret))));
        assert!(needles.contains(&json_ascii(secret)));
        // Base64 of the JSON-escaped secret (a JSON body echoed in base64).
        assert!(
            needles
                .iter()
                .any(|n| STANDARD.encode(json(secret)).starts_with(n.as_str()))
        );
        let four = json(&json(&json(&json(secret))));
        assert!(
            decoded_views(&four)
                .iter()
                .any(|view| view.contains(secret)),
            "{four}"
        );
        let mixed = json(&utf8_percent_encode(&json(secret), NON_ALPHANUMERIC).to_string());
        assert!(
            decoded_views(&mixed)
                .iter()
                .any(|view| view.contains(secret))
        );
    }
}
