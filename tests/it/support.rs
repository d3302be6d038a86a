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
        // Transport headers, not the documented format: the User-Agent
        // names tokenmux's version and has its own test.
        .filter(|(name, _)| name != "host" && name != "user-agent")
        .collect();
    headers.sort();
    for (name, value) in headers {
        out.push_str(&format!("{name}: {}\n", normalise(value)));
    }
    out.push('\n');
    out.push_str(&normalise(&String::from_utf8_lossy(&request.body)));
    out
}

/// Every provider of the spec registry, by name.
pub fn providers() -> Vec<&'static str> {
    tokenmux::Provider::all().iter().map(|p| p.name()).collect()
}

/// The provider named `name`, at its spec's default server.
pub fn named(name: &str) -> tokenmux::Provider {
    tokenmux::Provider::by_name(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A 200 body of `name` whose token fields (named as OAuth2 names them:
/// `access_token`, `token_type`, `expires_in`, `refresh_token`) are the JSON
/// object text `fields` verbatim (duplicate keys survive), inside the
/// spec's example envelope; and its documented media type.
pub fn success_body_raw(name: &str, fields: &str) -> (&'static str, String) {
    let spec = named(name).spec();
    let token = &spec.token;
    let mut body: serde_json::Value = spec
        .success_example
        .and_then(|example| serde_json::from_str(example).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    let (parent, _) = token.access_token.rsplit_once('/').unwrap_or_default();
    tokenmux::endpoint::set_pointer(&mut body, parent, "@@FIELDS@@".into());
    let mut fields = fields.to_owned();
    for (oauth, pointer) in [
        ("access_token", Some(token.access_token)),
        ("token_type", token.token_type),
        ("expires_in", token.expiry.map(|e| e.pointer)),
        ("refresh_token", token.refresh_token),
    ] {
        if let Some(key) = pointer.and_then(|p| p.rsplit('/').next()) {
            fields = fields.replace(&format!("\"{oauth}\""), &format!("\"{key}\""));
        }
    }
    let text = if parent.is_empty() {
        fields
    } else {
        body.to_string().replace("\"@@FIELDS@@\"", &fields)
    };
    let media = spec.grants[0].wire.accept.unwrap_or("application/json");
    (media, text)
}

/// Whether `name`'s spec requires the success body's property marked
/// `x-tokenmux-token: {part}` (RFC 6749 requires `token_type`; some
/// documents leave it optional).
pub fn token_part_required(name: &str, part: &str) -> bool {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../specs/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let schemas = spec["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    schemas.values().any(|schema| {
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(property, body)| {
                body["x-tokenmux-token"] == part && required.iter().any(|r| r == property.as_str())
            })
    })
}

/// The provider named `name` at `base_url`.
pub fn provider(name: &str, base_url: impl Into<String>) -> tokenmux::Provider {
    tokenmux::Provider::by_name(name)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_base_url(base_url)
}

/// The mock's credentials in the shape the provider's primary grant needs
/// (a username and password too when its spec asks for them).
pub fn credentials_for(name: &str) -> tokenmux::Credentials {
    credentials_with(name, SECRET, tokenmux_mock::DEFAULT_PASSWORD)
}

/// The credentials `name`'s spec needs, with this client secret and (for
/// a password grant) this password; a value for each required parameter.
pub fn credentials_with(name: &str, secret: &str, password: &str) -> tokenmux::Credentials {
    let spec = named(name).spec();
    let credentials = match tokenmux::endpoint::Needs::of(spec).resource_owner() {
        true => {
            tokenmux::Credentials::password(ID, secret, tokenmux_mock::DEFAULT_USERNAME, password)
        }
        false => tokenmux::Credentials::client(ID, secret),
    };
    let credentials = match tokenmux::endpoint::Needs::of(spec)
        .requires(tokenmux::endpoint::CredentialRole::PrivateKey)
    {
        true => credentials.with_private_key(mock_client_key()),
        false => credentials,
    };
    spec.parameters()
        .iter()
        .filter(|p| p.required)
        .fold(credentials, |c, p| c.with_param(p.name, TEST_PARAMETER))
}

/// Credentials the mock refuses for `name`: a wrong client secret and
/// password, and, where the spec signs its requests, a key of another
/// client.
pub fn wrong_credentials(name: &str) -> tokenmux::Credentials {
    let wrong = credentials_with(name, "wrong-secret", "wrong-secret");
    match tokenmux::endpoint::Needs::of(named(name).spec())
        .requires(tokenmux::endpoint::CredentialRole::PrivateKey)
    {
        true => {
            let other = include_str!("../../crates/tokenmux-jose/tests/keys/ec-pkcs8.pem");
            wrong.with_private_key(
                tokenmux::jose::PrivateKey::from_pem(other.as_bytes()).expect("a PEM key"),
            )
        }
        false => wrong,
    }
}

/// The mock's default client key, for specs whose requests are signed
/// by the client's private key.
pub fn mock_client_key() -> tokenmux::jose::PrivateKey {
    tokenmux::jose::PrivateKey::from_pem(tokenmux_mock::DEFAULT_CLIENT_PRIVATE_KEY.as_bytes())
        .expect("the mock's client key is a PEM key")
}

/// The mock's default client key as a file, for the CLI's
/// `TOKENMUX_PRIVATE_KEY_FILE`: a 0600 copy in cargo's scratch directory
/// for tests (a clone gives the committed file 0644, which the CLI warns
/// about), written by [`write_mock_client_key`].
pub const MOCK_CLIENT_KEY_FILE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/mock-client-key.pem");

/// Writes [`MOCK_CLIENT_KEY_FILE`] once, readable by its owner only.
pub fn write_mock_client_key() {
    static WRITTEN: std::sync::Once = std::sync::Once::new();
    WRITTEN.call_once(|| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let partial = format!("{MOCK_CLIENT_KEY_FILE}.{}", std::process::id());
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .unwrap();
        file.write_all(tokenmux_mock::DEFAULT_CLIENT_PRIVATE_KEY.as_bytes())
            .unwrap();
        std::fs::rename(&partial, MOCK_CLIENT_KEY_FILE).unwrap();
    });
}

/// `--param NAME=<TEST_PARAMETER>` for each required parameter of `name`,
/// as [`credentials_with`] gives them to the library.
pub fn param_flags(name: &str) -> Vec<String> {
    named(name)
        .spec()
        .parameters()
        .iter()
        .filter(|p| p.required)
        .flat_map(|p| ["--param".to_owned(), format!("{}={TEST_PARAMETER}", p.name)])
        .collect()
}

/// Whether `token` is an access token the mock issued for `name`: one
/// with its prefix, or, where the spec gives no lifetime, an unsigned JWT
/// whose `jti` has it.
pub fn is_mock_token(name: &str, token: &str) -> bool {
    use base64::Engine as _;
    let prefix = format!("mock-{name}-access-");
    if token.starts_with(&prefix) {
        return true;
    }
    let payload = token.split('.').nth(1).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|claims| claims["jti"].as_str().map(|jti| jti.starts_with(&prefix)))
        .unwrap_or(false)
}

