//! The glue every generated client shares, written once: the generated
//! file is progenitor's output, its spec tables, and one call of each
//! macro below. A change to the glue is a change here, not a regen of
//! every provider's code.

/// Implements progenitor's `ClientHooks` for a generated `Client`: each
/// request gets the documented wire format of its operation (looked up in
/// `operations` by name), is sent without following redirects, and its
/// response is read within the size cap.
///
/// `cargo xtask regen` writes the call; the generated file must have
/// progenitor's `ClientHooks`, `OperationInfo` and `Error` in scope (it
/// does: progenitor imports them).
#[macro_export]
macro_rules! client_hooks {
    ($client:ty, $operations:expr $(,)?) => {
        impl ClientHooks<$crate::ClientConfig> for $client {
            async fn pre<E>(
                &self,
                request: &mut $crate::__private::reqwest::Request,
                info: &OperationInfo,
            ) -> ::std::result::Result<(), Error<E>> {
                $crate::prepare_request(request, $operations, info.operation_id, self.inner()).await
            }

            async fn exec(
                &self,
                request: $crate::__private::reqwest::Request,
                info: &OperationInfo,
            ) -> $crate::__private::reqwest::Result<$crate::__private::reqwest::Response> {
                $crate::execute(
                    self.client(),
                    request,
                    $operations,
                    info.operation_id,
                    self.inner(),
                )
                .await
            }

            async fn post<E>(
                &self,
                result: &$crate::__private::reqwest::Result<$crate::__private::reqwest::Response>,
                _info: &OperationInfo,
            ) -> ::std::result::Result<(), Error<E>> {
                $crate::inspect_response(result)
            }
        }
    };
}

/// Defines `Endpoint` and its `ENDPOINT` static, the generated crate's
/// [`TokenEndpoint`](crate::TokenEndpoint) implementation: each grant
/// kind is sent through the client method that serves it, with the body
/// [`request_body`](crate::request_body) fills from the spec table, and a
/// success is decoded into the spec's success type.
///
/// ```text
/// tokenmux_wire::token_endpoint! {
///     spec: ENDPOINT_SPEC,
///     client: Client,
///     success: types::TokenResponse,
///     grants: {
///         (Primary | Refresh) => oauth_token(types::TokenRequest),
///     },
/// }
/// ```
///
/// An operation without a request body is written `method()`: its values
/// all go in the query string, headers or the path.
///
/// A grant kind no operation serves (a refresh, on an endpoint that
/// issues no refresh tokens) is refused before any request.
#[macro_export]
macro_rules! token_endpoint {
    (
        spec: $spec:path,
        client: $client:ty,
        success: $success:ty,
        grants: { $( ( $($kind:ident)|+ ) => $method:ident ( $($body:ty)? ) ),+ $(,)? } $(,)?
    ) => {
        /// The token endpoint, as the tokenmux facade uses it.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Endpoint;

        /// The token endpoint: pass it to `tokenmux::Provider::from_endpoint`.
        pub static ENDPOINT: Endpoint = Endpoint;

        impl $crate::TokenEndpoint for Endpoint {
            fn spec(&self) -> &'static $crate::EndpointSpec {
                &$spec
            }

            fn request<'a>(
                &'a self,
                request: $crate::TokenRequest<'a>,
            ) -> $crate::BoxFuture<'a, $crate::EndpointResult> {
                ::std::boxed::Box::pin(async move {
                    #[allow(unreachable_patterns)]
                    match request.grant.kind() {
                        $(
                            kind @ ($($crate::GrantKind::$kind)|+) => {
                                let response = $crate::token_endpoint!(
                                    @send $spec, $client, kind, request, $method, $($body)?
                                );
                                $crate::issued_response(response, &$spec)
                            }
                        )+
                        // Every spec has a primary grant: only a refresh
                        // can be missing.
                        _ => Err($crate::ClientError::InvalidRequest(::std::format!(
                            "{} issues no refresh tokens",
                            $spec.name
                        ))),
                    }
                })
            }

            fn decode_success(
                &self,
                body: &[u8],
            ) -> ::std::result::Result<$crate::Issued, $crate::__private::serde_json::Error> {
                $crate::decode_issued::<$success>(body, &$spec)
            }
        }
    };
    // An operation with a request body of type `$body`.
    (@send $spec:path, $client:ty, $kind:ident, $request:ident, $method:ident, $body:ty) => {{
        let (body, config) = $crate::request_body::<$body>(&$spec, $kind, &$request)?;
        <$client>::new_with_client($request.base_url, $request.http.clone(), config)
            .$method()
            .body(body)
            .send()
            .await
    }};
    // An operation without a body (a GET with its values in the query).
    (@send $spec:path, $client:ty, $kind:ident, $request:ident, $method:ident,) => {{
        let config = $crate::request_without_body(&$spec, $kind, &$request)?;
        <$client>::new_with_client($request.base_url, $request.http.clone(), config)
            .$method()
            .send()
            .await
    }};
}
