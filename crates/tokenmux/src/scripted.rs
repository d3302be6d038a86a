//! A fake of the layer below the fetcher, for unit tests: a token
//! endpoint that answers from a script, counts its requests, and never
//! opens a connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use tokenmux_wire::{
    BoxFuture, ClientError, EndpointResult, EndpointSpec, ErrorDetails, Expires, Issued,
    ResponseValue, Secret, TokenEndpoint, TokenRequest,
};

use crate::Provider;

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// A token with this text, valid for an hour, with an optional refresh token.
    Token(&'static str, Option<&'static str>),
    /// An error status, with a `Retry-After` in seconds if given.
    Status(u16, Option<u64>),
}

/// Answers from its script in order; once it runs out, the last answer
/// again.
pub(crate) struct Scripted {
    script: Mutex<VecDeque<Answer>>,
    requests: AtomicUsize,
}

impl Scripted {
    /// A provider (with the first compiled-in spec) whose endpoint is
    /// this script. Leaked: a provider holds its endpoint for `'static`,
    /// and a test is short.
    pub(crate) fn provider(script: impl IntoIterator<Item = Answer>) -> (Provider, &'static Self) {
        let endpoint: &'static Scripted = Box::leak(Box::new(Scripted {
            script: Mutex::new(script.into_iter().collect()),
            requests: AtomicUsize::new(0),
        }));
        (
            Provider::from_endpoint(endpoint, "https://scripted.invalid"),
            endpoint,
        )
    }

    /// How many requests were sent.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The next answer; the last one stays in the script for ever.
    fn next(&self) -> Answer {
        let mut script = self.script.lock();
        let answer = script.front().cloned().expect("the script has an answer");
        if script.len() > 1 {
            script.pop_front();
        }
        answer
    }
}

impl TokenEndpoint for Scripted {
    fn spec(&self) -> &'static EndpointSpec {
        first().spec()
    }

    fn request<'a>(&'a self, _request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let answer = self.next();
        Box::pin(async move {
            match answer {
                Answer::Token(token, refresh) => Ok(ResponseValue::new(
                    Issued {
                        access_token: Secret::new(token.to_owned()),
                        token_type: Some("Bearer".into()),
                        expires: Some(Expires::In(3600.0)),
                        refresh_token: refresh.map(|r| Secret::new(r.to_owned())),
                    },
                    StatusCode::OK,
                    HeaderMap::new(),
                )),
                Answer::Status(status, retry_after) => {
                    let mut headers = HeaderMap::new();
                    if let Some(seconds) = retry_after {
                        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
                    }
                    Err(ClientError::ErrorResponse(ResponseValue::new(
                        ErrorDetails::default(),
                        StatusCode::from_u16(status).expect("a status"),
                        headers,
                    )))
                }
            }
        })
    }

    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
        first().endpoint().decode_success(body)
    }
}

/// The first provider compiled in: its spec stands for the script's.
fn first() -> Provider {
    Provider::all()
        .into_iter()
        .next()
        .expect("a provider is compiled in")
}
