//! One HTTP/1.1 exchange with the agent over a blocking Unix stream,
//! within a deadline: the request written in one go with `Connection:
//! close`, the answer read, parsed by `httparse` (hyper's own parser) and
//! framed as RFC 9112 §6.3 says (interim 1xx answers skipped, chunked or
//! Content-Length bodies, or a body that ends when the agent closes).
//!
//! Why not hyper's client: `tokenmux token NAME` is a process per token,
//! and an async runtime, hyper's connection task and the cold code they
//! touch cost about a sixth of such a process (see `docs/benchmarks.md`,
//! row 9). `ureq-proto` frames HTTP/1.1 without I/O too, but brings a
//! second `base64` and a state machine for features (redirects, 100-continue
//! on our own requests, pooling) that one request to a local agent never
//! uses.

use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use httparse::Status;

/// The largest answer body read: a token and its type, not a document.
pub(super) const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The largest answer head: the agent's are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most bytes read in all (a chunked body's framing included).
const MAX_READ_BYTES: usize = MAX_HEAD_BYTES + 4 * MAX_ANSWER_BYTES;
/// The most header fields an answer head may have.
const MAX_HEADERS: usize = 32;

/// Why an exchange gave no answer to read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unanswered {
    /// The answer is larger than the limits above (a hostile agent).
    TooLarge,
    /// The deadline passed first.
    TimedOut,
    /// No HTTP, or the connection broke.
    Broken(String),
}

/// How an answer's body ends (RFC 9112 §6.3).
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Sends `method path` (with a JSON `body`, if any) and reads the answer:
/// its status and body.
pub(super) fn exchange(
    stream: &mut UnixStream,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    deadline: Instant,
) -> Result<(u16, Vec<u8>), Unanswered> {
    // The path is ours (percent-encoded); anything else would frame a
    // second request.
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Unanswered::Broken(format!(
            "`{path}` is not a request path"
        )));
    }
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n");
    if let Some(body) = body {
        request.push_str("content-type: application/json\r\n");
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    } else if method != "GET" {
        request.push_str("content-length: 0\r\n");
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body.unwrap_or_default());
    send(stream, &request, deadline)?;
    read_answer(stream, deadline)
}

/// Writes all of `bytes`, without SIGPIPE should the agent have closed.
fn send(stream: &mut UnixStream, mut bytes: &[u8], deadline: Instant) -> Result<(), Unanswered> {
    use rustix::net::{SendFlags, send};
    while !bytes.is_empty() {
        stream
            .set_write_timeout(Some(left(deadline)?))
            .map_err(broken)?;
        match send(&*stream, bytes, SendFlags::NOSIGNAL) {
            Ok(sent) => bytes = &bytes[sent..],
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => return Err(Unanswered::TimedOut),
            Err(e) => return Err(broken(e.into())),
        }
    }
    Ok(())
}

/// Reads the answer: its head (after any interim 1xx heads), then its body.
fn read_answer(stream: &mut UnixStream, deadline: Instant) -> Result<(u16, Vec<u8>), Unanswered> {
    let mut raw = Vec::with_capacity(4096);
    let mut start = 0;
    let (status, framing, body_start) = loop {
        match parse_head(&raw[start..])? {
            Some((status, _, len)) if (100..200).contains(&status) => start += len,
            Some((status, framing, len)) => break (status, framing, start + len),
            None if raw.len() - start > MAX_HEAD_BYTES => return Err(Unanswered::TooLarge),
            None => {
                if read_more(stream, &mut raw, deadline)? == 0 {
                    return Err(Unanswered::Broken("it closed before answering".into()));
                }
            }
        }
    };
    let body = match framing {
        Framing::Length(length) if length > MAX_ANSWER_BYTES => return Err(Unanswered::TooLarge),
        Framing::Length(length) => {
            while raw.len() - body_start < length {
                if read_more(stream, &mut raw, deadline)? == 0 {
                    return Err(Unanswered::Broken("its answer was cut".into()));
                }
            }
            raw[body_start..body_start + length].to_vec()
        }
        Framing::UntilClose => {
            while raw.len() - body_start <= MAX_ANSWER_BYTES
                && read_more(stream, &mut raw, deadline)? > 0
            {}
            if raw.len() - body_start > MAX_ANSWER_BYTES {
                return Err(Unanswered::TooLarge);
            }
            raw[body_start..].to_vec()
        }
        Framing::Chunked => {
            let (mut at, mut body) = (body_start, Vec::new());
            while !dechunk(&raw, &mut at, &mut body)? {
                if read_more(stream, &mut raw, deadline)? == 0 {
                    return Err(Unanswered::Broken("its answer was cut".into()));
                }
            }
            body
        }
    };
    Ok((status, body))
}

