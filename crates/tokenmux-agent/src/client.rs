//! `tokenmux token NAME` through a running agent. The agent is another
//! process: its answers are checked as strictly as a token endpoint's
//! (size, header-safe token, sane expiry, no control characters), it must
//! run as this user (or root, or a uid given with `--agent-uid`), and it
//! must serve the config file this client would read.
//!
//! The client blocks (no async runtime): a process that only needs the
//! agent's token should not pay for one. Every call finishes by its
//! deadline.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::AgentError;
use crate::protocol::{ErrorBody, ProofBody, ProofRequest, TokenBody};
use tokenmux_config::FileIdentity;

// One HTTP/1.1 exchange over a blocking Unix stream.
mod http1;

use http1::{MAX_ANSWER_BYTES, Unanswered};

/// How long a local agent may take to accept and answer. It keeps tokens
/// fresh in the background, so a healthy one answers in well under this.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(2);

/// A token the agent handed out, checked.
pub struct AgentToken {
    /// The token (checked: header-safe).
    pub access_token: String,
    /// Its type: `Bearer`.
    pub token_type: String,
    /// The header it goes in on API requests (checked: a header name that
    /// frames nothing).
    pub header: String,
    /// That header's value (checked: the token, or a scheme and the token).
    pub header_value: String,
    /// When it expires (checked: in the future, within the longest lifetime).
    pub expires_at: SystemTime,
}

/// A DPoP proof the agent signed for one API request, checked.
pub struct AgentProof {
    /// The header the token goes in: `Authorization`.
    pub header: String,
    /// Its value: `DPoP <token>`.
    pub header_value: String,
    /// The `DPoP` header's value, for that request only.
    pub dpop: String,
}

/// What asking the agent gave.
pub enum Answer {
    /// The token.
    Token(AgentToken),
    /// A DPoP proof.
    Proof(AgentProof),
    /// The agent did what was asked (a POST).
    Done,
    /// The agent cannot serve this request; why, for stderr. The caller
    /// builds the source itself.
    Fallback(String),
}

/// Whom the client asks: the socket, and which uids it trusts to run the
/// agent besides its own and root's.
pub struct AgentAddress<'a> {
    /// The agent's Unix socket.
    pub socket: &'a Path,
    /// A uid besides this user's and root's whose agent is trusted.
    pub trusted_uid: Option<u32>,
}

/// The token of `name` from the agent at `address`, when it serves the
/// config file `config` (the one this client would read, if any); with
/// `refresh`, a new one (the agent drops the one it holds first). Each
/// request gets [`AGENT_TIMEOUT`], and all of them end by `deadline`, if
/// one is given (an agent too slow for it: [`Answer::Fallback`]).
pub fn token(
    address: &AgentAddress<'_>,
    name: &str,
    config: Option<FileIdentity>,
    refresh: bool,
    deadline: Option<Instant>,
) -> Result<Answer, AgentError> {
    let mut query = String::new();
    if let Some(identity) = config {
        query.push_str(&format!("?config={identity}"));
    }
    let source = format!("/v1/sources/{}", urlencode(name));
    if refresh {
        let invalidate = format!("{source}/invalidate{query}");
        match ask(address, "POST", &invalidate, name, None, deadline)? {
            Answer::Done => {}
            other => return Ok(other),
        }
    }
    let path = format!("{source}/token{query}");
    ask(address, "GET", &path, name, None, deadline)
}

/// A DPoP proof for one API request (`request`: its method, URL and the
/// API's last nonce), signed by the agent with `name`'s key, when it
/// serves the config file `config`. The key never leaves the agent.
pub fn proof(
    address: &AgentAddress<'_>,
    name: &str,
    config: Option<FileIdentity>,
    request: &ProofRequest,
    deadline: Option<Instant>,
) -> Result<Answer, AgentError> {
    let mut path = format!("/v1/sources/{}/proof", urlencode(name));
    if let Some(identity) = config {
        path.push_str(&format!("?config={identity}"));
    }
    let body = serde_json::to_vec(request).map_err(|e| AgentError::other(e.to_string()))?;
    ask(address, "POST", &path, name, Some(&body), deadline)
}

