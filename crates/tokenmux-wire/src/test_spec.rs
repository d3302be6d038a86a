//! A spec for unit tests: one primary grant with the fields and client
//! authentication a test names, leaked to be `'static` as generated
//! specs are.

use crate::{
    BasicEncoding, BodyEncoding, ClientAuth, EndpointSpec, ErrorFields, GrantKind, GrantSpec,
    OperationWire, RequestField, TokenFields,
};

/// A spec named `t` whose primary grant has `fields` and `auth`.
pub(crate) fn with(fields: Vec<RequestField>, auth: ClientAuth) -> &'static EndpointSpec {
    let grants = vec![GrantSpec {
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
            auth,
        },
        fields: fields.leak(),
    }];
    Box::leak(Box::new(EndpointSpec {
        name: "t",
        title: "t",
        servers: &[],
        grants: grants.leak(),
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
        presentation: crate::Presentation::BEARER,
        success_status: 200,
    }))
}

/// A spec with no body fields and HTTP Basic client authentication.
pub(crate) fn spec() -> &'static EndpointSpec {
    with(Vec::new(), ClientAuth::Basic)
}