/// The head at the start of `raw`, once it is whole: its status, how its
/// body is framed, and its length.
fn parse_head(raw: &[u8]) -> Result<Option<(u16, Framing, usize)>, Unanswered> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(raw) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return Ok(None),
        Err(e) => return Err(Unanswered::Broken(format!("no HTTP: {e}"))),
    };
    let status = response.code.unwrap_or_default();
    if status == 101 {
        return Err(Unanswered::Broken("it switched protocols".into()));
    }
    if matches!(status, 100..=199 | 204 | 304) {
        return Ok(Some((status, Framing::Length(0), len)));
    }
    Ok(Some((status, framing(response.headers)?, len)))
}

/// RFC 9112 §6.3: a transfer coding wins over a length; chunked must come
/// last, else the body ends at close; lengths that disagree are an error.
fn framing(headers: &[httparse::Header<'_>]) -> Result<Framing, Unanswered> {
    // A field's values, its repeated lines and comma-separated lists alike.
    fn field<'a>(
        headers: &'a [httparse::Header<'a>],
        name: &'a str,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .map(|v| v.trim_ascii())
    }
    if let Some(last) = field(headers, "transfer-encoding").last() {
        return Ok(match last.eq_ignore_ascii_case(b"chunked") {
            true => Framing::Chunked,
            false => Framing::UntilClose,
        });
    }
    let mut length = None;
    for value in field(headers, "content-length") {
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Unanswered::Broken("an unreadable Content-Length".into()))?;
        if length.is_some_and(|known| known != parsed) {
            return Err(Unanswered::Broken("two different Content-Lengths".into()));
        }
        length = Some(parsed);
    }
    Ok(match length {
        Some(length) => Framing::Length(usize::try_from(length).unwrap_or(usize::MAX)),
        None => Framing::UntilClose,
    })
}

/// Decodes the whole chunks of `raw` from `at` into `body`: `true` once
/// the last chunk and its trailer section are read.
fn dechunk(raw: &[u8], at: &mut usize, body: &mut Vec<u8>) -> Result<bool, Unanswered> {
    loop {
        let (line, size) = match httparse::parse_chunk_size(&raw[*at..]) {
            Ok(Status::Complete(sized)) => sized,
            Ok(Status::Partial) => return Ok(false),
            Err(_) => return Err(Unanswered::Broken("a malformed chunk".into())),
        };
        let data = *at + line;
        if size == 0 {
            // The trailer section: fields up to an empty line, ignored.
            let rest = &raw[data..];
            return Ok(rest.starts_with(b"\r\n") || rest.windows(4).any(|w| w == b"\r\n\r\n"));
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > MAX_ANSWER_BYTES - body.len() {
            return Err(Unanswered::TooLarge);
        }
        let Some(chunk) = raw.get(data..data + size + 2) else {
            return Ok(false);
        };
        if !chunk.ends_with(b"\r\n") {
            return Err(Unanswered::Broken("a malformed chunk".into()));
        }
        body.extend_from_slice(&chunk[..size]);
        *at = data + size + 2;
    }
}

/// Reads what has come (at most the read limit in all) before the
/// deadline: how many bytes, 0 when the agent closed.
fn read_more(
    stream: &mut UnixStream,
    raw: &mut Vec<u8>,
    deadline: Instant,
) -> Result<usize, Unanswered> {
    let old = raw.len();
    if old >= MAX_READ_BYTES {
        return Err(Unanswered::TooLarge);
    }
    raw.resize((old + 8192).min(MAX_READ_BYTES), 0);
    let read = loop {
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(broken)?;
        match stream.read(&mut raw[old..]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => break other,
        }
    };
    raw.truncate(old + *read.as_ref().unwrap_or(&0));
    match read {
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(Unanswered::TimedOut)
        }
        Err(e) => Err(broken(e)),
    }
}

/// What is left until `deadline`; a socket timeout cannot be zero.
fn left(deadline: Instant) -> Result<std::time::Duration, Unanswered> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .ok_or(Unanswered::TimedOut)
}

