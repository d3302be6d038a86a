//! The request, one spec per client authentication method: an RFC 6749
//! §4.4 client credentials form with optional `scope` and `resource`, the
//! client id in the body where the method puts it there. The token
//! endpoint's URL is the metadata's, so the path is empty.

use tokenmux_wire::{
    AssertionAudience, AuthMethod, BasicEncoding, BodyEncoding, ClientAuth, CredentialRole,
    EndpointSpec, ErrorFields, Expiry, ExpiryForm, FieldValue, GrantKind, GrantSpec, OperationWire,
    ParameterSpec, Place, Presentation, RequestField, TokenFields,
};

const fn parameter(pointer: &'static str, name: &'static str) -> RequestField {
    RequestField {
        place: Place::Body(pointer),
        value: FieldValue::Parameter(ParameterSpec {
            name,
            required: false,
            default: None,
            secret: false,
        }),
    }
}

const GRANT_TYPE: RequestField = RequestField {
    place: Place::Body("/grant_type"),
    value: FieldValue::Constant("client_credentials"),
};
const SCOPE: RequestField = parameter("/scope", "scope");
const RESOURCE: RequestField = parameter("/resource", "resource");
const CLIENT_ID: RequestField = RequestField {
    place: Place::Body("/client_id"),
    value: FieldValue::Credential(CredentialRole::ClientId),
};
const CLIENT_SECRET: RequestField = RequestField {
    place: Place::Body("/client_secret"),
    value: FieldValue::Credential(CredentialRole::ClientSecret),
};

static BARE: [RequestField; 3] = [GRANT_TYPE, SCOPE, RESOURCE];
static WITH_ID: [RequestField; 4] = [GRANT_TYPE, SCOPE, RESOURCE, CLIENT_ID];
static WITH_SECRET: [RequestField; 5] = [GRANT_TYPE, SCOPE, RESOURCE, CLIENT_ID, CLIENT_SECRET];

const fn grants(auth: ClientAuth, fields: &'static [RequestField]) -> [GrantSpec; 1] {
    [GrantSpec {
        kind: GrantKind::Primary,
        path: "",
        wire: OperationWire {
            operation_id: "token",
            method: "token",
            http_method: "POST",
            body: BodyEncoding::FormUrlencoded,
            content_type: Some("application/x-www-form-urlencoded"),
            accept: Some("application/json"),
            response: BodyEncoding::Json,
            auth,
        },
        fields,
    }]
}

const fn spec(grants: &'static [GrantSpec]) -> EndpointSpec {
    EndpointSpec {
        name: crate::NAME,
        title: "OAuth 2.0 client credentials, found by discovery (RFC 8414)",
        servers: &[],
        grants,
        basic_encoding: BasicEncoding::Rfc6749FormUrlencoded,
        token: TokenFields {
            access_token: "/access_token",
            access_token_header: None,
            token_type: Some("/token_type"),
            expiry: Some(Expiry {
                pointer: "/expires_in",
                form: ExpiryForm::InSeconds,
            }),
            refresh_token: None,
            token_types: &[],
        },
        error: ErrorFields {
            code: &["/error"],
            message: &["/error_description"],
        },
        errors: &[],
        max_lifetime_secs: None,
        success_example: None,
        presentation: Presentation::BEARER,
        success_status: 200,
    }
}

static GENERIC_GRANTS: [GrantSpec; 1] = grants(ClientAuth::FromMetadata, &BARE);
static BASIC_GRANTS: [GrantSpec; 1] = grants(ClientAuth::Basic, &BARE);
static POST_GRANTS: [GrantSpec; 1] = grants(ClientAuth::None, &WITH_SECRET);
static NONE_GRANTS: [GrantSpec; 1] = grants(ClientAuth::None, &WITH_ID);
static SECRET_JWT_GRANTS: [GrantSpec; 1] = grants(
    ClientAuth::ClientSecretJwt(AssertionAudience::TokenEndpoint),
    &BARE,
);
static PRIVATE_KEY_JWT_GRANTS: [GrantSpec; 1] = grants(
    ClientAuth::PrivateKeyJwt(AssertionAudience::TokenEndpoint),
    &BARE,
);
static TLS_GRANTS: [GrantSpec; 1] = grants(ClientAuth::TlsClientAuth, &WITH_ID);
static SELF_SIGNED_GRANTS: [GrantSpec; 1] = grants(ClientAuth::SelfSignedTlsClientAuth, &WITH_ID);

/// What the provider needs before a method is chosen: a client id, and a
/// secret, a key or a certificate if the method takes one.
pub(crate) static GENERIC: EndpointSpec = spec(&GENERIC_GRANTS);
static BASIC: EndpointSpec = spec(&BASIC_GRANTS);
static POST: EndpointSpec = spec(&POST_GRANTS);
static NONE: EndpointSpec = spec(&NONE_GRANTS);
static SECRET_JWT: EndpointSpec = spec(&SECRET_JWT_GRANTS);
static PRIVATE_KEY_JWT: EndpointSpec = spec(&PRIVATE_KEY_JWT_GRANTS);
static TLS: EndpointSpec = spec(&TLS_GRANTS);
static SELF_SIGNED: EndpointSpec = spec(&SELF_SIGNED_GRANTS);

/// The request `method` sends.
pub(crate) fn for_method(method: AuthMethod) -> &'static EndpointSpec {
    match method {
        AuthMethod::ClientSecretBasic => &BASIC,
        AuthMethod::ClientSecretPost => &POST,
        AuthMethod::ClientSecretJwt => &SECRET_JWT,
        AuthMethod::PrivateKeyJwt => &PRIVATE_KEY_JWT,
        AuthMethod::TlsClientAuth => &TLS,
        AuthMethod::SelfSignedTlsClientAuth => &SELF_SIGNED,
        AuthMethod::None => &NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenmux_wire::{Needs, client_auth_method};

    #[test]
    fn each_method_has_its_request_and_the_generic_one_takes_any_credential() {
        for method in AuthMethod::ALL {
            let spec = for_method(method);
            let auth = client_auth_method(spec.grants[0].wire.auth);
            // post and none share the in-request strategy.
            if !matches!(method, AuthMethod::None) {
                assert_eq!(auth.name(), method.name());
            }
        }
        let needs = Needs::of(&GENERIC);
        assert_eq!(needs.required(), [CredentialRole::ClientId]);
        for role in [
            CredentialRole::ClientSecret,
            CredentialRole::PrivateKey,
            CredentialRole::ClientCertificate,
        ] {
            assert!(needs.uses(role), "{role:?}");
        }
        let names: Vec<_> = needs.parameters().iter().map(|p| p.name).collect();
        assert_eq!(names, ["scope", "resource"]);
    }
}