/// The claims of every JWT in `text` (a request body or header), as JSON
/// texts joined by spaces: where a signed assertion carries a value.
pub fn jwt_claims_in(text: &str) -> String {
    use base64::Engine as _;
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .filter(|word| word.split('.').count() == 3)
        .filter_map(|jwt| {
            let payload = jwt.split('.').nth(1)?;
            let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()?;
            String::from_utf8(json).ok()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What comes before the token in the header `name`'s spec presents it
/// in: `Bearer `, another scheme, or nothing (a header of its own).
pub fn presentation_prefix(name: &str) -> String {
    named(name).spec().presentation.value("")
}

/// The config file's `credentials:` members `name`'s spec needs, each read
/// from the environment the test agent runs with (`crate::agent::ENV`):
/// `client_id: {env: PARTNER_A_ID}, …`.
pub fn credentials_from_agent_env(name: &str) -> String {
    use tokenmux::endpoint::{CredentialRole, Needs};
    let members: Vec<String> = Needs::of(named(name).spec())
        .required()
        .iter()
        .map(|role| {
            let variable = match role {
                CredentialRole::ClientId => "PARTNER_A_ID",
                CredentialRole::ClientSecret => "PARTNER_A_SECRET",
                CredentialRole::Username => "PARTNER_A_USER",
                // The config's own member: `private_key: {env: …}` holds
                // PEM text, as `private_key_env` does.
                CredentialRole::PrivateKey => return "private_key_env: PARTNER_A_KEY".to_owned(),
                _ => "PARTNER_A_PASSWORD",
            };
            format!("{}: {{env: {variable}}}", role.name())
        })
        .collect();
    members.join(", ")
}

/// The value tests give a required parameter.
pub const TEST_PARAMETER: &str = "test-parameter";

/// Whether the provider's spec issues refresh tokens.
pub fn issues_refresh_tokens(name: &str) -> bool {
    tokenmux::Provider::by_name(name)
        .is_ok_and(|provider| provider.spec().token.refresh_token.is_some())
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
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                // Read the request head and its body before answering.
                if read_request(&mut socket).await.is_none() {
                    return;
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// [`canned`], also handing over each request it read (head and body) as
/// it arrived on the wire.
pub async fn canned_recording(
    response: Vec<u8>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let Some(request) = read_request(&mut socket).await else {
                continue;
            };
            let _ = sender.send(request);
            let _ = socket.write_all(&response).await;
            let _ = socket.shutdown().await;
        }
    });
    (format!("http://{addr}"), received)
}

/// Reads one HTTP/1.1 request, head and `Content-Length` body; `None` if
/// the connection ends first.
pub async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = find(&request, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Some(request);
            }
        }
    }
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
    api_refusing_once_reading("authorization").await
}

