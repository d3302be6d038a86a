//! `POST /v1/sources/{name}/proof`: the agent signs a DPoP proof (RFC
//! 9449 §7) for one API request of a client, so the source's DPoP key
//! never leaves the agent. The client sends the answer's two headers with
//! that request, and passes back the API's `DPoP-Nonce` when it gets one.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use reqwest::Url;

use crate::protocol::{ProofBody, ProofRequest};
use crate::state::{AgentState, Asked, failure, lookup, no_store, refusal};

/// What the body must be, said in every refusal of it.
const SHAPE: &str = "the body is {\"htm\": METHOD, \"htu\": \"https://…\"[, \"nonce\": NONCE]}";

pub(crate) async fn proof(
    State(state): State<AgentState>,
    Path(name): Path<String>,
    Query(asked): Query<Asked>,
    body: axum::body::Bytes,
) -> Response {
    let entry = match lookup(&state, &name, &asked) {
        Ok(entry) => entry,
        Err(refused) => return *refused,
    };
    let source = &entry.source;
    if !source.uses_dpop() {
        return refusal(
            StatusCode::CONFLICT,
            "not_dpop",
            "this source's tokens are not DPoP-bound (set `dpop: true` in its config)",
        );
    }
    let (method, url, nonce) = match read(&body) {
        Ok(asked) => asked,
        Err(why) => return refusal(StatusCode::BAD_REQUEST, "bad_request", &why),
    };
    if let Some(nonce) = nonce {
        source.dpop_nonce_from(&url, &nonce);
    }
    let auth = match source.authorize(&method, &url).await {
        Ok(auth) => auth,
        Err(error) => return failure(&error),
    };
    // A server that does not do DPoP answers a proof with a bearer token.
    let Some(proof) = auth.dpop() else {
        return refusal(
            StatusCode::CONFLICT,
            "not_dpop",
            "the token endpoint issued a bearer token, not a DPoP one: send it as \
             `/token` gives it, with no proof",
        );
    };
    let text = |value: &HeaderValue| value.to_str().unwrap_or_default().to_owned();
    let body = ProofBody {
        header: auth.header_name().as_str().to_owned(),
        header_value: text(auth.value()),
        dpop: text(proof),
    };
    (no_store(), Json(body)).into_response()
}

/// The request's method, URL and nonce (as the header an API sent), or
/// why the body is not a [`ProofRequest`].
fn read(body: &[u8]) -> Result<(Method, Url, Option<HeaderMap>), String> {
    let asked: ProofRequest = serde_json::from_slice(body).map_err(|_| SHAPE.to_owned())?;
    let method = Method::from_bytes(asked.htm.as_bytes())
        .map_err(|_| format!("`htm` is not an HTTP method; {SHAPE}"))?;
    let url = Url::parse(&asked.htu)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| format!("`htu` is not an absolute http(s) URL; {SHAPE}"))?;
    let nonce = match asked.nonce {
        None => None,
        Some(nonce) => {
            // A nonce is printable ASCII: a header value whenever it is one.
            let value = HeaderValue::from_str(&nonce)
                .ok()
                .filter(|_| tokenmux::endpoint::is_dpop_nonce(&nonce))
                .ok_or_else(|| {
                    format!(
                        "`nonce` is not a DPoP nonce (printable ASCII, no space, quote or \
                         backslash, at most 512 characters); {SHAPE}"
                    )
                })?;
            Some(HeaderMap::from_iter([(
                tokenmux::endpoint::DPOP_NONCE,
                value,
            )]))
        }
    };
    Ok((method, url, nonce))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_a_proof_request_is_refused_with_its_shape() {
        let ok = read(br#"{"htm":"post","htu":"https://api.example/v1?x=1","nonce":"n-1"}"#);
        let (method, url, nonce) = ok.unwrap();
        assert_eq!((method.as_str(), url.path()), ("post", "/v1"));
        assert!(nonce.is_some());
        for bad in [
            &br#"{"htm":"GET"}"#[..],
            br#"{"htm":"G ET","htu":"https://a.example/"}"#,
            br#"{"htm":"GET","htu":"/relative"}"#,
            br#"{"htm":"GET","htu":"ftp://a.example/"}"#,
            br#"{"htm":"GET","htu":"https://a.example/","nonce":"a b"}"#,
            br#"{"htm":"GET","htu":"https://a.example/","extra":1}"#,
            b"not json",
        ] {
            let why = read(bad).unwrap_err();
            assert!(why.contains("the body is"), "{why}");
        }
    }
}
