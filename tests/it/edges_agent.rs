//! The agent at its edges (issue 21): hostile peers (unfinished request
//! heads, floods, the fd limit), a failed start, rejected credentials,
//! `invalidate`, `allowed_uids` with a socket mode, a reload that cannot
//! read its files, and errors of the HTTP layer as JSON.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{
    Agent, ENV, OTHER_UID, access_token, as_other_uid, config, curl, python, write_config,
};
use crate::cli::{binary, tokenmux};

/// Starts the agent off the async threads (it waits for its socket).
async fn start(dir: &Path, config: &Path, extra: &[&str]) -> Agent {
    let (dir, config) = (dir.to_owned(), config.to_owned());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        Agent::start(&[], &dir, &config, &extra)
    })
    .await
    .unwrap()
}

/// Opens `argv[3]` connections to the socket `argv[1]` and `argv[4]` to
/// the TCP port `argv[2]`, each sending an unfinished request head; then
/// `GET /healthz` on the socket, timed; then, after `argv[5]` seconds,
/// how many of the unfinished ones the agent closed. Prints JSON.
const HOSTILE_PEERS: &str = r#"
import json, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
path, port, on_socket, on_tcp, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
held = []
for _ in range(on_socket):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n"); held.append(s)
for _ in range(on_tcp):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    held.append(s)
time.sleep(0.5)
for s in held[on_socket:]:
    try: s.setblocking(True); s.sendall(b"GET /healthz HTTP/1.1\r\n")
    except OSError: pass
started = time.time()
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.settimeout(5)
answered = None
try:
    c.connect(path); c.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    answered = c.recv(65536).split(b"\r\n")[0].decode()
except OSError as e:
    answered = "no answer: %s" % e
elapsed = time.time() - started
time.sleep(wait)
closed = 0
for s in held:
    s.settimeout(0.2)
    try:
        if s.recv(1024) == b"": closed += 1
    except socket.timeout: pass
    except OSError: closed += 1
