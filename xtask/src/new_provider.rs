//! `cargo xtask new-provider-check`: proves that a spec plus
//! `cargo xtask regen` is all a new provider takes.
//!
//! In a scratch copy of the tracked files (a git repository, so that every
//! change shows), it adds each fixture of `xtask/fixtures/` as a spec:
//! - `acme.yaml`: a standard RFC 6749 §4.4 endpoint (form body, Basic
//!   client authentication, lowercase `bearer`, no refresh token);
//! - `scoped.yaml`: a vendor-shaped JSON endpoint with per-source
//!   parameters (a required `scope`, a secret `tenant_key`, a defaulted
//!   `region`) and a `date-time` field;
//! - `subject.yaml`: a user's name and password and a `domain` parameter,
//!   the token in a response header, an absolute `expires_at`, presented
//!   as `X-Auth-Token`;
//! - `query.yaml`: a GET with the credentials in the query string and no
//!   body, a lifetime in milliseconds, errors sent with status 200;
//! - `installation.yaml`: a path parameter mid-path, credentials in
//!   headers, no body, no lifetime but the JWT's `exp`, `Authorization:
//!   Token …`;
//! - `legacy.yaml`: a form-encoded answer;
//! - `signed.yaml`: `private_key_jwt` client authentication (the mock's
//!   test key signs; the mock verifies each assertion and refuses a
//!   replayed one);
//! - `app.yaml`: an app JWT in `Authorization: Bearer` to an endpoint
//!   with the installation id in its path (the mock verifies the JWT);
//! - `serviceaccount.yaml`: the JWT bearer grant (RFC 7523 §2.1), its
//!   `scope` a claim of the signed assertion (the mock verifies it).
//!
//! It runs `cargo xtask regen`, and with no other edit:
//! - checks that regen wrote only generated files;
//! - gets a token of each with `tokenmux token --provider NAME` (and
//!   `--param` where it needs one) from `tokenmux mock`, and again through
//!   a config file that selects it (with `params:`);
//! - runs the whole test suite (`cargo xtask test`, the README's test
//!   command) in the copy, where the generic lifecycle tests, the fault
//!   matrix, every test that lists providers and the parameter tests take
//!   in the new ones.
//!
//! Then it removes the specs, regenerates, and checks the tree is clean.

use crate::mock_process::MockProcess;
use crate::task_error::TaskError;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A fixture spec, and the parameter values a source of it needs.
struct Fixture {
    name: &'static str,
    params: &'static [(&'static str, &'static str)],
}

const FIXTURES: [Fixture; 9] = [
    Fixture {
        name: "acme",
        params: &[],
    },
    Fixture {
        name: "scoped",
        params: &[("scope", "orders:read")],
    },
    Fixture {
        name: "subject",
        params: &[("domain", "Default")],
    },
    Fixture {
        name: "query",
        params: &[],
    },
    Fixture {
        name: "installation",
        params: &[("installation_id", "12345")],
    },
    Fixture {
        name: "legacy",
        params: &[],
    },
    Fixture {
        name: "signed",
        params: &[],
    },
    Fixture {
        name: "app",
        params: &[("installation_id", "12345")],
    },
    Fixture {
        name: "serviceaccount",
        params: &[("scope", "orders:read")],
    },
];

/// Files regen may write for the new specs; anything else changed is a failure.
fn generated(path: &str) -> bool {
    path == "Cargo.toml"
        || path == "Cargo.lock"
        || path == "crates/tokenmux/Cargo.toml"
        || path == "crates/tokenmux/src/generated.rs"
        || path == "crates/tokenmux-registry/Cargo.toml"
        || path == "crates/tokenmux-registry/src/lib.rs"
        || FIXTURES.iter().any(|fixture| {
            path == format!("specs/{}.yaml", fixture.name)
                || path.starts_with(&format!("crates/tokenmux-{}/", fixture.name))
        })
}

