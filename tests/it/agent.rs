//! `tokenmux serve` end to end: three named sources on the mock, served
//! over the Unix socket to curl, to a Python client of the standard library
//! only, and to `tokenmux token NAME`; loopback TCP behind the bearer;
//! `/metrics` read by Python's `prometheus_client` parser; SIGHUP and
//! SIGTERM; a second uid refused; config errors at their keys; no secret in
//! anything the agent prints or serves but the tokens asked for.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::cli::{binary, tokenmux};
use crate::support::{ID, SECRET};

/// Three sources, on three providers of the mock: the issue's example,
/// with the mock's base URLs. `neon_retry` is the part SIGHUP changes.
pub(crate) fn config(
    mock: &MockServer,
    secret_file: &Path,
    neon_retry: u32,
    extra: &str,
) -> String {
    format!(
        "sources:
  partner-a:
    provider: jsonapi
    base_url: {jsonapi}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
  airalo:
    provider: airalo
    base_url: {airalo}
    credentials: {{client_id: {{env: PARTNER_A_ID}}, client_secret: {{file: {file}}}}}
    store: {{kind: memory}}
  neon:
    provider: neonpanel
    base_url: {neon}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    refresh: {{ahead_max: 2m, clock_skew: 5s}}
    retry: {{max_attempts: {neon_retry}, deadline: 20s}}
{extra}",
        jsonapi = mock.base_url("jsonapi"),
        airalo = mock.base_url("airalo"),
        neon = mock.base_url("neonpanel"),
        file = secret_file.display(),
    )
}

