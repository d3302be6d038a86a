//! The API's JSON errors for requests hyper cannot parse.
//!
//! hyper answers a request head it cannot read (malformed: 400; URI too
//! long: 414; head too large: 431) itself, before any service runs, with
//! an empty body, and offers no hook. Those answers are the only ones
//! with `content-length: 0` and such a status: every answer of the API's
//! own has a JSON body. [`JsonParseErrors`] wraps a connection's stream
//! and, on the way out, gives those answers the documented body
//! (`{"error": {"code", "message"}}`); every other byte passes unchanged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The API's error for one of hyper's automatic answers, by status line.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let (status, reason, code, message) = match head.get(..13)? {
        b"HTTP/1.1 400 " => (
            400,
            "Bad Request",
            "bad_request",
            "the request head is malformed",
        ),
        b"HTTP/1.1 414 " => (
            414,
            "URI Too Long",
            "uri_too_long",
            "the request target is too long",
        ),
        b"HTTP/1.1 431 " => (
            431,
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request head is larger than 64 KiB",
        ),
        _ => return None,
    };
    // A whole head with an empty body: hyper's, never one of the API's.
    let text = std::str::from_utf8(head).ok()?;
    let end = text.find("\r\n\r\n")?;
    if end + 4 != text.len() {
        return None;
    }
    let empty = text[..end]
        .split("\r\n")
        .skip(1)
        .any(|line| line.eq_ignore_ascii_case("content-length: 0"));
    if !empty {
        return None;
    }
    let kept: String = text[..end]
        .split("\r\n")
        .skip(1)
        .filter(|line| line.to_ascii_lowercase().starts_with("date:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    let body = crate::protocol::ErrorBody::new(code, None, message).to_json();
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n{kept}\r\n{body}",
        body.len()
    );
    Some(answer.into_bytes())
}

/// A stream whose writes of hyper's automatic error answers carry the
/// API's JSON body.
pub struct JsonParseErrors<S> {
    inner: S,
    /// The JSON answer being written in place of hyper's, how much of it
    /// is written, and the length of hyper's buffer it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonParseErrors<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match replacement(buf) {
                Some(answer) => this.pending = Some((answer, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // hyper sees its buffer written once the whole answer is.
        let Some((answer, written, stands_for)) = &mut this.pending else {
            unreachable!("set above")
        };
        while *written < answer.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let consumed = *stands_for;
        this.pending = None;
        Poll::Ready(Ok(consumed))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_error_answers_are_replaced() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 21:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(replacement(hyper).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert!(answer.contains("date: Wed, 02 Dec 2026"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "headers_too_large");
        let length = format!("content-length: {}\r\n", body.len());
        assert!(answer.contains(&length), "{answer}");
        // The API's own answers, and anything but a whole empty head, pass.
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 52\r\n\r\n";
        assert!(replacement(own).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}";
        assert!(replacement(with_body).is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"{\"token\"").is_none());
    }
}