/// [`api_refusing_once`], echoing the header `name` (lowercase) instead.
pub async fn api_refusing_once_reading(name: &'static str) -> String {
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
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
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

/// A server on another loopback host (127.0.0.2) that a redirect may point
/// to; it counts the connections it gets (any is a leak) and answers each
/// with a JSON:API token, as a thief posing as the endpoint would.
pub struct Thief {
    pub url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Thief {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let body =
                    br#"{"data":{"type":"auth-token","id":"0","attributes":{"access":"stolen"}}}"#;
                let response = http_response("200 OK", "application/vnd.api+json", body);
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            }
        });
        Self {
            url: format!("http://{addr}"),
            connections,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.connections
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How an echoing server sends the request back.
#[derive(Clone, Copy, Debug)]
pub enum Echo {
    Raw,
    JsonEscaped,
    UrlEncoded,
    Base64,
    /// A JSON string of a JSON string of the request.
    JsonTwice,
    /// The request form-encoded, in a JSON string.
    UrlInJson,
    /// The request in base64, in a JSON string.
    Base64InJson,
    /// The request JSON-escaped with every non-ASCII character as
    /// `\uXXXX` (Python's default), then in a JSON string again.
    AsciiJsonTwice,
}

impl Echo {
    pub const ALL: [Echo; 4] = [Echo::Raw, Echo::JsonEscaped, Echo::UrlEncoded, Echo::Base64];
    /// One encoding inside another (the body then nests them once more).
    pub const NESTED: [Echo; 4] = [
        Echo::JsonTwice,
        Echo::UrlInJson,
        Echo::Base64InJson,
        Echo::AsciiJsonTwice,
    ];

    pub fn apply(self, request: &[u8]) -> String {
        use base64::Engine as _;
        let text = String::from_utf8_lossy(request);
        match self {
            Echo::Raw => text.into_owned(),
            Echo::JsonEscaped => serde_json::to_string(&text).unwrap(),
            Echo::UrlEncoded => form_urlencoded::byte_serialize(request).collect(),
            Echo::Base64 => base64::engine::general_purpose::STANDARD.encode(request),
            Echo::JsonTwice => {
                serde_json::to_string(&serde_json::to_string(&text).unwrap()).unwrap()
            }
            Echo::UrlInJson => serde_json::to_string(&Echo::UrlEncoded.apply(request)).unwrap(),
            Echo::Base64InJson => serde_json::to_string(&Echo::Base64.apply(request)).unwrap(),
            Echo::AsciiJsonTwice => {
                let ascii: String = serde_json::to_string(&text)
                    .unwrap()
                    .chars()
                    .map(|c| match c.is_ascii() {
                        true => c.to_string(),
                        false => c
                            .encode_utf16(&mut [0; 2])
                            .iter()
                            .map(|u| format!("\\u{u:04x}"))
                            .collect(),
                    })
                    .collect();
                serde_json::to_string(&ascii).unwrap()
            }
        }
    }
}

/// A server that answers every request with `status` and a body echoing
/// the whole request (head and body) in `echo`: as an OAuth2 error body,
/// or for 200 a malformed token body (a trailing comma) around it.
pub async fn echo_server(status: u16, echo: Echo) -> String {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(request) = read_request(&mut socket).await else {
                    return;
                };
                let echoed = echo.apply(&request);
                let body = match status {
                    200 => format!(
                        r#"{{"access_token":"echo-token","expires_in":60,"note":{},}}"#,
                        serde_json::to_string(&echoed).unwrap()
                    ),
                    _ => serde_json::json!({
                        "error": "invalid_request",
                        "error_description": echoed,
                        "message": echoed,
                        "errors": [{"code": "invalid", "detail": echoed}],
                    })
                    .to_string(),
                };
                let reason = format!("{status} Echo");
                let response = http_response(&reason, "application/json", body.as_bytes());
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// Every form in which `secret` could be shown: raw, JSON-escaped,
/// URL-encoded (form and percent), base64 at each alignment, the Basic
/// header of `id:secret`, and its first 12 characters.
pub fn secret_encodings(id: &str, secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut forms = vec![
        secret.to_owned(),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_owned(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        b64.encode(format!("{id}:{secret}")),
    ];
    for offset in 0..3 {
        let mut bytes = vec![b'x'; offset];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = b64.encode(&bytes);
        let (start, end) = (if offset == 0 { 0 } else { 4 }, (bytes.len() / 3) * 4);
        if end > start + 8 {
            forms.push(encoded[start..end].to_owned());
        }
    }
    if secret.chars().count() > 12 {
        forms.push(secret.chars().take(12).collect());
    }
    forms
}

/// Which forms of which secrets `shown` holds.
pub fn leaks(shown: &str, id: &str, secrets: &[&str]) -> Vec<String> {
    secrets
        .iter()
        .flat_map(|secret| secret_encodings(id, secret))
        .filter(|form| shown.contains(form.as_str()))
        .collect()
}

/// An https server on 127.0.0.1 (certificate for `localhost`, issued by a
/// CA made here) that answers every request with `status` and `Location:
/// location`. Returns its base URL and the CA certificate to trust.
pub async fn tls_redirector(status: u16, location: String) -> (String, reqwest::Certificate) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::NoCa;
    let cert = params.self_signed(&key).unwrap();
    let ca = reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, location) = (acceptor.clone(), location.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = [0u8; 8192];
                let _ = tls.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 {status} Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://localhost:{port}"), ca)
}