/// The secret file (ending in a newline, as editors write it) and the
/// config of the three sources in `dir`: (config, secret file).
pub(crate) fn write_config(dir: &Path, mock: &MockServer) -> (PathBuf, PathBuf) {
    let secret_file = dir.join("airalo-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let config_path = dir.join("tokenmux.yaml");
    std::fs::write(&config_path, config(mock, &secret_file, 3, "")).unwrap();
    (config_path, secret_file)
}

/// The environment the agent's config files name: a client's id, secret
/// and private key, and a user's name and password for sources that need
/// them.
pub(crate) const ENV: [(&str, &str); 5] = [
    ("PARTNER_A_ID", ID),
    ("PARTNER_A_SECRET", SECRET),
    ("PARTNER_A_USER", tokenmux_mock::DEFAULT_USERNAME),
    ("PARTNER_A_PASSWORD", tokenmux_mock::DEFAULT_PASSWORD),
    ("PARTNER_A_KEY", tokenmux_mock::DEFAULT_CLIENT_PRIVATE_KEY),
];

/// A running `tokenmux serve`, its stderr in a file.
pub(crate) struct Agent {
    pub(crate) child: Child,
    pub(crate) socket: PathBuf,
    stderr: PathBuf,
}

impl Agent {
    /// Starts `program` (the agent binary, or a wrapper and a binary; the
    /// test's binary when empty) with `serve --config … --socket …` and
    /// `extra`, and waits until it serves.
    pub(crate) fn start(program: &[&str], dir: &Path, config: &Path, extra: &[&str]) -> Agent {
        Self::started(program, dir, config, extra, &[("TOKENMUX_LOG", "trace")])
    }

    /// The test's binary as [`Agent::start`] runs it, with `env` added
    /// (and no `TOKENMUX_LOG` unless `env` gives it).
    pub(crate) fn start_with_env(
        dir: &Path,
        config: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Agent {
        Self::started(&[], dir, config, extra, env)
    }

    fn started(
        program: &[&str],
        dir: &Path,
        config: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Agent {
        let socket = dir.join("agent.sock");
        let stderr = dir.join("agent.stderr");
        let binary = binary().to_str().unwrap();
        let program = match program {
            [] => &[binary][..],
            program => program,
        };
        let mut command = Command::new(program[0]);
        command
            .args(&program[1..])
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--socket", socket.to_str().unwrap()])
            .args(extra)
            .envs(ENV)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let child = command.spawn().expect("the agent starts");
        let mut agent = Agent {
            child,
            socket,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !agent.log().contains("serving") || !agent.socket.exists() {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("the agent exited ({status}): {}", agent.log());
            }
            assert!(
                Instant::now() < deadline,
                "the agent never served: {}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        agent
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for `text` in its stderr.
    pub(crate) fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "no `{text}` in: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `curl --unix-socket` POST `body` to `path`: (HTTP status, body).
    pub(crate) fn curl_post(&self, path: &str, body: &str) -> (u16, String) {
        curl(&[
            "--unix-socket",
            self.socket.to_str().unwrap(),
            "-X",
            "POST",
            "-d",
            body,
            &format!("http://agent{path}"),
        ])
    }

    /// `curl --unix-socket` GET `path`: (HTTP status, body).
    pub(crate) fn curl(&self, path: &str) -> (u16, String) {
        curl(&[
            "--unix-socket",
            self.socket.to_str().unwrap(),
            &format!("http://agent{path}"),
        ])
    }
}

/// A child process killed when the test ends, failed or not.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl with `args`: (HTTP status, body); status 0 when it could not connect.
pub(crate) fn curl(args: &[&str]) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-sS", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs (cargo xtask test installs it)");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.parse().unwrap_or(0), body.to_owned())
}

pub(crate) fn access_token(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    json["access_token"].as_str().unwrap().to_owned()
}

/// Runs Python (standard library only, plus `prometheus_client` where a
/// script imports it) on `script` with `args`; its stdout.
pub(crate) fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A client of the agent with nothing but Python's standard library.
const PYTHON_CLIENT: &str = r#"
import http.client, json, socket, sys

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)

connection = UnixConnection(sys.argv[1])
connection.request("GET", "/v1/sources/%s/token" % sys.argv[2])
response = connection.getresponse()
assert response.status == 200, response.status
print(json.loads(response.read())["access_token"])
"#;

/// `argv[2]` (YAML) validated against the JSON Schema `argv[1]`, then the
/// same with a key misspelt.
const SCHEMA_CHECK: &str = r#"
import json, sys
import jsonschema, yaml

schema = json.load(open(sys.argv[1]))
config = yaml.safe_load(open(sys.argv[2]))
jsonschema.validate(config, schema)
source = next(iter(config["sources"].values()))
source["credentials"]["client_secret_fil"] = "/run/secrets/x"
try:
    jsonschema.validate(config, schema)
    print("misspelt key accepted")
except jsonschema.ValidationError:
    print("example valid; misspelt key refused")
"#;

/// `/metrics` through prometheus_client's parser: each counter's total by
/// source, as JSON.
const PROMETHEUS_PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families

totals = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for sample in family.samples:
        source = sample.labels.get("source")
        if source is not None and sample.name.endswith("_total"):
            key = "%s/%s" % (sample.name, source)
            totals[key] = totals.get(key, 0) + sample.value
print(json.dumps(totals))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_serves_named_sources_reloads_on_sighup_and_drains_on_sigterm() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, secret_file) = write_config(dir.path(), &mock);
    let port = tokenmux_redis_harness::free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path, listen) =
            (dir.path().to_owned(), config_path.clone(), listen.clone());
        move || Agent::start(&[], &dir, &config_path, &["--listen", &listen])
    })
    .await
    .unwrap();
    let mut shown = Vec::new(); // everything the agent served but tokens

    // curl over the socket: each source's token; one upstream request each.
    let mut tokens = std::collections::BTreeMap::new();
    for (name, provider) in [
        ("partner-a", "jsonapi"),
        ("airalo", "airalo"),
        ("neon", "neonpanel"),
    ] {
        let (status, body) = agent.curl(&format!("/v1/sources/{name}/token"));
        assert_eq!(status, 200, "{body}");
        let token = access_token(&body);
        assert!(
            token.starts_with(&format!("mock-{provider}-access-")),
            "{token}"
        );
        // The JSON says which header to send, and its value.
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["header"], "Authorization", "{body}");
        assert_eq!(json["header_value"], format!("Bearer {token}"), "{body}");
        let (status, header) = agent.curl(&format!("/v1/sources/{name}/header"));
        assert_eq!((status, header), (200, format!("Bearer {token}")));
        assert_eq!(mock.requests_received(provider), 1, "{name}");
        tokens.insert(name, token);
    }
    let (status, list) = agent.curl("/v1/sources");
    assert_eq!(status, 200);
    assert!(
        list.contains("\"partner-a\"") && list.contains("\"jsonapi\""),
        "{list}"
    );
    shown.push(list);
    let (status, health) = agent.curl("/healthz");
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    for name in tokens.keys() {
        assert_eq!(health["sources"][name]["state"], "fresh", "{health}");
    }
    shown.push(health.to_string());
    let (status, unknown) = agent.curl("/v1/sources/nope/token");
    assert_eq!(status, 404);
    assert!(unknown.contains("\"unknown_source\""), "{unknown}");
    shown.push(unknown);

    // Python's standard library, over the socket.
    let socket = agent.socket.to_str().unwrap().to_owned();
    let from_python = python(PYTHON_CLIENT, &[&socket, "airalo"]);
    assert_eq!(from_python.trim(), tokens["airalo"]);

    // `tokenmux token NAME` asks the agent: no new upstream request.
    let run = tokenmux(
        &[
            "token",
            "partner-a",
            "--config",
            config_path.to_str().unwrap(),
        ],
        &[&ENV[..], &[("TOKENMUX_AGENT_SOCKET", socket.as_str())]].concat(),
    )
    .await;
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, tokens["partner-a"].as_str()),
        "{}",
        run.stderr
    );
    assert_eq!(mock.requests_received("jsonapi"), 1);
    shown.push(run.stderr);

    // The socket is 0600; loopback TCP: the bearer in a 0600 file,
    // nothing without it.
    let mode = |path: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&agent.socket), 0o600);
    let bearer_file = dir.path().join("agent.bearer");
    assert_eq!(mode(&bearer_file), 0o600);
    let bearer = std::fs::read_to_string(&bearer_file)
        .unwrap()
        .trim()
        .to_owned();
    let url = format!("http://{listen}/v1/sources/neon/token");
    let (status, refused) = curl(&[&url]);
    assert_eq!(status, 401, "{refused}");
    shown.push(refused);
    let (status, wrong) = curl(&["-H", "Authorization: Bearer not-the-bearer", &url]);
    assert_eq!(status, 401, "{wrong}");
    let (status, body) = curl(&["-H", &format!("Authorization: Bearer {bearer}"), &url]);
    assert_eq!((status, access_token(&body)), (200, tokens["neon"].clone()));

    // /metrics, parsed by prometheus_client: fetches as the mock counted.
    let (status, metrics) = agent.curl("/metrics");
    assert_eq!(status, 200);
    let metrics_file = dir.path().join("metrics.txt");
    std::fs::write(&metrics_file, &metrics).unwrap();
    let totals: serde_json::Value = serde_json::from_str(&python(
        PROMETHEUS_PARSER,
        &[metrics_file.to_str().unwrap()],
    ))
    .unwrap();
    for (name, provider) in [
        ("partner-a", "jsonapi"),
        ("airalo", "airalo"),
        ("neon", "neonpanel"),
    ] {
        let fetches = totals[format!("tokenmux_fetches_total/{name}")].as_f64();
        assert_eq!(
            fetches,
            Some(mock.requests_received(provider) as f64),
            "{name}: {totals}"
        );
        assert!(
            totals[format!("tokenmux_cache_hits_total/{name}")].as_f64() >= Some(2.0),
            "{totals}"
        );
    }
    assert!(
        metrics.contains("tokenmux_token_seconds_until_expiry{source=\"neon\"}"),
        "{metrics}"
    );
    shown.push(metrics);

    // SIGHUP with neon's retry changed and a fourth source: neon is
    // rebuilt, the other two keep their tokens with no new request.
    let fourth = format!(
        "  extra:\n    provider: neonpanel\n    base_url: {}\n    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}\n",
        mock.base_url("neonpanel")
    );
    std::fs::write(&config_path, config(&mock, &secret_file, 2, &fourth)).unwrap();
    let before = (
        mock.requests_received("jsonapi"),
        mock.requests_received("airalo"),
    );
    agent.signal("HUP");
    agent.wait_for_log("reloaded");
    assert!(
        agent.log().contains("rebuilt: [extra, neon]"),
        "{}",
        agent.log()
    );
    for name in ["partner-a", "airalo"] {
        let (status, body) = agent.curl(&format!("/v1/sources/{name}/token"));
        assert_eq!(
            (status, access_token(&body)),
            (200, tokens[name].clone()),
            "{name}"
        );
    }
    assert_eq!(
        (
            mock.requests_received("jsonapi"),
            mock.requests_received("airalo")
        ),
        before
    );
    let (status, body) = agent.curl("/v1/sources/extra/token");
    assert_eq!(status, 200, "{body}");
    tokens.insert("extra", access_token(&body));
    // A broken config is refused; the running one stays.
    std::fs::write(&config_path, "sources:\n  a: {provider: nope}\n").unwrap();
    agent.signal("HUP");
    agent.wait_for_log("reload refused");
    assert_eq!(agent.curl("/v1/sources/airalo/token").0, 200);

    // SIGTERM: drained, exit 0, socket and bearer file gone.
    agent.signal("TERM");
    let mut agent = agent;
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = agent.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM: {}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", agent.log());
    assert!(!agent.socket.exists() && !bearer_file.exists());
    let log = agent.log();
    assert!(log.contains("draining") && log.contains("stopped"), "{log}");
    // The scan covers the library's own TRACE-level logs too.
    assert!(log.contains("token refreshed source=\"extra\""), "{log}");
    shown.push(log);

    // Nothing shown holds a secret: the client secret, a token, the bearer.
    let shown = shown.join("\n");
    for secret in tokens
        .values()
        .map(String::as_str)
        .chain([SECRET, bearer.as_str()])
    {
        assert!(!shown.contains(secret), "a secret was shown:\n{shown}");
    }
}

