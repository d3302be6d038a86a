//! The CLI at its edges (issue 21): a named source sends only its own
//! credentials; an agent is used only when it runs as a trusted user and
//! serves the same config file, and its answers are checked; a cached
//! token is served only to the credentials that obtained it; `--refresh`;
//! config files and secret files as untrusted input (FIFOs, deep nesting,
//! duplicates, secrets where names belong, world-readable secrets).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, ENV, KillOnDrop, OTHER_UID, as_other_uid, write_config};
use crate::cli::{Run, binary, tokenmux};
use crate::support::{ID, SECRET};

/// The CLI with `args` and `env` (after removing the caller's tokenmux
/// variables, as `tokenmux()` does), killed after `limit`: (run, elapsed).
pub(crate) fn bounded(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Run, Duration) {
    bounded_watched(args, env, limit, |_| {})
}

/// [`bounded`], calling `watch` with the child's pid every 20 ms while it runs.
pub(crate) fn bounded_watched(
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
    mut watch: impl FnMut(u32),
) -> (Run, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("TOKENMUX_CLIENT_ID")
        .env_remove("TOKENMUX_CLIENT_SECRET")
        .env_remove("TOKENMUX_CONFIG")
        .env_remove("TOKENMUX_AGENT_SOCKET")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -9;
        }
        watch(child.id());
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    };
    (run, started.elapsed())
}

