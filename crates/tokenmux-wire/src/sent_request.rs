//! [`SentRequest`]: the method and URL of the request the hook prepared,
//! recorded so that an error can say what was tried (`POST
//! https://host/path`). The URL loses its query, fragment and userinfo
//! here; the caller still scrubs it (a path segment may be a secret
//! parameter).

use std::sync::{Arc, Mutex, PoisonError};

/// The last request line prepared. Clones share it.
///
/// ```
/// use tokenmux_wire::SentRequest;
///
/// let sent = SentRequest::default();
/// let url = "https://user:pw@auth.example/oauth/token?tenant=1#x".parse().unwrap();
/// sent.record(&reqwest::Method::POST, &url);
/// assert_eq!(sent.line().as_deref(), Some("POST https://auth.example/oauth/token"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SentRequest(Arc<Mutex<Option<String>>>);

impl SentRequest {
    /// Records `method` and `url`, without the URL's query, fragment and
    /// userinfo.
    pub fn record(&self, method: &reqwest::Method, url: &reqwest::Url) {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        // Only fails for URLs that cannot have userinfo: nothing to drop.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(format!("{method} {shown}"));
    }

    /// The request line recorded, if a request was prepared.
    pub fn line(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
