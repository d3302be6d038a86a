//! The agent under systemd, with systemd's own tools and no running
//! systemd: the shipped units pass `systemd-analyze verify` and its
//! offline security review; `sd_notify` messages read by a test listener
//! on `NOTIFY_SOCKET` (READY only once the required sources have tokens,
//! RELOADING and READY around SIGHUP, STOPPING, watchdog pings); socket
//! activation through `systemd-socket-activate`, which passes descriptors
//! exactly as systemd does (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{ENV, KillOnDrop, curl};
use crate::cli::binary;

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd")
}

/// The shipped units, copied to `dir` with `ExecStart` pointing at the
/// test's binary (verify checks that the command exists).
fn units_in(dir: &Path) -> [PathBuf; 2] {
    ["tokenmux-agent.service", "tokenmux-agent.socket"].map(|name| {
        let text = std::fs::read_to_string(contrib().join(name)).unwrap();
        let text = text.replace("/usr/bin/tokenmux ", &format!("{} ", binary().display()));
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    })
}

#[test]
fn the_shipped_units_pass_systemd_analyze_verify_and_its_security_review() {
    let dir = tempfile::tempdir().unwrap();
    let [service, socket] = units_in(dir.path());
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args([&service, &socket])
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze runs (cargo xtask test installs Debian's systemd)");
    let said = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    // Unknown keys are only warnings, with status 0: none may be printed.
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");

    let review = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&service)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&review.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for tokenmux-agent.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    // systemd calls below 2.0 "OK"; an unhardened service scores 9.6.
    assert!(exposure < 2.0, "exposure {exposure}: {text}");
    for hardening in ["ProtectSystem=strict", "NoNewPrivileges=yes", "Type=notify"] {
        assert!(
            std::fs::read_to_string(&service)
                .unwrap()
                .contains(hardening),
            "{hardening}"
        );
    }
}

/// One source on the mock, required; or on a closed port.
fn config(dir: &Path, base_url: &str) -> PathBuf {
    let path = dir.join("tokenmux.yaml");
    std::fs::write(
        &path,
        format!(
            "sources:
  neon:
    provider: neonpanel
    base_url: {base_url}
    credentials: {{client_id_env: PARTNER_A_ID, client_secret_env: PARTNER_A_SECRET}}
    retry: {{max_attempts: 1}}
"
        ),
    )
    .unwrap();
    path
}

/// A listener on `NOTIFY_SOCKET`, as systemd's.
struct Notifications {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Notifications {
    fn new(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Self { socket, path }
    }

    /// The next message within `within`, if any.
    fn next(&self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let mut buffer = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(read) = self.socket.recv(&mut buffer) {
                return Some(String::from_utf8_lossy(&buffer[..read]).into_owned());
            }
        }
        None
    }

    /// Messages until one contains `wanted` (returned), skipping the rest.
    fn until(&self, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(message) = self.next(Duration::from_millis(200))
                && message.lines().any(|line| line == wanted)
            {
                return message;
            }
        }
        panic!("no {wanted} within 20 s");
    }
}

fn serve(dir: &Path, config: &Path, notify: &Notifications, extra: &[&str]) -> KillOnDrop {
    let child = Command::new(binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--socket", dir.join("agent.sock").to_str().unwrap()])
        .args(extra)
        .envs(ENV)
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.stderr")).unwrap())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn signal(child: &KillOnDrop, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sd_notify_says_ready_after_the_first_tokens_then_reloading_stopping_and_pings() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &mock.base_url("neonpanel"));
    let notify = Notifications::new(dir.path());
    let mock = std::sync::Arc::new(mock);
    let seen = std::sync::Arc::clone(&mock);
    tokio::task::spawn_blocking(move || {
        let mut agent = serve(dir.path(), &config, &notify, &[]);
        let ready = notify.until("READY=1");
        // Said only once the source has its token.
        assert_eq!(seen.requests_received("neonpanel"), 1, "{ready}");
        assert!(ready.contains("STATUS=serving 1 source(s)"), "{ready}");
        // The watchdog (WATCHDOG_USEC=200ms) is pinged at half the period.
        let started = Instant::now();
        notify.until("WATCHDOG=1");
        notify.until("WATCHDOG=1");
        assert!(started.elapsed() < Duration::from_secs(2));
        signal(&agent, "HUP");
        notify.until("RELOADING=1");
        notify.until("READY=1");
        signal(&agent, "TERM");
        notify.until("STOPPING=1");
        let status = agent.0.wait().unwrap();
        assert!(status.success(), "{status}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_waits_for_a_required_source_unless_ready_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", tokenmux_redis_harness::free_port());
    let config = config(dir.path(), &closed);
    tokio::task::spawn_blocking(move || {
        let notify = Notifications::new(dir.path());
        let agent = serve(dir.path(), &config, &notify, &[]);
        let waiting = notify.next(Duration::from_secs(20)).expect("a STATUS line");
        assert_eq!(
            waiting.trim(),
            "STATUS=waiting for 1 of 1 source(s) to have a token"
        );
        let mut later = Vec::new();
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            later.extend(notify.next(Duration::from_millis(200)));
        }
        assert!(
            later.iter().all(|m| !m.lines().any(|l| l == "READY=1")),
            "{later:?}"
        );
        drop(agent);
        std::fs::remove_file(dir.path().join("notify.sock")).unwrap();

        let notify = Notifications::new(dir.path());
        let _agent = serve(dir.path(), &config, &notify, &["--ready-immediately"]);
        let ready = notify.until("READY=1");
        assert!(ready.contains("STATUS=serving 1 source(s)"), "{ready}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_activation_serves_the_sockets_systemd_passes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &mock.base_url("neonpanel"));
    let socket = dir.path().join("activated.sock");
    let port = tokenmux_redis_harness::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let stderr = dir.path().join("activate.stderr");
    // The agent is started at the first connection, as systemd does.
    let activator = Command::new("systemd-socket-activate")
        .args(["-l", socket.to_str().unwrap(), "-l", &metrics])
        .arg("--fdname=agent:metrics")
        // It passes the service only the environment it is given.
        .args(
            ENV.iter()
                .map(|(name, value)| format!("--setenv={name}={value}")),
        )
        .arg(binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("systemd-socket-activate runs (cargo xtask test installs Debian's systemd)");
    let agent = KillOnDrop(activator);
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        // This request starts the agent and is answered by it.
        let on_socket = |path: &str| {
            curl(&[
                "--unix-socket",
                socket.to_str().unwrap(),
                &format!("http://agent{path}"),
            ])
        };
        let (status, body) = on_socket("/v1/sources/neon/token");
        let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
        assert_eq!(status, 200, "{body} {}", log());
        assert!(body.contains("mock-neonpanel-access-"), "{body}");
        // The descriptor named `metrics` serves the probes, no bearer.
        let (status, body) = curl(&[&format!("http://{metrics}/readyz")]);
        assert_eq!(status, 200, "{body}");
        let (status, _) = curl(&[&format!("http://{metrics}/v1/sources/neon/token")]);
        assert_eq!(status, 404);
        assert!(
            log().contains(&format!("on {}", socket.display())),
            "{}",
            log()
        );
        // systemd owns the socket: the agent leaves it at stop.
        signal(&agent, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !log().contains("stopped") {
            assert!(Instant::now() < deadline, "{}", log());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(socket.exists());
    })
    .await
    .unwrap();
}