print(json.dumps({"answered": answered, "elapsed": elapsed, "closed": closed, "held": len(held)}))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_outlasts_unfinished_heads_and_a_tcp_flood() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let port = tokenmux_redis_harness::free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = start(dir.path(), &config_path, &["--listen", &listen]).await;
    // The soft fd limit was raised to the hard one.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.child.id())).unwrap();
    let files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(files[3], files[4], "{limits}");
    let socket = agent.socket.to_str().unwrap().to_owned();
    let port = port.to_string();
    let report = tokio::task::spawn_blocking(move || {
        python(HOSTILE_PEERS, &[&socket, &port, "200", "1100", "12"])
    })
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    println!("hostile peers: {report}");
    assert_eq!(report["answered"], "HTTP/1.1 200 OK", "{report}");
    assert!(report["elapsed"].as_f64().unwrap() < 5.0, "{report}");
    // Every unfinished head is closed after the header-read timeout (5 s).
    assert_eq!(report["closed"], report["held"], "{report}");
    assert!(agent.child.id() > 0 && agent.log().contains("serving"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_start_leaves_nothing_behind() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let socket = dir.path().join("agent.sock");
    let bearer = dir.path().join("agent.bearer");
    let run = tokenmux(
        &[
            "serve",
            "--config",
            config_path.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--listen",
            &listen,
        ],
        &ENV,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot listen on"), "{}", run.stderr);
    assert!(!socket.exists(), "the socket was left behind");
    assert!(!bearer.exists(), "the bearer file was left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_credentials_are_logged_once_and_not_retried_on_a_timer() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rejected.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:\n  neon:\n    provider: neonpanel\n    base_url: {}\n    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: WRONG_SECRET}}\n",
            mock.base_url("neonpanel")
        ),
    )
    .unwrap();
    let agent = tokio::task::spawn_blocking({
        let (dir, path) = (dir.path().to_owned(), path.clone());
        move || {
            // SAFETY of the test: only this child reads it.
            let wrapper = ["env", "WRONG_SECRET=not-the-secret"];
            let binary = binary().to_str().unwrap().to_owned();
            let program = [&wrapper[..], &[binary.as_str()]].concat();
            Agent::start(&program, &dir, &path, &[])
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Before: retried after 2, 4 and 8 s (four failed logins by now).
    assert_eq!(mock.requests_received("neonpanel"), 1, "{}", agent.log());
    let log = agent.log();
    let lines: Vec<_> = log
        .lines()
        .filter(|line| line.contains("ERROR") && line.contains("credentials rejected"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("source=\"neon\"") || lines[0].contains("source=neon"),
        "{log}"
    );
    // A client's request still tries at once (and is refused: 502).
    let (status, body) = agent.curl("/v1/sources/neon/token");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("credentials_rejected"), "{body}");
}

fn sha256_hex(text: &str) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())",
            text,
        ])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn invalidate_by_digest_refreshes_once_for_many_reports() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let agent = start(dir.path(), &config_path, &[]).await;
    let first = access_token(&agent.curl("/v1/sources/neon/token").1);
    let before = mock.requests_received("neonpanel");
    let socket = agent.socket.to_str().unwrap().to_owned();
    let body = format!("{{\"token_sha256\":\"{}\"}}", sha256_hex(&first));
    // Fifty clients report the same refused token at once.
    let reports: Vec<_> = (0..50)
        .map(|_| {
            let (socket, body) = (socket.clone(), body.clone());
            std::thread::spawn(move || {
                curl(&[
                    "--unix-socket",
                    &socket,
                    "-X",
                    "POST",
                    "-d",
                    &body,
                    "http://agent/v1/sources/neon/invalidate",
                ])
            })
        })
        .collect();
    for report in reports {
        let (status, answer) = report.join().unwrap();
        assert_eq!(status, 200, "{answer}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let token = access_token(&agent.curl("/v1/sources/neon/token").1);
        if token != first || Instant::now() > deadline {
            break token;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(second, first);
    assert_eq!(mock.requests_received("neonpanel"), before + 1);
    // A late report of the old token changes nothing.
    let (status, answer) = agent.curl_post("/v1/sources/neon/invalidate", &body);
    assert_eq!((status, answer.as_str()), (200, r#"{"invalidated":false}"#));
    // `token NAME --refresh` through the agent: a new token.
    let env = [&ENV[..], &[("TOKENMUX_AGENT_SOCKET", socket.as_str())]].concat();
    let config = config_path.to_str().unwrap();
    let run = tokenmux(&["token", "neon", "--config", config, "--refresh"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.trim() != second && run.stdout.trim() != first);
    assert_eq!(mock.requests_received("neonpanel"), before + 2);
    // A wrong method is a JSON error too.
    let (status, answer) = agent.curl_post("/v1/sources", "");
    assert_eq!(status, 405);
    assert!(answer.contains("\"method_not_allowed\""), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_uids_get_in_when_the_socket_mode_admits_them() {
    let Some(setpriv) = as_other_uid() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The directory must let the other uid reach the socket.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let (config_path, secret_file) = write_config(dir.path(), &mock);
    let text = config(
        &mock,
        &secret_file,
        3,
        &format!("agent:\n  allowed_uids: [{OTHER_UID}]\n  socket_mode: \"0666\"\n"),
    );
    std::fs::write(&config_path, text).unwrap();
    let agent = start(dir.path(), &config_path, &[]).await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&agent.socket).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o666);
    let socket = agent.socket.to_str().unwrap().to_owned();
    let as_uid = |uid: u32| {
        let mut command: Vec<String> = setpriv.to_vec();
        command[1] = format!("--reuid={uid}");
        command[2] = format!("--regid={uid}");
        command.extend(
            [
                "curl",
                "-sS",
                "-w",
                "\n%{http_code}",
                "--unix-socket",
                &socket,
                "http://agent/v1/sources/neon/token",
            ]
            .map(String::from),
        );
        let output = Command::new(&command[0])
            .args(&command[1..])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed = as_uid(OTHER_UID);
    assert!(listed.ends_with("\n200"), "{listed}");
    let unlisted = as_uid(OTHER_UID + 1);
    assert!(
        unlisted.ends_with("\n403") && unlisted.contains("peer_not_allowed"),
        "{unlisted}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_cannot_read_a_file_keeps_serving_and_sigterm_works() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, secret_file) = write_config(dir.path(), &mock);
    let mut agent = start(dir.path(), &config_path, &[]).await;
    let token = access_token(&agent.curl("/v1/sources/airalo/token").1);
    std::fs::remove_file(&secret_file).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&secret_file)
            .status()
            .unwrap()
            .success()
    );
    // The secret file is now a FIFO nobody writes: the reload is refused.
    std::fs::write(&config_path, config(&mock, &secret_file, 4, "")).unwrap();
    agent.signal("HUP");
    agent.wait_for_log("reload refused");
    assert!(
        agent.log().contains("not a regular file (a FIFO)"),
        "{}",
        agent.log()
    );
    assert_eq!(
        access_token(&agent.curl("/v1/sources/airalo/token").1),
        token
    );
    agent.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = agent.child.try_wait().unwrap() {
            assert!(status.success(), "{}", agent.log());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGTERM ignored: {}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!agent.socket.exists());
}

/// Sends each head in `argv[2:]` (Python bytes expressions, ours) on its own
/// connection to the socket `argv[1]`; prints one JSON line per answer:
/// its status line and body.
const RAW_HEADS: &str = r#"
import json, socket, sys
for literal in sys.argv[2:]:
    # Generous: under a loaded CI the agent may take seconds to write its answer.
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.settimeout(60); c.connect(sys.argv[1])
    try: c.sendall(eval(literal, {"__builtins__": {}}))
    except OSError: pass
    answer = b""
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk: break
            answer += chunk
    except OSError: pass
    head, _, body = answer.partition(b"\r\n\r\n")
    print(json.dumps({"status": head.split(b"\r\n")[0].decode(), "head": head.decode(), "body": body.decode()}))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn heads_the_parser_refuses_get_the_apis_json_errors() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let agent = start(dir.path(), &config_path, &[]).await;
    let socket = agent.socket.to_str().unwrap().to_owned();
    let heads = [
        r#"b"GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n""#.to_owned(),
        r#"b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n""#
            .to_owned(),
        r#"b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: a\r\n\r\n""#.to_owned(),
        r#"b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n""#.to_owned(),
    ];
    let report = tokio::task::spawn_blocking(move || {
        let mut args = vec![socket.as_str()];
        args.extend(heads.iter().map(String::as_str));
        python(RAW_HEADS, &args)
    })
    .await
    .unwrap();
    let answers: Vec<serde_json::Value> = report
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    println!("answers: {answers:#?}");
    let expected = [
        ("HTTP/1.1 400 Bad Request", "bad_request"),
        (
            "HTTP/1.1 431 Request Header Fields Too Large",
            "headers_too_large",
        ),
        ("HTTP/1.1 414 URI Too Long", "uri_too_long"),
    ];
    for (answer, (status, code)) in answers.iter().zip(expected) {
        assert_eq!(answer["status"], status, "{answer}");
        let body: serde_json::Value =
            serde_json::from_str(answer["body"].as_str().unwrap()).unwrap_or_default();
        assert_eq!(body["error"]["code"], code, "{answer}");
        assert!(body["error"]["message"].is_string(), "{answer}");
        let head = answer["head"].as_str().unwrap().to_ascii_lowercase();
        assert!(head.contains("content-type: application/json"), "{answer}");
    }
    // The API's own answers are untouched: /healthz's report (200, or 503
    // while a source's first token is still on its way).
    let status = answers[3]["status"].as_str().unwrap_or_default();
    assert!(
        ["HTTP/1.1 200 OK", "HTTP/1.1 503 Service Unavailable"].contains(&status),
        "{}",
        answers[3]
    );
    let body = answers[3]["body"].as_str().unwrap_or_default();
    assert!(body.contains("\"sources\""), "{}", answers[3]);
}