/// One request to the agent (a JSON `body` for a POST that has one), its
/// answer checked.
fn ask(
    address: &AgentAddress<'_>,
    method: &str,
    path: &str,
    name: &str,
    body: Option<&[u8]>,
    deadline: Option<Instant>,
) -> Result<Answer, AgentError> {
    let shown = address.socket.display();
    let own = Instant::now() + AGENT_TIMEOUT;
    let deadline = deadline.map_or(own, |deadline| deadline.min(own));
    let late = |what: &str| {
        Ok(Answer::Fallback(format!(
            "the agent on {shown} did not {what} within {AGENT_TIMEOUT:?}"
        )))
    };
    let mut stream = match connect(address, deadline)? {
        Connected::Stream(stream) => stream,
        Connected::Nobody => {
            return Ok(Answer::Fallback(format!("no agent answers on {shown}")));
        }
        Connected::Late => return late("accept"),
    };
    let proof = body.is_some();
    match http1::exchange(&mut stream, method, path, body, deadline) {
        Ok((200, body)) if proof => read_proof(&body, &shown.to_string()),
        Ok((200, _)) if method == "POST" => Ok(Answer::Done),
        Ok((status, body)) => read_answer(status, &body, name, &shown.to_string()),
        Err(Unanswered::TooLarge) => Err(AgentError::other(format!(
            "the agent on {shown} answered with more than {MAX_ANSWER_BYTES} bytes; ignore it \
                 with --no-agent"
        ))),
        Err(Unanswered::Broken(why)) => {
            Ok(Answer::Fallback(format!("the agent on {shown}: {why}")))
        }
        Err(Unanswered::TimedOut) => late("answer"),
    }
}

/// What connecting gave.
enum Connected {
    /// A stream to a trusted agent.
    Stream(UnixStream),
    /// Nothing listens.
    Nobody,
    /// The agent did not accept by the deadline.
    Late,
}

/// Connects by `deadline` and checks who listens.
fn connect(address: &AgentAddress<'_>, deadline: Instant) -> Result<Connected, AgentError> {
    use rustix::io::Errno;
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType, sockopt};
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let shown = address.socket.display();
    let me = rustix::process::geteuid().as_raw();
    let trusted = |uid: u32| uid == me || uid == 0 || Some(uid) == address.trusted_uid;
    match std::fs::symlink_metadata(address.socket) {
        Err(_) => return Ok(Connected::Nobody),
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(AgentError::config(format!("{shown} is not a socket")));
        }
        Ok(meta) if !trusted(meta.uid()) => return Err(untrusted(&shown, meta.uid(), me)),
        Ok(_) => {}
    }
    let cannot = |e: Errno| AgentError::other(format!("cannot connect to {shown}: {e}"));
    let Ok(to) = SocketAddrUnix::new(address.socket) else {
        return Err(AgentError::config(format!(
            "{shown}: too long a path for a Unix socket"
        )));
    };
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(cannot)?;
    // A Unix connect waits, up to the send timeout, while the agent's
    // queue of connections to accept is full.
    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
        return Ok(Connected::Late);
    };
    sockopt::set_socket_timeout(&socket, sockopt::Timeout::Send, Some(left.max(MIN_WAIT)))
        .map_err(cannot)?;
    match rustix::net::connect(&socket, &to) {
        Ok(()) => {}
        Err(Errno::AGAIN | Errno::TIMEDOUT | Errno::INPROGRESS) => return Ok(Connected::Late),
        Err(_) => return Ok(Connected::Nobody),
    }
    // The process that listens, as the kernel saw it: the file's owner
    // is not enough (another user can bind a socket we are pointed at).
    match sockopt::socket_peercred(&socket).map(|cred| cred.uid.as_raw()) {
        Ok(uid) if trusted(uid) => Ok(Connected::Stream(UnixStream::from(socket))),
        Ok(uid) => Err(untrusted(&shown, uid, me)),
        Err(e) => Err(AgentError::config(format!(
            "cannot tell who runs the agent on {shown}: {e}"
        ))),
    }
}

/// A socket timeout cannot be zero (that is "wait for ever").
const MIN_WAIT: Duration = Duration::from_millis(1);

fn untrusted(shown: &std::path::Display<'_>, uid: u32, me: u32) -> AgentError {
    AgentError::config(format!(
        "the agent on {shown} runs as uid {uid}, not as this user (uid {me}): its tokens are not trusted \
         (give --agent-uid {uid} if that user's agent is meant to serve you, or --no-agent)"
    ))
}

