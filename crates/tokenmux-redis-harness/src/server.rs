//! One `redis-server` process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{TestPki, free_port, skipped, wait_until};

/// How to start a [`RedisServer`].
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Serve TLS only (`rediss://`), with this CA's server certificate.
    pub tls: Option<PathBuf>,
    /// With TLS: require a client certificate from the CA.
    pub require_client_certificate: bool,
    /// More `--name value` arguments (an ACL user, cluster mode, …).
    pub args: Vec<String>,
    /// `AUTH` for the harness's own `redis-cli` calls: user and password.
    pub auth: Option<(String, String)>,
}

impl ServerOptions {
    /// TLS with the certificates of `pki`.
    pub fn tls(pki: &TestPki) -> Self {
        Self {
            tls: Some(pki.dir().to_owned()),
            ..Self::default()
        }
    }
}

/// A running `redis-server` on a free loopback port.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    options: ServerOptions,
    child: Option<Child>,
}

impl RedisServer {
    /// A plaintext server, or `None` when the skip variable is set.
    pub fn start() -> Option<Self> {
        Self::start_with(ServerOptions::default())
    }

    /// A server started with `options`, or `None` when skipped.
    pub fn start_with(options: ServerOptions) -> Option<Self> {
        if skipped() {
            return None;
        }
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("a temp dir for redis"),
            options,
            child: None,
        };
        server.restart();
        Some(server)
    }

    /// `redis://127.0.0.1:port`, or `rediss://localhost:port` with TLS.
    pub fn url(&self) -> String {
        match self.options.tls {
            Some(_) => format!("rediss://localhost:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// (Re)starts the server on the same port, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new(&binary);
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log);
        match &self.options.tls {
            Some(pki) => {
                let auth = if self.options.require_client_certificate {
                    "yes"
                } else {
                    "no"
                };
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .args(["--tls-auth-clients", auth])
                    .arg("--tls-cert-file")
                    .arg(pki.join("server.pem"))
                    .arg("--tls-key-file")
                    .arg(pki.join("server.key"))
                    .arg("--tls-ca-cert-file")
                    .arg(pki.join("ca.pem"));
            }
            None => {
                command.args(["--port", &self.port.to_string()]);
            }
        }
        let child = command
            .args(&self.options.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{binary}` ({e}). Install it (apt-get install -y redis-server), \
                     set REDIS_SERVER to its path, or set TOKENMUX_SKIP_REDIS_TESTS=1 to skip"
                )
            });
        self.child = Some(child);
        wait_until(
            Duration::from_secs(10),
            "redis-server answering PING",
            || {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    panic!(
                        "redis-server exited ({status}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                self.try_cli(&["PING"])
                    .is_some_and(|out| out.starts_with(b"PONG"))
            },
        );
    }

    /// Kills the server (SIGKILL; its data is gone: it keeps none on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.resume_pid(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        if let Some(pid) = self.pid() {
            signal("-STOP", pid);
        }
    }

    /// Undoes [`pause`](Self::pause).
    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            self.resume_pid(pid);
        }
    }

    fn resume_pid(&self, pid: u32) {
        signal("-CONT", pid);
    }

    /// Runs `redis-cli` against the server; its stdout. Panics if it fails.
    pub fn cli(&self, args: &[&str]) -> Vec<u8> {
        let output = self
            .cli_command(args)
            .output()
            .expect("redis-cli (package redis-tools)");
        assert!(
            output.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// [`cli`](Self::cli) as text, trimmed.
    pub fn cli_text(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.cli(args)).trim().to_owned()
    }

    fn try_cli(&self, args: &[&str]) -> Option<Vec<u8>> {
        let output = self.cli_command(args).output().ok()?;
        output.status.success().then_some(output.stdout)
    }

    fn cli_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(pki) = &self.options.tls {
            command.args(["--tls", "--sni", "localhost"]);
            command.arg("--cacert").arg(pki.join("ca.pem"));
            command.arg("--cert").arg(pki.join("client.pem"));
            command.arg("--key").arg(pki.join("client.key"));
        }
        if let Some((user, password)) = &self.options.auth {
            command.args(["--user", user, "--pass", password, "--no-auth-warning"]);
        }
        command.args(args).stdin(Stdio::null());
        command
    }

    /// The directory the server runs in (its log is `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}