/// The uid this test runs the other side as: no account needed, none of
/// the machine's users.
pub(crate) const OTHER_UID: u32 = 64_321;

/// `setpriv` to run `OTHER_UID`; root only.
pub(crate) fn as_other_uid() -> Option<[String; 5]> {
    if !rustix::process::geteuid().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: the second-uid test must run there"
        );
        eprintln!("skipped: switching to another uid needs root");
        return None;
    }
    let uid = OTHER_UID.to_string();
    Some([
        "setpriv".into(),
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".into(),
        "--".into(),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn another_uid_is_refused_by_the_socket_mode_and_by_its_peer_credentials() {
    let Some(setpriv) = as_other_uid() else {
        return;
    };
    let setpriv: Vec<&str> = setpriv.iter().map(String::as_str).collect();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();

    // The agent runs as this test's uid (root): another uid cannot connect
    // (the socket is 0600).
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let agent = Agent::start(&[], dir.path(), &config_path, &[]);
    let socket = agent.socket.to_str().unwrap().to_owned();
    let mut other = setpriv.clone();
    other.extend([
        "curl",
        "-sS",
        "-w",
        "\n%{http_code}",
        "--unix-socket",
        &socket,
        "http://agent/v1/sources/neon/token",
    ]);
    let output = Command::new(other[0]).args(&other[1..]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(7),
        "curl as uid {OTHER_UID} connected: {stderr}"
    );
    assert!(
        stderr.contains("Permission denied") || stderr.contains("Couldn't connect"),
        "{stderr}"
    );
    drop(agent);

    // The agent runs as the other uid: root passes the file mode, and the
    // peer check (SO_PEERCRED) refuses it, until the config allows uid 0.
    let theirs = tempfile::tempdir().unwrap();
    let own =
        |path: &Path| std::os::unix::fs::chown(path, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    own(theirs.path());
    let program = theirs.path().join("tokenmux");
    std::fs::copy(binary(), &program).unwrap();
    let (config_path, secret_file) = write_config(theirs.path(), &mock);
    own(&secret_file);
    own(&config_path);
    let mut wrapper = setpriv.clone();
    wrapper.push(program.to_str().unwrap());
    let agent = Agent::start(&wrapper, theirs.path(), &config_path, &[]);
    let (status, body) = agent.curl("/v1/sources/neon/token");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"peer_not_allowed\""), "{body}");
    let with_root = config(&mock, &secret_file, 3, "agent:\n  allowed_uids: [0]\n");
    std::fs::write(&config_path, with_root).unwrap();
    agent.signal("HUP");
    agent.wait_for_log("reloaded");
    let (status, body) = agent.curl("/v1/sources/neon/token");
    assert_eq!(status, 200, "{body}");
    assert!(agent.log().contains("refused a client"), "{}", agent.log());
}

#[tokio::test]
async fn config_problems_are_named_by_their_keys_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "sources:
  a:
    provider: airalo
    server: staging
    credentials: {client_id: x, client_secret: inline-hunter2, client_secret_env: ALSO}
  b:
    provider: neonpanel
    credentials: {client_id_env: TOKENMUX_TEST_UNSET_ID, client_secret_file: /nonexistent/secret}
    refresh: {ahead_fraction: 7}
  c:
    provider: nope
    credentials: {client_id: x, client_secret: y}
  'bad name':
    provider: neonpanel
    credentials: {client_id: x, client_secret: y}
",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let run = tokenmux(&["config", "check", "--config", file], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    for key in [
        "sources.a.server:",
        "sources.a.credentials.client_secret:",
        "sources.b.credentials.client_id_env:",
        "sources.b.credentials.client_secret_file:",
        "sources.b.refresh:",
        "sources.c.provider:",
        "sources.bad name:",
    ] {
        assert!(run.stderr.contains(key), "no `{key}` in:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("inline-hunter2"), "{}", run.stderr);

    // A type error is found by the parser: its key, not its value.
    std::fs::write(
        &path,
        "sources:\n  a:\n    provider: airalo\n    retry: {deadline: hunter2-soon}\n",
    )
    .unwrap();
    let run = tokenmux(&["config", "check", "--config", file], &[]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("sources.a.retry.deadline"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);

    // `serve` refuses it too, and a listener that is not loopback.
    let run = tokenmux(
        &["serve", "--config", file, "--socket", "/nonexistent/s"],
        &[],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("sources.a.retry.deadline"),
        "{}",
        run.stderr
    );
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "sources:\n  a: {provider: neonpanel, credentials: {client_id: x, client_secret: y}}\n",
    )
    .unwrap();
    let socket = dir.path().join("s.sock");
    let run = tokenmux(
        &[
            "serve",
            "--config",
            good.to_str().unwrap(),
            "--socket",
            socket.to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not a loopback address"),
        "{}",
        run.stderr
    );
    let run = tokenmux(
        &["config", "check", "--config", good.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_example_config_serves_against_the_mock() {
    // README: `tokenmux serve --config examples/agent.yaml --socket …` with
    // the mock on port 9000; here the mock's port is the test's own.
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let example =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/agent.yaml");
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(text.contains("127.0.0.1:9000"));
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("agent.yaml");
    std::fs::write(
        &config_path,
        text.replace("127.0.0.1:9000", &mock.addr().to_string()),
    )
    .unwrap();
    let env = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let run = tokenmux(
        &["config", "check", "--config", config_path.to_str().unwrap()],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The example is valid under `tokenmux config schema`, as a real JSON
    // Schema validator reads it; a misspelt key is not.
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, tokenmux(&["config", "schema"], &[]).await.stdout).unwrap();
    let verdict = python(
        SCHEMA_CHECK,
        &[schema.to_str().unwrap(), example.to_str().unwrap()],
    );
    assert_eq!(verdict.trim(), "example valid; misspelt key refused");

    let socket = dir.path().join("agent.sock");
    let child = KillOnDrop(
        Command::new(binary())
            .args([
                "serve",
                "--config",
                config_path.to_str().unwrap(),
                "--socket",
                socket.to_str().unwrap(),
            ])
            .envs(env)
            // The example's file store: the user's cache directory, here a temporary one.
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let answer = curl(&[
            "--unix-socket",
            socket.to_str().unwrap(),
            "http://agent/v1/sources/airalo/token",
        ]);
        if answer.0 == 200 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 200, "{body}");
    // The config found through TOKENMUX_CONFIG, the agent through its socket.
    let found = [
        ("TOKENMUX_CONFIG", config_path.to_str().unwrap()),
        ("TOKENMUX_AGENT_SOCKET", socket.to_str().unwrap()),
    ];
    let run = tokenmux(&["token", "airalo"], &[&env[..], &found[..]].concat()).await;
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, access_token(&body).as_str()),
        "{}",
        run.stderr
    );
    for provider in ["jsonapi", "airalo", "neonpanel"] {
        assert_eq!(mock.requests_received(provider), 1, "{provider}");
    }
    drop(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_socket_is_in_a_private_runtime_directory() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let runtime_env = ("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    let config_env = ("TOKENMUX_CONFIG", config_path.to_str().unwrap());

    // A socket directory another could have made (group-writable) is refused.
    let shared = runtime.join("tokenmux");
    std::fs::create_dir(&shared).unwrap();
    let open = std::os::unix::fs::PermissionsExt::from_mode(0o775);
    std::fs::set_permissions(&shared, open).unwrap();
    let run = tokenmux(&["serve"], &[&ENV[..], &[runtime_env, config_env]].concat()).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("closed to others"), "{}", run.stderr);
    std::fs::remove_dir(&shared).unwrap();

    // Without --socket: $XDG_RUNTIME_DIR/tokenmux/agent.sock, its directory 0700.
    let child = KillOnDrop(
        Command::new(binary())
            .arg("serve")
            .envs(ENV)
            .envs([runtime_env, config_env])
            .env_remove("TOKENMUX_AGENT_SOCKET")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let socket = shared.join("agent.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while curl(&[
        "--unix-socket",
        socket.to_str().unwrap(),
        "http://agent/healthz",
    ])
    .0 != 200
    {
        assert!(Instant::now() < deadline, "no agent on the default socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&shared).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    let before = mock.requests_received("neonpanel");
    let run = tokenmux(
        &["token", "neon"],
        &[&ENV[..], &[runtime_env, config_env]].concat(),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        mock.requests_received("neonpanel"),
        before,
        "served by the agent"
    );

    // The same directory opened to others: the client no longer trusts
    // what answers there and gets its own token.
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = tokenmux(
        &["token", "neon", "--cache", "memory"],
        &[&ENV[..], &[runtime_env, config_env]].concat(),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        mock.requests_received("neonpanel"),
        before + 1,
        "not served by the agent"
    );
    drop(child);
}

/// `--min-lifetime` takes the command past the agent-only path (it may
/// need a second, newer token): the agent is still asked, first for the
/// token it holds, then, if that expires too soon, for a new one.
#[tokio::test(flavor = "multi_thread")]
async fn min_lifetime_is_served_by_the_agent_and_asks_it_for_a_newer_token() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), &mock);
    let agent = Agent::start(&[], dir.path(), &config, &[]);
    let (socket, config) = (agent.socket.to_str().unwrap(), config.to_str().unwrap());
    let token = |min: Option<&'static str>| {
        let mut args = vec!["token", "neon", "--socket", socket, "--config", config];
        args.extend(min.map(|min| ["--min-lifetime", min]).into_iter().flatten());
        async move { tokenmux(&args, &ENV).await }
    };
    let held = token(None).await;
    assert_eq!(held.code, 0, "{}", held.stderr);
    // Long enough: the agent's own token, not one fetched here.
    let lasting = token(Some("10m")).await;
    assert_eq!(lasting.code, 0, "{}", lasting.stderr);
    assert_eq!(lasting.stdout, held.stdout);
    // Longer than any token lasts: the agent is asked for a newer one,
    // which expires too soon as well.
    let too_long = token(Some("2h")).await;
    assert_eq!(too_long.code, 1, "{}", too_long.stderr);
    assert!(
        too_long.stderr.contains("less than --min-lifetime 2h"),
        "{}",
        too_long.stderr
    );
    assert!(
        !too_long.stderr.contains("building the source"),
        "{}",
        too_long.stderr
    );
    let renewed = token(None).await;
    assert_eq!(renewed.code, 0, "{}", renewed.stderr);
    assert_ne!(renewed.stdout, held.stdout, "the agent holds a newer token");
}
