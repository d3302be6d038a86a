//! A cap on the size of each Redis reply, checked on the bytes as they
//! arrive and before the redis crate's parser buffers them.
//!
//! The redis crate has no reply limit: a hostile or broken server that
//! announces a 2 GB bulk string (`$2000000000`) or array would have it
//! buffered whole. [`Capped`] wraps the connection's stream and follows
//! RESP's framing (RESP2 and RESP3): a reply whose announced lengths or
//! bytes pass the cap fails the read with [`ReplyTooLarge`] before its
//! body is read, which ends that connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest header line (`$<length>`, `*<count>`): a sign and 19 digits.
const MAX_HEADER: usize = 21;

/// Fewest bytes a value takes on the wire (`_\r\n`, RESP3's null): an
/// aggregate announcing `n` elements will take at least `3 n` bytes.
const MIN_VALUE_BYTES: u64 = 3;

/// The error a read fails with when a reply passes the cap; it travels in
/// an [`io::Error`] of kind `InvalidData`.
#[derive(Debug, thiserror::Error)]
#[error("Redis sent a reply larger than the {cap}-byte limit (max_reply_bytes)")]
pub(super) struct ReplyTooLarge {
    /// The limit that was passed, in bytes.
    pub(super) cap: u64,
}

/// Where the scanner is inside the current reply.
#[derive(Debug)]
enum State {
    /// Between values: the next byte is a type marker.
    Marker,
    /// In a length or count line of a value of type `kind`.
    Header { kind: u8, digits: Vec<u8> },
    /// In a line whose content is the value (`+`, `-`, `:`, …).
    Line,
    /// Inside a bulk value's body and its CRLF: this many bytes left.
    Body(u64),
}

/// RESP framing, followed byte by byte without keeping any value.
#[derive(Debug)]
pub(super) struct ReplyGuard {
    cap: u64,
    state: State,
    /// Values still owed to the current top-level reply (0: between replies).
    owed: u64,
    /// Bytes of the current reply seen, or announced, so far.
    used: u64,
}

impl ReplyGuard {
    /// A guard allowing replies of at most `cap` bytes each.
    pub(super) fn new(cap: u64) -> Self {
        Self {
            cap,
            state: State::Marker,
            owed: 0,
            used: 0,
        }
    }

    /// Follows `bytes`, the next bytes from the server; fails as soon as
    /// the reply they belong to passes the cap or stops being RESP.
    pub(super) fn scan(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut at = 0;
        while at < bytes.len() {
            if let State::Body(left) = self.state {
                let step = left.min((bytes.len() - at) as u64);
                at += step as usize;
                self.state = match left - step {
                    0 => self.value_done(),
                    left => State::Body(left),
                };
                continue;
            }
            let byte = bytes[at];
            at += 1;
            self.charge(1)?;
            self.state = match std::mem::replace(&mut self.state, State::Marker) {
                State::Marker => self.marker(byte)?,
                State::Line if byte == b'\n' => self.value_done(),
                State::Line => State::Line,
                State::Header { kind, digits } if byte == b'\n' => self.header(kind, &digits)?,
                State::Header { kind, mut digits } => {
                    if byte != b'\r' {
                        if digits.len() == MAX_HEADER {
                            return Err(malformed());
                        }
                        digits.push(byte);
                    }
                    State::Header { kind, digits }
                }
                State::Body(_) => unreachable!("handled above"),
            };
        }
        Ok(())
    }

    fn marker(&mut self, byte: u8) -> io::Result<State> {
        if self.owed == 0 {
            self.owed = 1;
        }
        match byte {
            b'$' | b'!' | b'=' | b'*' | b'~' | b'>' | b'%' | b'|' => Ok(State::Header {
                kind: byte,
                digits: Vec::new(),
            }),
            b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_' => Ok(State::Line),
            _ => Err(malformed()),
        }
    }

    /// A length or count line ended: checks what it announces.
    fn header(&mut self, kind: u8, digits: &[u8]) -> io::Result<State> {
        let length: i64 = std::str::from_utf8(digits)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(malformed)?;
        let Ok(length) = u64::try_from(length) else {
            return match length {
                -1 => Ok(self.value_done()), // RESP2's null bulk or array
                _ => Err(malformed()),
            };
        };
        match kind {
            b'$' | b'!' | b'=' => {
                let body = length.saturating_add(2);
                self.charge(body)?;
                // Charged up front: the body's bytes are skipped uncounted.
                Ok(if body == 0 {
                    self.value_done()
                } else {
                    State::Body(body)
                })
            }
            _ => {
                let elements = match kind {
                    b'%' => length.saturating_mul(2),
                    // Attributes precede the value they annotate.
                    b'|' => length.saturating_mul(2).saturating_add(1),
                    _ => length,
                };
                self.charge_announced(elements)?;
                self.owed = self.owed - 1 + elements;
                Ok(match self.owed {
                    0 => self.reply_done(),
                    _ => State::Marker,
                })
            }
        }
    }

