//! `x-tokenmux-assertion` on a body property: the JWT bearer grant's
//! `assertion` (RFC 7523 §2.1), signed per request by the client's private
//! key. It names the assertion's audience and the claims filled from
//! parameters:
//!
//! ```yaml
//! assertion:
//!   type: string
//!   x-tokenmux-assertion:
//!     audience: token_endpoint     # or issuer; token_endpoint by default
//!     claims: {scope: scope, sub: subject}   # claim: parameter
//!     required: [scope]            # parameters a source must give
//! ```

use openapiv3::{Schema, SchemaKind, Type};
use serde_json::Value;

use super::{Parameter, parameter_name};
use crate::{SpecProblem, problem};

/// The extension's name.
pub(crate) const ASSERTION: &str = "x-tokenmux-assertion";

/// Claims tokenmux sets itself; a spec cannot fill them from a parameter.
const REGISTERED: [&str; 5] = ["iss", "aud", "jti", "iat", "exp"];

/// A grant assertion as generated code describes it
/// (`tokenmux_wire::GrantAssertion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// `tokenmux_wire::AssertionAudience` variant name.
    pub audience: &'static str,
    /// Claim → the parameter that fills it.
    pub claims: Vec<(String, Parameter)>,
}

/// Reads the marker on the property `here` (a body pointer).
pub(crate) fn assertion(
    here: &str,
    marker: &Value,
    property: &Schema,
) -> Result<Assertion, SpecProblem> {
    if here.matches('/').count() != 1 {
        return Err(problem!(
            "{ASSERTION} on `{here}`: the assertion is a top-level member of the body \
             (RFC 7523 §2.1's `assertion`)"
        ));
    }
    if !matches!(property.schema_kind, SchemaKind::Type(Type::String(_))) {
        return Err(problem!(
            "{ASSERTION} on `{here}`: the property must be a string"
        ));
    }
    let Value::Object(marker) = marker else {
        return Err(problem!(
            "{ASSERTION} on `{here}` must be an object: {{audience, claims, required}}"
        ));
    };
    if let Some(key) = marker
        .keys()
        .find(|key| !["audience", "claims", "required"].contains(&key.as_str()))
    {
        return Err(problem!(
            "{ASSERTION} on `{here}`: unknown member `{key}` (give audience, claims, required)"
        ));
    }
    let audience = match marker.get("audience").map(Value::as_str) {
        None | Some(Some("token_endpoint")) => "TokenEndpoint",
        Some(Some("issuer")) => "Issuer",
        Some(_) => {
            return Err(problem!(
                "{ASSERTION} on `{here}`: audience must be `token_endpoint` or `issuer`"
            ));
        }
    };
    let required: Vec<&str> = match marker.get("required") {
        None => Vec::new(),
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(problem!(
                "{ASSERTION} on `{here}`: required must be a list of parameter names"
            ));
        }
    };
    let claims = match marker.get("claims") {
        None => serde_json::Map::new(),
        Some(Value::Object(claims)) => claims.clone(),
        Some(_) => {
            return Err(problem!(
                "{ASSERTION} on `{here}`: claims must map each claim to a parameter name"
            ));
        }
    };
    let mut out = Vec::new();
    for (claim, name) in &claims {
        if REGISTERED.contains(&claim.as_str()) || claim.is_empty() || claim.len() > 64 {
            return Err(problem!(
                "{ASSERTION} on `{here}`: the claim `{claim}` cannot come from a parameter \
                 (tokenmux sets iss, aud, jti, iat and exp)"
            ));
        }
        let name = parameter_name(name)?;
        out.push((
            claim.clone(),
            Parameter {
                required: required.contains(&name.as_str()),
                name,
                default: None,
                secret: false,
            },
        ));
    }
    if let Some(unknown) = required
        .iter()
        .find(|name| !out.iter().any(|(_, p)| p.name == **name))
    {
        return Err(problem!(
            "{ASSERTION} on `{here}`: `{unknown}` is required but fills no claim"
        ));
    }
    Ok(Assertion {
        audience,
        claims: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string() -> Schema {
        serde_yaml::from_str("type: string").unwrap()
    }

    fn read(here: &str, marker: &str) -> Result<Assertion, String> {
        let marker: Value = serde_yaml::from_str(marker).unwrap();
        assertion(here, &marker, &string()).map_err(|e| e.to_string())
    }

    #[test]
    fn claims_come_from_parameters_and_the_registered_ones_are_tokenmuxs() {
        let read_ok = read(
            "/assertion",
            "{audience: issuer, claims: {scope: scope, sub: subject}, required: [scope]}",
        )
        .unwrap();
        assert_eq!(read_ok.audience, "Issuer");
        let names: Vec<(&str, &str, bool)> = read_ok
            .claims
            .iter()
            .map(|(c, p)| (c.as_str(), p.name.as_str(), p.required))
            .collect();
        assert_eq!(names, [("scope", "scope", true), ("sub", "subject", false)]);
        assert_eq!(read("/assertion", "{}").unwrap().audience, "TokenEndpoint");
        for (here, marker, why) in [
            ("/a/assertion", "{}", "top-level"),
            ("/assertion", "yes", "must be an object"),
            (
                "/assertion",
                "{claims: {aud: a}}",
                "cannot come from a parameter",
            ),
            ("/assertion", "{audience: me}", "audience must be"),
            ("/assertion", "{required: [scope]}", "fills no claim"),
            ("/assertion", "{lifetime: 5}", "unknown member `lifetime`"),
        ] {
            let error = read(here, marker).unwrap_err();
            assert!(error.contains(why), "{marker}: {error}");
        }
        let number: Schema = serde_yaml::from_str("type: integer").unwrap();
        let error = assertion("/assertion", &serde_json::json!({}), &number).unwrap_err();
        assert!(error.to_string().contains("must be a string"));
    }
}
