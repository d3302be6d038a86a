//! Shared helpers: rendering a recorded request for snapshots, and the
//! clients of each provider pointed at a mock.

use tokenmux_mock::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, RecordedRequest};

/// A request as sent on the wire, for an `insta` snapshot: method, path,
/// every header but `host` (its port varies), and the body, with the
/// multipart boundary (random per request) replaced by `BOUNDARY`.
pub fn render(request: &RecordedRequest) -> String {
    let boundary = request
        .header("content-type")
        .and_then(|ct| ct.split("boundary=").nth(1))
        .map(str::to_owned);
    let normalise = |text: &str| match &boundary {
        Some(boundary) => text.replace(boundary.as_str(), "BOUNDARY"),
        None => text.to_owned(),
    };
    let mut out = format!("{} {}\n", request.method, request.path);
    let mut headers: Vec<_> = request
        .headers
        .iter()
        .filter(|(name, _)| name != "host")
        .collect();
    headers.sort();
    for (name, value) in headers {
        out.push_str(&format!("{name}: {}\n", normalise(value)));
    }
    out.push('\n');
    out.push_str(&normalise(&String::from_utf8_lossy(&request.body)));
    out
}

pub const ID: &str = DEFAULT_CLIENT_ID;
pub const SECRET: &str = DEFAULT_CLIENT_SECRET;

pub fn neonpanel_request(secret: &str) -> tokenmux_neonpanel::types::LoginRequest {
    tokenmux_neonpanel::types::LoginRequest {
        client_id: ID.to_owned(),
        client_secret: secret.into(),
    }
}

pub fn airalo_request(secret: &str) -> tokenmux_airalo::types::V2TokenPostRequest {
    tokenmux_airalo::types::V2TokenPostRequest {
        client_id: ID.to_owned(),
        client_secret: secret.into(),
        grant_type: tokenmux_airalo::types::V2TokenPostRequestGrantType::ClientCredentials,
    }
}

pub fn jsonapi_request(secret: &str) -> tokenmux_jsonapi::types::TokenRequestDocument {
    use tokenmux_jsonapi::types::*;
    TokenRequestDocument {
        data: TokenRequestData {
            type_: TokenRequestDataType::AuthToken,
            attributes: TokenRequestAttributes {
                client_id: ID.to_owned(),
                client_secret: secret.into(),
            },
        },
    }
}

pub fn password_grant(password: &str) -> tokenmux_password::types::TokenRequest {
    use tokenmux_password::types::*;
    TokenRequest::PasswordGrant(PasswordGrant {
        grant_type: PasswordGrantGrantType::Password,
        username: tokenmux_mock::DEFAULT_USERNAME.to_owned(),
        password: password.into(),
    })
}

pub fn refresh_grant(refresh_token: &str) -> tokenmux_password::types::TokenRequest {
    use tokenmux_password::types::*;
    TokenRequest::RefreshTokenGrant(RefreshTokenGrant {
        grant_type: RefreshTokenGrantGrantType::RefreshToken,
        refresh_token: refresh_token.into(),
    })
}

/// The password provider's client with Basic credentials `id:secret`.
pub fn password_client(base_url: &str, id: &str, secret: &str) -> tokenmux_password::Client {
    tokenmux_password::Client::new(
        base_url,
        tokenmux_password::ClientConfig::default()
            .with_basic_auth(tokenmux_password::BasicAuth::new(id, secret)),
    )
}

/// A raw HTTP/1.1 server on loopback that answers every request with the
/// same bytes; for statuses and bodies the strict mock never produces.
/// Returns its base URL.
pub async fn canned(response: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                // Read the request head and its body before answering.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(end) = find(&request, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP/1.1 response with a Content-Length.
pub fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// An API that refuses the first request with 401 and accepts the rest,
/// answering with the Authorization header it received.
pub async fn api_refusing_once() -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request).to_string();
            let auth = head
                .lines()
                .find_map(|l| l.strip_prefix("authorization: "))
                .unwrap_or("none")
                .to_owned();
            let status = if served == 0 {
                "401 Unauthorized"
            } else {
                "200 OK"
            };
            served += 1;
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{auth}",
                auth.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}/resource")
}

/// A TCP proxy on loopback in front of the mock that resets (RST, no
/// answer) the next connections it is told to, and pipes the others
/// through: a connection reset as a crashed or overloaded server sends.
pub struct ResettingProxy {
    addr: std::net::SocketAddr,
    target: std::net::SocketAddr,
    resets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ResettingProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let resets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let pending = resets.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let reset = pending
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                tokio::spawn(async move {
                    if reset {
                        let mut buf = [0u8; 1024];
                        let _ = client.read(&mut buf).await;
                        let _ = client.set_zero_linger();
                        drop(client); // RST
                        return;
                    }
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            addr,
            target,
            resets,
        }
    }

    /// Resets the next `n` connections.
    pub fn reset_next(&self, n: usize) {
        self.resets.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// `url` (a mock URL) through the proxy.
    pub fn url(&self, url: &str) -> String {
        url.replace(&self.target.to_string(), &self.addr.to_string())
    }
}