fn broken(e: std::io::Error) -> Unanswered {
    Unanswered::Broken(format!("the connection broke: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::time::Duration;

    /// The answer `exchange` reads from an agent that writes `parts` (with
    /// a pause between them) and closes, and the request it got.
    fn answered(parts: &[&[u8]]) -> (Result<(u16, Vec<u8>), Unanswered>, String) {
        let (mut client, mut agent) = UnixStream::pair().unwrap();
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        let server = std::thread::spawn(move || {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && agent.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            for part in parts {
                // The client may have stopped reading (an answer too large).
                let _ = agent.write_all(&part);
                std::thread::sleep(Duration::from_millis(5));
            }
            String::from_utf8(request).unwrap()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = exchange(&mut client, "GET", "/v1/sources/a/token", None, deadline);
        drop(client);
        (got, server.join().unwrap())
    }

    fn ok(status: u16, body: &str) -> Result<(u16, Vec<u8>), Unanswered> {
        Ok((status, body.as_bytes().to_vec()))
    }

    #[test]
    fn the_request_is_one_get_that_asks_to_close() {
        let (_, request) = answered(&[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]);
        assert_eq!(
            request,
            "GET /v1/sources/a/token HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn bodies_are_framed_as_rfc_9112_says() {
        for (parts, expected) in [
            // A length, the head and body split anywhere.
            (vec![&b"HTTP/1.1 200 OK\r\nContent-Le"[..], b"ngth: 4\r\n\r\nab", b"cd"], ok(200, "abcd")),
            // Bytes past the length are not the body.
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nabcd"], ok(200, "ab")),
            // Equal repeated lengths are one length.
            (vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\nab"], ok(200, "ab")),
            // Chunks with an extension and a trailer; split mid-chunk.
            (
                vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nab", b"c\r\n1\r\nd\r\n0\r\nx-t: 1\r\n\r\n"],
                ok(200, "abcd"),
            ),
            // A transfer coding wins over a length.
            (
                vec![b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"],
                ok(200, "ab"),
            ),
            // Neither: the body ends when the agent closes.
            (vec![b"HTTP/1.1 503 Busy\r\n\r\nab", b"cd"], ok(503, "abcd")),
            // Interim answers are skipped; 204 has no body.
            (vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n"], ok(204, "")),
        ] {
            assert_eq!(answered(&parts).0, expected, "{parts:?}");
        }
    }

    #[test]
    fn hostile_or_broken_answers_are_refused() {
        let big = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            MAX_ANSWER_BYTES + 1
        );
        let endless_head = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES + 1));
        let long_close = format!(
            "HTTP/1.1 200 OK\r\n\r\n{}",
            "a".repeat(MAX_ANSWER_BYTES + 1)
        );
        let long_chunk = format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_ANSWER_BYTES + 1
        );
        for (part, expected) in [
            (big.as_bytes(), Unanswered::TooLarge),
            (endless_head.as_bytes(), Unanswered::TooLarge),
            (long_close.as_bytes(), Unanswered::TooLarge),
            (long_chunk.as_bytes(), Unanswered::TooLarge),
        ] {
            assert_eq!(answered(&[part]).0, Err(expected));
        }
        for part in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"",
        ] {
            let (got, _) = answered(&[part]);
            assert!(
                matches!(got, Err(Unanswered::Broken(_))),
                "{got:?} for {part:?}"
            );
        }
    }

    #[test]
    fn an_agent_that_trickles_is_given_up_at_the_deadline() {
        let (mut client, mut agent) = UnixStream::pair().unwrap();
        let started = Instant::now();
        let trickle = std::thread::spawn(move || {
            // A byte every 20 ms, never a whole head.
            agent.write_all(b"HTTP/1.1 200 OK\r\nx: ").unwrap();
            while agent.write_all(b"a").is_ok() && started.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let deadline = Instant::now() + Duration::from_millis(150);
        let got = exchange(&mut client, "GET", "/", None, deadline);
        assert_eq!(got, Err(Unanswered::TimedOut));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        drop(client);
        trickle.join().unwrap();
    }

    #[test]
    fn a_post_says_its_length_and_a_path_cannot_frame_a_second_request() {
        let (mut client, mut agent) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut request = vec![0u8; 1024];
            let n = agent.read(&mut request).unwrap();
            agent
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(request[..n].to_vec()).unwrap()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = exchange(&mut client, "POST", "/p", Some(b"{}"), deadline);
        assert_eq!(got, ok(200, ""));
        assert_eq!(
            server.join().unwrap(),
            "POST /p HTTP/1.1\r\nhost: agent\r\nconnection: close\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        let smuggled = exchange(&mut client, "GET", "/a HTTP/1.1\r\nx: y", None, deadline);
        assert!(matches!(smuggled, Err(Unanswered::Broken(_))));
    }
}
