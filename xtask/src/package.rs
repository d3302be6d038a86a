//! `cargo xtask package`: the crates meant for users package as crates.io
//! takes them, and the CLI installs and works from them on a machine that
//! has no checkout. `cargo xtask test` runs the same steps after the tests,
//! in the dev profile (see [`Build`]).
//!
//! 1. `cargo publish --workspace --dry-run --no-verify`: every crate not
//!    marked `publish = false` has the metadata crates.io needs, and a
//!    version on each tokenmux dependency.
//! 2. `cargo package --no-verify --offline` of each writes
//!    `target/package/*.crate`.
//! 3. In a scratch directory outside the workspace, every `.crate` is
//!    unpacked and `cargo install --locked` builds the CLI from its
//!    packaged crate, each tokenmux dependency taken from its packaged
//!    crate (a `[patch.crates-io]` stands in for the registry, where
//!    nothing is published). That compiles every packaged crate from its
//!    tarball, which is what `cargo publish`'s own verification does, once
//!    instead of once per crate (over 2 minutes each here).
//! 4. `cargo install --locked --path crates/tokenmux-cli`, as the README
//!    says. Both installed binaries get a token from their own mock.
//! 5. `cargo deb --no-build` (cargo-deb from crates.io) packs step 4's
//!    binary, its manual page and the systemd units into a Debian package
//!    (`target/debian/tokenmux.deb` for a release build); the package's
//!    fields and files are read back with `dpkg-deb`, the binary it holds
//!    runs, and its sysusers file creates the `tokenmux` user under a
//!    scratch root (`systemd-sysusers --root`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::mock_process::MockProcess;
use crate::task_error::TaskError;
use crate::test::cargo_program;

/// The profile steps 3 to 5 build the CLI in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `cargo xtask package`: release, as users install it, and the Debian
    /// package in `target/debian/tokenmux.deb` (the README installs it).
    Release,
    /// `cargo xtask test`: the dev profile (`cargo install --debug`), with
    /// the Debian package in the scratch directory. Every step checks what
    /// it checks in release; only the optimiser's work is left out. The
    /// release builds compiled every dependency a second time (262 units,
    /// about 320 s on a fresh clone with 2 cores), where these reuse most
    /// of what the tests compiled. CI runs `cargo xtask package` too.
    Dev,
}

impl Build {
    /// What `cargo install` adds for this profile.
    fn install_args(self, root: &Path) -> Vec<std::ffi::OsString> {
        match self {
            Build::Release => Vec::new(),
            // The workspace's dev profile lives in its .cargo/config.toml,
            // which a scratch directory does not see: without it every
            // dependency would compile again.
            Build::Dev => vec![
                "--debug".into(),
                "--config".into(),
                root.join(".cargo/config.toml").into_os_string(),
            ],
        }
    }

    /// What `cargo deb` adds for this profile: a package nobody installs
    /// needs no small size (xz at its default level took 10 s here).
    fn deb_args(self) -> &'static [&'static str] {
        match self {
            Build::Release => &[],
            Build::Dev => &["--fast"],
        }
    }
}

