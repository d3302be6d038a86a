//! The agent's JSON, one type per body, written by the server and read by
//! the client: a field added on one side is there on the other.

use serde::{Deserialize, Deserializer, Serialize};
use tokenmux::ErrorKind;

/// `{"error": {…}}`: every refusal and failure.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorFields,
}

/// The fields of an [`ErrorBody`].
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorFields {
    /// A stable name: the library's [`tokenmux::Error::code`], or the
    /// agent's own (`unknown_source`, `peer_not_allowed`, …).
    pub code: String,
    /// What a client can do about it, when it is the library's error (or
    /// the agent's refusal of this user): the CLI's exit code follows it.
    /// A kind this client does not know reads as none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_kind"
    )]
    pub kind: Option<ErrorKind>,
    /// For people; no secret.
    pub message: String,
    /// With `unknown_source`: the sources the agent serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl ErrorBody {
    /// An error without sources.
    pub fn new(code: &str, kind: Option<ErrorKind>, message: &str) -> Self {
        Self {
            error: ErrorFields {
                code: code.to_owned(),
                kind,
                message: message.to_owned(),
                sources: Vec::new(),
            },
        }
    }

    /// As JSON text.
    pub fn to_json(&self) -> String {
        // Strings and an enum of unit variants: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `GET /v1/sources/{name}/token`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenBody {
    /// The token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Whole seconds it stays valid.
    pub expires_in: u64,
    /// When it expires, in RFC 3339 (UTC, whole seconds), as the CLI's
    /// `--format json` says it. Absent from older agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The header to send it in on API requests (the provider's spec
    /// says): `Authorization` unless the vendor documents its own. Absent
    /// from older agents: `Authorization`.
    #[serde(default)]
    pub header: Option<String>,
    /// That header's value: `Bearer <token>`, another scheme and the
    /// token, or the token alone. Absent from older agents: `Bearer`.
    #[serde(default)]
    pub header_value: Option<String>,
}

/// `POST /v1/sources/{name}/proof`: the API request a DPoP proof is for.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    /// The request's method, e.g. `GET`.
    pub htm: String,
    /// The request's absolute http(s) URL (its query and fragment are not
    /// part of the proof).
    pub htu: String,
    /// The `DPoP-Nonce` the API last answered with, if any: kept for this
    /// origin's later proofs too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The answer to a [`ProofRequest`]: the two headers of that one request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProofBody {
    /// `Authorization`.
    pub header: String,
    /// `DPoP <token>`.
    pub header_value: String,
    /// The `DPoP` header's value: a proof for this request only.
    pub dpop: String,
}

fn known_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ErrorKind>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_round_trips_and_an_unknown_one_reads_as_none() {
        let body = ErrorBody::new("timeout", Some(ErrorKind::Transient), "slow");
        let text = body.to_json();
        assert_eq!(
            text,
            r#"{"error":{"code":"timeout","kind":"transient","message":"slow"}}"#
        );
        let read: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(read.error.kind, Some(ErrorKind::Transient));
        let newer: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"x","kind":"quantum","message":"m"}}"#)
                .unwrap();
        assert_eq!(newer.error.kind, None);
        let older: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"x","message":"m"}}"#).unwrap();
        assert_eq!(older.error.kind, None);
    }
}
