//! A source's parameter values (`x-tokenmux-parameter`), checked against
//! its spec before any request: every value names a parameter the spec
//! has, and every required one has a value.

use tokenmux_wire::{EndpointSpec, Parameters};

use crate::ConfigError;

/// Checks `given` against `spec`'s parameters; the error names the
/// parameter (`params.scope`) and never a value.
pub(crate) fn check(spec: &EndpointSpec, given: &Parameters) -> Result<(), ConfigError> {
    let known = spec.parameters();
    let names = || match known.is_empty() {
        true => "none".to_owned(),
        false => known.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    };
    for (name, value) in given.iter() {
        if !known.iter().any(|p| p.name == name) {
            return Err(ConfigError::new(
                format!("params.{name}"),
                format!(
                    "the {} provider has no parameter `{name}` (its spec's parameters: {})",
                    spec.name,
                    names()
                ),
            ));
        }
        if value.expose_secret().is_empty() {
            return Err(ConfigError::new(
                format!("params.{name}"),
                format!("the parameter `{name}` is empty"),
            ));
        }
    }
    if let Some(missing) = known
        .iter()
        .find(|p| p.required && given.get(p.name).is_none())
    {
        return Err(ConfigError::new(
            format!("params.{}", missing.name),
            format!(
                "the {} provider needs the parameter `{}`: give it in the source's \
                 `params:`, with --param {}=VALUE, or with .param()",
                spec.name, missing.name, missing.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parking_lot::Mutex;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use serde_json::{Value, json};
    use tokenmux_wire::{
        BasicEncoding, BodyEncoding, BoxFuture, ClientAuth, EndpointResult, ErrorFields,
        FieldValue, GrantKind, GrantSpec, Issued, OperationWire, ParameterSpec, Place,
        RequestField, ResponseValue, TokenEndpoint, TokenFields, TokenRequest, request_body,
    };

    use super::*;
    use crate::{Credentials, MemoryStore, Provider, TokenSource};

    const fn parameter(
        pointer: &'static str,
        name: &'static str,
        required: bool,
        default: Option<&'static str>,
        secret: bool,
    ) -> RequestField {
        RequestField {
            place: Place::Body(pointer),
            value: FieldValue::Parameter(ParameterSpec {
                name,
                required,
                default,
                secret,
            }),
        }
    }

    static FIELDS: [RequestField; 5] = [
        RequestField {
            place: Place::Body("/client_id"),
            value: FieldValue::Credential(tokenmux_wire::CredentialRole::ClientId),
        },
        parameter("/scope", "scope", true, None, false),
        parameter("/audience", "audience", false, None, false),
        parameter("/region", "region", false, Some("eu"), false),
        parameter("/tenant/key", "tenant_key", false, None, true),
    ];
    static GRANTS: [GrantSpec; 1] = [GrantSpec {
        kind: GrantKind::Primary,
        path: "/token",
        wire: OperationWire {
            operation_id: "t",
            method: "t",
            http_method: "POST",
            body: BodyEncoding::Json,
            content_type: None,
            accept: None,
            response: BodyEncoding::Json,
            auth: ClientAuth::None,
        },
        fields: &FIELDS,
    }];
    static SPEC: EndpointSpec = EndpointSpec {
        name: "scoped",
        title: "t",
        servers: &[],
        grants: &GRANTS,
        basic_encoding: BasicEncoding::AsDocumented,
        token: TokenFields {
            access_token: "/a",
            access_token_header: None,
            token_type: None,
            expiry: None,
            refresh_token: None,
            token_types: &[],
        },
        error: ErrorFields {
            code: &[],
            message: &[],
        },
        errors: &[],
        max_lifetime_secs: None,
        success_example: None,
        presentation: tokenmux_wire::Presentation::BEARER,
        success_status: 200,
    };

    /// Fills each request's body from the spec as a generated endpoint
    /// does, keeps it, and answers a token.
    #[derive(Default)]
    struct Recording(Mutex<Vec<Value>>);

    impl TokenEndpoint for Recording {
        fn spec(&self) -> &'static EndpointSpec {
            &SPEC
        }

        fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
            Box::pin(async move {
                let (body, _) = request_body::<Value>(&SPEC, GrantKind::Primary, &request)?;
                let mut bodies = self.0.lock();
                bodies.push(body);
                Ok(ResponseValue::new(
                    Issued {
                        access_token: format!("token-{}", bodies.len()).into(),
                        token_type: Some("Bearer".into()),
                        expires: Some(tokenmux_wire::Expires::In(3600.0)),
                        refresh_token: None,
                    },
                    StatusCode::OK,
                    HeaderMap::new(),
                ))
            })
        }

        fn decode_success(&self, _body: &[u8]) -> Result<Issued, serde_json::Error> {
            unreachable!("not decoded in these tests")
        }
    }

    fn recording() -> (Provider, &'static Recording) {
        let endpoint: &'static Recording = Box::leak(Box::default());
        (
            Provider::from_endpoint(endpoint, "https://scoped.invalid"),
            endpoint,
        )
    }

    #[test]
    fn a_missing_or_unknown_parameter_is_named_and_no_value_is_shown() {
        let ok = Parameters::new().with("scope", "read");
        assert!(check(&SPEC, &ok).is_ok());
        assert!(check(&SPEC, &ok.clone().with("audience", "api")).is_ok());

        let missing = check(&SPEC, &Parameters::new().with("audience", "api")).unwrap_err();
        assert_eq!(missing.at(), Some("params.scope"));
        assert!(
            missing.to_string().contains("--param scope=VALUE"),
            "{missing}"
        );

        let unknown = check(&SPEC, &ok.clone().with("scop", "s3cret-value")).unwrap_err();
        assert_eq!(unknown.at(), Some("params.scop"));
        let text = unknown.to_string();
        assert!(
            text.contains("scope, audience, region, tenant_key"),
            "{text}"
        );
        assert!(!text.contains("s3cret-value"), "{text}");

        let empty = check(&SPEC, &Parameters::new().with("scope", "")).unwrap_err();
        assert!(empty.to_string().contains("is empty"), "{empty}");
    }

    #[tokio::test]
    async fn each_scope_set_gets_its_own_token_and_a_secret_parameter_stays_out_of_keys() {
        let (provider, endpoint) = recording();
        let store = Arc::new(MemoryStore::default());
        let source = |scope: &str| {
            TokenSource::builder(provider.clone())
                .credentials(Credentials::client("id", "secret"))
                .param("scope", scope)
                .param("tenant_key", "t3nant-s3cret")
                .store(store.clone())
                .background_refresh(false)
                .build()
                .unwrap()
        };
        let (read, write) = (source("read"), source("write"));
        let first = read.token().await.unwrap();
        let second = write.token().await.unwrap();
        assert_ne!(first.secret(), second.secret());
        // A third source asking for `read` takes the stored token.
        let again = source("read").token().await.unwrap();
        assert_eq!(again.secret(), first.secret());
        let bodies = endpoint.0.lock().clone();
        assert_eq!(
            bodies,
            [
                json!({"client_id": "id", "scope": "read", "region": "eu",
                       "tenant": {"key": "t3nant-s3cret"}}),
                json!({"client_id": "id", "scope": "write", "region": "eu",
                       "tenant": {"key": "t3nant-s3cret"}}),
            ]
        );

        let credentials = Credentials::client("id", "secret")
            .with_param("scope", "read")
            .with_param("tenant_key", "t3nant-s3cret");
        let key = provider.store_key(&credentials);
        assert_eq!(key.as_str(), "scoped|https://scoped.invalid|id|scope=read");
        let shown = format!("{credentials:?} {read:?}");
        assert!(!shown.contains("t3nant-s3cret"), "{shown}");
        assert!(credentials.secrets(&SPEC).contains(&"t3nant-s3cret"));
        assert!(!credentials.secrets(&SPEC).contains(&"read"));
    }

    #[test]
    fn a_required_parameter_left_out_stops_the_build_before_any_request() {
        let (provider, endpoint) = recording();
        let error = TokenSource::builder(provider)
            .credentials(Credentials::client("id", "secret"))
            .param("audience", "api")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "configuration error: params.scope: the scoped provider needs the parameter `scope`"
            ),
            "{error}"
        );
        assert!(endpoint.0.lock().is_empty());
    }
}