/// Runs every step; the first failure ends the run.
pub fn run(root: &Path, build: Build) -> Result<ExitCode, TaskError> {
    let Workspace { crates, target_dir } = workspace(root)?;
    println!("package: {} crates are published", crates.len());
    // --allow-dirty: a working tree with uncommitted edits is what is
    // checked, as the tests just checked it.
    cargo(
        root,
        &[
            "publish",
            "--workspace",
            "--dry-run",
            "--no-verify",
            "--allow-dirty",
        ],
    )?;
    // --offline: step 1 has just brought cargo's copy of the index up to
    // date, and each crate's resolution reads it again (17 s of network
    // round trips here, 2 s from the copy).
    let mut args = vec!["package", "--no-verify", "--allow-dirty", "--offline"];
    for name in &crates {
        args.extend(["-p", name.as_str()]);
    }
    cargo(root, &args)?;

    let scratch = tempfile::tempdir().map_err(|e| TaskError::io("a scratch directory", e))?;
    let unpacked = scratch.path().join("crates");
    std::fs::create_dir_all(&unpacked).map_err(|e| TaskError::io(&unpacked, e))?;
    let version = env!("CARGO_PKG_VERSION");
    for name in &crates {
        let file = target_dir.join(format!("package/{name}-{version}.crate"));
        TaskError::run(
            Command::new("tar")
                .arg("-xzf")
                .arg(&file)
                .arg("-C")
                .arg(&unpacked),
            &format!("unpacking {}", file.display()),
        )?;
    }

    // 3. From the packaged crates, outside the workspace.
    let mut install = Command::new(cargo_program());
    install
        .current_dir(scratch.path())
        .args(["install", "--locked"])
        .args(build.install_args(root))
        .arg("--path")
        .arg(unpacked.join(format!("tokenmux-cli-{version}")))
        .arg("--root")
        .arg(scratch.path().join("from-crate"))
        // The builds of steps 3 to 5 share the workspace's target
        // directory, so third-party crates compile once, and reuse what
        // other builds left there: in release, after `cargo xtask
        // instructions` (as in .ci/run), 120 units instead of 262 compile,
        // 193 s instead of 259 s on 2 cores; in the dev profile, after the
        // tests, only what the CLI alone resolves differently.
        .arg("--target-dir")
        .arg(&target_dir);
    for name in crates.iter().filter(|name| *name != "tokenmux-cli") {
        let path = unpacked.join(format!("{name}-{version}"));
        install.arg("--config").arg(format!(
            "patch.crates-io.{name}.path={}",
            toml_string(&path)
        ));
    }
    TaskError::run(&mut install, "cargo install from the packaged tokenmux-cli")?;
    let from_crate = scratch.path().join("from-crate/bin/tokenmux");
    works(
        &from_crate,
        scratch.path(),
        "installed from the packaged crate",
    )?;

    // 4. From the checkout's path.
    TaskError::run(
        Command::new(cargo_program())
            .current_dir(root)
            .args(["install", "--locked"])
            .args(build.install_args(root))
            .args(["--path", "crates/tokenmux-cli"])
            .arg("--root")
            .arg(scratch.path().join("from-path"))
            .arg("--target-dir")
            .arg(&target_dir),
        "cargo install --path crates/tokenmux-cli",
    )?;
    let from_path = scratch.path().join("from-path/bin/tokenmux");
    works(&from_path, scratch.path(), "installed from its path")?;

    // 5. The Debian package, of step 4's build. cargo-deb takes its files
    // from `$CARGO_TARGET_DIR/release/` (the package's assets say so), so a
    // dev build is packed from a scratch copy of that layout, leaving the
    // workspace's release binary and its package alone.
    let (staging, deb) = match build {
        Build::Release => (target_dir.clone(), target_dir.join("debian/tokenmux.deb")),
        Build::Dev => {
            let staging = scratch.path().join("deb-target");
            let release = staging.join("release");
            std::fs::create_dir_all(&release).map_err(|e| TaskError::io(&release, e))?;
            let copy = release.join("tokenmux");
            std::fs::copy(&from_path, &copy).map_err(|e| TaskError::io(&copy, e))?;
            (staging.clone(), staging.join("debian/tokenmux.deb"))
        }
    };
    debian_package(root, build, &staging, &from_path, &deb, scratch.path())?;
    Ok(ExitCode::SUCCESS)
}

/// What `cargo metadata` says of the workspace.
struct Workspace {
    /// The crates without `publish = false`, sorted.
    crates: Vec<String>,
    /// Where cargo builds (`target/` unless `CARGO_TARGET_DIR` moves it).
    target_dir: PathBuf,
}

fn workspace(root: &Path) -> Result<Workspace, TaskError> {
    let output = Command::new(cargo_program())
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TaskError::spawn("cargo metadata", e))?;
    TaskError::check_status("cargo metadata", output.status)?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| TaskError::Check(format!("cargo metadata printed no JSON: {e}")))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or_else(|| TaskError::Check("cargo metadata lists no packages".into()))?;
    let mut names: Vec<String> = packages
        .iter()
        // `publish: []` is `publish = false`; null is any registry.
        .filter(|package| package["publish"].as_array().is_none_or(|r| !r.is_empty()))
        .filter_map(|package| package["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    if !names.iter().any(|name| name == "tokenmux-cli") {
        return Err(TaskError::Check("tokenmux-cli is not published".into()));
    }
    let target_dir = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| TaskError::Check("cargo metadata names no target directory".into()))?;
    Ok(Workspace {
        crates: names,
        target_dir,
    })
}