    /// Counts `bytes` more of the current reply.
    fn charge(&mut self, bytes: u64) -> io::Result<()> {
        self.used = self.used.saturating_add(bytes);
        match self.used > self.cap {
            true => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ReplyTooLarge { cap: self.cap },
            )),
            false => Ok(()),
        }
    }

    /// Checks that `elements` more values could still fit (at their
    /// smallest) without counting them: each is charged as it arrives.
    fn charge_announced(&mut self, elements: u64) -> io::Result<()> {
        let least = self
            .used
            .saturating_add(elements.saturating_mul(MIN_VALUE_BYTES));
        match least > self.cap {
            true => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ReplyTooLarge { cap: self.cap },
            )),
            false => Ok(()),
        }
    }

    fn value_done(&mut self) -> State {
        self.owed -= 1;
        match self.owed {
            0 => self.reply_done(),
            _ => State::Marker,
        }
    }

    fn reply_done(&mut self) -> State {
        self.used = 0;
        State::Marker
    }
}

fn malformed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "Redis sent bytes that are not RESP",
    )
}

/// A stream whose reads pass a [`ReplyGuard`]; writes go through as they are.
pub(super) struct Capped<S> {
    inner: S,
    guard: ReplyGuard,
}

impl<S> Capped<S> {
    /// `inner`, whose replies may be at most `cap` bytes each.
    pub(super) fn new(inner: S, cap: u64) -> Self {
        Self {
            inner,
            guard: ReplyGuard::new(cap),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        // The parser sees these bytes only if the guard lets them through.
        this.guard.scan(&buf.filled()[before..])?;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Whether `error` (from the redis crate) is a reply that passed the cap,
/// and which cap.
pub(super) fn passed_cap(error: &redis::RedisError) -> Option<u64> {
    tokenmux_wire::net::find_cause::<ReplyTooLarge>(error).map(|too_large| too_large.cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(cap: u64, wire: &[u8]) -> bool {
        ReplyGuard::new(cap).scan(wire).is_ok()
    }

    #[test]
    fn replies_within_the_cap_pass_whatever_the_split() {
        let wire: &[u8] =
            b"+OK\r\n$5\r\nhello\r\n*2\r\n:1\r\n$-1\r\n%1\r\n+k\r\n*1\r\n$3\r\nabc\r\n_\r\n*-1\r\n";
        for split in 0..wire.len() {
            let mut guard = ReplyGuard::new(32);
            guard.scan(&wire[..split]).unwrap();
            guard.scan(&wire[split..]).unwrap();
            assert_eq!(guard.owed, 0, "split at {split}");
        }
        // Each reply is measured alone: the whole stream is far over 16.
        let mut guard = ReplyGuard::new(16);
        for _ in 0..1000 {
            guard.scan(b"$5\r\nhello\r\n").unwrap();
        }
    }

    #[test]
    fn an_announced_bulk_or_aggregate_past_the_cap_fails_before_its_body() {
        let error = ReplyGuard::new(1 << 20)
            .scan(b"$2000000000\r\n")
            .unwrap_err();
        let too_large = error.get_ref().unwrap().downcast_ref::<ReplyTooLarge>();
        assert_eq!(too_large.unwrap().cap, 1 << 20);
        assert!(!fits(1 << 20, b"*2000000000\r\n"));
        assert!(!fits(1 << 20, b"%400000\r\n"));
        assert!(!fits(1 << 20, b"*1\r\n*1\r\n$1048576\r\n"));
        assert!(fits(1 << 20, b"$1048000\r\n"));
    }

    #[test]
    fn a_line_without_end_or_many_small_values_are_counted() {
        let mut guard = ReplyGuard::new(1024);
        guard.scan(b"+").unwrap();
        assert!(guard.scan(&[b'a'; 1100]).is_err());
        let mut guard = ReplyGuard::new(1024);
        guard.scan(b"*300\r\n").unwrap();
        assert!(guard.scan(&b":12345678\r\n".repeat(300)).is_err());
    }

    #[test]
    fn bytes_that_are_not_resp_fail() {
        assert!(!fits(1024, b"HTTP/1.1 200 OK\r\n"));
        assert!(!fits(1024, b"$abc\r\n"));
        assert!(!fits(1024, b"$-2\r\n"));
        assert!(!fits(1024, b"$111111111111111111111111\r\n"));
    }

    #[tokio::test]
    async fn a_capped_stream_fails_the_read_that_passes_the_cap() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (client, mut server) = tokio::io::duplex(64);
        let mut capped = Capped::new(client, 100);
        server.write_all(b"+OK\r\n$1000\r\n").await.unwrap();
        let mut buf = [0; 64];
        let error = capped.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let redis_error = redis::RedisError::from(error);
        assert_eq!(passed_cap(&redis_error), Some(100));
    }
}
