//! `cargo xtask test`: the README's test command. Makes sure what the
//! tests need beyond the Rust toolchain is installed (a `redis-server` and
//! `redis-cli`, which the Redis store's tests start on loopback; curl and
//! Python's libraries; node-oidc-provider; systemd's tools), then runs
//! `cargo test --workspace` and, when no arguments narrow it, the steps of
//! `cargo xtask package` in the dev profile (the published crates
//! packaged, installed and run).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::task_error::TaskError;

/// Tests run at once in each test binary, unless `RUST_TEST_THREADS` (or
/// `-- --test-threads N` among the arguments) says otherwise. Most
/// end-to-end tests wait on the processes and servers they start (the CLI,
/// the agent, `redis-server`, node-oidc-provider): with libtest's default
/// of one per core, the 228 end-to-end tests kept 2 cores about 30 % busy
/// and took 234 s; 8 at once took 100 s.
const TEST_THREADS: &str = "8";

/// Installs the prerequisites if needed, then runs the tests with `extra`
/// arguments appended.
pub fn run(root: &Path, extra: &[String]) -> Result<ExitCode, TaskError> {
    ensure_redis()?;
    ensure_agent_clients()?;
    ensure_oidc_provider(root)?;
    ensure_systemd_tools()?;
    let cargo = cargo_program();
    let mut command = Command::new(cargo);
    command
        .args(["test", "--workspace"])
        .args(extra)
        .current_dir(root);
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        command.env("RUST_TEST_THREADS", TEST_THREADS);
    }
    let status = command
        .status()
        .map_err(|e| TaskError::spawn("cargo test", e))?;
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }
    // The whole suite, not a filtered run: then what users install, in
    // the dev profile (`cargo xtask package` builds it in release).
    if extra.is_empty() {
        return crate::package::run(root, crate::package::Build::Dev);
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes sure `redis-server` and `redis-cli` run (installing them with
/// apt-get as root when missing).
pub fn ensure_redis() -> Result<(), TaskError> {
    if std::env::var("TOKENMUX_SKIP_REDIS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("xtask: TOKENMUX_SKIP_REDIS_TESTS=1: the Redis tests will skip");
        return Ok(());
    }
    let server = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    if runs(&server) && runs("redis-cli") {
        return Ok(());
    }
    let how = "install the Debian package redis-server (apt-get install -y redis-server; \
               macOS: brew install redis), or set TOKENMUX_SKIP_REDIS_TESTS=1 to skip those tests";
    if apt_install("redis-server").is_ok() && runs(&server) && runs("redis-cli") {
        Ok(())
    } else {
        Err(TaskError::Missing {
            tool: "redis-server and redis-cli".into(),
            why: how.into(),
        })
    }
}

/// The agent's tests talk to it with real third-party clients: `curl
/// --unix-socket`, Python's `prometheus_client` parser for `/metrics`,
/// `jsonschema` (with PyYAML) for `tokenmux config schema`,
/// `kubernetes-validate` for the Kubernetes example, and `httpx` for the
/// documented Python client (from PyPI).
pub fn ensure_agent_clients() -> Result<(), TaskError> {
    if !runs("curl") {
        apt_install("curl")?;
    }
    let has_parser = || {
        Command::new("python3")
            .args([
                "-c",
                "import prometheus_client.parser, jsonschema, yaml, kubernetes_validate, httpx",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_parser() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing prometheus-client, jsonschema, PyYAML, kubernetes-validate and httpx (pip)"
    );
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    if !is_root() {
        pip.arg("--user");
    }
    let installed = pip
        .args([
            "prometheus-client>=0.17",
            "jsonschema>=4",
            "PyYAML>=6",
            "kubernetes-validate>=1.30",
            "httpx>=0.27",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if installed && has_parser() {
        Ok(())
    } else {
        Err(TaskError::Missing {
            tool:
                "python3 with prometheus-client, jsonschema, PyYAML, kubernetes-validate and httpx"
                    .into(),
            why: "pip install prometheus-client jsonschema PyYAML kubernetes-validate httpx".into(),
        })
    }
}

/// Makes sure node-oidc-provider (the authorization server of
/// `tests/it/oidc.rs`) is installed in `tests/oidc/node_modules`, with
/// `npm ci` from the committed lock file (Node.js and npm from Debian if
/// missing).
pub fn ensure_oidc_provider(root: &Path) -> Result<(), TaskError> {
    let dir = root.join("tests/oidc");
    if dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        return Ok(());
    }
    if !runs("node") || !runs("npm") {
        apt_install("nodejs")?;
        apt_install("npm")?;
    }
    eprintln!("xtask: installing node-oidc-provider (npm ci in tests/oidc)");
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        Ok(())
    } else {
        Err(TaskError::Missing {
            tool: "node-oidc-provider".into(),
            why: "install Node.js and npm, then run npm ci in tests/oidc".into(),
        })
    }
}

/// The systemd tests check the shipped units with `systemd-analyze` and
/// start the agent as systemd would with `systemd-socket-activate`, both
/// from Debian's systemd package (no running systemd needed).
pub fn ensure_systemd_tools() -> Result<(), TaskError> {
    if runs("systemd-analyze") && runs("systemd-socket-activate") {
        return Ok(());
    }
    apt_install("systemd")
}

/// Makes sure `program` can be started, installing the Debian `package`
/// (apt-get, as root) when it cannot. Only that it starts: `wrk
/// --version` exits 1.
pub fn ensure_program(program: &str, package: &str) -> Result<(), TaskError> {
    let starts = || Command::new(program).arg("--version").output().is_ok();
    if !starts() {
        apt_install(package)?;
    }
    Ok(())
}

/// Installs a Debian package with apt-get, as root (updating the package
/// lists first when a fresh machine has none).
pub fn apt_install(package: &str) -> Result<(), TaskError> {
    if !runs("apt-get") || !is_root() {
        return Err(TaskError::Missing {
            tool: package.into(),
            why: format!("install the Debian package {package} (apt-get install -y {package})"),
        });
    }
    eprintln!("xtask: installing {package} (apt-get)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let installed = install()
        || (Command::new("apt-get")
            .arg("update")
            .status()
            .is_ok_and(|s| s.success())
            && install());
    match installed {
        true => Ok(()),
        false => Err(TaskError::Missing {
            tool: package.into(),
            why: format!("installing {package} with apt-get failed"),
        }),
    }
}

/// Makes sure `cargo SUBCOMMAND` runs, installing `package` (a crate name,
/// `@version` allowed) from crates.io with `cargo install --locked` when
/// it does not.
pub fn ensure_cargo_subcommand(subcommand: &str, package: &str) -> Result<(), TaskError> {
    let cargo = cargo_program();
    let present = Command::new(&cargo)
        .args([subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: installing {package} (cargo install --locked)");
    TaskError::run(
        Command::new(&cargo).args(["install", "--quiet", "--locked", package]),
        &format!("cargo install {package}"),
    )
}

/// The cargo that runs xtask (`CARGO`), else `cargo` on the PATH.
pub fn cargo_program() -> std::path::PathBuf {
    std::env::var_os("CARGO").map_or_else(|| "cargo".into(), std::path::PathBuf::from)
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