/// The installed `tokenmux` says its version and gets a token from its own
/// mock (NeonPanel's spec: a secret, no key).
fn works(binary: &Path, dir: &Path, how: &str) -> Result<(), TaskError> {
    let version = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| TaskError::spawn(format!("tokenmux {how}"), e))?;
    TaskError::check_status(format!("tokenmux --version ({how})"), version.status)?;
    let mut mock = MockProcess::start(binary)?;
    let output = Command::new(binary)
        .args(["token", "--provider", "neonpanel", "--cache", "memory"])
        .arg("--base-url")
        .arg(format!("{}/neonpanel", mock.url))
        .env("TOKENMUX_CLIENT_ID", "mock-client")
        .env("TOKENMUX_CLIENT_SECRET", "mock-client-secret")
        .current_dir(dir)
        .output()
        .map_err(|e| TaskError::spawn("tokenmux token", e))?;
    mock.stop();
    let token = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !MockProcess::issued("neonpanel", token.trim()) {
        return Err(TaskError::Check(format!(
            "tokenmux {how} got no token from its mock: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    println!(
        "package: tokenmux {how}: {}, and a token from its mock",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    Ok(())
}

/// Step 5: `cargo deb` over `target/release/tokenmux` (`binary`'s build),
/// then the package read back.
fn debian_package(
    root: &Path,
    build: Build,
    target: &Path,
    binary: &Path,
    deb: &Path,
    scratch: &Path,
) -> Result<(), TaskError> {
    crate::test::ensure_cargo_subcommand("deb", "cargo-deb@^3")?;
    // The manual page the units point at (`man:tokenmux(1)`), beside the
    // binary, where the package's assets name it.
    let man = Command::new(binary)
        .arg("man")
        .output()
        .map_err(|e| TaskError::spawn("tokenmux man", e))?;
    TaskError::check_status("tokenmux man", man.status)?;
    let page = target.join("release/tokenmux.1");
    std::fs::write(&page, &man.stdout).map_err(|e| TaskError::io(&page, e))?;
    TaskError::run(
        Command::new("gzip").args(["-9nf"]).arg(&page),
        "gzip tokenmux.1",
    )?;
    TaskError::run(
        Command::new(cargo_program())
            .current_dir(root)
            .env("CARGO_TARGET_DIR", target)
            .args(["deb", "-p", "tokenmux-cli", "--no-build"])
            .args(build.deb_args())
            .arg("--output")
            .arg(deb),
        "cargo deb",
    )?;

    let fields = read(
        Command::new("dpkg-deb").arg("--field").arg(deb).args([
            "Package",
            "Version",
            "Architecture",
        ]),
        "dpkg-deb --field",
    )?;
    let contents = read(
        Command::new("dpkg-deb").arg("--contents").arg(deb),
        "dpkg-deb --contents",
    )?;
    for file in [
        "./usr/bin/tokenmux",
        "./usr/lib/systemd/system/tokenmux-agent.service",
        "./usr/lib/systemd/system/tokenmux-agent.socket",
        "./usr/lib/sysusers.d/tokenmux.conf",
        "./usr/share/man/man1/tokenmux.1.gz",
    ] {
        if !contents.lines().any(|line| line.ends_with(file)) {
            return Err(TaskError::Check(format!(
                "the Debian package has no {file}:\n{contents}"
            )));
        }
    }
    let extracted = scratch.join("deb-root");
    TaskError::run(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(&extracted),
        "dpkg-deb -x",
    )?;
    let packed = extracted.join("usr/bin/tokenmux");
    TaskError::run(
        Command::new(&packed).arg("--version").stdout(Stdio::null()),
        "the Debian package's tokenmux --version",
    )?;
    sysusers_creates_the_user(&extracted)?;
    println!(
        "package: {} ({}), with the binary, its manual page, the systemd units and the sysusers file",
        deb.display(),
        fields.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    Ok(())
}

/// The package's sysusers file creates the `tokenmux` system user the
/// units run as, in a scratch root (never this machine's users).
fn sysusers_creates_the_user(extracted: &Path) -> Result<(), TaskError> {
    if Command::new("systemd-sysusers")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        println!("package: no systemd-sysusers here; the sysusers file is not run");
        return Ok(());
    }
    let etc = extracted.join("etc");
    std::fs::create_dir_all(&etc).map_err(|e| TaskError::io(&etc, e))?;
    TaskError::run(
        Command::new("systemd-sysusers")
            .arg(format!("--root={}", extracted.display()))
            .arg(extracted.join("usr/lib/sysusers.d/tokenmux.conf")),
        "systemd-sysusers over the package's sysusers file",
    )?;
    let passwd = etc.join("passwd");
    let users = std::fs::read_to_string(&passwd).map_err(|e| TaskError::io(&passwd, e))?;
    if !users.lines().any(|line| line.starts_with("tokenmux:")) {
        return Err(TaskError::Check(format!(
            "the sysusers file made no tokenmux user: {users}"
        )));
    }
    Ok(())
}

/// `path` as a TOML string for `--config`.
fn toml_string(path: &Path) -> String {
    serde_json::Value::from(path.display().to_string()).to_string()
}

fn cargo(root: &Path, args: &[&str]) -> Result<(), TaskError> {
    TaskError::run(
        Command::new(cargo_program()).current_dir(root).args(args),
        &format!("cargo {}", args.join(" ")),
    )
}

/// Runs `command` and returns its standard output.
fn read(command: &mut Command, what: &str) -> Result<String, TaskError> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| TaskError::spawn(what, e))?;
    TaskError::check_status(what, output.status)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
