//! The clients in other languages that docs/agent.md shows, taken from the
//! document itself and run against a real agent: curl, Python's standard
//! library, httpx, Node.js's `node:http`, and Go's `net/http` when `go` is
//! installed. Each prints the header value the agent serves, and exits
//! non-zero with the agent's message for a source it does not serve.

use std::path::Path;
use std::process::Command;

use tokenmux_mock::{MockConfig, MockServer};

use crate::agent::{Agent, write_config};

/// The block after `<!-- client: NAME -->` in docs/agent.md, for `socket`
/// and `source`.
fn client(name: &str, socket: &Path, source: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/agent.md"))
            .unwrap();
    let marker = format!("<!-- client: {name} -->");
    let after = &doc[doc.find(&marker).unwrap_or_else(|| panic!("no {marker}"))..];
    let start = after.find("```").unwrap();
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let code = &body[..body.find("\n```").unwrap()];
    code.replace("/run/tokenmux/agent.sock", socket.to_str().unwrap())
        .replace("partner-a", source)
}

/// Whether `program --version` runs here.
fn installed(program: &str) -> bool {
    Command::new(program)
        .arg(if program == "go" {
            "version"
        } else {
            "--version"
        })
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the client `name`: (status, stdout, stderr).
fn run(name: &str, code: &str, dir: &Path) -> (bool, String, String) {
    let mut command = match name {
        "curl" => {
            let mut command = Command::new("sh");
            command.args(["-c", code]);
            command
        }
        "python" | "httpx" => {
            let mut command = Command::new("python3");
            command.args(["-c", code]);
            command
        }
        "node" => {
            let mut command = Command::new("node");
            command.args(["-e", code]);
            command
        }
        "go" => {
            let file = dir.join("main.go");
            std::fs::write(&file, code).unwrap();
            let mut command = Command::new("go");
            command
                .arg("run")
                .arg(&file)
                .env("GOCACHE", dir.join("gocache"));
            command
        }
        other => panic!("{other}"),
    };
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_clients_in_other_languages_get_the_token() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _) = write_config(dir.path(), &mock);
    let agent = tokio::task::spawn_blocking({
        let (dir, config_path) = (dir.path().to_owned(), config_path.clone());
        move || Agent::start(&[], &dir, &config_path, &[])
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        let (status, expected) = agent.curl("/v1/sources/neon/header");
        assert_eq!(status, 200, "{expected}");
        assert!(expected.starts_with("Bearer mock-neonpanel-access-"));
        let mut ran = Vec::new();
        for name in ["curl", "python", "httpx", "node", "go"] {
            let runtime = match name {
                "python" | "httpx" => "python3",
                other => other,
            };
            if !installed(runtime) {
                // `cargo xtask test` installs all but Go.
                assert_eq!(name, "go", "{runtime} is missing");
                eprintln!("clients_other: go is not installed; the Go client is not run");
                continue;
            }
            let code = client(name, &agent.socket, "neon");
            let (ok, stdout, stderr) = run(name, &code, dir.path());
            assert!(ok, "{name}: {stderr}");
            assert_eq!(stdout, expected, "{name}");
            // A source the agent does not serve: non-zero, its message.
            let code = client(name, &agent.socket, "nope");
            let (ok, stdout, stderr) = run(name, &code, dir.path());
            assert!(!ok, "{name}: {stdout}");
            assert!(
                format!("{stdout}{stderr}").contains("the agent's config names no such source"),
                "{name}: {stdout} {stderr}"
            );
            ran.push(name);
        }
        assert!(ran.len() >= 4, "{ran:?}");
    })
    .await
    .unwrap();
}