/// One named source `a` on the mock's neonpanel, credentials from
/// PARTNER_A_ID and a secret file; an isolated runtime dir (no agent).
fn one_source(dir: &Path, mock: &MockServer) -> PathBuf {
    let secret = dir.join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let config = dir.join("one.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    base_url: {}\n    credentials: {{client_id_env: PARTNER_A_ID, client_secret_file: {}}}\n    store: {{kind: memory}}\n",
            mock.base_url("neonpanel"),
            secret.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_source_sends_only_its_own_credentials() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = one_source(dir.path(), &mock);
    let runtime = dir.path().to_str().unwrap();
    let env = [
        ("PARTNER_A_ID", ID),
        // Another partner's credentials, set in the shell.
        ("TOKENMUX_CLIENT_ID", "other-partner-id"),
        ("TOKENMUX_CLIENT_SECRET", "other-partner-secret"),
        ("XDG_RUNTIME_DIR", runtime),
    ];
    for extra in [&["--no-agent"][..], &[]] {
        let args = [
            &["token", "a", "--config", config.to_str().unwrap()][..],
            extra,
        ]
        .concat();
        let run = tokenmux(&args, &env).await;
        assert_eq!(run.code, 0, "{extra:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(
                "TOKENMUX_CLIENT_ID, TOKENMUX_CLIENT_SECRET set in the environment, not used"
            ),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("other-partner-secret"),
            "{}",
            run.stderr
        );
    }
    // What reached the endpoint: only `a`'s own id, never the other's.
    for request in mock.requests() {
        let seen = format!("{request:?}");
        assert!(!seen.contains("other-partner"), "{seen}");
    }
    // A credential flag with a name is a contradiction, said as such.
    let run = tokenmux(
        &[
            "token",
            "a",
            "--config",
            config.to_str().unwrap(),
            "--client-secret",
            "x",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--client-secret describe a source given by flags"),
        "{}",
        run.stderr
    );
}

/// A fake agent on a Unix socket, in Python: answers every request the
/// way `argv[2]` says.
const FAKE_AGENT: &str = r#"
import json, os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(16)
def token(value, expires=60):
    return json.dumps({"access_token": value, "token_type": "Bearer", "expires_in": expires})
bodies = {
    "maxexp": (200, token("tok-ok", 18446744073709551615)),
    "crlf": (200, token("tok\r\nX-Injected: 1")),
    "ansi": (200, token("\u001b[2Jtok")),
    "empty": (200, token("")),
    "good": (200, token("fake-agent-token")),
    "unknown": (404, json.dumps({"error": {"code": "unknown_source", "message": "no", "sources": ["x", "y"]}})),
}
while True:
    connection, _ = server.accept()
    connection.recv(65536)
    if mode == "silent":
        time.sleep(30)
        continue
    if mode == "huge":
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2147483648\r\n\r\n")
        try:
            chunk = b"x" * 65536
            for _ in range(32768):
                connection.sendall(chunk)
        except OSError:
            pass
        connection.close()
        continue
    status, body = bodies[mode]
    head = "HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (status, len(body.encode()))
    connection.sendall(head.encode() + body.encode())
    connection.close()
"#;

/// Starts the fake agent at `socket` answering as `mode`, with `wrapper`
/// (setpriv) in front when given.
fn fake_agent(socket: &Path, mode: &str, wrapper: &[&str]) -> KillOnDrop {
    let mut program: Vec<&str> = wrapper.to_vec();
    // Another uid cannot reach a python under root's home: the system's.
    let python = match wrapper.is_empty() || !Path::new("/usr/bin/python3").exists() {
        true => "python3",
        false => "/usr/bin/python3",
    };
    program.extend([python, "-c", FAKE_AGENT, socket.to_str().unwrap(), mode]);
    let child = Command::new(program[0])
        .args(&program[1..])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the fake agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    KillOnDrop(child)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_agents_answers_are_refused_and_the_client_falls_back_in_time() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = one_source(dir.path(), &mock);
    let config = config.to_str().unwrap();
    // `token a --format header` against a fake agent answering as `mode`.
    let ask = |mode: &str| {
        let socket = dir.path().join(format!("{mode}.sock"));
        let _agent = fake_agent(&socket, mode, &[]);
        let socket = socket.to_str().unwrap();
        let args = [
            "token", "a", "--config", config, "--socket", socket, "--format", "header",
        ];
        bounded(&args, &[("PARTNER_A_ID", ID)], Duration::from_secs(20))
    };
    for mode in ["huge", "maxexp", "crlf", "ansi", "empty"] {
        let (run, took) = ask(mode);
        assert_eq!(run.code, 1, "{mode}: {} / {}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{mode}: {:?}", run.stdout);
        assert!(!run.stderr.contains('\u{1b}'), "{mode}: {:?}", run.stderr);
        assert!(run.stderr.contains("--no-agent"), "{mode}: {}", run.stderr);
        assert!(took < Duration::from_secs(5), "{mode}: {took:?}");
    }
    // No answer: the client says so and builds the source itself, in
    // about the agent timeout.
    let (run, took) = ask("silent");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("Bearer mock-neonpanel-access-"),
        "{}",
        run.stdout
    );
    let fallback = "did not answer within 2s; building the source in this process";
    assert!(run.stderr.contains(fallback), "{}", run.stderr);
    assert!(took < Duration::from_secs(5), "{took:?}");
    // --timeout bounds the wait for the agent too: no fallback past it.
    let socket = dir.path().join("slow.sock");
    let _agent = fake_agent(&socket, "silent", &[]);
    let args = [
        "token",
        "a",
        "--config",
        config,
        "--socket",
        socket.to_str().unwrap(),
        "--timeout",
        "500ms",
    ];
    let (run, took) = bounded(&args, &[("PARTNER_A_ID", ID)], Duration::from_secs(20));
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("no token within 500ms (--timeout)"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // An agent that serves no such source: said exactly, with its list.
    let (run, _) = ask("unknown");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let said = "serves no source `a` (it serves: x, y)";
    assert!(run.stderr.contains(said), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_agent_is_refused_however_its_socket_is_given() {
    let Some(setpriv) = as_other_uid() else {
        return;
    };
    let setpriv: Vec<&str> = setpriv.iter().map(String::as_str).collect();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = one_source(dir.path(), &mock);
    let theirs = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(theirs.path(), Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let socket = theirs.path().join("agent.sock");
    let _agent = fake_agent(&socket, "good", &setpriv);
    let socket = socket.to_str().unwrap();
    let config = config.to_str().unwrap();
    for (args, env) in [
        (
            vec!["token", "a", "--config", config, "--socket", socket],
            vec![],
        ),
        (
            vec!["token", "a", "--config", config],
            vec![("TOKENMUX_AGENT_SOCKET", socket)],
        ),
    ] {
        let env = [&[("PARTNER_A_ID", ID)][..], &env].concat();
        let (run, _) = bounded(&args, &env, Duration::from_secs(10));
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(!run.stdout.contains("fake-agent-token"), "{}", run.stdout);
        assert!(
            run.stderr
                .contains(&format!("runs as uid {OTHER_UID}, not as this user")),
            "{}",
            run.stderr
        );
    }
    // Trusted on purpose: --agent-uid.
    let uid = OTHER_UID.to_string();
    let args = [
        "token",
        "a",
        "--config",
        config,
        "--socket",
        socket,
        "--agent-uid",
        &uid,
    ];
    let (run, _) = bounded(&args, &[("PARTNER_A_ID", ID)], Duration::from_secs(10));
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, "fake-agent-token"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_config_wins_over_an_agent_serving_another_file() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let staging = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (agent_config, _) = write_config(dir.path(), &mock);
    let agent = tokio::task::spawn_blocking({
        let (dir, config) = (dir.path().to_owned(), agent_config.clone());
        move || Agent::start(&[], &dir, &config, &[])
    })
    .await
    .unwrap();
    let socket = agent.socket.to_str().unwrap().to_owned();
    let from_agent = agent.curl("/v1/sources/airalo/token").1;
    let requests = mock.requests_received("airalo");
    // Another file naming `airalo` on another server.
    let other_dir = tempfile::tempdir().unwrap();
    let other = other_dir.path().join("other.yaml");
    std::fs::write(
        &other,
        format!(
            "sources:\n  airalo:\n    provider: airalo\n    base_url: {}\n    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}\n    store: {{kind: memory}}\n",
            staging.base_url("airalo")
        ),
    )
    .unwrap();
    let env = [&ENV[..], &[("TOKENMUX_AGENT_SOCKET", socket.as_str())]].concat();
    let run = tokenmux(
        &["token", "airalo", "--config", other.to_str().unwrap()],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !from_agent.contains(run.stdout.trim()),
        "the agent's token was printed"
    );
    assert_eq!(staging.requests_received("airalo"), 1);
    assert!(
        run.stderr.contains("serves another config file"),
        "{}",
        run.stderr
    );
    // The agent's own file, by another path (a symlink): the agent serves it.
    let link = other_dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&agent_config, &link).unwrap();
    let run = tokenmux(
        &["token", "airalo", "--config", link.to_str().unwrap()],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        from_agent.contains(run.stdout.trim()),
        "{} / {from_agent}",
        run.stdout
    );
    assert_eq!(mock.requests_received("airalo"), requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_token_is_served_only_to_the_credentials_that_obtained_it() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().to_str().unwrap();
    let base = mock.base_url("airalo");
    let args = [
        "token",
        "--provider",
        "airalo",
        "--base-url",
        &base,
        "--cache-dir",
        cache_dir,
    ];
    let good = tokenmux(
        &args,
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", SECRET),
        ],
    )
    .await;
    assert_eq!(good.code, 0, "{}", good.stderr);
    let again = tokenmux(
        &args,
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", SECRET),
        ],
    )
    .await;
    assert_eq!(again.stdout, good.stdout);
    assert_eq!(mock.requests_received("airalo"), 1);
    // A rotated or mistyped secret: its own request, refused.
    let wrong = tokenmux(
        &args,
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", "rotated-wrong"),
        ],
    )
    .await;
    assert_eq!(wrong.code, 3, "{} / {}", wrong.stdout, wrong.stderr);
    assert!(wrong.stdout.is_empty());
    assert_eq!(mock.requests_received("airalo"), 2);
    // The stored token was not lost: the right secret still gets it.
    let back = tokenmux(
        &args,
        &[
            ("TOKENMUX_CLIENT_ID", ID),
            ("TOKENMUX_CLIENT_SECRET", SECRET),
        ],
    )
    .await;
    assert_eq!(back.stdout, good.stdout, "{}", back.stderr);
    assert_eq!(mock.requests_received("airalo"), 2);
    // The record holds a verifier, never the secret.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(!text.contains(SECRET), "{}", path.display());
        }
    }
    // An empty secret is refused here, not sent.
    let empty = tokenmux(
        &args,
        &[("TOKENMUX_CLIENT_ID", ID), ("TOKENMUX_CLIENT_SECRET", "")],
    )
    .await;
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    assert!(
        empty.stderr.contains("client secret is empty"),
        "{}",
        empty.stderr
    );
    assert_eq!(mock.requests_received("airalo"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_replaces_the_cached_token() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base_url("neonpanel");
    let args = [
        "token",
        "--provider",
        "neonpanel",
        "--base-url",
        &base,
        "--cache-dir",
        dir.path().to_str().unwrap(),
    ];
    let env = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let first = tokenmux(&args, &env).await;
    let refreshed = tokenmux(&[&args[..], &["--refresh"]].concat(), &env).await;
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    assert_ne!(refreshed.stdout, first.stdout);
    let after = tokenmux(&args, &env).await;
    assert_eq!(after.stdout, refreshed.stdout);
    assert_eq!(mock.requests_received("neonpanel"), 2);
}

/// Makes a FIFO at `path`.
fn fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn fifos_and_deep_nesting_in_config_files_are_errors_not_hangs() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_fifo = dir.path().join("config.yaml");
    fifo(&config_fifo);
    let path = config_fifo.to_str().unwrap();
    for args in [
        vec!["config", "check", "--config", path],
        vec!["token", "a", "--no-agent", "--config", path],
        vec!["serve", "--config", path, "--socket", "/nonexistent/x.sock"],
    ] {
        let (run, took) = bounded(&args, &[], Duration::from_secs(10));
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is not a regular file (a FIFO)"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(took < Duration::from_secs(3), "{args:?}: {took:?}");
    }
    // A FIFO as a secret file.
    let secret_fifo = dir.path().join("secret-fifo");
    fifo(&secret_fifo);
    let config = dir.path().join("fifo-secret.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    base_url: {}\n    credentials: {{client_id: x, client_secret_file: {}}}\n",
            mock.base_url("neonpanel"),
            secret_fifo.display()
        ),
    )
    .unwrap();
    let (run, took) = bounded(
        &["config", "check", "--config", config.to_str().unwrap()],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("sources.a.credentials.client_secret_file"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // 1 MiB of `[`, and of `- `: refused at once, whatever the depth.
    for (name, unit) in [
        ("brackets.yaml", "["),
        ("dashes.yaml", "- "),
        ("brackets.toml", "a = ["),
    ] {
        let deep = dir.path().join(name);
        std::fs::write(&deep, unit.repeat((1 << 20) / unit.len())).unwrap();
        let (run, took) = bounded(
            &["config", "check", "--config", deep.to_str().unwrap()],
            &[],
            Duration::from_secs(30),
        );
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains("nested deeper than 32 levels"),
            "{name}: {}",
            run.stderr
        );
        assert!(took < Duration::from_secs(3), "{name}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_and_secrets_in_the_wrong_place_are_named_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    // `config check`, `serve` and `token` each: everything they print.
    let check = |text: &str| {
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        let socket = dir.path().join("s.sock");
        let mut shown = String::new();
        for args in [
            vec!["config", "check", "--config", path],
            vec![
                "serve",
                "--config",
                path,
                "--socket",
                socket.to_str().unwrap(),
            ],
            vec!["token", "a", "--no-agent", "--config", path],
        ] {
            let (run, _) = bounded(&args, &[], Duration::from_secs(10));
            assert_eq!(run.code, 2, "{args:?} {text}: {}", run.stderr);
            shown.push_str(&run.stdout);
            shown.push_str(&run.stderr);
        }
        shown
    };
    let source = "    provider: neonpanel\n    credentials: {client_id: x, client_secret: y}\n";
    let twice = check(&format!("sources:\n  a:\n{source}  a:\n{source}"));
    assert!(twice.contains("sources: duplicate key `a`"), "{twice}");
    let key_twice = check("sources:\n  a:\n    provider: neonpanel\n    provider: airalo\n");
    assert!(
        key_twice.contains("sources.a: duplicate key `provider`"),
        "{key_twice}"
    );
    let sources_twice = check(&format!("sources:\n  a:\n{source}sources:\n  b:\n{source}"));
    assert!(
        sources_twice.contains("duplicate key `sources`"),
        "{sources_twice}"
    );
    // Secrets written where names belong.
    let secret = "Zq9-hunter2-Kx7";
    for text in [
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    credentials: {{client_id: x, client_secret_env: {secret}}}\n"
        ),
        format!(
            "sources:\n  a:\n    provider: password\n    base_url: https://x.example\n    credentials: {{client_id: x, client_secret: y, username: u, password_env: '{secret}'}}\n"
        ),
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    credentials: {{client_id: x, client_secret: y}}\n    store: {{kind: file, encryption_key_env: {secret}}}\n"
        ),
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    credentials: {{client_id: x, client_secret:{secret}}}\n"
        ),
        format!(
            "sources:\n  a:\n    provider: neonpanel\n    credentials: {{client_id: x, client_secret_file: {secret}}}\n"
        ),
    ] {
        let shown = check(&text);
        assert!(!shown.contains("hunter2"), "{text}\n{shown}");
        assert!(shown.contains("sources.a"), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_world_readable_secret_file_is_used_with_a_warning() {
    use std::os::unix::fs::PermissionsExt as _;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = one_source(dir.path(), &mock);
    let secret = dir.path().join("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args = [
        "token",
        "a",
        "--no-agent",
        "--config",
        config.to_str().unwrap(),
    ];
    let run = tokenmux(&args, &[("PARTNER_A_ID", ID)]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("readable by every user; make it 0600"),
        "{}",
        run.stderr
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = tokenmux(&args, &[("PARTNER_A_ID", ID)]).await;
    assert!(
        !run.stderr.contains("readable by every user"),
        "{}",
        run.stderr
    );
}

/// What the Python fake Redises share: a listener on 127.0.0.1, port
/// `argv[1]`, and `read_command`, which reads one command (RESP or inline).
pub(crate) const FAKE_REDIS_BASE: &str = r#"
import socket, sys, threading
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen(16)
def read_command(f):
    line = f.readline()
    if not line: return None
    if not line.startswith(b"*"): return [line.strip()]
    args = []
    for _ in range(int(line[1:])):
        size = int(f.readline()[1:])
        args.append(f.read(size + 2)[:-2])
    return args
"#;

/// Waits until the fake Redis started with [`FAKE_REDIS_BASE`] listens on
/// `port` (Python's start takes longer than any fixed pause on a loaded
/// machine, and a CLI that finds no Redis goes on without its cache,
/// which tests nothing). The probe connection sends no command, so the
/// fake only closes it.
pub(crate) fn wait_for_fake_redis(port: u16) {
    tokenmux_redis_harness::wait_until(Duration::from_secs(20), "the fake Redis listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A fake Redis (after [`FAKE_REDIS_BASE`]): it reads nothing stored and
/// grants the lease, and refuses the write (the script call that carries
/// the token record) with an error that echoes its arguments, an ANSI
/// escape in front, as a hostile or broken server may.
const ECHOING_REDIS: &str = r#"
def serve(connection):
    f = connection.makefile("rb")
    while True:
        args = read_command(f)
        if args is None: return
        name = args[0].upper()
        if name in (b"PING",): connection.sendall(b"+PONG\r\n")
        elif name in (b"CLIENT", b"SELECT", b"READONLY"): connection.sendall(b"+OK\r\n")
        elif name == b"HELLO": connection.sendall(b"-ERR unknown command\r\n")
        elif name in (b"EVALSHA", b"EVAL") and len(args) == 4: connection.sendall(b"*2\r\n$-1\r\n$-1\r\n")
        elif name == b"SET": connection.sendall(b"+OK\r\n")
        elif len(args) < 7: connection.sendall(b":1\r\n")
        else:
            echoed = b" ".join(args).replace(b"\r", b" ").replace(b"\n", b" ")
            connection.sendall(b"-ERR \x1b[2J" + echoed + b"\r\n")
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn redis_error_text_is_scrubbed_of_echoed_tokens_and_escapes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let port = tokenmux_redis_harness::free_port();
    let _redis = KillOnDrop(
        Command::new("python3")
            .args([
                "-c",
                &format!("{FAKE_REDIS_BASE}{ECHOING_REDIS}"),
                &port.to_string(),
            ])
            .spawn()
            .unwrap(),
    );
    wait_for_fake_redis(port);
    let base = mock.base_url("neonpanel");
    let url = format!("redis://127.0.0.1:{port}");
    let args = [
        "token",
        "--provider",
        "neonpanel",
        "--base-url",
        &base,
        "--cache",
        "redis",
        "--redis-url",
        &url,
    ];
    let env = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let (run, _) = bounded(&args, &env, Duration::from_secs(30));
    let token = run.stdout.trim();
    assert!(
        token.starts_with("mock-neonpanel-access-"),
        "{} / {}",
        run.stdout,
        run.stderr
    );
    // The store failed (and said so, once: the Redis store reports its
    // own failures) without showing what it was sent.
    assert!(
        run.stderr.contains("Redis token store unreachable"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(token), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}