/// The agent's answer, checked like a token endpoint's.
fn read_answer(status: u16, body: &[u8], name: &str, shown: &str) -> Result<Answer, AgentError> {
    let invalid = |why: &str| {
        AgentError::other(format!(
            "the agent on {shown} answered {why}; ignore it with --no-agent"
        ))
    };
    if status == 200 {
        let token: TokenBody =
            serde_json::from_slice(body).map_err(|_| invalid("with an unreadable token"))?;
        return checked(token).map(Answer::Token).map_err(invalid);
    }
    let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) else {
        return Err(invalid(&format!("HTTP {status} without an error body")));
    };
    match error.code.as_str() {
        "unknown_source" => {
            let served = error
                .sources
                .iter()
                .map(|s| tokenmux::neutralise_controls(s))
                .collect::<Vec<_>>();
            return Ok(Answer::Fallback(format!(
                "the agent on {shown} serves no source `{name}` (it serves: {})",
                served.join(", ")
            )));
        }
        "config_mismatch" => {
            return Ok(Answer::Fallback(format!(
                "the agent on {shown} serves another config file than this command's"
            )));
        }
        _ => {}
    }
    let message: String = error.message.chars().take(500).collect();
    Err(AgentError::new(
        error.kind,
        format!(
            "agent: {} ({})",
            tokenmux::neutralise_controls(&message),
            tokenmux::neutralise_controls(&error.code)
        ),
    ))
}

/// A proof answer, checked: `Authorization: DPoP <token>` and a proof a
/// header can carry.
fn read_proof(body: &[u8], shown: &str) -> Result<Answer, AgentError> {
    let invalid = |why: &str| {
        AgentError::other(format!(
            "the agent on {shown} answered {why}; ignore it with --no-agent"
        ))
    };
    let proof: ProofBody =
        serde_json::from_slice(body).map_err(|_| invalid("with an unreadable proof"))?;
    let token = proof
        .header_value
        .strip_prefix("DPoP ")
        .filter(|token| tokenmux::is_header_safe(token));
    let sound = proof.header.eq_ignore_ascii_case("authorization")
        && token.is_some()
        && tokenmux::is_header_safe(&proof.dpop)
        && proof.dpop.split('.').count() == 3;
    if !sound {
        return Err(invalid("with a proof or header a request cannot carry"));
    }
    Ok(Answer::Proof(AgentProof {
        header: "Authorization".into(),
        header_value: proof.header_value,
        dpop: proof.dpop,
    }))
}

/// The token, if it is one a header can carry, of type Bearer (or DPoP,
/// in `Authorization: DPoP …`), with an expiry in (0, ten years].
fn checked(token: TokenBody) -> Result<AgentToken, &'static str> {
    if !tokenmux::is_header_safe(&token.access_token) {
        return Err("with a token a header cannot carry (empty, spaces or control characters)");
    }
    let token_type = match token.token_type.to_ascii_lowercase().as_str() {
        "bearer" => "Bearer",
        "dpop" => "DPoP",
        _ => return Err("with a token type other than Bearer or DPoP"),
    };
    let lifetime = Duration::from_secs(token.expires_in);
    if lifetime.is_zero() || lifetime > tokenmux::MAX_TOKEN_LIFETIME {
        return Err("with an expiry out of range (expired, or beyond ten years)");
    }
    let expires_at = SystemTime::now()
        .checked_add(lifetime)
        .ok_or("with an expiry out of range (expired, or beyond ten years)")?;
    // An older agent says nothing of the header: `Authorization: Bearer`.
    let header = token.header.unwrap_or_else(|| "Authorization".into());
    let header_value = token
        .header_value
        .unwrap_or_else(|| format!("Bearer {}", token.access_token));
    let scheme =
        tokenmux::endpoint::presentation_scheme(&header, &header_value, &token.access_token)
            .map_err(|_| "with a header to send the token in that cannot carry it")?;
    if token_type == "DPoP"
        && (scheme != Some("DPoP") || !header.eq_ignore_ascii_case("authorization"))
    {
        return Err("with a DPoP token outside `Authorization: DPoP`");
    }
    Ok(AgentToken {
        access_token: token.access_token,
        token_type: token_type.into(),
        expires_at,
        header,
        header_value,
    })
}