/// Runs the check; `target` is the cargo target directory to build in.
pub fn run(root: &Path, target: &Path) -> Result<ExitCode, TaskError> {
    let scratch = tempfile::tempdir().map_err(|e| TaskError::io("a scratch directory", e))?;
    let dir = scratch.path();
    copy_tracked(root, dir)?;
    git(dir, &["init", "--quiet"])?;
    git(dir, &["add", "--all"])?;
    git(dir, &["commit", "--quiet", "--message", "scratch"])?;
    println!("new-provider-check: scratch copy at {}", dir.display());

    for fixture in &FIXTURES {
        let spec = format!("specs/{}.yaml", fixture.name);
        std::fs::copy(
            root.join(format!("xtask/fixtures/{}.yaml", fixture.name)),
            dir.join(&spec),
        )
        .map_err(|e| TaskError::io(&spec, e))?;
    }
    cargo(dir, target, &["xtask", "regen"])?;
    let changed = changed_files(dir)?;
    let hand_edits: Vec<&String> = changed.iter().filter(|p| !generated(p)).collect();
    println!(
        "new-provider-check: regen changed {} files, {} outside what it generates",
        changed.len(),
        hand_edits.len()
    );
    if !hand_edits.is_empty() {
        return Err(TaskError::Check(format!(
            "regen touched files it does not own: {hand_edits:?}"
        )));
    }

    cargo(dir, target, &["build", "--quiet", "-p", "tokenmux-cli"])?;
    let cli = target.join("debug/tokenmux");
    let mut mock = MockProcess::start(&cli)?;
    for fixture in &FIXTURES {
        tokens_of(&cli, &mock.url, dir, fixture)?;
    }
    mock.stop();

    // The whole test suite (the README's test command), with the new
    // providers in the workspace. Tests that list providers read them from
    // `Provider::all()`; TOKENMUX_EXPECT_PROVIDER makes the generic ones
    // fail when a new provider is not among them. --no-fail-fast: every
    // test that still assumes the committed specs is reported, not only
    // the first.
    let expected = FIXTURES.map(|fixture| fixture.name).join(",");
    TaskError::run(
        cargo_command(dir, target)
            .env("TOKENMUX_EXPECT_PROVIDER", &expected)
            .args(["xtask", "test", "--no-fail-fast"]),
        "the whole test suite with the new provider",
    )?;
    println!("new-provider-check: the whole test suite passes with {expected}");

    for fixture in &FIXTURES {
        let spec = format!("specs/{}.yaml", fixture.name);
        std::fs::remove_file(dir.join(&spec)).map_err(|e| TaskError::io(&spec, e))?;
    }
    cargo(dir, target, &["xtask", "regen"])?;
    // A second resolve drops the removed crate from Cargo.lock.
    cargo(dir, target, &["xtask", "regen", "--check"])?;
    let left = changed_files(dir)?;
    if !left.is_empty() {
        return Err(TaskError::Check(format!(
            "removing the specs left changes: {left:?}"
        )));
    }
    println!("new-provider-check: specs removed, tree clean; 0 hand edits");
    Ok(ExitCode::SUCCESS)
}

fn copy_tracked(root: &Path, to: &Path) -> Result<(), TaskError> {
    let listed = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| TaskError::spawn("git ls-files", e))?;
    for path in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(String::from_utf8_lossy(path).into_owned());
        let from = root.join(&path);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let dest = to.join(&path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| TaskError::io(parent, e))?;
        }
        std::fs::copy(&from, &dest).map_err(|e| TaskError::io(&from, e))?;
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Result<(), TaskError> {
    TaskError::run(
        Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=xtask", "-c", "user.email=xtask@localhost"])
            .args(args),
        &format!("git {}", args.join(" ")),
    )
}

fn changed_files(dir: &Path) -> Result<Vec<String>, TaskError> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["status", "--porcelain", "--untracked-files=all"])
        .output()
        .map_err(|e| TaskError::spawn("git status", e))?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.get(3..))
        .filter(|path| !path.ends_with("-config.yaml"))
        .map(str::to_owned)
        .collect())
}

/// `cargo` in the scratch copy, building in `target`.
fn cargo_command(dir: &Path, target: &Path) -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(dir).env("CARGO_TARGET_DIR", target);
    command
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Result<(), TaskError> {
    TaskError::run(
        cargo_command(dir, target).args(args),
        &format!("cargo {}", args.join(" ")),
    )
}

/// A token of `fixture` from the mock at `mock_url`, through flags and
/// through a config file written in `dir`.
fn tokens_of(cli: &Path, mock_url: &str, dir: &Path, fixture: &Fixture) -> Result<(), TaskError> {
    let name = fixture.name;
    let base = format!("{mock_url}/{name}");
    let params: Vec<String> = fixture
        .params
        .iter()
        .flat_map(|(param, value)| ["--param".to_owned(), format!("{param}={value}")])
        .collect();
    let mut flags = vec!["--provider", name, "--base-url", &base];
    flags.extend(params.iter().map(String::as_str));
    let from_flags = cli_token(cli, dir, &flags)?;
    let config = dir.join(format!("{name}-config.yaml"));
    let params: Vec<String> = fixture
        .params
        .iter()
        .map(|(param, value)| format!("{param}: \"{value}\""))
        .collect();
    std::fs::write(
        &config,
        format!(
            "provider: {name}\nbase_url: {base}\nparams: {{{}}}\nstore: {{kind: memory}}\n",
            params.join(", ")
        ),
    )
    .map_err(|e| TaskError::io(&config, e))?;
    let config_arg = config.display().to_string();
    let from_config = cli_token(cli, dir, &["--config", &config_arg])?;
    for (how, token) in [("--provider", &from_flags), ("a config file", &from_config)] {
        if !MockProcess::issued(name, token) {
            return Err(TaskError::Check(format!(
                "tokenmux token through {how} printed no {name} token"
            )));
        }
        println!("new-provider-check: a {name} token through {how}");
    }
    Ok(())
}

fn cli_token(cli: &Path, dir: &Path, args: &[&str]) -> Result<String, TaskError> {
    let key_file = dir.join("crates/tokenmux-mock/keys/client.pem");
    let output = Command::new(cli)
        .arg("token")
        .args(args)
        .args(["--cache", "memory"])
        .env("TOKENMUX_CLIENT_ID", "mock-client")
        .env("TOKENMUX_CLIENT_SECRET", "mock-client-secret")
        .env("TOKENMUX_USERNAME", "mock-user")
        .env("TOKENMUX_PASSWORD", "mock-user-password")
        // The mock's well-known test key, which `tokenmux mock` verifies
        // signed requests with by default.
        .env("TOKENMUX_PRIVATE_KEY_FILE", key_file)
        .output()
        .map_err(|e| TaskError::spawn("tokenmux token", e))?;
    if !output.status.success() {
        return Err(TaskError::Check(format!(
            "tokenmux token {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
