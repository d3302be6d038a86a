//! Accepting the agent's connections without letting a peer hold them: a
//! cap per listener (so a flood on loopback TCP cannot starve the Unix
//! socket, and neither can exhaust file descriptors), a deadline on each
//! request head that also ends idle keep-alive connections, a deadline on
//! each request, and a graceful drain at stop.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use crate::access::Peer;
use crate::routes::FastToken;

/// A request head must arrive within this; an idle keep-alive connection
/// is closed after it too.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a request may take, a token fetch upstream included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The most connections one listener holds, at most.
const MAX_CONNECTIONS: usize = 1024;
/// File descriptors kept for everything but connections: stores, upstream
/// connections, files.
const RESERVED_FDS: u64 = 256;

/// The connection cap of each of `listeners` listeners, within the soft
/// file-descriptor limit `fd_limit`.
pub fn connection_cap(fd_limit: u64, listeners: u64) -> usize {
    let per = fd_limit.saturating_sub(RESERVED_FDS) / listeners.max(1);
    (per as usize).clamp(16, MAX_CONNECTIONS)
}

/// Raises the soft limit on open files to the hard limit (as servers do:
/// the default 1024 is too few for an agent under load); the new soft
/// limit.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    let Some(hard) = limit.maximum else {
        return soft;
    };
    if hard > soft
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        )
        .is_ok()
    {
        return hard;
    }
    soft
}

/// Something that accepts streams, and what each stream says of its peer.
pub trait Accept {
    /// The stream.
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    /// The next stream and its peer.
    fn accept(&self) -> impl Future<Output = std::io::Result<(Self::Stream, Option<Peer>)>> + Send;
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> std::io::Result<(Self::Stream, Option<Peer>)> {
        let (stream, _) = UnixListener::accept(self).await?;
        let peer = Peer::of(&stream);
        Ok((stream, Some(peer)))
    }
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> std::io::Result<(Self::Stream, Option<Peer>)> {
        let (stream, _) = TcpListener::accept(self).await?;
        Ok((stream, None))
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets each
/// connection finish its request and returns once all are closed.
pub async fn serve<L: Accept + Send + Sync + 'static>(
    listener: L,
    app: axum::Router,
    fast: Option<FastToken>,
    cap: usize,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(cap));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // At the cap, stop accepting: new peers wait in the kernel's
        // backlog and cost no descriptor.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and the like: wait rather than spin.
                    tracing::warn!(%error, "the agent cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}
        let (app, fast) = (app.clone(), fast.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            connection(stream, peer, app, fast, stop).await;
            drop(permit);
        });
    }
    while connections.join_next().await.is_some() {}
}

/// Returns once `stop` is true (holding no guard across an await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// One connection, until the peer closes it, a deadline passes, or the
/// agent stops (after the request in progress).
async fn connection<S>(
    stream: S,
    peer: Option<Peer>,
    app: axum::Router,
    fast: Option<FastToken>,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        let fast = fast.as_ref().and_then(|fast| fast.answer(&request, peer));
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let app = app.clone();
        async move {
            if let Some(response) = fast {
                return Ok(response);
            }
            match tokio::time::timeout(
                REQUEST_TIMEOUT,
                app.oneshot(request.map(axum::body::Body::new)),
            )
            .await
            {
                Ok(response) => response,
                Err(_) => Ok(crate::state::refusal(
                    http::StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    "the request took too long",
                )),
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024);
    let stream = crate::parse_errors::JsonParseErrors::new(stream);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let stopping = async move { stopped(&mut stop).await };
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopping => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.as_mut().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_the_descriptor_limit() {
        assert_eq!(connection_cap(1024, 2), 384);
        assert_eq!(connection_cap(1_048_576, 2), MAX_CONNECTIONS);
        assert_eq!(connection_cap(100, 2), 16);
    }
}