/// A source name as one path segment.
fn urlencode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_that_never_accepts_is_given_up_at_the_deadline() {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        // Listening, with room for one waiting connection, never accepting.
        let listener = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
        rustix::net::bind(&listener, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        rustix::net::listen(&listener, 0).unwrap();
        let address = AgentAddress {
            socket: &path,
            trusted_uid: None,
        };
        let mut queued = Vec::new();
        let started = Instant::now();
        let late = loop {
            let deadline = Instant::now() + Duration::from_millis(200);
            match connect(&address, deadline).unwrap() {
                Connected::Stream(stream) => queued.push(stream),
                Connected::Late => break true,
                Connected::Nobody => break false,
            }
            assert!(queued.len() < 8, "the queue never filled");
        };
        assert!(late, "a full queue is an agent too slow, not a missing one");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // Nothing listens: nobody, at once.
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(matches!(connect(&address, deadline), Ok(Connected::Nobody)));
    }

    fn answer(body: &str) -> Result<Answer, AgentError> {
        read_answer(200, body.as_bytes(), "a", "s")
    }

    #[test]
    fn hostile_tokens_are_refused_and_errors_lose_their_controls() {
        for body in [
            r#"{"access_token":"a\r\nX-Evil: 1","token_type":"Bearer","expires_in":60}"#,
            r#"{"access_token":"\u001b[2J","token_type":"Bearer","expires_in":60}"#,
            r#"{"access_token":"","token_type":"Bearer","expires_in":60}"#,
            r#"{"access_token":"ok","token_type":"Bearer\r\nX: y","expires_in":60}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":18446744073709551615}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":0}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":-1}"#,
            // A header to send the token in that it cannot go in.
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":60,"header":"Content-Length","header_value":"ok"}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":60,"header":"X-A\r\nX-B","header_value":"ok"}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":60,"header":"X-A","header_value":"ok\r\nX-B: 1"}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":60,"header":"X-A","header_value":"other-token"}"#,
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":60,"header_value":"Be arer ok"}"#,
            r#"{"access_token":"ok","token_type":"MAC","expires_in":60}"#,
            // A DPoP token goes in `Authorization: DPoP` only.
            r#"{"access_token":"ok","token_type":"DPoP","expires_in":60}"#,
            r#"{"access_token":"ok","token_type":"DPoP","expires_in":60,"header":"X-A","header_value":"DPoP ok"}"#,
        ] {
            assert!(
                matches!(answer(body), Err(ref e) if e.kind().is_none()),
                "{body}"
            );
        }
        let Ok(Answer::Token(token)) =
            answer(r#"{"access_token":"ok","token_type":"bearer","expires_in":60}"#)
        else {
            panic!("a sound token is taken");
        };
        assert_eq!(
            (token.access_token.as_str(), token.token_type.as_str()),
            ("ok", "Bearer")
        );
        // An older agent names no header: `Authorization: Bearer`.
        assert_eq!(
            (token.header.as_str(), token.header_value.as_str()),
            ("Authorization", "Bearer ok")
        );
        let Ok(Answer::Token(own)) = answer(
            r#"{"access_token":"ok","token_type":"Bearer","expires_in":60,"header":"X-Auth-Token","header_value":"ok"}"#,
        ) else {
            panic!("a header of its own is taken");
        };
        assert_eq!(
            (own.header.as_str(), own.header_value.as_str()),
            ("X-Auth-Token", "ok")
        );
        let Ok(Answer::Token(dpop)) = answer(
            r#"{"access_token":"ok","token_type":"dpop","expires_in":60,"header":"Authorization","header_value":"DPoP ok"}"#,
        ) else {
            panic!("a DPoP token is taken");
        };
        assert_eq!(dpop.token_type, "DPoP");
        for proof in [
            r#"{"header":"Authorization","header_value":"DPoP ok","dpop":"a.b"}"#,
            r#"{"header":"Authorization","header_value":"Bearer ok","dpop":"a.b.c"}"#,
            r#"{"header":"X-A","header_value":"DPoP ok","dpop":"a.b.c"}"#,
            r#"{"header":"Authorization","header_value":"DPoP ok","dpop":"a.b.c\r\nX: 1"}"#,
            r#"{"header":"Authorization","header_value":"DPoP o k","dpop":"a.b.c"}"#,
        ] {
            assert!(read_proof(proof.as_bytes(), "s").is_err(), "{proof}");
        }
        let sound = br#"{"header":"Authorization","header_value":"DPoP ok","dpop":"a.b.c"}"#;
        assert!(matches!(read_proof(sound, "s"), Ok(Answer::Proof(_))));
        let error = br#"{"error":{"code":"server_error\u001b[31m","message":"x\u001b[2Jy"}}"#;
        let Err(failure) = read_answer(502, error, "a", "s") else {
            panic!("an error is an error");
        };
        assert!(!failure.message().contains('\u{1b}'), "{failure}");
    }

    #[test]
    fn the_kind_the_agent_sends_is_kept() {
        use tokenmux::ErrorKind;
        for (kind, expected) in [
            (r#","kind":"config""#, Some(ErrorKind::Config)),
            (r#","kind":"rejected""#, Some(ErrorKind::Rejected)),
            (r#","kind":"transient""#, Some(ErrorKind::Transient)),
            (r#","kind":"endpoint""#, Some(ErrorKind::Endpoint)),
            (r#","kind":"from-a-newer-agent""#, None),
            ("", None),
        ] {
            let body = format!(r#"{{"error":{{"code":"c"{kind},"message":"m"}}}}"#);
            let Err(failure) = read_answer(502, body.as_bytes(), "a", "s") else {
                panic!("an error is an error");
            };
            assert_eq!(failure.kind(), expected, "{body}");
        }
    }
}
